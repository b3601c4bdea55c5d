//! Test helpers: a chainable builder of small record batches, readers of
//! their columns as plain Rust values, and shortcuts to compile and apply a
//! task list.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, NaiveDate};

use super::fields::timestamp_type;
use super::{Output, Tasks};
use crate::api::v1alpha1::Task;

/// Builds a record batch column by column.
#[derive(Default)]
pub(crate) struct Batch {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
pub(crate) fn days(date: &str) -> i32 {
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("a test date");
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch");
    i32::try_from((date - epoch).num_days()).expect("a date in range")
}

/// Microseconds since the epoch of an RFC 3339 timestamp.
pub(crate) fn micros(timestamp: &str) -> i64 {
    DateTime::parse_from_rfc3339(timestamp)
        .expect("a test timestamp")
        .timestamp_micros()
}

impl Batch {
    /// An empty builder.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds any column.
    pub(crate) fn column(mut self, name: &str, column: ArrayRef) -> Self {
        self.fields
            .push(Field::new(name, column.data_type().clone(), true));
        self.columns.push(column);
        self
    }

    /// Adds an Int64 column.
    pub(crate) fn int<const N: usize>(self, name: &str, values: [Option<i64>; N]) -> Self {
        self.column(name, Arc::new(Int64Array::from(values.to_vec())))
    }

    /// Adds a Utf8 column.
    pub(crate) fn text<const N: usize>(self, name: &str, values: [Option<&str>; N]) -> Self {
        self.column(name, Arc::new(StringArray::from(values.to_vec())))
    }

    /// Adds a Float64 column.
    pub(crate) fn float<const N: usize>(self, name: &str, values: [Option<f64>; N]) -> Self {
        self.column(name, Arc::new(Float64Array::from(values.to_vec())))
    }

    /// Adds a Boolean column.
    pub(crate) fn bool<const N: usize>(self, name: &str, values: [Option<bool>; N]) -> Self {
        self.column(name, Arc::new(BooleanArray::from(values.to_vec())))
    }

    /// Adds a Date32 column from `YYYY-MM-DD` values.
    pub(crate) fn date<const N: usize>(self, name: &str, values: [Option<&str>; N]) -> Self {
        let values: Vec<Option<i32>> = values.iter().map(|v| v.map(days)).collect();
        self.column(name, Arc::new(Date32Array::from(values)))
    }

    /// Adds a Timestamp(µs, UTC) column from RFC 3339 values.
    pub(crate) fn timestamp<const N: usize>(self, name: &str, values: [Option<&str>; N]) -> Self {
        let values: Vec<Option<i64>> = values.iter().map(|v| v.map(micros)).collect();
        self.column(
            name,
            Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC")),
        )
    }

    /// Adds a Decimal128(precision, scale) column from unscaled values.
    pub(crate) fn decimal<const N: usize>(
        self,
        name: &str,
        precision: u8,
        scale: i8,
        values: [Option<i128>; N],
    ) -> Self {
        let array = Decimal128Array::from(values.to_vec())
            .with_precision_and_scale(precision, scale)
            .expect("a valid decimal type");
        self.column(name, Arc::new(array))
    }

    /// The batch.
    pub(crate) fn build(self) -> RecordBatch {
        RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.columns)
            .expect("columns of one length")
    }

    /// A reader of `batch`'s columns.
    pub(crate) fn of(batch: &RecordBatch) -> Read<'_> {
        Read(batch)
    }
}

/// Reads the columns of a batch as plain values.
pub(crate) struct Read<'a>(&'a RecordBatch);

impl Read<'_> {
    fn column(&self, name: &str) -> &ArrayRef {
        self.0
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    fn typed<T: 'static>(&self, name: &str) -> &T {
        let column = self.column(name);
        column
            .as_any()
            .downcast_ref::<T>()
            .unwrap_or_else(|| panic!("column {name} is {}", column.data_type()))
    }

    /// An Int64 column.
    pub(crate) fn ints(&self, name: &str) -> Vec<Option<i64>> {
        self.typed::<Int64Array>(name).iter().collect()
    }

    /// A Float64 column.
    pub(crate) fn floats(&self, name: &str) -> Vec<Option<f64>> {
        self.typed::<Float64Array>(name).iter().collect()
    }

    /// A Utf8 column.
    pub(crate) fn texts(&self, name: &str) -> Vec<Option<String>> {
        self.typed::<StringArray>(name)
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect()
    }

    /// A Boolean column.
    pub(crate) fn bools(&self, name: &str) -> Vec<Option<bool>> {
        self.typed::<BooleanArray>(name).iter().collect()
    }

    /// A Date32 column as `YYYY-MM-DD`.
    pub(crate) fn dates(&self, name: &str) -> Vec<Option<String>> {
        self.typed::<Date32Array>(name)
            .iter()
            .map(|v| {
                v.map(|d| {
                    (NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch")
                        + chrono::TimeDelta::days(i64::from(d)))
                    .to_string()
                })
            })
            .collect()
    }

    /// A Timestamp(µs, UTC) column as RFC 3339 (`2024-05-01T00:00:00Z`).
    pub(crate) fn timestamps(&self, name: &str) -> Vec<Option<String>> {
        assert_eq!(self.column(name).data_type(), &timestamp_type());
        self.typed::<TimestampMicrosecondArray>(name)
            .iter()
            .map(|v| {
                v.map(|t| {
                    DateTime::from_timestamp_micros(t)
                        .expect("a timestamp in range")
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                })
            })
            .collect()
    }

    /// A Decimal128 column as text (`12.30`).
    pub(crate) fn decimals(&self, name: &str) -> Vec<Option<String>> {
        let array = self.typed::<Decimal128Array>(name);
        (0..array.len())
            .map(|i| array.is_valid(i).then(|| array.value_as_string(i)))
            .collect()
    }

    /// The type of a column.
    pub(crate) fn data_type(&self, name: &str) -> DataType {
        self.column(name).data_type().clone()
    }
}

/// Compiles `tasks` against `batch`'s schema and applies them.
pub(crate) fn run(tasks: &[Task], batch: &RecordBatch) -> Output {
    let compiled = Tasks::compile(tasks, None, batch.schema_ref()).expect("tasks compile");
    let output = compiled.apply(batch).expect("tasks apply");
    assert_eq!(output.batch.schema_ref(), compiled.output_schema());
    output
}

/// The compile error of `tasks` against `batch`'s schema, as displayed.
pub(crate) fn compile_error(tasks: &[Task], batch: &RecordBatch) -> String {
    match Tasks::compile(tasks, None, batch.schema_ref()) {
        Ok(_) => panic!("the tasks compiled"),
        Err(error) => error.to_string(),
    }
}

/// The field names of a batch.
pub(crate) fn names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// The reasons of an output's rejections, with their rows.
pub(crate) fn reasons(output: &Output) -> Vec<(usize, String)> {
    output
        .rejected
        .iter()
        .map(|r| (r.row, r.reason.clone()))
        .collect()
}
