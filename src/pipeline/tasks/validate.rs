//! Validate tasks: `NotNull`, `NotZero`, `NotNegative` and `Numeric` checks
//! on one field, computed as a mask of failing rows with Arrow kernels. A
//! failing record is a bad record (`DropRecord`) or fails the run
//! (`FailRun`). Null passes every check but `NotNull`; a float NaN fails
//! every check but `NotNull` (it is no number, so it satisfies no
//! comparison), and `Numeric` also fails the infinities, as the number rule
//! (`crate::pipeline::number`) refuses `NaN` and `inf` in text.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, Scalar};
use arrow::compute::kernels::cmp;
use arrow::compute::{CastOptions, cast_with_options, is_null};
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::fields::{describe, index_of, is_float, is_numeric, is_text};
use super::text::TextColumn;
use super::{Bad, Compile, Effect, Step, StepError};
use crate::api::v1alpha1::task::{Validate, ValidationAction, ValidationCheck};
use crate::pipeline::number::is_number;

/// A compiled validation.
struct Check {
    column: usize,
    field: String,
    check: ValidationCheck,
    action: ValidationAction,
    /// Zero in the field's type, for `NotZero` and `NotNegative` on
    /// integers and decimals.
    zero: Option<Scalar<ArrayRef>>,
}

/// Compiles a validation: the field must exist and suit the check.
pub(crate) fn compile(spec: &Validate, input: &SchemaRef) -> Compile {
    let name = spec.field.as_str();
    let column = index_of(input, name)?;
    let data_type = input.fields()[column].data_type();
    let zero = match spec.check {
        ValidationCheck::NotNull => None,
        ValidationCheck::NotZero | ValidationCheck::NotNegative => {
            if !is_numeric(data_type) {
                return Err(format!(
                    "check {:?} applies to number fields; field {name:?} is {}: convert it first",
                    spec.check,
                    describe(data_type)
                ));
            }
            if is_float(data_type) {
                None
            } else {
                let zero: ArrayRef = Arc::new(Int64Array::from(vec![0]));
                let zero = cast_with_options(&zero, data_type, &CastOptions::default())
                    .map_err(|e| e.to_string())?;
                Some(Scalar::new(zero))
            }
        }
        ValidationCheck::Numeric => {
            if !is_numeric(data_type) && !is_text(data_type) {
                return Err(format!(
                    "check Numeric applies to text and number fields; field {name:?} is {}",
                    describe(data_type)
                ));
            }
            None
        }
    };
    let step = Check {
        column,
        field: name.to_owned(),
        check: spec.check,
        action: spec.action,
        zero,
    };
    Ok((Box::new(step), input.clone()))
}

impl Check {
    /// Which rows fail: true fails; false and null pass.
    fn failing(&self, column: &ArrayRef) -> Result<BooleanArray, StepError> {
        let data_type = column.data_type();
        Ok(match self.check {
            ValidationCheck::NotNull => is_null(column)?,
            ValidationCheck::NotZero => match &self.zero {
                Some(zero) => cmp::eq(column, zero)?,
                None => float_test(column, |v| v.is_nan() || v == 0.0)?,
            },
            ValidationCheck::NotNegative => match &self.zero {
                Some(zero) => cmp::lt(column, zero)?,
                None => float_test(column, |v| v.is_nan() || v < 0.0)?,
            },
            ValidationCheck::Numeric if is_text(data_type) => {
                let text = TextColumn::new(column.as_ref())?;
                (0..column.len())
                    .map(|row| {
                        text.str(row)
                            .filter(|_| column.is_valid(row))
                            .map(|value| !is_number(value))
                    })
                    .collect()
            }
            ValidationCheck::Numeric if is_float(data_type) => {
                float_test(column, |v| !v.is_finite())?
            }
            ValidationCheck::Numeric => BooleanArray::new_null(column.len()),
        })
    }

    /// Why a failing row fails.
    fn reason(&self, text: &TextColumn<'_>, row: usize) -> String {
        let name = &self.field;
        let check = self.check;
        // NotZero and NotNegative apply only to numbers: "NaN" is a float's.
        let nan = matches!(
            check,
            ValidationCheck::NotZero | ValidationCheck::NotNegative
        ) && text.string(row).is_some_and(|v| v == "NaN");
        if nan {
            return format!("value NaN of field {name} is not a number (check {check:?})");
        }
        match check {
            ValidationCheck::NotNull => format!("field {name} is null (check NotNull)"),
            ValidationCheck::NotZero => format!("field {name} is zero (check NotZero)"),
            ValidationCheck::NotNegative => format!(
                "value {} of field {name} is negative (check NotNegative)",
                text.quoted(row)
            ),
            ValidationCheck::Numeric => format!(
                "value {} of field {name} is not a number (check Numeric)",
                text.quoted(row)
            ),
        }
    }
}

/// Tests every value of a float column (widened to 64 bits); -0.0 counts
/// as zero, not as negative.
fn float_test(column: &ArrayRef, test: impl Fn(f64) -> bool) -> Result<BooleanArray, StepError> {
    let widened = cast_with_options(column, &DataType::Float64, &CastOptions::default())?;
    let values = widened.as_primitive::<Float64Type>();
    Ok(values.iter().map(|v| v.map(&test)).collect())
}

impl Step for Check {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let column = batch.column(self.column);
        let failing = self.failing(column)?;
        if failing.true_count() == 0 {
            return Ok(Effect::default());
        }
        let text = TextColumn::new(column.as_ref())?;
        let rows = (0..failing.len()).filter(|&row| failing.is_valid(row) && failing.value(row));
        let mut bad = Vec::new();
        for row in rows {
            let reason = self.reason(&text, row);
            if self.action == ValidationAction::FailRun {
                return Err(StepError::FailRun {
                    row,
                    field: self.field.clone(),
                    reason,
                });
            }
            bad.push(Bad {
                row,
                field: Some(self.field.clone()),
                reason,
            });
        }
        Ok(Effect {
            bad,
            ..Effect::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float32Array, UInt16Array};

    use crate::api::v1alpha1::Task;
    use crate::api::v1alpha1::task::{Validate, ValidationAction, ValidationCheck};
    use crate::pipeline::tasks::testing::{Batch, compile_error, reasons, run};
    use crate::pipeline::tasks::{Error, Tasks};

    fn validate(field: &str, check: ValidationCheck) -> Task {
        Task {
            validate: Some(Validate {
                field: field.into(),
                check,
                action: ValidationAction::DropRecord,
            }),
            ..Task::default()
        }
    }

    fn sample() -> Batch {
        Batch::new()
            .int("Id", [Some(1), Some(2), Some(3), Some(4), Some(5)])
            .text(
                "Code",
                [Some("12"), Some(""), None, Some("1e3"), Some("NaN")],
            )
            .float(
                "Amount",
                [Some(0.0), Some(-0.0), Some(-2.5), None, Some(f64::NAN)],
            )
            .int("Count", [Some(0), Some(-1), Some(7), None, Some(i64::MIN)])
            .decimal("Price", 5, 2, [Some(0), Some(-1), Some(100), None, Some(5)])
    }

    fn ids(out: &crate::pipeline::tasks::Output) -> Vec<i64> {
        Batch::of(&out.batch)
            .ints("Id")
            .into_iter()
            .flatten()
            .collect()
    }

    #[test]
    fn not_null_rejects_null_but_not_empty_text() {
        let out = run(
            &[validate("Code", ValidationCheck::NotNull)],
            &sample().build(),
        );
        assert_eq!(ids(&out), [1, 2, 4, 5]);
        assert_eq!(out.filtered, 0);
        assert_eq!(
            reasons(&out),
            [(2, "field Code is null (check NotNull)".to_owned())]
        );
        assert_eq!(out.rejected[0].task, "validate[0]");
        assert_eq!(out.rejected[0].field.as_deref(), Some("Code"));
    }

    #[test]
    fn not_zero_on_integers_floats_and_decimals() {
        let out = run(
            &[validate("Count", ValidationCheck::NotZero)],
            &sample().build(),
        );
        assert_eq!(ids(&out), [2, 3, 4, 5]);
        assert_eq!(
            reasons(&out),
            [(0, "field Count is zero (check NotZero)".to_owned())]
        );
        let out = run(
            &[validate("Amount", ValidationCheck::NotZero)],
            &sample().build(),
        );
        // 0.0 and -0.0 are zero; NaN (Id 5) is no number.
        assert_eq!(ids(&out), [3, 4]);
        assert_eq!(
            out.rejected.iter().map(|r| r.row).collect::<Vec<_>>(),
            [0, 1, 4]
        );
        let out = run(
            &[validate("Price", ValidationCheck::NotZero)],
            &sample().build(),
        );
        assert_eq!(ids(&out), [2, 3, 4, 5]);
    }

    #[test]
    fn not_negative_on_integers_floats_and_decimals() {
        let out = run(
            &[validate("Count", ValidationCheck::NotNegative)],
            &sample().build(),
        );
        assert_eq!(ids(&out), [1, 3, 4]);
        assert_eq!(
            reasons(&out),
            [
                (
                    1,
                    "value -1 of field Count is negative (check NotNegative)".to_owned()
                ),
                (
                    4,
                    "value -9223372036854775808 of field Count is negative (check NotNegative)"
                        .to_owned()
                ),
            ]
        );
        let out = run(
            &[validate("Amount", ValidationCheck::NotNegative)],
            &sample().build(),
        );
        assert_eq!(ids(&out), [1, 2, 4]);
        assert_eq!(
            reasons(&out),
            [
                (
                    2,
                    "value -2.5 of field Amount is negative (check NotNegative)".to_owned()
                ),
                (
                    4,
                    "value NaN of field Amount is not a number (check NotNegative)".to_owned()
                ),
            ]
        );
        let out = run(
            &[validate("Price", ValidationCheck::NotNegative)],
            &sample().build(),
        );
        assert_eq!(
            reasons(&out),
            [(
                1,
                "value -0.01 of field Price is negative (check NotNegative)".to_owned()
            )]
        );
    }

    #[test]
    fn numeric_reads_text_as_decimal_numbers() {
        let out = run(
            &[validate("Code", ValidationCheck::Numeric)],
            &sample().build(),
        );
        assert_eq!(ids(&out), [1, 3, 4]);
        assert_eq!(
            reasons(&out),
            [
                (
                    1,
                    "value \"\" of field Code is not a number (check Numeric)".to_owned()
                ),
                (
                    4,
                    "value \"NaN\" of field Code is not a number (check Numeric)".to_owned()
                ),
            ]
        );
        let out = run(
            &[validate("Amount", ValidationCheck::Numeric)],
            &sample().build(),
        );
        assert_eq!(ids(&out), [1, 2, 3, 4]);
        assert_eq!(
            reasons(&out),
            [(
                4,
                "value NaN of field Amount is not a number (check Numeric)".to_owned()
            )]
        );
    }

    #[test]
    fn nan_fails_every_number_check_and_numeric_fails_infinities() {
        let batch = Batch::new()
            .int("Id", [Some(1), Some(2), Some(3), Some(4), Some(5)])
            .float(
                "Amount",
                [
                    Some(f64::NAN),
                    Some(f64::INFINITY),
                    Some(f64::NEG_INFINITY),
                    Some(2.5),
                    None,
                ],
            )
            .column(
                "Small",
                Arc::new(Float32Array::from(vec![
                    Some(-f32::NAN),
                    Some(f32::INFINITY),
                    Some(f32::NEG_INFINITY),
                    Some(2.5),
                    None,
                ])) as ArrayRef,
            )
            .build();
        let rows = |check| {
            ["Amount", "Small"].map(|field| {
                run(&[validate(field, check)], &batch)
                    .rejected
                    .iter()
                    .map(|r| r.row)
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(rows(ValidationCheck::NotZero), [vec![0], vec![0]]);
        assert_eq!(rows(ValidationCheck::NotNegative), [vec![0, 2], vec![0, 2]]);
        assert_eq!(
            rows(ValidationCheck::Numeric),
            [vec![0, 1, 2], vec![0, 1, 2]]
        );
        assert_eq!(rows(ValidationCheck::NotNull), [vec![4], vec![4]]);
        let out = run(&[validate("Amount", ValidationCheck::NotZero)], &batch);
        assert_eq!(
            reasons(&out),
            [(
                0,
                "value NaN of field Amount is not a number (check NotZero)".to_owned()
            )]
        );
        let out = run(&[validate("Amount", ValidationCheck::Numeric)], &batch);
        assert_eq!(
            reasons(&out)[1],
            (
                1,
                "value inf of field Amount is not a number (check Numeric)".to_owned()
            )
        );
    }

    #[test]
    fn other_number_types_are_checked() {
        let batch = Batch::new()
            .column("U", Arc::new(UInt16Array::from(vec![0, 3])) as ArrayRef)
            .column(
                "F",
                Arc::new(Float32Array::from(vec![-1.5, 0.5])) as ArrayRef,
            )
            .build();
        let out = run(&[validate("U", ValidationCheck::NotNegative)], &batch);
        assert!(out.rejected.is_empty());
        let out = run(&[validate("U", ValidationCheck::NotZero)], &batch);
        assert_eq!(out.rejected.iter().map(|r| r.row).collect::<Vec<_>>(), [0]);
        let out = run(&[validate("F", ValidationCheck::NotNegative)], &batch);
        assert_eq!(
            reasons(&out),
            [(
                0,
                "value -1.5 of field F is negative (check NotNegative)".to_owned()
            )]
        );
    }

    #[test]
    fn checks_on_unsuitable_fields_are_invalid() {
        let batch = sample().build();
        assert_eq!(
            compile_error(&[validate("Code", ValidationCheck::NotZero)], &batch),
            "task validate[0]: check NotZero applies to number fields; field \"Code\" is text: convert it first"
        );
        let batch = Batch::new().bool("Flag", [Some(true)]).build();
        assert_eq!(
            compile_error(&[validate("Flag", ValidationCheck::Numeric)], &batch),
            "task validate[0]: check Numeric applies to text and number fields; field \"Flag\" is boolean"
        );
        assert!(
            compile_error(&[validate("Nope", ValidationCheck::NotNull)], &batch)
                .contains("field \"Nope\" is not in the records; fields are: Flag")
        );
    }

    #[test]
    fn fail_run_stops_at_the_first_failing_record() {
        let mut task = validate("Count", ValidationCheck::NotNegative);
        if let Some(v) = task.validate.as_mut() {
            v.action = ValidationAction::FailRun;
        }
        task.name = Some("counts".to_owned());
        let batch = sample().build();
        let tasks = Tasks::compile(&[task], None, batch.schema_ref()).unwrap();
        match tasks.apply(&batch) {
            Err(Error::FailRun {
                task,
                row,
                field,
                reason,
            }) => {
                assert_eq!(task, "counts");
                assert_eq!(row, 1);
                assert_eq!(field, "Count");
                assert_eq!(
                    reason,
                    "value -1 of field Count is negative (check NotNegative)"
                );
            }
            other => panic!("expected FailRun, got {other:?}"),
        }
    }
}
