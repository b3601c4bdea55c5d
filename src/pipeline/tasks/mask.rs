//! Mask tasks: replace all, the first `count` or the last `count`
//! characters (Unicode scalar values) of a field with one mask character,
//! keeping the length. Non-text fields are written as text first (see the
//! `text` module) and the field becomes Utf8; text fields keep their type.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::fields::{index_of, is_text};
use super::text::TextColumn;
use super::{Compile, Effect, Step, StepError};
use crate::api::v1alpha1::task::{Mask, MaskMode};

/// A compiled mask.
struct Masker {
    column: usize,
    mode: MaskMode,
    count: usize,
    character: char,
    /// The output type: the field's own for text, else Utf8.
    output: DataType,
}

/// Compiles a mask: the field must exist, `count` must be given for
/// `FirstN`/`LastN` only and be positive, `character` must be one
/// character.
pub(crate) fn compile(spec: &Mask, input: &SchemaRef) -> Compile {
    let column = index_of(input, spec.field.as_str())?;
    let count = match (spec.mode, spec.count) {
        (MaskMode::All, None) => 0,
        (MaskMode::All, Some(_)) => {
            return Err("count is not allowed for mode All: remove it".to_owned());
        }
        (mode, None) => return Err(format!("mode {mode:?} needs a count (1 or more)")),
        (mode, Some(count)) => usize::try_from(count)
            .ok()
            .filter(|c| *c >= 1)
            .ok_or_else(|| format!("count {count} of mode {mode:?} must be 1 or more"))?,
    };
    let mut chars = spec.character.chars();
    let character = match (chars.next(), chars.next()) {
        (Some(c), None) => c,
        _ => {
            return Err(format!(
                "character {:?} must be exactly one character",
                spec.character
            ));
        }
    };
    let field = &input.fields()[column];
    let output = if is_text(field.data_type()) {
        field.data_type().clone()
    } else {
        DataType::Utf8
    };
    let mut fields: Vec<_> = input.fields().iter().cloned().collect();
    fields[column] = Arc::new(Field::clone(field).with_data_type(output.clone()));
    let schema = Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()));
    let step = Masker {
        column,
        mode: spec.mode,
        count,
        character,
        output,
    };
    Ok((Box::new(step), schema))
}

impl Masker {
    /// Appends `value` masked to `out`.
    fn mask(&self, value: &str, out: &mut String) {
        let length = value.chars().count();
        let masked = match self.mode {
            MaskMode::All => 0..length,
            MaskMode::FirstN => 0..self.count.min(length),
            MaskMode::LastN => length.saturating_sub(self.count)..length,
        };
        for (i, c) in value.chars().enumerate() {
            out.push(if masked.contains(&i) {
                self.character
            } else {
                c
            });
        }
    }
}

impl Step for Masker {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let column = batch.column(self.column);
        let text = TextColumn::new(column.as_ref())?;
        let rows = column.len();
        let mut builder = StringBuilder::with_capacity(rows, column.get_buffer_memory_size());
        let mut value = String::new();
        let mut masked = String::new();
        for row in 0..rows {
            if text.is_null(row) {
                builder.append_null();
                continue;
            }
            masked.clear();
            match text.str(row) {
                Some(s) => self.mask(s, &mut masked),
                None => {
                    value.clear();
                    text.write(row, &mut value);
                    self.mask(&value, &mut masked);
                }
            }
            builder.append_value(&masked);
        }
        let mut output: ArrayRef = Arc::new(builder.finish());
        if self.output != DataType::Utf8 {
            output = cast(&output, &self.output)?;
        }
        let mut columns = batch.columns().to_vec();
        columns[self.column] = output;
        Ok(Effect::columns(columns))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, LargeStringArray};
    use arrow::datatypes::DataType;

    use crate::api::v1alpha1::Task;
    use crate::api::v1alpha1::task::{Mask, MaskMode};
    use crate::pipeline::tasks::testing::{Batch, compile_error, run};

    fn mask(field: &str, mode: MaskMode, count: Option<i32>, character: &str) -> Task {
        Task {
            mask: Some(Mask {
                field: field.into(),
                mode,
                count,
                character: character.into(),
            }),
            ..Task::default()
        }
    }

    fn sample() -> Batch {
        Batch::new()
            .text(
                "Card",
                [
                    Some("4111222233334444"),
                    Some("héllo wörld"),
                    Some(""),
                    None,
                    Some("日本"),
                    Some("🎉a🎉"),
                ],
            )
            .int(
                "Pin",
                [Some(1234), None, Some(-5), Some(0), Some(7), Some(42)],
            )
    }

    fn masked(task: Task, field: &str) -> Vec<Option<String>> {
        let out = run(&[task], &sample().build());
        Batch::of(&out.batch).texts(field)
    }

    fn strings(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_owned)).collect()
    }

    #[test]
    fn all_replaces_every_character() {
        assert_eq!(
            masked(mask("Card", MaskMode::All, None, "*"), "Card"),
            strings(&[
                Some("****************"),
                Some("***********"),
                Some(""),
                None,
                Some("**"),
                Some("***"),
            ])
        );
    }

    #[test]
    fn first_n_counts_characters() {
        assert_eq!(
            masked(mask("Card", MaskMode::FirstN, Some(12), "#"), "Card"),
            strings(&[
                Some("############4444"),
                Some("###########"),
                Some(""),
                None,
                Some("##"),
                Some("###"),
            ])
        );
        assert_eq!(
            masked(mask("Card", MaskMode::FirstN, Some(2), "x"), "Card"),
            strings(&[
                Some("xx11222233334444"),
                Some("xxllo wörld"),
                Some(""),
                None,
                Some("xx"),
                Some("xx🎉"),
            ])
        );
    }

    #[test]
    fn last_n_with_a_multibyte_mask_character() {
        assert_eq!(
            masked(mask("Card", MaskMode::LastN, Some(4), "•"), "Card"),
            strings(&[
                Some("411122223333••••"),
                Some("héllo w••••"),
                Some(""),
                None,
                Some("••"),
                Some("•••"),
            ])
        );
    }

    #[test]
    fn non_text_fields_become_text() {
        let out = run(
            &[mask("Pin", MaskMode::LastN, Some(2), "*")],
            &sample().build(),
        );
        assert_eq!(Batch::of(&out.batch).data_type("Pin"), DataType::Utf8);
        assert_eq!(
            Batch::of(&out.batch).texts("Pin"),
            strings(&[
                Some("12**"),
                None,
                Some("**"),
                Some("*"),
                Some("*"),
                Some("**")
            ])
        );
    }

    #[test]
    fn large_text_keeps_its_type() {
        let batch = Batch::new()
            .column(
                "L",
                Arc::new(LargeStringArray::from(vec![Some("secret"), None])) as ArrayRef,
            )
            .build();
        let out = run(&[mask("L", MaskMode::FirstN, Some(3), "*")], &batch);
        let column = out.batch.column(0).as_string::<i64>();
        assert_eq!(column.iter().collect::<Vec<_>>(), [Some("***ret"), None]);
    }

    #[test]
    fn bad_parameters_are_invalid() {
        let batch = sample().build();
        assert_eq!(
            compile_error(&[mask("Card", MaskMode::FirstN, None, "*")], &batch),
            "task mask[0]: mode FirstN needs a count (1 or more)"
        );
        assert_eq!(
            compile_error(&[mask("Card", MaskMode::All, Some(3), "*")], &batch),
            "task mask[0]: count is not allowed for mode All: remove it"
        );
        assert_eq!(
            compile_error(&[mask("Card", MaskMode::LastN, Some(0), "*")], &batch),
            "task mask[0]: count 0 of mode LastN must be 1 or more"
        );
        assert_eq!(
            compile_error(&[mask("Card", MaskMode::All, None, "**")], &batch),
            "task mask[0]: character \"**\" must be exactly one character"
        );
        assert!(
            compile_error(&[mask("Cart", MaskMode::All, None, "*")], &batch)
                .contains("field \"Cart\" is not in the records")
        );
    }
}
