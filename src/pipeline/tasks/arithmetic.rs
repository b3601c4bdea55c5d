//! Arithmetic tasks: `into = left (operator) right` on two number fields.
//! Two integers give Int64 with checked operations (an overflow makes the
//! record bad); anything else, and always `Divide`, gives Float64 (division
//! by zero, or a finite float overflowing to infinity, makes the record
//! bad). A null operand gives null. Operands are widened with Arrow's cast
//! kernel; the operation is one tight loop over the value buffers.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::fields::{Place, describe, index_of, is_integer, is_numeric};
use super::{Bad, Compile, Effect, Step, StepError};
use crate::api::v1alpha1::task::{Arithmetic, ArithmeticOperator};

/// A compiled arithmetic task.
struct Calculator {
    left: usize,
    right: usize,
    left_name: String,
    right_name: String,
    into: String,
    operator: ArithmeticOperator,
    /// Integer arithmetic (both operands integers, not `Divide`).
    integer: bool,
    place: Place,
}

/// Compiles an arithmetic task: both operands must be number fields.
pub(crate) fn compile(spec: &Arithmetic, input: &SchemaRef) -> Compile {
    let operand = |name: &str| -> Result<usize, String> {
        let index = index_of(input, name)?;
        let data_type = input.fields()[index].data_type();
        if !is_numeric(data_type) {
            return Err(format!(
                "arithmetic applies to number fields; field {name:?} is {}: convert it first",
                describe(data_type)
            ));
        }
        Ok(index)
    };
    let left = operand(spec.left.as_str())?;
    let right = operand(spec.right.as_str())?;
    let integer = spec.operator != ArithmeticOperator::Divide
        && is_integer(input.fields()[left].data_type())
        && is_integer(input.fields()[right].data_type());
    let output = if integer {
        DataType::Int64
    } else {
        DataType::Float64
    };
    let (schema, place) = Place::put(input, Field::new(spec.into.as_str(), output, true));
    let step = Calculator {
        left,
        right,
        left_name: spec.left.to_string(),
        right_name: spec.right.to_string(),
        into: spec.into.to_string(),
        operator: spec.operator,
        integer,
        place,
    };
    Ok((Box::new(step), schema))
}

/// The operator's sign.
fn sign(operator: ArithmeticOperator) -> &'static str {
    match operator {
        ArithmeticOperator::Add => "+",
        ArithmeticOperator::Subtract => "-",
        ArithmeticOperator::Multiply => "*",
        ArithmeticOperator::Divide => "/",
    }
}

impl Calculator {
    /// A bad record at `row`.
    fn bad(&self, row: usize, reason: String) -> Bad {
        Bad {
            row,
            field: Some(self.into.clone()),
            reason,
        }
    }

    /// Widens an operand to Int64; values out of its range (large UInt64)
    /// make their records bad.
    fn to_int64(
        &self,
        column: &ArrayRef,
        name: &str,
        bad: &mut Vec<Bad>,
    ) -> Result<Int64Array, StepError> {
        let widened = cast_with_options(column, &DataType::Int64, &CastOptions::default())?;
        let widened = widened.as_primitive::<Int64Type>().clone();
        if widened.null_count() != column.null_count() {
            let original = super::text::TextColumn::new(column.as_ref())?;
            for row in 0..column.len() {
                if column.is_valid(row) && widened.is_null(row) {
                    bad.push(self.bad(
                        row,
                        format!(
                            "value {} of field {name} does not fit a 64-bit integer",
                            original.quoted(row)
                        ),
                    ));
                }
            }
        }
        Ok(widened)
    }

    fn integers(
        &self,
        left: &ArrayRef,
        right: &ArrayRef,
    ) -> Result<(ArrayRef, Vec<Bad>), StepError> {
        let mut bad = Vec::new();
        let l = self.to_int64(left, &self.left_name, &mut bad)?;
        let r = self.to_int64(right, &self.right_name, &mut bad)?;
        let nulls = NullBuffer::union(l.nulls(), r.nulls());
        let operation = match self.operator {
            ArithmeticOperator::Add => i64::checked_add,
            ArithmeticOperator::Subtract => i64::checked_sub,
            _ => i64::checked_mul,
        };
        let (lv, rv) = (l.values(), r.values());
        let mut values = Vec::with_capacity(lv.len());
        for row in 0..lv.len() {
            match operation(lv[row], rv[row]) {
                Some(value) => values.push(value),
                None => {
                    values.push(0);
                    if nulls.as_ref().is_none_or(|n| n.is_valid(row)) {
                        bad.push(self.bad(
                            row,
                            format!(
                                "{} {} {} ({} {} {}) overflows a 64-bit integer",
                                lv[row],
                                sign(self.operator),
                                rv[row],
                                self.left_name,
                                sign(self.operator),
                                self.right_name
                            ),
                        ));
                    }
                }
            }
        }
        let result = Int64Array::new(ScalarBuffer::from(values), nulls);
        Ok((Arc::new(result), bad))
    }

    fn floats(&self, left: &ArrayRef, right: &ArrayRef) -> Result<(ArrayRef, Vec<Bad>), StepError> {
        let options = CastOptions::default();
        let l = cast_with_options(left, &DataType::Float64, &options)?;
        let r = cast_with_options(right, &DataType::Float64, &options)?;
        let (l, r) = (
            l.as_primitive::<Float64Type>(),
            r.as_primitive::<Float64Type>(),
        );
        let nulls = NullBuffer::union(l.nulls(), r.nulls());
        let (lv, rv) = (l.values(), r.values());
        let mut values = Vec::with_capacity(lv.len());
        let mut bad = Vec::new();
        for row in 0..lv.len() {
            let (a, b) = (lv[row], rv[row]);
            let value = match self.operator {
                ArithmeticOperator::Add => a + b,
                ArithmeticOperator::Subtract => a - b,
                ArithmeticOperator::Multiply => a * b,
                ArithmeticOperator::Divide => a / b,
            };
            values.push(value);
            if !nulls.as_ref().is_none_or(|n| n.is_valid(row)) {
                continue;
            }
            if self.operator == ArithmeticOperator::Divide && b == 0.0 {
                bad.push(self.bad(
                    row,
                    format!(
                        "division by zero: {} / {} with {} = 0",
                        self.left_name, self.right_name, self.right_name
                    ),
                ));
            } else if value.is_infinite() && a.is_finite() && b.is_finite() {
                bad.push(self.bad(
                    row,
                    format!(
                        "{a} {} {b} ({} {} {}) overflows a 64-bit float",
                        sign(self.operator),
                        self.left_name,
                        sign(self.operator),
                        self.right_name
                    ),
                ));
            }
        }
        let result = Float64Array::new(ScalarBuffer::from(values), nulls);
        Ok((Arc::new(result), bad))
    }
}

impl Step for Calculator {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let left = batch.column(self.left);
        let right = batch.column(self.right);
        let (result, mut bad) = if self.integer {
            self.integers(left, right)?
        } else {
            self.floats(left, right)?
        };
        // One reason per record: the first found.
        bad.sort_by_key(|b| b.row);
        bad.dedup_by_key(|b| b.row);
        Ok(Effect {
            columns: Some(self.place.columns(batch.columns(), result)),
            keep: None,
            bad,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, UInt64Array};
    use arrow::datatypes::DataType;

    use crate::api::v1alpha1::Task;
    use crate::api::v1alpha1::task::{Arithmetic, ArithmeticOperator};
    use crate::pipeline::tasks::testing::{Batch, compile_error, names, reasons, run};

    fn arithmetic(left: &str, operator: ArithmeticOperator, right: &str, into: &str) -> Task {
        Task {
            arithmetic: Some(Arithmetic {
                left: left.into(),
                operator,
                right: right.into(),
                into: into.into(),
            }),
            ..Task::default()
        }
    }

    fn sample() -> Batch {
        Batch::new()
            .int(
                "A",
                [Some(7), Some(i64::MAX), None, Some(-4), Some(i64::MIN)],
            )
            .int("B", [Some(2), Some(1), Some(5), Some(0), Some(-1)])
            .float("F", [Some(0.5), Some(1.5), Some(2.0), None, Some(-0.0)])
            .decimal("D", 6, 2, [Some(150), Some(-25), Some(0), Some(1), None])
    }

    #[test]
    fn integer_add_overflow_is_a_bad_record() {
        let out = run(
            &[arithmetic("A", ArithmeticOperator::Add, "B", "Sum")],
            &sample().build(),
        );
        assert_eq!(names(&out.batch), ["A", "B", "F", "D", "Sum"]);
        assert_eq!(Batch::of(&out.batch).ints("Sum"), [Some(9), None, Some(-4)]);
        assert_eq!(
            reasons(&out),
            [
                (
                    1,
                    "9223372036854775807 + 1 (A + B) overflows a 64-bit integer".to_owned()
                ),
                (
                    4,
                    "-9223372036854775808 + -1 (A + B) overflows a 64-bit integer".to_owned()
                ),
            ]
        );
        assert_eq!(out.rejected[0].field.as_deref(), Some("Sum"));
    }

    #[test]
    fn integer_subtract_and_multiply() {
        let out = run(
            &[arithmetic("A", ArithmeticOperator::Subtract, "B", "D")],
            &sample().build(),
        );
        assert_eq!(names(&out.batch), ["A", "B", "F", "D"]);
        assert_eq!(
            Batch::of(&out.batch).ints("D"),
            [
                Some(5),
                Some(i64::MAX - 1),
                None,
                Some(-4),
                Some(i64::MIN + 1)
            ]
        );
        let out = run(
            &[arithmetic("A", ArithmeticOperator::Multiply, "B", "P")],
            &sample().build(),
        );
        assert_eq!(
            Batch::of(&out.batch).ints("P"),
            [Some(14), Some(i64::MAX), None, Some(0)]
        );
        assert_eq!(
            reasons(&out),
            [(
                4,
                "-9223372036854775808 * -1 (A * B) overflows a 64-bit integer".to_owned()
            )]
        );
    }

    #[test]
    fn divide_gives_floats_and_rejects_division_by_zero() {
        let out = run(
            &[arithmetic("A", ArithmeticOperator::Divide, "B", "Q")],
            &sample().build(),
        );
        assert_eq!(Batch::of(&out.batch).data_type("Q"), DataType::Float64);
        assert_eq!(
            Batch::of(&out.batch).floats("Q"),
            [
                Some(3.5),
                Some(9223372036854775807.0),
                None,
                Some(9223372036854775808.0)
            ]
        );
        assert_eq!(
            reasons(&out),
            [(3, "division by zero: A / B with B = 0".to_owned())]
        );
        let out = run(
            &[arithmetic("B", ArithmeticOperator::Divide, "F", "Q")],
            &sample().build(),
        );
        assert_eq!(
            reasons(&out),
            [(4, "division by zero: B / F with F = 0".to_owned())]
        );
    }

    #[test]
    fn mixed_operands_give_floats_with_nulls() {
        let out = run(
            &[arithmetic("F", ArithmeticOperator::Multiply, "D", "X")],
            &sample().build(),
        );
        assert_eq!(
            Batch::of(&out.batch).floats("X"),
            [Some(0.75), Some(-0.375), Some(0.0), None, None]
        );
        assert!(out.rejected.is_empty());
        let out = run(
            &[arithmetic("A", ArithmeticOperator::Add, "F", "X")],
            &sample().build(),
        );
        assert_eq!(
            Batch::of(&out.batch).floats("X"),
            [
                Some(7.5),
                Some(9223372036854775808.0),
                None,
                None,
                Some(-9223372036854775808.0)
            ]
        );
    }

    #[test]
    fn float_overflow_is_a_bad_record() {
        let batch = Batch::new()
            .float("X", [Some(f64::MAX), Some(1.0)])
            .float("Y", [Some(10.0), Some(2.0)])
            .build();
        let out = run(
            &[arithmetic("X", ArithmeticOperator::Multiply, "Y", "Z")],
            &batch,
        );
        assert_eq!(Batch::of(&out.batch).floats("Z"), [Some(2.0)]);
        assert_eq!(
            reasons(&out),
            [(
                0,
                format!("{} * 10 (X * Y) overflows a 64-bit float", f64::MAX)
            )]
        );
    }

    #[test]
    fn unsigned_values_beyond_i64_are_bad_records() {
        let batch = Batch::new()
            .column(
                "U",
                Arc::new(UInt64Array::from(vec![u64::MAX, 3])) as ArrayRef,
            )
            .int("I", [Some(1), Some(1)])
            .build();
        let out = run(
            &[arithmetic("U", ArithmeticOperator::Add, "I", "S")],
            &batch,
        );
        assert_eq!(Batch::of(&out.batch).ints("S"), [Some(4)]);
        assert_eq!(
            reasons(&out),
            [(
                0,
                "value 18446744073709551615 of field U does not fit a 64-bit integer".to_owned()
            )]
        );
    }

    #[test]
    fn text_operands_are_invalid() {
        let batch = Batch::new()
            .text("T", [Some("1")])
            .int("I", [Some(1)])
            .build();
        assert_eq!(
            compile_error(
                &[arithmetic("I", ArithmeticOperator::Add, "T", "S")],
                &batch
            ),
            "task arithmetic[0]: arithmetic applies to number fields; field \"T\" is text: convert it first"
        );
        assert!(
            compile_error(
                &[arithmetic("I", ArithmeticOperator::Add, "J", "S")],
                &batch
            )
            .contains("field \"J\" is not in the records")
        );
    }
}
