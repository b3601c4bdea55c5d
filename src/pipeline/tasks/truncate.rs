//! Truncate tasks: keep the first `length` characters (Unicode scalar
//! values, never bytes) of a text field, with Arrow's `substring_by_char`
//! kernel. The field keeps its text type.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::compute::kernels::substring::substring_by_char;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::sync::Arc;

use super::fields::{describe, index_of, is_text};
use super::{Compile, Effect, Step, StepError};
use crate::api::v1alpha1::task::Truncate;

/// A compiled truncation.
struct Truncator {
    column: usize,
    length: u64,
}

/// Compiles a truncation: the field must be text and `length` not negative.
pub(crate) fn compile(spec: &Truncate, input: &SchemaRef) -> Compile {
    let name = spec.field.as_str();
    let column = index_of(input, name)?;
    let data_type = input.fields()[column].data_type();
    if !is_text(data_type) {
        return Err(format!(
            "truncate applies to text fields; field {name:?} is {}: convert it to String first",
            describe(data_type)
        ));
    }
    let length = u64::try_from(spec.length)
        .map_err(|_| format!("length {} must be 0 or more", spec.length))?;
    Ok((Box::new(Truncator { column, length }), input.clone()))
}

/// The first `length` characters of every value of a text column.
fn truncate(column: &ArrayRef, length: u64) -> Result<ArrayRef, ArrowError> {
    Ok(match column.data_type() {
        DataType::Utf8 => Arc::new(substring_by_char(
            column.as_string::<i32>(),
            0,
            Some(length),
        )?),
        DataType::LargeUtf8 => Arc::new(substring_by_char(
            column.as_string::<i64>(),
            0,
            Some(length),
        )?),
        other => {
            let utf8 = cast(column, &DataType::Utf8)?;
            let cut: ArrayRef =
                Arc::new(substring_by_char(utf8.as_string::<i32>(), 0, Some(length))?);
            cast(&cut, other)?
        }
    })
}

impl Step for Truncator {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let column = batch.column(self.column);
        // No value has more characters than bytes: short values need no work.
        let longest = match column.data_type() {
            DataType::Utf8 => {
                let offsets = column.as_string::<i32>().value_offsets();
                offsets.windows(2).map(|w| (w[1] - w[0]) as u64).max()
            }
            DataType::LargeUtf8 => {
                let offsets = column.as_string::<i64>().value_offsets();
                offsets.windows(2).map(|w| (w[1] - w[0]) as u64).max()
            }
            _ => None,
        };
        if longest.is_some_and(|bytes| bytes <= self.length) || column.is_empty() {
            return Ok(Effect::default());
        }
        let mut columns = batch.columns().to_vec();
        columns[self.column] = truncate(column, self.length)?;
        Ok(Effect::columns(columns))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, StringViewArray};

    use crate::api::v1alpha1::Task;
    use crate::api::v1alpha1::task::Truncate;
    use crate::pipeline::tasks::testing::{Batch, compile_error, run};

    fn truncate(field: &str, length: i64) -> Task {
        Task {
            truncate: Some(Truncate {
                field: field.into(),
                length,
            }),
            ..Task::default()
        }
    }

    fn sample() -> Batch {
        Batch::new()
            .text(
                "Name",
                [
                    Some("héllo wörld"),
                    Some("abc"),
                    Some(""),
                    None,
                    Some("日本語のテキスト"),
                    Some("🎉🎉🎉🎉"),
                ],
            )
            .int("N", [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6)])
    }

    fn texts(task: Task) -> Vec<Option<String>> {
        let out = run(&[task], &sample().build());
        Batch::of(&out.batch).texts("Name")
    }

    fn strings(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_owned)).collect()
    }

    #[test]
    fn keeps_the_first_characters_not_bytes() {
        assert_eq!(
            texts(truncate("Name", 4)),
            strings(&[
                Some("héll"),
                Some("abc"),
                Some(""),
                None,
                Some("日本語の"),
                Some("🎉🎉🎉🎉")
            ])
        );
        assert_eq!(
            texts(truncate("Name", 2)),
            strings(&[
                Some("hé"),
                Some("ab"),
                Some(""),
                None,
                Some("日本"),
                Some("🎉🎉")
            ])
        );
    }

    #[test]
    fn zero_length_empties_values_but_keeps_nulls() {
        assert_eq!(
            texts(truncate("Name", 0)),
            strings(&[Some(""), Some(""), Some(""), None, Some(""), Some("")])
        );
    }

    #[test]
    fn long_enough_values_are_unchanged() {
        assert_eq!(
            texts(truncate("Name", 100)),
            strings(&[
                Some("héllo wörld"),
                Some("abc"),
                Some(""),
                None,
                Some("日本語のテキスト"),
                Some("🎉🎉🎉🎉"),
            ])
        );
    }

    #[test]
    fn text_views_keep_their_type() {
        let batch = Batch::new()
            .column(
                "V",
                Arc::new(StringViewArray::from(vec![Some("wörldwide"), None])) as ArrayRef,
            )
            .build();
        let out = run(&[truncate("V", 2)], &batch);
        let column = out.batch.column(0).as_string_view();
        assert_eq!(column.iter().collect::<Vec<_>>(), [Some("wö"), None]);
    }

    #[test]
    fn non_text_fields_and_negative_lengths_are_invalid() {
        let batch = sample().build();
        assert_eq!(
            compile_error(&[truncate("N", 2)], &batch),
            "task truncate[0]: truncate applies to text fields; field \"N\" is integer (Int64): convert it to String first"
        );
        assert_eq!(
            compile_error(&[truncate("Name", -1)], &batch),
            "task truncate[0]: length -1 must be 0 or more"
        );
    }
}
