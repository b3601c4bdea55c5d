//! Merge tasks: write a `{Field}` template into a text field. The template
//! is parsed once (`{{` and `}}` are literal braces); each row is then
//! written with one preallocated builder, values as the `text` module
//! writes them and null as the empty string.

use std::sync::Arc;

use arrow::array::{Array, StringBuilder};
use arrow::datatypes::{DataType, Field, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::fields::{Place, index_of};
use super::text::TextColumn;
use super::{Compile, Effect, Step, StepError};
use crate::api::v1alpha1::task::Merge;

/// A piece of a template.
#[derive(Debug, PartialEq, Eq)]
enum Piece {
    /// Text written as is.
    Literal(String),
    /// The value of the field at this index.
    Field(usize),
}

/// A compiled merge.
struct Merger {
    pieces: Vec<Piece>,
    place: Place,
    /// Bytes of the literal pieces, to size the output.
    literal_bytes: usize,
}

/// Parses `format` against the field names of `input`.
fn parse(format: &str, input: &SchemaRef) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = format.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|(_, next)| *next == '{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().is_some_and(|(_, next)| *next == '}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let rest = &format[at + 1..];
                let Some(end) = rest
                    .find(['}', '{'])
                    .filter(|&end| rest[end..].starts_with('}'))
                else {
                    return Err(format!(
                        "format has an unclosed {{ at character {}: write {{Field}}, or {{{{ for a literal brace",
                        format[..at].chars().count() + 1
                    ));
                };
                let name = &rest[..end];
                if name.is_empty() {
                    return Err(
                        "format has an empty {}: write {Field}, or {{}} for literal braces"
                            .to_owned(),
                    );
                }
                let column = index_of(input, name)
                    .map_err(|e| format!("format placeholder {{{name}}}: {e}"))?;
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Field(column));
                // Skip the name and its closing brace.
                for _ in 0..name.chars().count() + 1 {
                    chars.next();
                }
            }
            '}' => {
                return Err(format!(
                    "format has a lone }} at character {}: write }}}} for a literal brace",
                    format[..at].chars().count() + 1
                ));
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// Compiles a merge: every placeholder must name a field.
pub(crate) fn compile(spec: &Merge, input: &SchemaRef) -> Compile {
    let pieces = parse(&spec.format, input)?;
    let literal_bytes = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Literal(text) => text.len(),
            Piece::Field(_) => 0,
        })
        .sum();
    let (schema, place) = Place::put(input, Field::new(spec.into.as_str(), DataType::Utf8, true));
    let step = Merger {
        pieces,
        place,
        literal_bytes,
    };
    Ok((Box::new(step), schema))
}

impl Step for Merger {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let rows = batch.num_rows();
        let columns: Vec<Option<TextColumn<'_>>> = {
            let mut columns: Vec<Option<TextColumn<'_>>> =
                (0..batch.num_columns()).map(|_| None).collect();
            for piece in &self.pieces {
                if let Piece::Field(i) = piece
                    && columns[*i].is_none()
                {
                    columns[*i] = Some(TextColumn::new(batch.column(*i).as_ref())?);
                }
            }
            columns
        };
        let field_bytes: usize = self
            .pieces
            .iter()
            .map(|piece| match piece {
                Piece::Field(i) => batch.column(*i).get_array_memory_size(),
                Piece::Literal(_) => 0,
            })
            .sum();
        let mut builder =
            StringBuilder::with_capacity(rows, self.literal_bytes * rows + field_bytes);
        let mut value = String::new();
        for row in 0..rows {
            value.clear();
            for piece in &self.pieces {
                match piece {
                    Piece::Literal(text) => value.push_str(text),
                    Piece::Field(i) => {
                        if let Some(column) = &columns[*i] {
                            column.write(row, &mut value);
                        }
                    }
                }
            }
            builder.append_value(&value);
        }
        let merged = Arc::new(builder.finish());
        Ok(Effect::columns(self.place.columns(batch.columns(), merged)))
    }
}

#[cfg(test)]
mod tests {
    use crate::api::v1alpha1::Task;
    use crate::api::v1alpha1::task::Merge;
    use crate::pipeline::tasks::testing::{Batch, compile_error, names, run};

    fn merge(into: &str, format: &str) -> Task {
        Task {
            merge: Some(Merge {
                into: into.into(),
                format: format.into(),
            }),
            ..Task::default()
        }
    }

    fn sample() -> Batch {
        Batch::new()
            .text("First", [Some("Zoë"), Some("李"), None])
            .text("Last", [Some("Müller 🎉"), Some(""), Some("Smith")])
            .int("Age", [Some(42), None, Some(-1)])
            .float("Score", [Some(2.5), Some(2.0), Some(0.1)])
            .bool("Vip", [Some(true), Some(false), None])
            .date("Born", [Some("1982-03-04"), None, Some("2000-12-31")])
            .timestamp(
                "Seen",
                [
                    Some("2024-05-01T00:00:00Z"),
                    Some("2024-05-01T10:30:00.000123Z"),
                    None,
                ],
            )
            .decimal("Paid", 8, 2, [Some(1050), Some(-3), None])
    }

    #[test]
    fn writes_fields_as_text_and_nulls_as_empty() {
        let out = run(&[merge("Full", "{First} {Last}")], &sample().build());
        assert_eq!(
            names(&out.batch),
            [
                "First", "Last", "Age", "Score", "Vip", "Born", "Seen", "Paid", "Full"
            ]
        );
        assert_eq!(
            Batch::of(&out.batch).texts("Full"),
            [
                Some("Zoë Müller 🎉".to_owned()),
                Some("李 ".to_owned()),
                Some(" Smith".to_owned())
            ]
        );
    }

    #[test]
    fn writes_every_type() {
        let out = run(
            &[merge("Line", "{Age}|{Score}|{Vip}|{Born}|{Seen}|{Paid}")],
            &sample().build(),
        );
        assert_eq!(
            Batch::of(&out.batch).texts("Line"),
            [
                Some("42|2.5|true|1982-03-04|2024-05-01T00:00:00Z|10.50".to_owned()),
                Some("|2|false||2024-05-01T10:30:00.000123Z|-0.03".to_owned()),
                Some("-1|0.1||2000-12-31||".to_owned()),
            ]
        );
    }

    #[test]
    fn double_braces_are_literal_and_fields_repeat() {
        let out = run(
            &[merge("J", "{{\"{First}\": {Age}}} {First}")],
            &sample().build(),
        );
        assert_eq!(
            Batch::of(&out.batch).texts("J"),
            [
                Some("{\"Zoë\": 42} Zoë".to_owned()),
                Some("{\"李\": } 李".to_owned()),
                Some("{\"\": -1} ".to_owned()),
            ]
        );
    }

    #[test]
    fn an_existing_field_is_replaced_in_place() {
        let out = run(&[merge("First", "{First}-{Age}")], &sample().build());
        assert_eq!(
            names(&out.batch),
            [
                "First", "Last", "Age", "Score", "Vip", "Born", "Seen", "Paid"
            ]
        );
        assert_eq!(
            Batch::of(&out.batch).texts("First"),
            [
                Some("Zoë-42".to_owned()),
                Some("李-".to_owned()),
                Some("--1".to_owned())
            ]
        );
    }

    #[test]
    fn bad_templates_are_invalid() {
        let batch = sample().build();
        assert_eq!(
            compile_error(&[merge("X", "{First} {Lats}")], &batch),
            "task merge[0]: format placeholder {Lats}: field \"Lats\" is not in the records; fields are: First, Last, Age, Score, Vip, Born, Seen, Paid"
        );
        assert_eq!(
            compile_error(&[merge("X", "{First")], &batch),
            "task merge[0]: format has an unclosed { at character 1: write {Field}, or {{ for a literal brace"
        );
        assert_eq!(
            compile_error(&[merge("X", "a } {First}")], &batch),
            "task merge[0]: format has a lone } at character 3: write }} for a literal brace"
        );
        assert!(compile_error(&[merge("X", "{}")], &batch).contains("empty {}"));
        assert!(compile_error(&[merge("X", "{a{First}}")], &batch).contains("unclosed {"));
    }
}
