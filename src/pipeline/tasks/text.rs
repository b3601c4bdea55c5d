//! Values as text, the one way `merge`, `mask` and `convert` (to String)
//! write them: text as is, integers as written, floats in their shortest
//! round-trip form (Rust's `{}`: `2.5`, `2`, `0.1`), decimals with their
//! scale (`12.30`), booleans `true`/`false`, dates `YYYY-MM-DD`, timestamps
//! in RFC 3339 in UTC with as many fractional digits as needed
//! (`2024-05-01T00:00:00Z`, `2024-05-01T10:30:00.250Z`; a timestamp without
//! a time zone is taken as UTC). Other types use Arrow's display. Null is
//! the empty string.

use std::fmt::Write;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int64Array, LargeStringArray, StringArray, StringViewArray, UInt64Array,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// The date of a Date32 value (days since 1970-01-01).
pub(crate) fn date_of_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::TimeDelta::days(days.into()))
}

/// The instant of a timestamp value in `unit`.
pub(crate) fn instant(value: i64, unit: TimeUnit) -> Option<DateTime<Utc>> {
    match unit {
        TimeUnit::Second => DateTime::from_timestamp(value, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(value),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(value),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(value)),
    }
}

/// A timestamp in RFC 3339, UTC, with the fractional digits it needs.
pub(crate) fn rfc3339(instant: &DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A float as Rust writes it: the shortest text that reads back the same.
pub(crate) fn write_float(out: &mut String, value: f64) {
    let _ = write!(out, "{value}");
}

/// A column whose values can be written as text, one row at a time.
pub(crate) enum TextColumn<'a> {
    /// UTF-8 text.
    Utf8(&'a StringArray),
    /// Large UTF-8 text.
    LargeUtf8(&'a LargeStringArray),
    /// UTF-8 text views.
    Utf8View(&'a StringViewArray),
    /// Signed integers, widened.
    Int(Int64Array),
    /// Unsigned integers, widened.
    UInt(UInt64Array),
    /// 32-bit (and 16-bit, widened) floats, written at their own precision.
    Float32(Float32Array),
    /// 64-bit floats.
    Float64(&'a Float64Array),
    /// Decimals.
    Decimal(&'a Decimal128Array),
    /// Booleans.
    Boolean(&'a BooleanArray),
    /// Dates.
    Date(Date32Array),
    /// Timestamps, with their unit.
    Timestamp(Int64Array, TimeUnit),
    /// Anything else, with Arrow's display.
    Other(&'a dyn Array, ArrayFormatter<'a>),
}

/// Casts that cannot fail (widening).
fn widen(array: &dyn Array, to: &DataType) -> Result<ArrayRef, ArrowError> {
    cast_with_options(array, to, &CastOptions::default())
}

impl<'a> TextColumn<'a> {
    /// Prepares `array` for writing.
    pub(crate) fn new(array: &'a dyn Array) -> Result<Self, ArrowError> {
        let data_type = array.data_type();
        Ok(match data_type {
            DataType::Utf8 => Self::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Self::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => Self::Utf8View(array.as_string_view()),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                Self::Int(widen(array, &DataType::Int64)?.as_primitive().clone())
            }
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                Self::UInt(widen(array, &DataType::UInt64)?.as_primitive().clone())
            }
            DataType::Float16 | DataType::Float32 => {
                Self::Float32(widen(array, &DataType::Float32)?.as_primitive().clone())
            }
            DataType::Float64 => Self::Float64(array.as_primitive()),
            DataType::Decimal128(..) => Self::Decimal(array.as_primitive()),
            DataType::Boolean => Self::Boolean(array.as_boolean()),
            DataType::Date32 | DataType::Date64 => {
                Self::Date(widen(array, &DataType::Date32)?.as_primitive().clone())
            }
            DataType::Timestamp(unit, _) => Self::Timestamp(
                widen(array, &DataType::Int64)?.as_primitive().clone(),
                *unit,
            ),
            _ => {
                let options = FormatOptions::default();
                Self::Other(array, ArrayFormatter::try_new(array, &options)?)
            }
        })
    }

    /// Whether the value at `row` is null.
    pub(crate) fn is_null(&self, row: usize) -> bool {
        match self {
            Self::Utf8(a) => a.is_null(row),
            Self::LargeUtf8(a) => a.is_null(row),
            Self::Utf8View(a) => a.is_null(row),
            Self::Int(a) => a.is_null(row),
            Self::UInt(a) => a.is_null(row),
            Self::Float32(a) => a.is_null(row),
            Self::Float64(a) => a.is_null(row),
            Self::Decimal(a) => a.is_null(row),
            Self::Boolean(a) => a.is_null(row),
            Self::Date(a) => a.is_null(row),
            Self::Timestamp(a, _) => a.is_null(row),
            Self::Other(a, _) => a.is_null(row),
        }
    }

    /// The text value at `row`, when the column is text (no copy).
    pub(crate) fn str(&self, row: usize) -> Option<&'a str> {
        match self {
            Self::Utf8(a) => Some(a.value(row)),
            Self::LargeUtf8(a) => Some(a.value(row)),
            Self::Utf8View(a) => Some(a.value(row)),
            _ => None,
        }
    }

    /// Appends the value at `row` to `out`; nothing for null.
    pub(crate) fn write(&self, row: usize, out: &mut String) {
        if self.is_null(row) {
            return;
        }
        if let Some(text) = self.str(row) {
            out.push_str(text);
            return;
        }
        match self {
            Self::Int(a) => {
                let _ = write!(out, "{}", a.value(row));
            }
            Self::UInt(a) => {
                let _ = write!(out, "{}", a.value(row));
            }
            Self::Float32(a) => {
                let _ = write!(out, "{}", a.value(row));
            }
            Self::Float64(a) => write_float(out, a.value(row)),
            Self::Decimal(a) => out.push_str(&a.value_as_string(row)),
            Self::Boolean(a) => out.push_str(if a.value(row) { "true" } else { "false" }),
            Self::Date(a) => match date_of_days(a.value(row)) {
                Some(date) => {
                    let _ = write!(out, "{}", date.format("%Y-%m-%d"));
                }
                None => {
                    let _ = write!(out, "{}", a.value(row));
                }
            },
            Self::Timestamp(a, unit) => match instant(a.value(row), *unit) {
                Some(instant) => out.push_str(&rfc3339(&instant)),
                None => {
                    let _ = write!(out, "{}", a.value(row));
                }
            },
            Self::Other(_, formatter) => {
                let _ = write!(out, "{}", formatter.value(row));
            }
            Self::Utf8(_) | Self::LargeUtf8(_) | Self::Utf8View(_) => {}
        }
    }

    /// The value at `row` as an owned string (`None` for null).
    pub(crate) fn string(&self, row: usize) -> Option<String> {
        if self.is_null(row) {
            return None;
        }
        let mut out = String::new();
        self.write(row, &mut out);
        Some(out)
    }

    /// The value at `row` as it appears in a rejection reason: text quoted,
    /// other values as written.
    pub(crate) fn quoted(&self, row: usize) -> String {
        match (self.str(row), self.string(row)) {
            (Some(text), _) => format!("{text:?}"),
            (None, Some(value)) => value,
            (None, None) => "null".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Date32Array, Float32Array, Int8Array, ListArray, TimestampMillisecondArray,
        TimestampNanosecondArray,
    };
    use arrow::datatypes::Int32Type;

    use super::TextColumn;
    use crate::pipeline::tasks::testing::{Batch, days, micros};

    fn texts(array: &ArrayRef) -> Vec<Option<String>> {
        let column = TextColumn::new(array.as_ref()).unwrap();
        (0..array.len()).map(|row| column.string(row)).collect()
    }

    #[test]
    fn numbers_are_written_as_rust_writes_them() {
        let batch = Batch::new()
            .int("i", [Some(-12), Some(i64::MAX), None])
            .float("f", [Some(2.5), Some(2.0), Some(0.1)])
            .decimal("d", 10, 2, [Some(1230), Some(-5), None])
            .build();
        assert_eq!(
            texts(batch.column(0)),
            [Some("-12".into()), Some("9223372036854775807".into()), None]
        );
        assert_eq!(
            texts(batch.column(1)),
            [Some("2.5".into()), Some("2".into()), Some("0.1".into())]
        );
        assert_eq!(
            texts(batch.column(2)),
            [Some("12.30".into()), Some("-0.05".into()), None]
        );
        let small: ArrayRef = Arc::new(Int8Array::from(vec![Some(-8)]));
        assert_eq!(texts(&small), [Some("-8".into())]);
        let single: ArrayRef = Arc::new(Float32Array::from(vec![Some(0.1f32)]));
        assert_eq!(texts(&single), [Some("0.1".into())]);
    }

    #[test]
    fn dates_and_timestamps_are_iso() {
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![
            Some(days("2024-05-01")),
            Some(days("1969-12-31")),
        ]));
        assert_eq!(
            texts(&dates),
            [Some("2024-05-01".into()), Some("1969-12-31".into())]
        );
        let batch = Batch::new()
            .timestamp(
                "t",
                [
                    Some("2024-05-01T00:00:00Z"),
                    Some("2024-05-01T10:30:00.000123Z"),
                    None,
                ],
            )
            .build();
        assert_eq!(
            texts(batch.column(0)),
            [
                Some("2024-05-01T00:00:00Z".into()),
                Some("2024-05-01T10:30:00.000123Z".into()),
                None
            ]
        );
        let millis: ArrayRef = Arc::new(
            TimestampMillisecondArray::from(vec![Some(micros("2024-05-01T10:30:00.250Z") / 1000)])
                .with_timezone("+02:00"),
        );
        assert_eq!(texts(&millis), [Some("2024-05-01T10:30:00.250Z".into())]);
        let nanos: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![Some(1)]));
        assert_eq!(
            texts(&nanos),
            [Some("1970-01-01T00:00:00.000000001Z".into())]
        );
    }

    #[test]
    fn other_types_use_arrow_display() {
        let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]));
        assert_eq!(texts(&list), [Some("[1, 2]".into()), None]);
    }
}
