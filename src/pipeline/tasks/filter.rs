//! Comparison filters: `field operator value`, vectorised with Arrow's
//! comparison kernels against a one-value `Scalar` read from the task's text
//! as the field's type at compile time. A null field matches only `IsNull`.
//! Floats compare by IEEE 754 rather than Arrow's total order (which puts
//! NaN above every number and -0 below 0): a NaN satisfies no comparison,
//! `NotEqual` included, and -0 equals 0. Ordering a text field against a
//! number is refused: it would compare digits as text. CEL filters
//! (`expression`) live in the `cel` module.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Datum, Float64Array, Scalar, StringArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray,
};
use arrow::buffer::BooleanBuffer;
use arrow::compute::kernels::{boolean, cmp};
use arrow::compute::{CastOptions, cast_with_options, is_not_null, is_null};
use arrow::datatypes::{DataType, Float64Type, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate};

use super::fields::{describe, index_of, is_float, is_numeric, is_text};
use super::{Compile, Effect, Step, StepError, cel};
use crate::api::v1alpha1::task::{Filter, FilterOperator};
use crate::pipeline::number::{fraction_digits, is_number, read_float};

/// The comparison a compiled filter runs.
enum Test {
    /// `field <op> value`.
    Compare(FilterOperator, Scalar<ArrayRef>),
    /// `lower <= field <= upper`.
    Between(Scalar<ArrayRef>, Scalar<ArrayRef>),
    /// `field <op> value` on a float field (widened to 64 bits), by IEEE 754.
    FloatCompare(FilterOperator, f64),
    /// `lower <= field <= upper` on a float field, by IEEE 754.
    FloatBetween(f64, f64),
    /// Text contains the value.
    Contains(Scalar<ArrayRef>),
    /// The field is null.
    IsNull,
    /// The field is not null.
    IsNotNull,
}

/// A compiled comparison filter.
struct Comparison {
    column: usize,
    test: Test,
}

impl Step for Comparison {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let column = batch.column(self.column);
        let keep = match &self.test {
            Test::Compare(operator, value) => {
                let compare = match operator {
                    FilterOperator::LessThan => cmp::lt,
                    FilterOperator::LessThanOrEqual => cmp::lt_eq,
                    FilterOperator::GreaterThan => cmp::gt,
                    FilterOperator::GreaterThanOrEqual => cmp::gt_eq,
                    FilterOperator::Equal => cmp::eq,
                    _ => cmp::neq,
                };
                compare(column, value)?
            }
            Test::Between(lower, upper) => {
                boolean::and(&cmp::gt_eq(column, lower)?, &cmp::lt_eq(column, upper)?)?
            }
            Test::FloatCompare(operator, value) => {
                let value = *value;
                match operator {
                    FilterOperator::LessThan => float_test(column, |v| v < value)?,
                    FilterOperator::LessThanOrEqual => float_test(column, |v| v <= value)?,
                    FilterOperator::GreaterThan => float_test(column, |v| v > value)?,
                    FilterOperator::GreaterThanOrEqual => float_test(column, |v| v >= value)?,
                    FilterOperator::Equal => float_test(column, |v| v == value)?,
                    // Not IEEE's `!=`, which NaN satisfies: NaN is no number,
                    // so it is neither equal nor unequal to one.
                    _ => float_test(column, |v| !v.is_nan() && v != value)?,
                }
            }
            Test::FloatBetween(lower, upper) => {
                let (lower, upper) = (*lower, *upper);
                float_test(column, |v| lower <= v && v <= upper)?
            }
            Test::Contains(value) => arrow::compute::contains(column, value)?,
            Test::IsNull => is_null(column)?,
            Test::IsNotNull => is_not_null(column)?,
        };
        Ok(Effect {
            keep: Some(keep),
            ..Effect::default()
        })
    }
}

/// Tests every value of a float column widened to 64 bits; null stays null.
fn float_test(
    column: &ArrayRef,
    test: impl Fn(f64) -> bool,
) -> Result<BooleanArray, arrow::error::ArrowError> {
    let widened = cast_with_options(column, &DataType::Float64, &CastOptions::default())?;
    let values = widened.as_primitive::<Float64Type>();
    let passed = BooleanBuffer::collect_bool(values.len(), |i| test(values.value(i)));
    Ok(BooleanArray::new(passed, values.nulls().cloned()))
}

/// A float operand as the field's type (so `0.1` compares equal to a
/// Float32 `0.1`), widened to 64 bits.
fn float_operand(value: &Scalar<ArrayRef>) -> Result<f64, String> {
    let (array, _) = value.get();
    let widened = cast_with_options(array, &DataType::Float64, &CastOptions::default())
        .map_err(|e| e.to_string())?;
    let widened: &Float64Array = widened.as_primitive();
    Ok(widened.value(0))
}

/// Compiles a filter: a comparison here, a CEL expression in `cel`.
pub(crate) fn compile(spec: &Filter, input: &SchemaRef, at: &str) -> Compile {
    if let Some(expression) = &spec.expression {
        if spec.field.is_some() || spec.operator.is_some() {
            return Err("set either expression (CEL) or field with operator, not both".to_owned());
        }
        let field = format!("{at}.filter.expression");
        return Ok((
            cel::compile_filter(expression, &field, input)?,
            input.clone(),
        ));
    }
    let (Some(field), Some(operator)) = (&spec.field, spec.operator) else {
        return Err("a filter needs either expression (CEL) or field with operator".to_owned());
    };
    let column = index_of(input, field.as_str())?;
    let data_type = input.fields()[column].data_type();
    let name = field.as_str();
    let operands = match operator {
        FilterOperator::IsNull | FilterOperator::IsNotNull => 0,
        FilterOperator::Between => 2,
        _ => 1,
    };
    check_operands(spec, operator, operands)?;
    let not_for = |what: &str| {
        Err(format!(
            "operator {operator:?} does not apply to {what} field {name:?} ({})",
            describe(data_type)
        ))
    };
    let ordered = is_text(data_type)
        || is_numeric(data_type)
        || matches!(
            data_type,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        );
    let read =
        |text: &Option<String>| read_value(text.as_deref().unwrap_or_default(), name, data_type);
    if is_text(data_type)
        && !matches!(
            operator,
            FilterOperator::Contains | FilterOperator::Equal | FilterOperator::NotEqual
        )
    {
        refuse_numbers_as_text(spec, operator, name)?;
    }
    let test = match operator {
        FilterOperator::IsNull => Test::IsNull,
        FilterOperator::IsNotNull => Test::IsNotNull,
        FilterOperator::Contains if !is_text(data_type) => {
            return not_for("the non-text");
        }
        FilterOperator::Contains => Test::Contains(read(&spec.value)?),
        FilterOperator::Between if is_float(data_type) => Test::FloatBetween(
            float_operand(&read(&spec.lower)?)?,
            float_operand(&read(&spec.upper)?)?,
        ),
        _ if is_float(data_type) => {
            Test::FloatCompare(operator, float_operand(&read(&spec.value)?)?)
        }
        FilterOperator::Equal | FilterOperator::NotEqual
            if ordered || data_type == &DataType::Boolean =>
        {
            Test::Compare(operator, read(&spec.value)?)
        }
        FilterOperator::Between if ordered => Test::Between(read(&spec.lower)?, read(&spec.upper)?),
        _ if ordered => Test::Compare(operator, read(&spec.value)?),
        _ if data_type == &DataType::Boolean => {
            return Err(format!(
                "operator {operator:?} does not apply to boolean field {name:?}: use Equal, NotEqual, IsNull or IsNotNull"
            ));
        }
        _ => return not_for("the"),
    };
    Ok((Box::new(Comparison { column, test }), input.clone()))
}

/// Checks that the operator gets the operands it takes: none for
/// `IsNull`/`IsNotNull`, `lower` and `upper` for `Between`, `value` for the
/// others.
fn check_operands(spec: &Filter, operator: FilterOperator, operands: usize) -> Result<(), String> {
    let has_value = spec.value.is_some();
    let has_bounds = (spec.lower.is_some(), spec.upper.is_some());
    let right = match operands {
        0 => !has_value && has_bounds == (false, false),
        2 => !has_value && has_bounds == (true, true),
        _ => has_value && has_bounds == (false, false),
    };
    if right {
        return Ok(());
    }
    Err(match operands {
        0 => format!("operator {operator:?} takes no value, lower or upper"),
        2 => "operator Between takes lower and upper, and no value".to_owned(),
        _ => format!("operator {operator:?} takes a value, and no lower or upper"),
    })
}

/// Refuses to order a text field against a number (`value`, `lower` or
/// `upper` that is a number once spaces are trimmed): text compares by code
/// point, so `"9000" > "50000"`, and the user meant numbers.
fn refuse_numbers_as_text(
    spec: &Filter,
    operator: FilterOperator,
    name: &str,
) -> Result<(), String> {
    let operands = [&spec.value, &spec.lower, &spec.upper];
    let Some(number) = operands
        .into_iter()
        .flatten()
        .find(|text| is_number(text.trim()))
    else {
        return Ok(());
    };
    Err(format!(
        "field {name:?} is text, and {operator:?} would compare {number:?} as text (\"9000\" > \"50000\"): \
         convert it to Decimal or Double first (a convert task before this filter), \
         or compare in a CEL expression"
    ))
}

/// Reads `text` as a value of `data_type`, for comparing with field `name`.
fn read_value(text: &str, name: &str, data_type: &DataType) -> Result<Scalar<ArrayRef>, String> {
    let unreadable = |what: &str| {
        format!(
            "value {text:?} cannot be read as the type of field {name:?} ({}): write {what}",
            describe(data_type)
        )
    };
    let array: ArrayRef = match data_type {
        DataType::Boolean => {
            let value = if text.eq_ignore_ascii_case("true") {
                true
            } else if text.eq_ignore_ascii_case("false") {
                false
            } else {
                return Err(unreadable("true or false"));
            };
            Arc::new(BooleanArray::from(vec![value]))
        }
        DataType::Date32 | DataType::Date64 => {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| unreadable("a date such as 2024-05-01"))?;
            let days = date.signed_duration_since(NaiveDate::default()).num_days();
            let days = i32::try_from(days).map_err(|_| unreadable("a date such as 2024-05-01"))?;
            let date: ArrayRef = Arc::new(Date32Array::from(vec![days]));
            cast_with_options(&date, data_type, &CastOptions::default())
                .map_err(|e| format!("{}: {e}", unreadable("a date such as 2024-05-01")))?
        }
        DataType::Timestamp(unit, zone) => {
            let example = "an RFC 3339 timestamp such as 2024-05-01T00:00:00Z";
            let instant = DateTime::parse_from_rfc3339(text).map_err(|_| unreadable(example))?;
            let nanos = i128::from(instant.timestamp()) * 1_000_000_000
                + i128::from(instant.timestamp_subsec_nanos());
            let per_unit: i128 = match unit {
                TimeUnit::Second => 1_000_000_000,
                TimeUnit::Millisecond => 1_000_000,
                TimeUnit::Microsecond => 1_000,
                TimeUnit::Nanosecond => 1,
            };
            if nanos % per_unit != 0 {
                return Err(format!(
                    "value {text:?} is more precise than field {name:?} ({unit:?}s)"
                ));
            }
            let value = i64::try_from(nanos / per_unit).map_err(|_| unreadable(example))?;
            let zone = zone.clone();
            match unit {
                TimeUnit::Second => {
                    Arc::new(TimestampSecondArray::from(vec![value]).with_timezone_opt(zone))
                }
                TimeUnit::Millisecond => {
                    Arc::new(TimestampMillisecondArray::from(vec![value]).with_timezone_opt(zone))
                }
                TimeUnit::Microsecond => {
                    Arc::new(TimestampMicrosecondArray::from(vec![value]).with_timezone_opt(zone))
                }
                TimeUnit::Nanosecond => {
                    Arc::new(TimestampNanosecondArray::from(vec![value]).with_timezone_opt(zone))
                }
            }
        }
        t if is_float(t) => {
            let what = "a decimal number such as 10000 or -2.5, without spaces (NaN and infinities are not numbers)";
            let value = read_float(text).map_err(|_| unreadable(what))?;
            let value: ArrayRef = Arc::new(Float64Array::from(vec![value]));
            let value = cast_with_options(&value, t, &CastOptions::default())
                .map_err(|_| unreadable(what))?;
            if float_operand(&Scalar::new(value.clone())).is_ok_and(|v| !v.is_finite()) {
                return Err(unreadable(what));
            }
            value
        }
        t if is_numeric(t) => {
            if !is_number(text) {
                return Err(unreadable("a decimal number such as 10000 or -2.5"));
            }
            if let DataType::Decimal128(_, scale) = t {
                let decimals = fraction_digits(text);
                if decimals > i64::from(*scale) {
                    return Err(format!(
                        "value {text:?} has more decimals than field {name:?} ({}) keeps",
                        describe(t)
                    ));
                }
            }
            let what = if let DataType::Decimal128(..) = t {
                "a decimal number that fits the field's precision"
            } else {
                "a whole number in the field's range, such as 10000"
            };
            let text: ArrayRef = Arc::new(StringArray::from(vec![text]));
            cast_with_options(
                &text,
                t,
                &CastOptions {
                    safe: false,
                    ..CastOptions::default()
                },
            )
            .map_err(|_| unreadable(what))?
        }
        t if is_text(t) => {
            let text: ArrayRef = Arc::new(StringArray::from(vec![text]));
            cast_with_options(&text, t, &CastOptions::default()).map_err(|e| e.to_string())?
        }
        _ => return Err(unreadable("a value of a type filters compare")),
    };
    Ok(Scalar::new(array))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Float32Array, Int32Array, LargeStringArray, RecordBatch, StringViewArray,
        UInt8Array,
    };

    use crate::api::v1alpha1::Task;
    use crate::api::v1alpha1::task::{Filter, FilterOperator};
    use crate::pipeline::tasks::testing::{Batch, compile_error, run};

    fn filter(field: &str, operator: FilterOperator, value: Option<&str>) -> Task {
        Task {
            filter: Some(Filter {
                field: Some(field.into()),
                operator: Some(operator),
                value: value.map(str::to_owned),
                lower: None,
                upper: None,
                expression: None,
            }),
            ..Task::default()
        }
    }

    fn between(field: &str, lower: &str, upper: &str) -> Task {
        Task {
            filter: Some(Filter {
                field: Some(field.into()),
                operator: Some(FilterOperator::Between),
                value: None,
                lower: Some(lower.into()),
                upper: Some(upper.into()),
                expression: None,
            }),
            ..Task::default()
        }
    }

    /// Ids 1 to 6 with a mix of values and nulls.
    fn sample() -> Batch {
        Batch::new()
            .int("Id", [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6)])
            .float(
                "Amount",
                [
                    Some(500.0),
                    Some(10000.0),
                    Some(20000.5),
                    None,
                    Some(-2.5),
                    Some(10000.0),
                ],
            )
            .text(
                "Name",
                [
                    Some("héllo wörld"),
                    Some(""),
                    Some("日本語"),
                    Some("Zoë 🎉"),
                    None,
                    Some("abc"),
                ],
            )
            .bool(
                "Active",
                [
                    Some(true),
                    Some(false),
                    None,
                    Some(true),
                    Some(false),
                    Some(true),
                ],
            )
            .date(
                "Day",
                [
                    Some("2024-04-30"),
                    Some("2024-05-01"),
                    Some("2024-05-02"),
                    None,
                    Some("2023-12-31"),
                    Some("2024-05-01"),
                ],
            )
            .timestamp(
                "At",
                [
                    Some("2024-05-01T00:00:00Z"),
                    Some("2024-04-30T23:59:59.999999Z"),
                    Some("2024-05-01T00:00:00.000001Z"),
                    Some("2024-05-01T02:00:00+02:00"),
                    None,
                    Some("2025-01-01T00:00:00Z"),
                ],
            )
            .decimal(
                "Price",
                10,
                2,
                [Some(1250), Some(-1), None, Some(1249), Some(1251), Some(0)],
            )
    }

    /// The Ids the tasks keep, and the filtered count.
    fn kept(tasks: &[Task]) -> (Vec<i64>, usize) {
        let out = run(tasks, &sample().build());
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let ids = Batch::of(&out.batch)
            .ints("Id")
            .into_iter()
            .flatten()
            .collect();
        (ids, out.filtered)
    }

    #[test]
    fn less_than_on_floats_drops_nulls() {
        assert_eq!(
            kept(&[filter("Amount", FilterOperator::LessThan, Some("10000"))]),
            (vec![1, 5], 4)
        );
    }

    #[test]
    fn less_than_or_equal_includes_the_value() {
        assert_eq!(
            kept(&[filter(
                "Amount",
                FilterOperator::LessThanOrEqual,
                Some("10000")
            )]),
            (vec![1, 2, 5, 6], 2)
        );
    }

    #[test]
    fn greater_than_on_decimals() {
        assert_eq!(
            kept(&[filter("Price", FilterOperator::GreaterThan, Some("12.49"))]),
            (vec![1, 5], 4)
        );
    }

    #[test]
    fn greater_than_or_equal_on_integers() {
        assert_eq!(
            kept(&[filter("Id", FilterOperator::GreaterThanOrEqual, Some("5"))]),
            (vec![5, 6], 4)
        );
    }

    #[test]
    fn equal_on_text_unicode_and_empty() {
        assert_eq!(
            kept(&[filter("Name", FilterOperator::Equal, Some("日本語"))]),
            (vec![3], 5)
        );
        assert_eq!(
            kept(&[filter("Name", FilterOperator::Equal, Some(""))]),
            (vec![2], 5)
        );
    }

    #[test]
    fn not_equal_drops_nulls() {
        assert_eq!(
            kept(&[filter("Active", FilterOperator::NotEqual, Some("true"))]),
            (vec![2, 5], 4)
        );
        assert_eq!(
            kept(&[filter("Active", FilterOperator::Equal, Some("TRUE"))]),
            (vec![1, 4, 6], 3)
        );
    }

    #[test]
    fn text_compares_by_code_point() {
        // "Zoë 🎉" < "abc" < "héllo wörld" < "日本語"; "" is least.
        assert_eq!(
            kept(&[filter("Name", FilterOperator::GreaterThan, Some("abc"))]),
            (vec![1, 3], 4)
        );
    }

    #[test]
    fn contains_is_case_sensitive_and_counts_unicode() {
        assert_eq!(
            kept(&[filter("Name", FilterOperator::Contains, Some("wö"))]),
            (vec![1], 5)
        );
        assert_eq!(
            kept(&[filter("Name", FilterOperator::Contains, Some("🎉"))]),
            (vec![4], 5)
        );
        assert_eq!(
            kept(&[filter("Name", FilterOperator::Contains, Some("ABC"))]),
            (vec![], 6)
        );
    }

    #[test]
    fn contains_empty_matches_every_non_null_text() {
        assert_eq!(
            kept(&[filter("Name", FilterOperator::Contains, Some(""))]),
            (vec![1, 2, 3, 4, 6], 1)
        );
    }

    #[test]
    fn between_is_inclusive_on_both_ends() {
        assert_eq!(
            kept(&[between("Amount", "500", "10000")]),
            (vec![1, 2, 6], 3)
        );
        assert_eq!(
            kept(&[between("Day", "2024-05-01", "2024-05-02")]),
            (vec![2, 3, 6], 3)
        );
    }

    #[test]
    fn timestamps_compare_as_instants() {
        assert_eq!(
            kept(&[filter(
                "At",
                FilterOperator::Equal,
                Some("2024-05-01T00:00:00Z")
            )]),
            (vec![1, 4], 4)
        );
        assert_eq!(
            kept(&[filter(
                "At",
                FilterOperator::LessThan,
                Some("2024-05-01T02:00:00+02:00")
            )]),
            (vec![2], 5)
        );
    }

    #[test]
    fn is_null_and_is_not_null() {
        assert_eq!(
            kept(&[filter("Name", FilterOperator::IsNull, None)]),
            (vec![5], 5)
        );
        assert_eq!(
            kept(&[filter("Amount", FilterOperator::IsNotNull, None)]),
            (vec![1, 2, 3, 5, 6], 1)
        );
    }

    #[test]
    fn other_text_and_integer_types_compare() {
        let batch = Batch::new()
            .column(
                "Large",
                Arc::new(LargeStringArray::from(vec![Some("a"), Some("b"), None])) as ArrayRef,
            )
            .column(
                "View",
                Arc::new(StringViewArray::from(vec![Some("xyz"), None, Some("y")])) as ArrayRef,
            )
            .column(
                "Small",
                Arc::new(Int32Array::from(vec![1, -2, 3])) as ArrayRef,
            )
            .column(
                "Byte",
                Arc::new(UInt8Array::from(vec![200, 7, 9])) as ArrayRef,
            )
            .build();
        let count = |task: Task| run(&[task], &batch).batch.num_rows();
        assert_eq!(
            count(filter("Large", FilterOperator::GreaterThan, Some("a"))),
            1
        );
        assert_eq!(
            count(filter("View", FilterOperator::Contains, Some("y"))),
            2
        );
        assert_eq!(
            count(filter("Small", FilterOperator::LessThan, Some("0"))),
            1
        );
        assert_eq!(
            count(filter("Byte", FilterOperator::GreaterThan, Some("100"))),
            1
        );
        let message = compile_error(&[filter("Byte", FilterOperator::Equal, Some("-1"))], &batch);
        assert!(
            message.contains("cannot be read as the type of field \"Byte\""),
            "{message}"
        );
    }

    #[test]
    fn unreadable_values_are_invalid() {
        let batch = sample().build();
        let cases = [
            (
                filter("Amount", FilterOperator::LessThan, Some("10k")),
                "value \"10k\" cannot be read as the type of field \"Amount\" (float (Float64)): write a decimal number such as 10000 or -2.5",
            ),
            (
                filter("Amount", FilterOperator::LessThan, Some("NaN")),
                "value \"NaN\" cannot be read",
            ),
            (
                filter("Amount", FilterOperator::LessThan, Some("1e400")),
                "value \"1e400\" cannot be read",
            ),
            (
                filter("Amount", FilterOperator::LessThan, Some(" 20000")),
                "value \" 20000\" cannot be read",
            ),
            (
                filter("Id", FilterOperator::Equal, Some("2.5")),
                "write a whole number in the field's range",
            ),
            (
                filter("Id", FilterOperator::Equal, Some("99999999999999999999")),
                "write a whole number in the field's range",
            ),
            (
                filter("Day", FilterOperator::Equal, Some("01/05/2024")),
                "write a date such as 2024-05-01",
            ),
            (
                filter("At", FilterOperator::Equal, Some("2024-05-01")),
                "write an RFC 3339 timestamp",
            ),
            (
                filter("Active", FilterOperator::Equal, Some("yes")),
                "write true or false",
            ),
            (
                filter("Price", FilterOperator::Equal, Some("1.005")),
                "has more decimals than field \"Price\"",
            ),
        ];
        for (task, expected) in cases {
            let message = compile_error(&[task], &batch);
            assert!(message.starts_with("task filter[0]: "), "{message}");
            assert!(message.contains(expected), "{message} lacks {expected}");
        }
    }

    #[test]
    fn operators_on_unsupported_types_are_invalid() {
        let batch = sample().build();
        let message = compile_error(
            &[filter("Amount", FilterOperator::Contains, Some("1"))],
            &batch,
        );
        assert_eq!(
            message,
            "task filter[0]: operator Contains does not apply to the non-text field \"Amount\" (float (Float64))"
        );
        let message = compile_error(
            &[filter("Active", FilterOperator::LessThan, Some("true"))],
            &batch,
        );
        assert_eq!(
            message,
            "task filter[0]: operator LessThan does not apply to boolean field \"Active\": use Equal, NotEqual, IsNull or IsNotNull"
        );
        let message = compile_error(&[between("Active", "false", "true")], &batch);
        assert!(message.contains("does not apply to boolean"), "{message}");
        let message = compile_error(
            &[filter("Amont", FilterOperator::LessThan, Some("1"))],
            &batch,
        );
        assert!(
            message.starts_with("task filter[0]: field \"Amont\" is not in the records; fields are: Id, Amount, Name"),
            "{message}"
        );
    }

    #[test]
    fn operands_must_fit_the_operator() {
        let batch = sample().build();
        let message = compile_error(
            &[filter("Amount", FilterOperator::IsNull, Some("1"))],
            &batch,
        );
        assert!(
            message.contains("operator IsNull takes no value"),
            "{message}"
        );
        let message = compile_error(&[filter("Amount", FilterOperator::LessThan, None)], &batch);
        assert!(
            message.contains("operator LessThan takes a value"),
            "{message}"
        );
    }

    /// Ids 1 to 6 with floats Arrow orders oddly: NaN (either sign), the
    /// infinities and minus zero.
    fn odd_floats() -> RecordBatch {
        Batch::new()
            .int("Id", [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6)])
            .float(
                "Amount",
                [
                    Some(f64::NAN),
                    Some(-f64::NAN),
                    Some(20000.0),
                    Some(f64::INFINITY),
                    Some(-0.0),
                    Some(f64::NEG_INFINITY),
                ],
            )
            .column(
                "Small",
                Arc::new(Float32Array::from(vec![
                    f32::NAN,
                    -f32::NAN,
                    20000.0,
                    f32::INFINITY,
                    -0.0,
                    f32::NEG_INFINITY,
                ])) as ArrayRef,
            )
            .build()
    }

    fn kept_of(tasks: &[Task], batch: &RecordBatch) -> Vec<i64> {
        let out = run(tasks, batch);
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        Batch::of(&out.batch)
            .ints("Id")
            .into_iter()
            .flatten()
            .collect()
    }

    #[test]
    fn nan_satisfies_no_comparison() {
        let batch = odd_floats();
        for field in ["Amount", "Small"] {
            let cases: [(Task, &[i64]); 8] = [
                (
                    filter(field, FilterOperator::GreaterThan, Some("10000")),
                    &[3, 4],
                ),
                (
                    filter(field, FilterOperator::GreaterThanOrEqual, Some("-1e9")),
                    &[3, 4, 5],
                ),
                (filter(field, FilterOperator::LessThan, Some("0")), &[6]),
                (
                    filter(field, FilterOperator::LessThanOrEqual, Some("0")),
                    &[5, 6],
                ),
                (filter(field, FilterOperator::Equal, Some("20000")), &[3]),
                (
                    filter(field, FilterOperator::NotEqual, Some("20000")),
                    &[4, 5, 6],
                ),
                (between(field, "-1e9", "1e9"), &[3, 5]),
                (
                    filter(field, FilterOperator::IsNotNull, None),
                    &[1, 2, 3, 4, 5, 6],
                ),
            ];
            for (task, expected) in cases {
                let f = task.filter.clone().unwrap();
                assert_eq!(kept_of(&[task], &batch), expected, "{field} {f:?}");
            }
        }
    }

    #[test]
    fn minus_zero_equals_zero() {
        let batch = odd_floats();
        assert_eq!(
            kept_of(
                &[filter("Amount", FilterOperator::Equal, Some("0"))],
                &batch
            ),
            [5]
        );
        assert_eq!(
            kept_of(
                &[filter("Amount", FilterOperator::LessThan, Some("0"))],
                &batch
            ),
            [6]
        );
        assert_eq!(
            kept_of(
                &[filter(
                    "Small",
                    FilterOperator::GreaterThanOrEqual,
                    Some("0")
                )],
                &batch
            ),
            [3, 4, 5]
        );
    }

    #[test]
    fn ordering_text_against_a_number_is_refused() {
        let batch = Batch::new()
            .text("revenue", [Some("9000"), Some("50001.5")])
            .build();
        for task in [
            filter("revenue", FilterOperator::GreaterThan, Some("50000")),
            filter("revenue", FilterOperator::LessThanOrEqual, Some("-2.5e3")),
            filter(
                "revenue",
                FilterOperator::GreaterThanOrEqual,
                Some(" 20000"),
            ),
            between("revenue", "100", "zzz"),
            between("revenue", "a", "1e3"),
        ] {
            let message = compile_error(&[task], &batch);
            assert!(
                message.starts_with("task filter[0]: field \"revenue\" is text"),
                "{message}"
            );
            assert!(
                message.contains("convert it to Decimal or Double first"),
                "{message}"
            );
        }
        // Text against text still orders by code point; equality stays exact.
        assert_eq!(
            run(
                &[filter("revenue", FilterOperator::GreaterThan, Some("A"))],
                &batch
            )
            .batch
            .num_rows(),
            0
        );
        assert_eq!(
            run(
                &[filter("revenue", FilterOperator::Equal, Some("9000"))],
                &batch
            )
            .batch
            .num_rows(),
            1
        );
    }
}
