//! The one rule for reading text as a number, used wherever text becomes a
//! number: the JSON Lines, JSON page and CSV readers (text in a number
//! field), the postgres source (`numeric`), filter and validate operands,
//! `validate` `Numeric` and `convert`.
//!
//! A number is written as an optional sign, digits with an optional
//! decimal point (at least one digit), and an optional exponent: `12`,
//! `-3.5`, `+0.5`, `.5`, `5.`, `1e3`, `2.5E-7`. Nothing else is: no spaces
//! around it, no thousands separators, no `0x`, and no `NaN`, `inf` or
//! `Infinity` (a NaN or an infinity is not a number a user meant; floats
//! keep only finite values read from text). Then, by the field's type:
//!
//! - an integer field takes an optional sign and digits only (`12`, not
//!   `12.0` or `1e3`) within its range;
//! - a float field takes any number whose value is finite in its width
//!   (`1e400` is out of range);
//! - a `Decimal128(p, s)` field takes a number with at most `s` digits
//!   after the point once trailing zeros are dropped and at most `p` digits
//!   in all: a reader never rounds.
//!
//! Readers decode number fields as text ([`text_schema`]) and then read
//! them with [`numbers_from_text`], so that a value that breaks the rule
//! makes its record a bad record instead of a number nobody wrote.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Builder, Float32Builder, Float64Builder, PrimitiveBuilder,
    RecordBatch, RecordBatchOptions,
};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Int8Type, Int16Type, Int32Type, Int64Type, Schema,
    SchemaRef, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::error::ArrowError;

/// Why text is not a number of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    /// The text is not a number by the rule.
    NotANumber,
    /// The value needs more digits than the precision.
    Precision(u8),
    /// The value has more digits after the point than the scale keeps.
    Scale(i8),
    /// The value is outside the type's range.
    Range,
}

/// Whether `text` is a number: an optional sign, digits with an optional
/// point (at least one digit), an optional exponent. No spaces, no `NaN`,
/// no `inf`.
pub fn is_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let mut digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if i < bytes.len() && matches!(bytes[i], b'e' | b'E') {
        i += 1;
        if i < bytes.len() && matches!(bytes[i], b'+' | b'-') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == bytes.len()
}

/// How many digits a number has after the point once trailing zeros are
/// dropped, counting the exponent (`1.25` has 2, `1.50` has 1, `1.25e1`
/// has 1, `5e-3` has 3).
pub fn fraction_digits(text: &str) -> i64 {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let fraction = mantissa
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches('0').len())
        .unwrap_or(0);
    i64::try_from(fraction)
        .unwrap_or(i64::MAX)
        .saturating_sub(exponent)
        .max(0)
}

/// `10^exponent` as an i128, when it fits.
pub(crate) fn power_of_ten(exponent: u32) -> Option<i128> {
    10i128.checked_pow(exponent)
}

/// Whether `value` fits `precision` digits.
pub(crate) fn fits(value: i128, precision: u8) -> bool {
    power_of_ten(u32::from(precision))
        .is_none_or(|limit| value.unsigned_abs() < limit.unsigned_abs())
}

/// Reads a number (`-12.345`, `1e3`) as an unscaled Decimal of `scale`,
/// rounding half away from zero (what `convert` does).
pub fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, Unfit> {
    if !is_number(text) {
        return Err(Unfit::NotANumber);
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (
            &unsigned[..at],
            unsigned[at + 1..]
                .parse::<i64>()
                .map_err(|_| Unfit::Range)?,
        ),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .skip_while(|d| *d == b'0')
        .map(|d| d - b'0')
        .collect();
    let fraction_len = i64::try_from(fraction.len()).map_err(|_| Unfit::Range)?;
    // value = digits × 10^(exponent - fraction_len); unscaled = value × 10^scale.
    let shift = exponent
        .saturating_sub(fraction_len)
        .saturating_add(i64::from(scale));
    let too_long = Unfit::Precision(precision);
    let count = i64::try_from(digits.len()).map_err(|_| too_long)?;
    let keep = count.saturating_add(shift).min(count).max(0);
    let keep = usize::try_from(keep).map_err(|_| too_long)?;
    let mut value: i128 = 0;
    for &digit in &digits[..keep] {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(digit)))
            .ok_or(too_long)?;
    }
    if shift > 0 && value != 0 {
        let factor = u32::try_from(shift)
            .ok()
            .and_then(power_of_ten)
            .ok_or(too_long)?;
        value = value.checked_mul(factor).ok_or(too_long)?;
    }
    if digits.get(keep).is_some_and(|d| *d >= 5) {
        value += 1;
    }
    if !fits(value, precision) {
        return Err(too_long);
    }
    Ok(if negative { -value } else { value })
}

/// Reads a number as exactly a `Decimal128(precision, scale)` value: never
/// rounded, so more digits after the point than `scale` keeps is
/// [`Unfit::Scale`].
pub fn read_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, Unfit> {
    if !is_number(text) {
        return Err(Unfit::NotANumber);
    }
    if fraction_digits(text) > i64::from(scale) {
        return Err(Unfit::Scale(scale));
    }
    parse_decimal(text, precision, scale)
}

/// Reads a number as a finite 64-bit float.
pub fn read_float(text: &str) -> Result<f64, Unfit> {
    if !is_number(text) {
        return Err(Unfit::NotANumber);
    }
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or(Unfit::Range)
}

/// Reads an optional sign and digits as a whole number (the caller
/// checks the range of its type).
pub fn read_whole(text: &str) -> Result<i128, Unfit> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Unfit::NotANumber);
    }
    text.parse::<i128>().map_err(|_| Unfit::Range)
}

/// Whether readers decode fields of `data_type` as text and read them with
/// this module's rule: integers, floats of 32 and 64 bits, Decimal128.
fn read_by_rule(data_type: &DataType) -> bool {
    data_type.is_integer()
        || matches!(
            data_type,
            DataType::Float32 | DataType::Float64 | DataType::Decimal128(..)
        )
}

/// `schema` with its top-level number fields as text, for a reader of a
/// text format to decode with before [`numbers_from_text`]; `None` when it
/// has no such field.
pub fn text_schema(schema: &SchemaRef) -> Option<SchemaRef> {
    if !schema.fields().iter().any(|f| read_by_rule(f.data_type())) {
        return None;
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if read_by_rule(f.data_type()) {
                f.as_ref().clone().with_data_type(DataType::Utf8)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Some(Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )))
}

/// What to do with an empty string in a number field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    /// It is null (CSV, where an empty field is a missing value).
    IsNull,
    /// It is not a number (JSON, where null is written `null`).
    IsNotANumber,
}

/// Reads the number fields of `batch`, decoded as text with
/// [`text_schema`]`(schema)`, as the types of `schema`. The first value
/// that breaks the rule is an error naming the field and the value, in the
/// words of Arrow's decoders (`whilst decoding field 'Amount': ...`).
pub fn numbers_from_text(
    batch: &RecordBatch,
    schema: &SchemaRef,
    empty: Empty,
) -> Result<RecordBatch, ArrowError> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if read_by_rule(field.data_type()) {
            columns.push(read_column(column, field, empty)?);
        } else {
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
}

/// Reads one text column as `field`'s number type.
fn read_column(column: &ArrayRef, field: &Field, empty: Empty) -> Result<ArrayRef, ArrowError> {
    let text = column.as_string::<i32>();
    let data_type = field.data_type();
    let fail = |value: &str, unfit: Unfit| {
        let why = match unfit {
            Unfit::NotANumber if data_type.is_integer() => format!(
                "{value:?} is not a whole number ({data_type}): write an optional sign and digits, such as 12 or -3"
            ),
            Unfit::NotANumber => format!(
                "{value:?} is not a number ({data_type}): write numbers such as 12, -3.5 or 1e3, without spaces; NaN and infinities are not numbers"
            ),
            Unfit::Precision(precision) => {
                format!("{value:?} needs more than {precision} digits ({data_type})")
            }
            Unfit::Scale(scale) => {
                format!("{value:?} has more than {scale} digits after the point ({data_type})")
            }
            Unfit::Range => format!("{value:?} is out of the range of {data_type}"),
        };
        ArrowError::ParseError(format!("whilst decoding field '{}': {why}", field.name()))
    };
    let values = text.iter().map(|value| match value {
        Some("") if empty == Empty::IsNull => None,
        value => value,
    });
    let array: ArrayRef = match data_type {
        DataType::Float32 => {
            let mut b = Float32Builder::with_capacity(text.len());
            for value in values {
                b.append_option(
                    value
                        .map(|v| {
                            read_float(v)
                                .and_then(|_| {
                                    v.parse::<f32>()
                                        .ok()
                                        .filter(|f| f.is_finite())
                                        .ok_or(Unfit::Range)
                                })
                                .map_err(|u| fail(v, u))
                        })
                        .transpose()?,
                );
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(text.len());
            for value in values {
                b.append_option(
                    value
                        .map(|v| read_float(v).map_err(|u| fail(v, u)))
                        .transpose()?,
                );
            }
            Arc::new(b.finish())
        }
        DataType::Decimal128(precision, scale) => {
            let mut b = Decimal128Builder::with_capacity(text.len());
            for value in values {
                b.append_option(
                    value
                        .map(|v| read_decimal(v, *precision, *scale).map_err(|u| fail(v, u)))
                        .transpose()?,
                );
            }
            Arc::new(b.finish().with_precision_and_scale(*precision, *scale)?)
        }
        DataType::Int8 => whole::<Int8Type>(values, fail)?,
        DataType::Int16 => whole::<Int16Type>(values, fail)?,
        DataType::Int32 => whole::<Int32Type>(values, fail)?,
        DataType::Int64 => whole::<Int64Type>(values, fail)?,
        DataType::UInt8 => whole::<UInt8Type>(values, fail)?,
        DataType::UInt16 => whole::<UInt16Type>(values, fail)?,
        DataType::UInt32 => whole::<UInt32Type>(values, fail)?,
        DataType::UInt64 => whole::<UInt64Type>(values, fail)?,
        _ => column.clone(),
    };
    Ok(array)
}

/// Reads text values as integers of `T`.
fn whole<'a, T>(
    values: impl Iterator<Item = Option<&'a str>>,
    fail: impl Fn(&str, Unfit) -> ArrowError,
) -> Result<ArrayRef, ArrowError>
where
    T: ArrowPrimitiveType,
    T::Native: TryFrom<i128>,
{
    let mut b = PrimitiveBuilder::<T>::new();
    for value in values {
        b.append_option(
            value
                .map(|v| {
                    read_whole(v)
                        .and_then(|n| T::Native::try_from(n).map_err(|_| Unfit::Range))
                        .map_err(|u| fail(v, u))
                })
                .transpose()?,
        );
    }
    Ok(Arc::new(b.finish()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn number_syntax() {
        for good in ["12", "-3.5", "1e3", "+0.5", ".5", "5.", "1E-7"] {
            assert!(is_number(good), "{good}");
        }
        for bad in [
            "", "NaN", "nan", "inf", "-inf", "Infinity", "-", ".", "1e", "1 ", " 1", " 20000",
            "0x10", "1,5", "1_000", "e3", "١٢",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
    }

    #[test]
    fn floats_are_finite_numbers() {
        assert_eq!(read_float("-2.5e1"), Ok(-25.0));
        assert_eq!(read_float("NaN"), Err(Unfit::NotANumber));
        assert_eq!(read_float("inf"), Err(Unfit::NotANumber));
        assert_eq!(read_float(" 20000"), Err(Unfit::NotANumber));
        assert_eq!(read_float("1e400"), Err(Unfit::Range));
    }

    #[test]
    fn integers_are_a_sign_and_digits() {
        assert_eq!(read_whole("+12"), Ok(12));
        assert_eq!(
            read_whole("-9223372036854775809"),
            Ok(-9_223_372_036_854_775_809)
        );
        for bad in ["2.5", "2.0", "1e3", " 1", "", "-", "NaN"] {
            assert_eq!(read_whole(bad), Err(Unfit::NotANumber), "{bad}");
        }
    }

    #[test]
    fn decimals_are_read_exactly() {
        assert_eq!(read_decimal("12.30", 5, 2), Ok(1230));
        assert_eq!(read_decimal("1.2300", 5, 2), Ok(123));
        assert_eq!(read_decimal("-1e2", 5, 2), Ok(-10000));
        assert_eq!(read_decimal("1.005", 5, 2), Err(Unfit::Scale(2)));
        assert_eq!(read_decimal("1000", 5, 2), Err(Unfit::Precision(5)));
        assert_eq!(read_decimal("NaN", 5, 2), Err(Unfit::NotANumber));
    }
}
