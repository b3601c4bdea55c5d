//! Convert tasks: change a field's type in place, and the value conversions
//! behind them, shared with CEL `compute` results.
//!
//! Conversions that cannot fail (identical types, widening integers, numbers
//! to Double, other text types to Utf8) use Arrow's cast kernel; the others
//! read each value as a [`Scalar`] and convert it with the rules of
//! `FieldType`'s doc comments, so that a value that does not convert makes
//! only its own record bad. Supported sources per target:
//!
//! - String: every type (dates and timestamps with an optional `format`).
//! - Integer, Double: text, numbers, booleans (`1`/`0`).
//! - Decimal: text and numbers, rounded half away from zero to the scale.
//! - Boolean: text (`true`/`false` in any case, `1`/`0`), integers `1`/`0`.
//! - Date: text (`format` or `YYYY-MM-DD`), dates, timestamps (UTC date).
//! - Timestamp: text (`format` or RFC 3339), integers (Unix seconds), dates
//!   (midnight UTC), timestamps.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Date32Array, Date32Builder,
    Decimal128Array, Decimal128Builder, Float32Array, Float64Array, Float64Builder, Int64Array,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt64Array,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::fields::{Target, describe, index_of, is_float, is_integer, is_text};
use super::text::{TextColumn, date_of_days, instant, rfc3339, write_float};
use super::{Bad, Compile, Effect, Step, StepError};
use crate::api::v1alpha1::task::{Convert, FieldType};
use crate::pipeline::number::{self, Unfit, fits, is_number, power_of_ten};

/// Microseconds in a day.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// One value being converted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar<'a> {
    /// Text.
    Text(&'a str),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A 64-bit float.
    Float(f64),
    /// A 32-bit (or 16-bit) float, written at its own precision.
    Float32(f32),
    /// A decimal: unscaled value and scale.
    Decimal(i128, i8),
    /// A boolean.
    Bool(bool),
    /// A date, as days since 1970-01-01.
    Date(i32),
    /// An instant.
    Timestamp(DateTime<Utc>),
}

impl Scalar<'_> {
    /// The kind of value, as rejection reasons name it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Scalar::Text(_) => "text",
            Scalar::Int(_) | Scalar::UInt(_) => "integer",
            Scalar::Float(_) | Scalar::Float32(_) => "float",
            Scalar::Decimal(..) => "decimal",
            Scalar::Bool(_) => "boolean",
            Scalar::Date(_) => "date",
            Scalar::Timestamp(_) => "timestamp",
        }
    }

    /// The value as a rejection reason shows it: text quoted.
    pub(crate) fn shown(&self) -> String {
        match self {
            Scalar::Text(text) => format!("{text:?}"),
            other => {
                let mut out = String::new();
                write_scalar(other, None, &mut out);
                out
            }
        }
    }
}

/// Why a value does not convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// The value does not read as the target type.
    Unconvertible,
    /// The value has more digits than the Decimal's precision.
    Precision(u8),
    /// The value is outside the target type's range.
    Range,
}

impl Why {
    /// The reason of a bad record: `value "12abc" (text) cannot be converted
    /// to Integer`, `noun` being what the value is (`value`, `CEL result`).
    pub(crate) fn reason(self, noun: &str, value: &Scalar<'_>, target: &Target) -> String {
        let base = format!(
            "{noun} {} ({}) cannot be converted to {}",
            value.shown(),
            value.kind(),
            target.name()
        );
        match self {
            Why::Unconvertible => base,
            Why::Precision(precision) => format!("{base}: it needs more than {precision} digits"),
            Why::Range => format!("{base}: it is out of range"),
        }
    }
}

/// A strftime format, checked and parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Format {
    items: Vec<Item<'static>>,
}

impl Format {
    /// Parses `text`; an unknown specifier is an error.
    pub(crate) fn new(text: &str) -> Result<Self, String> {
        let items = StrftimeItems::new(text).parse_to_owned().map_err(|_| {
            format!("format {text:?} is not a valid strftime format (such as %d/%m/%Y %H:%M)")
        })?;
        Ok(Self { items })
    }

    /// Reads text with this format.
    fn parse(&self, text: &str) -> Option<Parsed> {
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, text, self.items.iter()).ok()?;
        Some(parsed)
    }
}

/// Reads a decimal number (`-12.345`, `1e3`) as an unscaled Decimal of
/// `scale`, rounding half away from zero.
pub(crate) fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, Why> {
    number::parse_decimal(text, precision, scale).map_err(|unfit| match unfit {
        Unfit::NotANumber => Why::Unconvertible,
        Unfit::Precision(precision) => Why::Precision(precision),
        Unfit::Scale(_) | Unfit::Range => Why::Range,
    })
}

/// Rescales an unscaled decimal from scale `from` to scale `to`, rounding
/// half away from zero.
fn rescale(value: i128, from: i8, to: i8) -> Option<i128> {
    let difference = i32::from(to) - i32::from(from);
    if difference >= 0 {
        return value.checked_mul(power_of_ten(difference.unsigned_abs())?);
    }
    let Some(divisor) = power_of_ten(difference.unsigned_abs()) else {
        return Some(0);
    };
    let (quotient, remainder) = (value / divisor, value % divisor);
    let rest = remainder.unsigned_abs();
    if rest >= divisor.unsigned_abs() - rest {
        Some(quotient + value.signum())
    } else {
        Some(quotient)
    }
}

/// Writes an unscaled decimal of `scale` as text (`12.30`, `-0.05`).
fn write_decimal(value: i128, scale: i8, out: &mut String) {
    if scale <= 0 {
        let _ = write!(out, "{value}");
        for _ in 0..scale.unsigned_abs() {
            out.push('0');
        }
        return;
    }
    let digits = value.unsigned_abs().to_string();
    let scale = usize::from(scale.unsigned_abs());
    if value < 0 {
        out.push('-');
    }
    if digits.len() <= scale {
        out.push_str("0.");
        for _ in digits.len()..scale {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    }
}

/// Writes `value` as text, dates and timestamps with `format` when given.
/// Fails only when `format` cannot write the value.
pub(crate) fn write_scalar(value: &Scalar<'_>, format: Option<&Format>, out: &mut String) -> bool {
    match value {
        Scalar::Text(text) => out.push_str(text),
        Scalar::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Scalar::UInt(v) => {
            let _ = write!(out, "{v}");
        }
        Scalar::Float(v) => write_float(out, *v),
        Scalar::Float32(v) => {
            let _ = write!(out, "{v}");
        }
        Scalar::Decimal(v, scale) => write_decimal(*v, *scale, out),
        Scalar::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
        Scalar::Date(days) => {
            let Some(date) = date_of_days(*days) else {
                return false;
            };
            return match format {
                Some(format) => {
                    write!(out, "{}", date.format_with_items(format.items.iter())).is_ok()
                }
                None => write!(out, "{}", date.format("%Y-%m-%d")).is_ok(),
            };
        }
        Scalar::Timestamp(instant) => match format {
            Some(format) => {
                return write!(out, "{}", instant.format_with_items(format.items.iter())).is_ok();
            }
            None => out.push_str(&rfc3339(instant)),
        },
    }
    true
}

/// A float as an integer, when it is whole and in range.
fn float_to_int(value: f64) -> Result<i64, Why> {
    if value.fract() != 0.0 || !value.is_finite() {
        return Err(Why::Unconvertible);
    }
    // 2^63 is exact as a float; i64 covers [-2^63, 2^63).
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&value) {
        Ok(value as i64)
    } else {
        Err(Why::Range)
    }
}

/// Converts to Integer.
pub(crate) fn to_integer(value: &Scalar<'_>) -> Result<i64, Why> {
    match *value {
        Scalar::Text(text) => text.parse::<i64>().map_err(|e| match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => Why::Range,
            _ => Why::Unconvertible,
        }),
        Scalar::Int(v) => Ok(v),
        Scalar::UInt(v) => i64::try_from(v).map_err(|_| Why::Range),
        Scalar::Float(v) => float_to_int(v),
        Scalar::Float32(v) => float_to_int(f64::from(v)),
        Scalar::Decimal(v, scale) => {
            let whole = if scale <= 0 {
                rescale(v, scale, 0).ok_or(Why::Range)?
            } else {
                let divisor = power_of_ten(u32::from(scale.unsigned_abs())).ok_or(Why::Range)?;
                if v % divisor != 0 {
                    return Err(Why::Unconvertible);
                }
                v / divisor
            };
            i64::try_from(whole).map_err(|_| Why::Range)
        }
        Scalar::Bool(v) => Ok(i64::from(v)),
        Scalar::Date(_) | Scalar::Timestamp(_) => Err(Why::Unconvertible),
    }
}

/// Converts to Double.
pub(crate) fn to_double(value: &Scalar<'_>) -> Result<f64, Why> {
    match *value {
        Scalar::Text(text) => {
            if !is_number(text) {
                return Err(Why::Unconvertible);
            }
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or(Why::Range)
        }
        Scalar::Int(v) => Ok(v as f64),
        Scalar::UInt(v) => Ok(v as f64),
        Scalar::Float(v) => Ok(v),
        Scalar::Float32(v) => Ok(f64::from(v)),
        Scalar::Decimal(v, scale) => Ok(v as f64 / 10f64.powi(i32::from(scale))),
        Scalar::Bool(v) => Ok(if v { 1.0 } else { 0.0 }),
        Scalar::Date(_) | Scalar::Timestamp(_) => Err(Why::Unconvertible),
    }
}

/// Converts to Decimal(precision, scale).
pub(crate) fn to_decimal(value: &Scalar<'_>, precision: u8, scale: i8) -> Result<i128, Why> {
    let checked = |v: Option<i128>| match v {
        Some(v) if fits(v, precision) => Ok(v),
        _ => Err(Why::Precision(precision)),
    };
    match *value {
        Scalar::Text(text) => parse_decimal(text, precision, scale),
        Scalar::Int(v) => checked(rescale(i128::from(v), 0, scale)),
        Scalar::UInt(v) => checked(rescale(i128::from(v), 0, scale)),
        Scalar::Float(v) if v.is_finite() => parse_decimal(&v.to_string(), precision, scale),
        Scalar::Float32(v) if v.is_finite() => parse_decimal(&v.to_string(), precision, scale),
        Scalar::Decimal(v, from) => checked(rescale(v, from, scale)),
        _ => Err(Why::Unconvertible),
    }
}

/// Converts to Boolean.
pub(crate) fn to_boolean(value: &Scalar<'_>) -> Result<bool, Why> {
    match *value {
        Scalar::Text(text) if text.eq_ignore_ascii_case("true") || text == "1" => Ok(true),
        Scalar::Text(text) if text.eq_ignore_ascii_case("false") || text == "0" => Ok(false),
        Scalar::Int(v @ (0 | 1)) => Ok(v == 1),
        Scalar::UInt(v @ (0 | 1)) => Ok(v == 1),
        Scalar::Bool(v) => Ok(v),
        _ => Err(Why::Unconvertible),
    }
}

/// Days since 1970-01-01 of a date.
fn days_of(date: NaiveDate) -> Result<i32, Why> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or(Why::Range)?;
    i32::try_from(date.signed_duration_since(epoch).num_days()).map_err(|_| Why::Range)
}

/// Converts to Date.
pub(crate) fn to_date(value: &Scalar<'_>, format: Option<&Format>) -> Result<i32, Why> {
    match *value {
        Scalar::Text(text) => {
            let date = match format {
                Some(format) => format.parse(text).and_then(|p| p.to_naive_date().ok()),
                None => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
            };
            days_of(date.ok_or(Why::Unconvertible)?)
        }
        Scalar::Date(days) => Ok(days),
        Scalar::Timestamp(instant) => days_of(instant.date_naive()),
        _ => Err(Why::Unconvertible),
    }
}

/// Reads a timestamp with a format: with an offset when the format has
/// one, else as UTC, else a date at midnight UTC.
fn parse_timestamp(text: &str, format: &Format) -> Option<DateTime<Utc>> {
    let parsed = format.parse(text)?;
    if parsed.offset().is_some() {
        return parsed.to_datetime().ok().map(|t| t.to_utc());
    }
    if let Ok(naive) = parsed.to_naive_datetime_with_offset(0) {
        return Some(naive.and_utc());
    }
    let date = parsed.to_naive_date().ok()?;
    Some(date.and_time(NaiveTime::MIN).and_utc())
}

/// Converts to Timestamp, as microseconds since the epoch.
pub(crate) fn to_timestamp(value: &Scalar<'_>, format: Option<&Format>) -> Result<i64, Why> {
    match *value {
        Scalar::Text(text) => {
            let instant = match format {
                Some(format) => parse_timestamp(text, format),
                None => DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc()),
            };
            Ok(instant.ok_or(Why::Unconvertible)?.timestamp_micros())
        }
        Scalar::Int(seconds) => seconds.checked_mul(1_000_000).ok_or(Why::Range),
        Scalar::UInt(seconds) => i64::try_from(seconds)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000))
            .ok_or(Why::Range),
        Scalar::Date(days) => i64::from(days)
            .checked_mul(MICROS_PER_DAY)
            .ok_or(Why::Range),
        Scalar::Timestamp(instant) => Ok(instant.timestamp_micros()),
        _ => Err(Why::Unconvertible),
    }
}

/// Builds an array of a target type value by value.
pub(crate) enum Builder {
    /// Utf8.
    String(StringBuilder, String),
    /// Int64.
    Integer(Int64Builder),
    /// Float64.
    Double(Float64Builder),
    /// Decimal128.
    Decimal(Decimal128Builder),
    /// Boolean.
    Boolean(BooleanBuilder),
    /// Date32.
    Date(Date32Builder),
    /// Timestamp(µs, UTC).
    Timestamp(TimestampMicrosecondBuilder),
}

impl Builder {
    /// A builder for `rows` values of `target`.
    pub(crate) fn new(target: &Target, rows: usize) -> Self {
        match target.kind {
            FieldType::String => {
                Self::String(StringBuilder::with_capacity(rows, rows * 8), String::new())
            }
            FieldType::Integer => Self::Integer(Int64Builder::with_capacity(rows)),
            FieldType::Double => Self::Double(Float64Builder::with_capacity(rows)),
            FieldType::Decimal => Self::Decimal(Decimal128Builder::with_capacity(rows)),
            FieldType::Boolean => Self::Boolean(BooleanBuilder::with_capacity(rows)),
            FieldType::Date => Self::Date(Date32Builder::with_capacity(rows)),
            FieldType::Timestamp => {
                Self::Timestamp(TimestampMicrosecondBuilder::with_capacity(rows))
            }
        }
    }

    /// Appends a null.
    pub(crate) fn append_null(&mut self) {
        match self {
            Self::String(b, _) => b.append_null(),
            Self::Integer(b) => b.append_null(),
            Self::Double(b) => b.append_null(),
            Self::Decimal(b) => b.append_null(),
            Self::Boolean(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
        }
    }

    /// Appends `value` converted to `target`; on failure appends a null and
    /// says why.
    pub(crate) fn append(
        &mut self,
        value: &Scalar<'_>,
        target: &Target,
        format: Option<&Format>,
    ) -> Result<(), Why> {
        let result = match self {
            Self::String(b, buffer) => {
                buffer.clear();
                if write_scalar(value, format, buffer) {
                    b.append_value(buffer.as_str());
                    Ok(())
                } else {
                    Err(Why::Unconvertible)
                }
            }
            Self::Integer(b) => to_integer(value).map(|v| b.append_value(v)),
            Self::Double(b) => to_double(value).map(|v| b.append_value(v)),
            Self::Decimal(b) => {
                to_decimal(value, target.precision, target.scale).map(|v| b.append_value(v))
            }
            Self::Boolean(b) => to_boolean(value).map(|v| b.append_value(v)),
            Self::Date(b) => to_date(value, format).map(|v| b.append_value(v)),
            Self::Timestamp(b) => to_timestamp(value, format).map(|v| b.append_value(v)),
        };
        if result.is_err() {
            self.append_null();
        }
        result
    }

    /// The array, of `target`'s type.
    pub(crate) fn finish(self, target: &Target) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Self::String(mut b, _) => Arc::new(b.finish()),
            Self::Integer(mut b) => Arc::new(b.finish()),
            Self::Double(mut b) => Arc::new(b.finish()),
            Self::Decimal(mut b) => Arc::new(
                b.finish()
                    .with_precision_and_scale(target.precision, target.scale)?,
            ),
            Self::Boolean(mut b) => Arc::new(b.finish()),
            Self::Date(mut b) => Arc::new(b.finish()),
            Self::Timestamp(mut b) => Arc::new(b.finish().with_timezone("UTC")),
        })
    }
}

/// A column read value by value as [`Scalar`]s.
pub(crate) enum Values<'a> {
    /// Text of any layout.
    Text(TextColumn<'a>),
    /// Signed integers, widened.
    Int(Int64Array),
    /// Unsigned integers, widened.
    UInt(UInt64Array),
    /// 64-bit floats.
    Float(Float64Array),
    /// 32-bit and 16-bit floats.
    Float32(Float32Array),
    /// Decimals and their scale.
    Decimal(&'a Decimal128Array, i8),
    /// Booleans.
    Bool(&'a BooleanArray),
    /// Dates.
    Date(Date32Array),
    /// Timestamps and their unit.
    Timestamp(Int64Array, TimeUnit),
}

/// Whether [`Values`] can read a column of `data_type`.
pub(crate) fn readable(data_type: &DataType) -> bool {
    is_text(data_type)
        || is_integer(data_type)
        || is_float(data_type)
        || matches!(
            data_type,
            DataType::Decimal128(..)
                | DataType::Boolean
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(..)
        )
}

impl<'a> Values<'a> {
    /// Reads `array`, which must be [`readable`].
    pub(crate) fn new(array: &'a dyn Array) -> Result<Self, ArrowError> {
        let widen = |to: &DataType| cast_with_options(array, to, &CastOptions::default());
        let data_type = array.data_type();
        Ok(match data_type {
            t if is_text(t) => Self::Text(TextColumn::new(array)?),
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                Self::UInt(widen(&DataType::UInt64)?.as_primitive().clone())
            }
            t if is_integer(t) => Self::Int(widen(&DataType::Int64)?.as_primitive().clone()),
            DataType::Float64 => Self::Float(array.as_primitive().clone()),
            t if is_float(t) => Self::Float32(widen(&DataType::Float32)?.as_primitive().clone()),
            DataType::Decimal128(_, scale) => Self::Decimal(array.as_primitive(), *scale),
            DataType::Boolean => Self::Bool(array.as_boolean()),
            DataType::Date32 | DataType::Date64 => {
                Self::Date(widen(&DataType::Date32)?.as_primitive().clone())
            }
            DataType::Timestamp(unit, _) => {
                Self::Timestamp(widen(&DataType::Int64)?.as_primitive().clone(), *unit)
            }
            other => {
                return Err(ArrowError::CastError(format!(
                    "cannot read values of type {other}"
                )));
            }
        })
    }

    /// The value at `row`, `None` for null (or an instant out of range).
    pub(crate) fn get(&self, row: usize) -> Option<Scalar<'a>> {
        match self {
            Self::Text(a) => (!a.is_null(row))
                .then(|| a.str(row).map(Scalar::Text))
                .flatten(),
            Self::Int(a) => a.is_valid(row).then(|| Scalar::Int(a.value(row))),
            Self::UInt(a) => a.is_valid(row).then(|| Scalar::UInt(a.value(row))),
            Self::Float(a) => a.is_valid(row).then(|| Scalar::Float(a.value(row))),
            Self::Float32(a) => a.is_valid(row).then(|| Scalar::Float32(a.value(row))),
            Self::Decimal(a, scale) => a
                .is_valid(row)
                .then(|| Scalar::Decimal(a.value(row), *scale)),
            Self::Bool(a) => a.is_valid(row).then(|| Scalar::Bool(a.value(row))),
            Self::Date(a) => a.is_valid(row).then(|| Scalar::Date(a.value(row))),
            Self::Timestamp(a, unit) => a
                .is_valid(row)
                .then(|| instant(a.value(row), *unit).map(Scalar::Timestamp))
                .flatten(),
        }
    }
}

/// A compiled conversion.
pub(crate) struct Conversion {
    column: usize,
    field: String,
    target: Target,
    format: Option<Format>,
}

/// Whether values of `source` can convert to `target`.
fn accepts(source: &DataType, target: FieldType) -> bool {
    let number =
        is_integer(source) || is_float(source) || matches!(source, DataType::Decimal128(..));
    let text = is_text(source);
    let temporal = matches!(
        source,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    );
    match target {
        FieldType::String => true,
        FieldType::Integer | FieldType::Double => text || number || source == &DataType::Boolean,
        FieldType::Decimal => text || number,
        FieldType::Boolean => text || is_integer(source) || source == &DataType::Boolean,
        FieldType::Date => text || temporal,
        FieldType::Timestamp => text || is_integer(source) || temporal,
    }
}

/// Compiles a conversion: the field must exist and its type convert to the
/// target; `format` only with dates and timestamps.
pub(crate) fn compile(spec: &Convert, input: &SchemaRef) -> Compile {
    let name = spec.field.as_str();
    let column = index_of(input, name)?;
    let field = &input.fields()[column];
    let source = field.data_type();
    let target = Target::new(spec.to, spec.precision, spec.scale)?;
    if !accepts(source, spec.to) {
        return Err(format!(
            "field {name:?} is {} and cannot be converted to {}",
            describe(source),
            target.name()
        ));
    }
    let format = match &spec.format {
        None => None,
        Some(text) => {
            let temporal_source = matches!(
                source,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
            );
            let applies = match spec.to {
                FieldType::String => temporal_source,
                FieldType::Date | FieldType::Timestamp => is_text(source),
                _ => false,
            };
            if !applies {
                return Err(format!(
                    "format applies only to reading text as Date or Timestamp and to writing dates and timestamps as String; field {name:?} is {} and the target is {}",
                    describe(source),
                    target.name()
                ));
            }
            let format = Format::new(text)?;
            if spec.to == FieldType::String {
                check_writable(&format, text, source)?;
            }
            Some(format)
        }
    };
    if spec.to != FieldType::String && !readable(source) {
        return Err(format!(
            "field {name:?} is {} and cannot be converted to {}",
            describe(source),
            target.name()
        ));
    }
    let output = Field::new(name, target.data_type(), true).with_metadata(field.metadata().clone());
    let mut fields: Vec<_> = input.fields().iter().cloned().collect();
    fields[column] = Arc::new(output);
    let schema = Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()));
    let step = Conversion {
        column,
        field: name.to_owned(),
        target,
        format,
    };
    Ok((Box::new(step), schema))
}

/// Checks that `format` can write values of `source` (a date has no time
/// nor offset to write).
fn check_writable(format: &Format, text: &str, source: &DataType) -> Result<(), String> {
    let sample = match source {
        DataType::Date32 | DataType::Date64 => Scalar::Date(0),
        _ => Scalar::Timestamp(DateTime::<Utc>::UNIX_EPOCH),
    };
    if write_scalar(&sample, Some(format), &mut String::new()) {
        Ok(())
    } else {
        Err(format!(
            "format {text:?} cannot write a {}: use only specifiers a {} has",
            sample.kind(),
            sample.kind()
        ))
    }
}

impl Conversion {
    /// Conversions done by a cast kernel: those that cannot fail.
    fn by_cast(&self, column: &ArrayRef) -> Result<Option<ArrayRef>, ArrowError> {
        let source = column.data_type();
        let target = self.target.data_type();
        if source == &target {
            return Ok(Some(column.clone()));
        }
        let widening = match self.target.kind {
            FieldType::Integer => matches!(
                source,
                DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32
            ),
            FieldType::Double => {
                is_integer(source) || is_float(source) || matches!(source, DataType::Decimal128(..))
            }
            FieldType::String => is_text(source) && self.format.is_none(),
            FieldType::Timestamp => {
                matches!(source, DataType::Timestamp(TimeUnit::Microsecond, _))
            }
            _ => false,
        };
        if !widening {
            return Ok(None);
        }
        if let DataType::Timestamp(..) = source {
            let relabelled = column
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .clone()
                .with_timezone("UTC");
            return Ok(Some(Arc::new(relabelled) as ArrayRef));
        }
        cast_with_options(column, &target, &CastOptions::default()).map(Some)
    }

    /// Converts every value of `column`, making unconvertible ones bad.
    pub(crate) fn convert(&self, column: &ArrayRef) -> Result<(ArrayRef, Vec<Bad>), ArrowError> {
        if let Some(converted) = self.by_cast(column)? {
            return Ok((converted, Vec::new()));
        }
        let rows = column.len();
        let mut bad = Vec::new();
        let mut builder = Builder::new(&self.target, rows);
        if self.target.kind == FieldType::String && !readable(column.data_type()) {
            let text = TextColumn::new(column.as_ref())?;
            for row in 0..rows {
                match text.string(row) {
                    // Text always converts to text.
                    Some(value) => {
                        let _ = builder.append(&Scalar::Text(&value), &self.target, None);
                    }
                    None => builder.append_null(),
                }
            }
            return Ok((builder.finish(&self.target)?, bad));
        }
        let values = Values::new(column.as_ref())?;
        for row in 0..rows {
            let Some(value) = values.get(row) else {
                builder.append_null();
                continue;
            };
            if let Err(why) = builder.append(&value, &self.target, self.format.as_ref()) {
                bad.push(Bad {
                    row,
                    field: Some(self.field.clone()),
                    reason: format!(
                        "field {}: {}",
                        self.field,
                        why.reason("value", &value, &self.target)
                    ),
                });
            }
        }
        Ok((builder.finish(&self.target)?, bad))
    }
}

impl Step for Conversion {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let (converted, bad) = self.convert(batch.column(self.column))?;
        let mut columns = batch.columns().to_vec();
        columns[self.column] = converted;
        Ok(Effect {
            columns: Some(columns),
            keep: None,
            bad,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Int32Array, TimestampMicrosecondArray, TimestampMillisecondArray,
    };
    use arrow::datatypes::DataType;

    use super::{Why, parse_decimal, rescale};
    use crate::api::v1alpha1::Task;
    use crate::api::v1alpha1::task::{Convert, FieldType};
    use crate::pipeline::tasks::Output;
    use crate::pipeline::tasks::fields::timestamp_type;
    use crate::pipeline::tasks::testing::{Batch, compile_error, micros, reasons, run};

    fn convert(field: &str, to: FieldType) -> Task {
        Task {
            convert: Some(Convert {
                field: field.into(),
                to,
                format: None,
                precision: None,
                scale: None,
            }),
            ..Task::default()
        }
    }

    fn with_format(field: &str, to: FieldType, format: &str) -> Task {
        let mut task = convert(field, to);
        if let Some(c) = task.convert.as_mut() {
            c.format = Some(format.to_owned());
        }
        task
    }

    fn decimal(field: &str, precision: i32, scale: i32) -> Task {
        let mut task = convert(field, FieldType::Decimal);
        if let Some(c) = task.convert.as_mut() {
            c.precision = Some(precision);
            c.scale = Some(scale);
        }
        task
    }

    fn texts<const N: usize>(values: [Option<&str>; N]) -> RecordBatchOf {
        RecordBatchOf(Batch::new().text("V", values).build())
    }

    struct RecordBatchOf(arrow::array::RecordBatch);

    impl RecordBatchOf {
        fn run(&self, task: Task) -> Output {
            run(&[task], &self.0)
        }
    }

    fn strings(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_owned)).collect()
    }

    fn why(row: usize, reason: &str) -> (usize, String) {
        (row, reason.to_owned())
    }

    #[test]
    fn text_to_integer() {
        let batch = texts([
            Some("12"),
            Some("-7"),
            Some("+3"),
            Some("12abc"),
            Some(""),
            None,
            Some("99999999999999999999"),
            Some("１２"),
        ]);
        let out = batch.run(convert("V", FieldType::Integer));
        assert_eq!(
            Batch::of(&out.batch).ints("V"),
            [Some(12), Some(-7), Some(3), None]
        );
        assert_eq!(
            reasons(&out),
            [
                why(
                    3,
                    "field V: value \"12abc\" (text) cannot be converted to Integer"
                ),
                why(
                    4,
                    "field V: value \"\" (text) cannot be converted to Integer"
                ),
                why(
                    6,
                    "field V: value \"99999999999999999999\" (text) cannot be converted to Integer: it is out of range"
                ),
                why(
                    7,
                    "field V: value \"１２\" (text) cannot be converted to Integer"
                ),
            ]
        );
        assert_eq!(out.rejected[0].field.as_deref(), Some("V"));
        assert_eq!(out.rejected[0].task, "convert[0]");
    }

    #[test]
    fn floats_to_integer_only_when_whole_and_in_range() {
        let batch = Batch::new()
            .float(
                "V",
                [
                    Some(2.0),
                    Some(2.5),
                    Some(-0.0),
                    Some(1e19),
                    Some(f64::NAN),
                    None,
                ],
            )
            .build();
        let out = run(&[convert("V", FieldType::Integer)], &batch);
        assert_eq!(Batch::of(&out.batch).ints("V"), [Some(2), Some(0), None]);
        assert_eq!(
            reasons(&out),
            [
                why(
                    1,
                    "field V: value 2.5 (float) cannot be converted to Integer"
                ),
                why(
                    3,
                    "field V: value 10000000000000000000 (float) cannot be converted to Integer: it is out of range"
                ),
                why(
                    4,
                    "field V: value NaN (float) cannot be converted to Integer"
                ),
            ]
        );
    }

    #[test]
    fn narrow_integers_widen() {
        let batch = Batch::new()
            .column(
                "V",
                Arc::new(Int32Array::from(vec![Some(-5), None])) as ArrayRef,
            )
            .build();
        let out = run(&[convert("V", FieldType::Integer)], &batch);
        assert_eq!(Batch::of(&out.batch).ints("V"), [Some(-5), None]);
        let out = run(&[convert("V", FieldType::Double)], &batch);
        assert_eq!(Batch::of(&out.batch).floats("V"), [Some(-5.0), None]);
    }

    #[test]
    fn text_to_double() {
        let batch = texts([
            Some("1e3"),
            Some("-2.5"),
            Some("NaN"),
            Some("abc"),
            Some("1e400"),
            None,
        ]);
        let out = batch.run(convert("V", FieldType::Double));
        assert_eq!(
            Batch::of(&out.batch).floats("V"),
            [Some(1000.0), Some(-2.5), None]
        );
        assert_eq!(
            reasons(&out),
            [
                why(
                    2,
                    "field V: value \"NaN\" (text) cannot be converted to Double"
                ),
                why(
                    3,
                    "field V: value \"abc\" (text) cannot be converted to Double"
                ),
                why(
                    4,
                    "field V: value \"1e400\" (text) cannot be converted to Double: it is out of range"
                ),
            ]
        );
    }

    #[test]
    fn text_to_decimal_rounds_half_away_from_zero() {
        let batch = texts([
            Some("1.005"),
            Some("-1.005"),
            Some("123.456"),
            Some("1234.5"),
            Some("0.004"),
            Some("1e2"),
            Some("abc"),
            None,
        ]);
        let out = batch.run(decimal("V", 5, 2));
        assert_eq!(
            Batch::of(&out.batch).data_type("V"),
            DataType::Decimal128(5, 2)
        );
        assert_eq!(
            Batch::of(&out.batch).decimals("V"),
            strings(&[
                Some("1.01"),
                Some("-1.01"),
                Some("123.46"),
                Some("0.00"),
                Some("100.00"),
                None
            ])
        );
        assert_eq!(
            reasons(&out),
            [
                why(
                    3,
                    "field V: value \"1234.5\" (text) cannot be converted to Decimal(5, 2): it needs more than 5 digits"
                ),
                why(
                    6,
                    "field V: value \"abc\" (text) cannot be converted to Decimal(5, 2)"
                ),
            ]
        );
    }

    #[test]
    fn numbers_to_decimal() {
        let batch = Batch::new()
            .float(
                "F",
                [
                    Some(2.25),
                    Some(-2.25),
                    Some(0.05),
                    Some(1e10),
                    Some(f64::NAN),
                ],
            )
            .int("I", [Some(12), Some(100), Some(-99), None, Some(0)])
            .decimal(
                "D",
                6,
                3,
                [Some(1250), Some(-1249), None, Some(-1250), Some(999_999)],
            )
            .build();
        let out = run(&[decimal("F", 4, 1)], &batch);
        assert_eq!(
            Batch::of(&out.batch).decimals("F"),
            strings(&[Some("2.3"), Some("-2.3"), Some("0.1")])
        );
        assert_eq!(
            reasons(&out),
            [
                why(
                    3,
                    "field F: value 10000000000 (float) cannot be converted to Decimal(4, 1): it needs more than 4 digits"
                ),
                why(
                    4,
                    "field F: value NaN (float) cannot be converted to Decimal(4, 1)"
                ),
            ]
        );
        let out = run(&[decimal("I", 3, 1)], &batch);
        assert_eq!(
            Batch::of(&out.batch).decimals("I"),
            strings(&[Some("12.0"), Some("-99.0"), None, Some("0.0")])
        );
        assert_eq!(
            reasons(&out),
            [why(
                1,
                "field I: value 100 (integer) cannot be converted to Decimal(3, 1): it needs more than 3 digits"
            )]
        );
        let out = run(&[decimal("D", 4, 1)], &batch);
        assert_eq!(
            Batch::of(&out.batch).decimals("D"),
            strings(&[Some("1.3"), Some("-1.2"), None, Some("-1.3")])
        );
        assert_eq!(
            reasons(&out),
            [why(
                4,
                "field D: value 999.999 (decimal) cannot be converted to Decimal(4, 1): it needs more than 4 digits"
            )]
        );
    }

    #[test]
    fn decimal_helpers() {
        assert_eq!(parse_decimal("0.5", 3, 0), Ok(1));
        assert_eq!(parse_decimal("-0.5", 3, 0), Ok(-1));
        assert_eq!(parse_decimal("0.49999", 3, 0), Ok(0));
        assert_eq!(parse_decimal("1.5e-1", 3, 1), Ok(2));
        assert_eq!(parse_decimal("000123", 3, 0), Ok(123));
        assert_eq!(parse_decimal("0", 1, 0), Ok(0));
        assert_eq!(parse_decimal("1e-40", 38, 10), Ok(0));
        assert_eq!(parse_decimal("1e40", 38, 0), Err(Why::Precision(38)));
        assert_eq!(
            parse_decimal("99999999999999999999999999999999999999", 38, 0),
            Ok(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
        assert_eq!(rescale(15, 1, 0), Some(2));
        assert_eq!(rescale(-15, 1, 0), Some(-2));
        assert_eq!(rescale(14, 1, 0), Some(1));
        assert_eq!(rescale(7, 0, 2), Some(700));
    }

    #[test]
    fn to_boolean() {
        let batch = Batch::new()
            .text(
                "T",
                [
                    Some("TRUE"),
                    Some("false"),
                    Some("1"),
                    Some("0"),
                    Some("yes"),
                    Some(""),
                ],
            )
            .int("I", [Some(1), Some(0), Some(2), None, Some(1), Some(1)])
            .build();
        let out = run(&[convert("T", FieldType::Boolean)], &batch);
        assert_eq!(
            Batch::of(&out.batch).bools("T"),
            [Some(true), Some(false), Some(true), Some(false)]
        );
        assert_eq!(
            reasons(&out),
            [
                why(
                    4,
                    "field T: value \"yes\" (text) cannot be converted to Boolean"
                ),
                why(
                    5,
                    "field T: value \"\" (text) cannot be converted to Boolean"
                ),
            ]
        );
        let out = run(&[convert("I", FieldType::Boolean)], &batch);
        assert_eq!(
            Batch::of(&out.batch).bools("I"),
            [Some(true), Some(false), None, Some(true), Some(true)]
        );
        assert_eq!(
            reasons(&out),
            [why(
                2,
                "field I: value 2 (integer) cannot be converted to Boolean"
            )]
        );
    }

    #[test]
    fn to_date() {
        let out = texts([
            Some("2024-05-01"),
            Some("01/05/2024"),
            Some("2024-02-30"),
            None,
        ])
        .run(convert("V", FieldType::Date));
        assert_eq!(
            Batch::of(&out.batch).dates("V"),
            strings(&[Some("2024-05-01"), None])
        );
        assert_eq!(
            reasons(&out),
            [
                why(
                    1,
                    "field V: value \"01/05/2024\" (text) cannot be converted to Date"
                ),
                why(
                    2,
                    "field V: value \"2024-02-30\" (text) cannot be converted to Date"
                ),
            ]
        );
        let out = texts([Some("01/05/2024"), Some("2024-05-01")]).run(with_format(
            "V",
            FieldType::Date,
            "%d/%m/%Y",
        ));
        assert_eq!(
            Batch::of(&out.batch).dates("V"),
            strings(&[Some("2024-05-01")])
        );
        assert_eq!(reasons(&out).len(), 1);
        let batch = Batch::new()
            .timestamp(
                "T",
                [
                    Some("2024-05-01T23:59:59Z"),
                    Some("1969-12-31T23:00:00Z"),
                    None,
                ],
            )
            .build();
        let out = run(&[convert("T", FieldType::Date)], &batch);
        assert_eq!(
            Batch::of(&out.batch).dates("T"),
            strings(&[Some("2024-05-01"), Some("1969-12-31"), None])
        );
    }

    #[test]
    fn text_to_timestamp() {
        let out = texts([
            Some("2024-05-01T02:00:00+02:00"),
            Some("2024-05-01T00:00:00.5Z"),
            Some("2024-05-01"),
            Some("garbage"),
            None,
        ])
        .run(convert("V", FieldType::Timestamp));
        assert_eq!(
            Batch::of(&out.batch).timestamps("V"),
            strings(&[
                Some("2024-05-01T00:00:00Z"),
                Some("2024-05-01T00:00:00.500Z"),
                None
            ])
        );
        assert_eq!(
            reasons(&out),
            [
                why(
                    2,
                    "field V: value \"2024-05-01\" (text) cannot be converted to Timestamp"
                ),
                why(
                    3,
                    "field V: value \"garbage\" (text) cannot be converted to Timestamp"
                ),
            ]
        );
    }

    #[test]
    fn text_to_timestamp_with_formats() {
        let cases = [
            ("%d/%m/%Y %H:%M", "01/05/2024 13:45", "2024-05-01T13:45:00Z"),
            (
                "%Y-%m-%d %H:%M:%S %z",
                "2024-05-01 10:00:00 +0200",
                "2024-05-01T08:00:00Z",
            ),
            ("%d.%m.%Y", "01.05.2024", "2024-05-01T00:00:00Z"),
        ];
        for (format, text, expected) in cases {
            let out = texts([Some(text)]).run(with_format("V", FieldType::Timestamp, format));
            assert_eq!(
                Batch::of(&out.batch).timestamps("V"),
                [Some(expected.to_owned())],
                "{format}"
            );
        }
    }

    #[test]
    fn integers_and_dates_to_timestamp() {
        let batch = Batch::new()
            .int("S", [Some(0), Some(1_714_521_600), Some(i64::MAX), None])
            .date("D", [Some("2024-05-01"), Some("1969-12-31"), None, None])
            .build();
        let out = run(&[convert("S", FieldType::Timestamp)], &batch);
        assert_eq!(
            Batch::of(&out.batch).timestamps("S"),
            strings(&[
                Some("1970-01-01T00:00:00Z"),
                Some("2024-05-01T00:00:00Z"),
                None
            ])
        );
        assert_eq!(
            reasons(&out),
            [why(
                2,
                "field S: value 9223372036854775807 (integer) cannot be converted to Timestamp: it is out of range"
            )]
        );
        let out = run(&[convert("D", FieldType::Timestamp)], &batch);
        assert_eq!(
            Batch::of(&out.batch).timestamps("D"),
            strings(&[
                Some("2024-05-01T00:00:00Z"),
                Some("1969-12-31T00:00:00Z"),
                None,
                None
            ])
        );
    }

    #[test]
    fn timestamps_of_other_units_and_zones_become_utc_micros() {
        let millis =
            TimestampMillisecondArray::from(vec![Some(micros("2024-05-01T10:00:00.250Z") / 1000)])
                .with_timezone("+02:00");
        let naive = TimestampMicrosecondArray::from(vec![Some(micros("2024-05-01T10:00:00Z"))]);
        let batch = Batch::new()
            .column("M", Arc::new(millis) as ArrayRef)
            .column("N", Arc::new(naive) as ArrayRef)
            .build();
        let out = run(
            &[
                convert("M", FieldType::Timestamp),
                convert("N", FieldType::Timestamp),
            ],
            &batch,
        );
        assert_eq!(Batch::of(&out.batch).data_type("M"), timestamp_type());
        assert_eq!(
            Batch::of(&out.batch).timestamps("M"),
            [Some("2024-05-01T10:00:00.250Z".to_owned())]
        );
        assert_eq!(
            Batch::of(&out.batch).timestamps("N"),
            [Some("2024-05-01T10:00:00Z".to_owned())]
        );
    }

    #[test]
    fn to_string() {
        let batch = Batch::new()
            .int("I", [Some(1), None])
            .float("F", [Some(2.5), Some(2.0)])
            .bool("B", [Some(true), Some(false)])
            .date("D", [Some("2024-05-01"), None])
            .timestamp(
                "T",
                [
                    Some("2024-05-01T10:30:00Z"),
                    Some("2024-05-01T10:30:00.123456Z"),
                ],
            )
            .build();
        let all = [
            convert("I", FieldType::String),
            convert("F", FieldType::String),
            convert("B", FieldType::String),
            with_format("D", FieldType::String, "%d/%m/%Y"),
            convert("T", FieldType::String),
        ];
        let out = run(&all, &batch);
        let read = Batch::of(&out.batch);
        assert_eq!(read.texts("I"), strings(&[Some("1"), None]));
        assert_eq!(read.texts("F"), strings(&[Some("2.5"), Some("2")]));
        assert_eq!(read.texts("B"), strings(&[Some("true"), Some("false")]));
        assert_eq!(read.texts("D"), strings(&[Some("01/05/2024"), None]));
        assert_eq!(
            read.texts("T"),
            strings(&[
                Some("2024-05-01T10:30:00Z"),
                Some("2024-05-01T10:30:00.123456Z")
            ])
        );
        let out = run(
            &[with_format("T", FieldType::String, "%Y%m%dT%H%M")],
            &batch,
        );
        assert_eq!(
            Batch::of(&out.batch).texts("T"),
            strings(&[Some("20240501T1030"), Some("20240501T1030")])
        );
    }

    #[test]
    fn impossible_conversions_are_invalid() {
        let batch = Batch::new()
            .date("D", [None])
            .bool("B", [None])
            .int("I", [None])
            .text("T", [None])
            .build();
        let cases = [
            (
                convert("D", FieldType::Integer),
                "task convert[0]: field \"D\" is date and cannot be converted to Integer",
            ),
            (
                decimal("B", 5, 2),
                "task convert[0]: field \"B\" is boolean and cannot be converted to Decimal(5, 2)",
            ),
            (
                convert("I", FieldType::Date),
                "task convert[0]: field \"I\" is integer (Int64) and cannot be converted to Date",
            ),
            (
                convert("T", FieldType::Decimal),
                "task convert[0]: Decimal needs a precision (1 to 38)",
            ),
            (
                decimal("T", 39, 0),
                "task convert[0]: precision 39 is out of range: use 1 to 38",
            ),
            (
                decimal("T", 5, 6),
                "task convert[0]: scale 6 is out of range: use 0 to the precision (5)",
            ),
            (
                with_format("I", FieldType::String, "%Y"),
                "task convert[0]: format applies only to reading text as Date or Timestamp and to writing dates and timestamps as String; field \"I\" is integer (Int64) and the target is String",
            ),
            (
                with_format("T", FieldType::Date, "%Q"),
                "task convert[0]: format \"%Q\" is not a valid strftime format (such as %d/%m/%Y %H:%M)",
            ),
            (
                with_format("D", FieldType::String, "%H:%M"),
                "task convert[0]: format \"%H:%M\" cannot write a date: use only specifiers a date has",
            ),
            (
                convert("Nope", FieldType::String),
                "task convert[0]: field \"Nope\" is not in the records; fields are: D, B, I, T",
            ),
        ];
        for (task, expected) in cases {
            assert_eq!(compile_error(&[task], &batch), expected);
        }
        let mut task = convert("T", FieldType::Integer);
        if let Some(c) = task.convert.as_mut() {
            c.precision = Some(3);
        }
        assert_eq!(
            compile_error(&[task], &batch),
            "task convert[0]: precision and scale apply only to Decimal, not to Integer"
        );
    }
}
