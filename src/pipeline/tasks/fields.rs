//! Schema helpers shared by the tasks: finding a field by name with an error
//! that lists the fields there are, classifying Arrow types (text, numbers,
//! dates) and the Arrow type of each `FieldType`.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};

use crate::api::v1alpha1::task::FieldType;

/// How many field names an "unknown field" error lists at most.
const LISTED_FIELDS: usize = 20;

/// The index of field `name` in `schema`, or an error naming the fields
/// there are.
pub(crate) fn index_of(schema: &Schema, name: &str) -> Result<usize, String> {
    schema
        .fields()
        .iter()
        .position(|field| field.name() == name)
        .ok_or_else(|| {
            format!(
                "field {name:?} is not in the records; {}",
                field_list(schema)
            )
        })
}

/// `fields are: A, B, C` with at most [`LISTED_FIELDS`] names.
pub(crate) fn field_list(schema: &Schema) -> String {
    let fields = schema.fields();
    if fields.is_empty() {
        return "the records have no fields left".to_owned();
    }
    let names: Vec<&str> = fields
        .iter()
        .take(LISTED_FIELDS)
        .map(|field| field.name().as_str())
        .collect();
    let more = fields.len().saturating_sub(LISTED_FIELDS);
    if more == 0 {
        format!("fields are: {}", names.join(", "))
    } else {
        format!("fields are: {}, and {more} more", names.join(", "))
    }
}

/// Whether `data_type` is text.
pub(crate) fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Whether `data_type` is a signed or unsigned integer.
pub(crate) fn is_integer(data_type: &DataType) -> bool {
    data_type.is_integer()
}

/// Whether `data_type` is a float.
pub(crate) fn is_float(data_type: &DataType) -> bool {
    data_type.is_floating()
}

/// Whether `data_type` is a number: an integer, a float or a Decimal128.
pub(crate) fn is_numeric(data_type: &DataType) -> bool {
    is_integer(data_type) || is_float(data_type) || matches!(data_type, DataType::Decimal128(..))
}

/// The type of a field in words a user knows: `text`, `integer (Int32)`,
/// `float (Float64)`, `decimal (Decimal128(10, 2))`, `boolean`, `date`,
/// `timestamp`, or the Arrow name.
pub(crate) fn describe(data_type: &DataType) -> String {
    if is_text(data_type) {
        return "text".to_owned();
    }
    match data_type {
        DataType::Boolean => "boolean".to_owned(),
        DataType::Date32 | DataType::Date64 => "date".to_owned(),
        DataType::Timestamp(..) => "timestamp".to_owned(),
        t if is_integer(t) => format!("integer ({t})"),
        t if is_float(t) => format!("float ({t})"),
        t @ DataType::Decimal128(..) => format!("decimal ({t})"),
        t => t.to_string(),
    }
}

/// The Arrow type of timestamps the tasks produce: microseconds in UTC.
pub(crate) fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
}

/// A target type of `convert` or `compute`, with a Decimal's precision and
/// scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    /// The type asked for.
    pub kind: FieldType,
    /// Total digits of a Decimal.
    pub precision: u8,
    /// Digits after the point of a Decimal.
    pub scale: i8,
}

impl Target {
    /// A target without Decimal parameters.
    pub(crate) fn simple(kind: FieldType) -> Self {
        Self {
            kind,
            precision: 0,
            scale: 0,
        }
    }

    /// A target read from a task: checks the Decimal parameters (precision
    /// 1 to 38, scale 0 to precision; scale defaults to 0) and that they are
    /// given only for Decimal.
    pub(crate) fn new(
        kind: FieldType,
        precision: Option<i32>,
        scale: Option<i32>,
    ) -> Result<Self, String> {
        if kind != FieldType::Decimal {
            if precision.is_some() || scale.is_some() {
                return Err(format!(
                    "precision and scale apply only to Decimal, not to {kind:?}"
                ));
            }
            return Ok(Self::simple(kind));
        }
        let Some(precision) = precision else {
            return Err("Decimal needs a precision (1 to 38)".to_owned());
        };
        let scale = scale.unwrap_or(0);
        let precision = u8::try_from(precision)
            .ok()
            .filter(|p| (1..=38).contains(p))
            .ok_or_else(|| format!("precision {precision} is out of range: use 1 to 38"))?;
        let scale = i8::try_from(scale)
            .ok()
            .filter(|s| *s >= 0 && s.unsigned_abs() <= precision)
            .ok_or_else(|| {
                format!("scale {scale} is out of range: use 0 to the precision ({precision})")
            })?;
        Ok(Self {
            kind,
            precision,
            scale,
        })
    }

    /// The Arrow type of values of this target.
    pub(crate) fn data_type(&self) -> DataType {
        match self.kind {
            FieldType::String => DataType::Utf8,
            FieldType::Integer => DataType::Int64,
            FieldType::Double => DataType::Float64,
            FieldType::Decimal => DataType::Decimal128(self.precision, self.scale),
            FieldType::Boolean => DataType::Boolean,
            FieldType::Date => DataType::Date32,
            FieldType::Timestamp => timestamp_type(),
        }
    }

    /// The name of the target in messages: `Integer`, `Decimal(10, 2)`.
    pub(crate) fn name(&self) -> String {
        match self.kind {
            FieldType::Decimal => format!("Decimal({}, {})", self.precision, self.scale),
            kind => format!("{kind:?}"),
        }
    }
}

/// Where a task writes its output field: over an existing field of that
/// name, or appended at the end.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place {
    /// Replaces the field at this index.
    Replace(usize),
    /// Adds the field at the end.
    Append,
}

impl Place {
    /// Puts `field` into `schema` by name and says where it went.
    pub(crate) fn put(schema: &Schema, field: Field) -> (SchemaRef, Place) {
        let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
        let place = match schema.index_of(field.name()) {
            Ok(index) => {
                fields[index] = Arc::new(field);
                Place::Replace(index)
            }
            Err(_) => {
                fields.push(Arc::new(field));
                Place::Append
            }
        };
        (
            Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
            place,
        )
    }

    /// The columns of a batch with `column` put where this place says.
    pub(crate) fn columns(
        self,
        columns: &[arrow::array::ArrayRef],
        column: arrow::array::ArrayRef,
    ) -> Vec<arrow::array::ArrayRef> {
        let mut columns = columns.to_vec();
        match self {
            Place::Replace(index) => columns[index] = column,
            Place::Append => columns.push(column),
        }
        columns
    }
}
