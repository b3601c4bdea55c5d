//! The postgres source: a table (all columns) or a `query`, read inside a
//! read-only repeatable-read transaction through a server-side cursor
//! (`DECLARE ... CURSOR`, then `FETCH fetchSize` per unit), each fetch
//! becoming one Arrow batch on a worker thread.
//!
//! Types: bool → Boolean; int2/int4/int8 → Int16/Int32/Int64; float4/float8
//! → Float32/Float64; text, varchar, char, name → Utf8; date → Date32;
//! timestamp and timestamptz → Timestamp(µs, UTC) (the session runs in UTC);
//! bytea → Binary; json, jsonb and every other type → Utf8 (their text
//! form, cast on the server so no precision is lost).
//!
//! `numeric(p, s)` with p ≤ 38 (and 0 ≤ s ≤ p) → Decimal128(p, s), exact.
//! Any other `numeric` — unconstrained, p above 38, a negative scale or one
//! above p — → Decimal128(38, 18): 20 digits before the point and 18 after.
//! A value that type cannot hold exactly (more than 18 decimals, more than
//! 20 digits before the point) and `NaN` or `±Infinity` in any numeric
//! column make the record a bad record naming the column: never text, never
//! a rounded number. A query can round or cast such a column
//! (`round(x, 18)`, `x::numeric(38, 10)`, `x::float8`).
//!
//! Incremental runs read `cursorField >= start AND cursorField < end`, the
//! start already moved back by the lookback.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanArray, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use tokio::runtime::Runtime;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, Row};

use crate::connectors::common::runtime;
use crate::pipeline::engine::{Chunk, Source, Unit};
use crate::pipeline::error::{ConnectorError, ErrorClass};
use crate::pipeline::format::Malformed;
use crate::pipeline::location::{self, Positions};
use crate::pipeline::number::{Unfit, read_decimal};

use super::client::{connect, ident, qualified, query_error};
use super::{Error, PgConfig, Result};

/// The cursor's name.
const CURSOR: &str = "sluice_cursor";

/// The window of an incremental read: `cursorField` in `[start, end)`.
pub use crate::connectors::CursorWindow as SourceWindow;

/// What to read.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Schema of `table`.
    pub schema: String,
    /// The table or view.
    pub table: Option<String>,
    /// A SELECT read instead of a table.
    pub query: Option<String>,
    /// Rows per fetch.
    pub fetch_size: u32,
    /// The incremental window, if any.
    pub window: Option<SourceWindow>,
}

/// How a column is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Text,
    Date,
    Timestamp,
    TimestampTz,
    Bytes,
    /// `numeric`, read as text and then as a Decimal128(precision, scale).
    Decimal(u8, i8),
}

/// What a `numeric` without a precision PostgreSQL and Arrow share is read
/// as: Decimal128(38, 18).
pub const NUMERIC_FALLBACK: (u8, i8) = (38, 18);

/// The Decimal128 precision and scale of a `numeric` with type modifier
/// `typmod` (`-1` when unconstrained): `numeric(p, s)` itself when
/// 1 ≤ p ≤ 38 and 0 ≤ s ≤ p, [`NUMERIC_FALLBACK`] otherwise.
fn numeric_type(typmod: i32) -> (u8, i8) {
    // PostgreSQL's encoding: ((precision << 16) | (scale & 0x7ff)) + 4, the
    // scale an 11-bit signed number since PostgreSQL 15.
    let Some(modifier) = typmod.checked_sub(4).filter(|m| *m >= 0) else {
        return NUMERIC_FALLBACK;
    };
    let precision = (modifier >> 16) & 0xffff;
    let scale = ((modifier & 0x7ff) ^ 1024) - 1024;
    match (u8::try_from(precision), i8::try_from(scale)) {
        (Ok(p), Ok(s)) if (1..=38).contains(&p) && s >= 0 && i32::from(s) <= precision => (p, s),
        _ => NUMERIC_FALLBACK,
    }
}

impl Kind {
    /// The kind of a server type with its type modifier; `None` for types
    /// read as text.
    fn of(t: &Type, typmod: i32) -> Option<Self> {
        Some(match *t {
            Type::NUMERIC => {
                let (precision, scale) = numeric_type(typmod);
                Self::Decimal(precision, scale)
            }
            Type::BOOL => Self::Bool,
            Type::INT2 => Self::I16,
            Type::INT4 => Self::I32,
            Type::INT8 => Self::I64,
            Type::FLOAT4 => Self::F32,
            Type::FLOAT8 => Self::F64,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Self::Text,
            Type::DATE => Self::Date,
            Type::TIMESTAMP => Self::Timestamp,
            Type::TIMESTAMPTZ => Self::TimestampTz,
            Type::BYTEA => Self::Bytes,
            _ => return None,
        })
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Bool => DataType::Boolean,
            Self::I16 => DataType::Int16,
            Self::I32 => DataType::Int32,
            Self::I64 => DataType::Int64,
            Self::F32 => DataType::Float32,
            Self::F64 => DataType::Float64,
            Self::Text => DataType::Utf8,
            Self::Date => DataType::Date32,
            Self::Timestamp | Self::TimestampTz => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            Self::Bytes => DataType::Binary,
            Self::Decimal(precision, scale) => DataType::Decimal128(precision, scale),
        }
    }

    /// The column's text form is selected (and read by the kind).
    fn as_text(self) -> bool {
        matches!(self, Self::Decimal(..))
    }
}

/// The Arrow type the source reads a server type with type modifier
/// `typmod` as (text for the types it has no native mapping for).
pub fn arrow_type(t: &Type, typmod: i32) -> DataType {
    Kind::of(t, typmod).unwrap_or(Kind::Text).data_type()
}

/// Reads a table or query; see the module doc.
pub struct PostgresRecordSource {
    runtime: Runtime,
    client: Client,
    schema: SchemaRef,
    kinds: Arc<Vec<Kind>>,
    /// `FETCH n FROM` the cursor, prepared once.
    fetch: tokio_postgres::Statement,
    description: String,
    done: bool,
    records: u64,
}

impl std::fmt::Debug for PostgresRecordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresRecordSource")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl PostgresRecordSource {
    /// Connects, learns the result's columns and opens the cursor.
    pub fn open(config: &PgConfig, settings: &SourceSettings) -> Result<Self> {
        let runtime = runtime::current_thread()?;
        let client = runtime.block_on(connect(config))?;
        let (inner, description) = match (&settings.table, &settings.query) {
            (Some(table), None) => (
                qualified(&settings.schema, table),
                format!("postgres table {}.{table}", settings.schema),
            ),
            (None, Some(query)) => (
                format!("({})", query.trim().trim_end_matches(';')),
                "postgres query".to_owned(),
            ),
            _ => {
                return Err(Error::Config {
                    field: "spec.source.postgres".to_owned(),
                    message: "set exactly one of table and query".to_owned(),
                });
            }
        };
        let probe = format!("SELECT * FROM {inner} AS q");
        let statement = runtime
            .block_on(client.prepare(&probe))
            .map_err(|e| query_error(format!("spec.source.postgres: reading {description}"), &e))?;
        let mut fields = Vec::new();
        let mut kinds = Vec::new();
        let mut select = Vec::new();
        for column in statement.columns() {
            let name = ident(column.name());
            let kind = match Kind::of(column.type_(), column.type_modifier()) {
                Some(kind) if kind.as_text() => {
                    select.push(format!("q.{name}::text AS {name}"));
                    kind
                }
                Some(kind) => {
                    select.push(format!("q.{name}"));
                    kind
                }
                None => {
                    select.push(format!("q.{name}::text AS {name}"));
                    Kind::Text
                }
            };
            fields.push(Field::new(column.name(), kind.data_type(), true));
            kinds.push(kind);
        }
        let mut sql = format!("SELECT {} FROM {inner} AS q", select.join(", "));
        if let Some(window) = &settings.window {
            let column = statement
                .columns()
                .iter()
                .find(|c| c.name() == window.cursor_field)
                .ok_or_else(|| Error::Config {
                    field: "spec.sync.cursorField".to_owned(),
                    message: format!(
                        "{:?} is not a column of the {description}; use one of {:?}",
                        window.cursor_field,
                        statement
                            .columns()
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                    ),
                })?;
            if !matches!(
                *column.type_(),
                Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE
            ) {
                return Err(Error::Config {
                    field: "spec.sync.cursorField".to_owned(),
                    message: format!(
                        "column {:?} is of type {}; incremental reads need a timestamp, timestamptz or date column",
                        window.cursor_field,
                        column.type_()
                    ),
                });
            }
            let cursor = ident(&window.cursor_field);
            sql.push_str(&format!(
                " WHERE q.{cursor} >= '{}'::timestamptz AND q.{cursor} < '{}'::timestamptz",
                window.start.to_rfc3339(),
                window.end.to_rfc3339()
            ));
        }
        let begin = format!(
            "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY; DECLARE {CURSOR} NO SCROLL CURSOR FOR {sql}"
        );
        runtime
            .block_on(client.batch_execute(&begin))
            .map_err(|e| query_error(format!("spec.source.postgres: reading {description}"), &e))?;
        // Prepared once: each unit is one round trip. The probe is closed
        // on the way, so no request of the open is left pending that a
        // later failure's answer could be taken for.
        drop(statement);
        let fetch = format!("FETCH {} FROM {CURSOR}", settings.fetch_size.max(1));
        let fetch = runtime
            .block_on(client.prepare(&fetch))
            .map_err(|e| query_error(format!("spec.source.postgres: reading {description}"), &e))?;
        Ok(Self {
            runtime,
            client,
            schema: Arc::new(Schema::new(fields)),
            kinds: Arc::new(kinds),
            fetch,
            description,
            done: false,
            records: 0,
        })
    }

    /// What is read, in words.
    pub fn description(&self) -> &str {
        &self.description
    }

    fn close(&mut self) {
        self.done = true;
        let _ = self.runtime.block_on(self.client.batch_execute("COMMIT"));
    }
}

impl Source for PostgresRecordSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let rows = match self.runtime.block_on(self.client.query(&self.fetch, &[])) {
            Ok(rows) => rows,
            Err(e) => {
                let error = query_error(format!("reading {}", self.description), &e);
                self.close();
                return Err(error.into());
            }
        };
        if rows.is_empty() {
            self.close();
            return Ok(None);
        }
        let first_record = self.records + 1;
        self.records += rows.len() as u64;
        let schema = self.schema.clone();
        let kinds = self.kinds.clone();
        let origin = self.description.clone();
        Ok(Some(Box::new(move || {
            let (batch, malformed) = to_batch(&schema, &kinds, &rows, &origin, first_record)?;
            Ok(Chunk {
                bytes: batch.get_array_memory_size() as u64,
                batch,
                malformed,
                pages: 1,
                origin,
                positions: Positions::from(location::Unit::Record, first_record),
            })
        })))
    }
}

fn column<'a, T: FromSql<'a>>(
    rows: &'a [Row],
    index: usize,
) -> Result<Vec<Option<T>>, ConnectorError> {
    rows.iter()
        .map(|row| {
            row.try_get::<_, Option<T>>(index).map_err(|e| {
                ConnectorError::new(
                    ErrorClass::Data,
                    format!(
                        "column {:?} cannot be decoded: {e}",
                        row.columns()[index].name()
                    ),
                )
            })
        })
        .collect()
}

/// A value the source read but its column's type cannot hold.
struct Unfitting {
    row: usize,
    column: usize,
    text: String,
    unfit: Unfit,
}

impl Unfitting {
    /// Why the record is bad, naming the column, the value and the way out.
    fn reason(&self, schema: &Schema) -> String {
        let name = schema.field(self.column).name();
        let data_type = schema.field(self.column).data_type();
        let text = &self.text;
        let fallback = DataType::Decimal128(NUMERIC_FALLBACK.0, NUMERIC_FALLBACK.1);
        let hint = if *data_type == fallback {
            format!(
                " ({fallback}, what a numeric without a precision up to 38 is read as): \
                 declare the column numeric(p, s) with p up to 38, or read it with a query \
                 that rounds or casts it (round({name}, 18), {name}::float8)"
            )
        } else {
            format!(" ({data_type})")
        };
        match self.unfit {
            Unfit::NotANumber => format!(
                "value {text:?} of numeric column {name:?} is not a number a {data_type} can hold"
            ),
            Unfit::Scale(scale) => format!(
                "value {text:?} of numeric column {name:?} has more than {scale} digits after the point{hint}"
            ),
            Unfit::Precision(precision) => format!(
                "value {text:?} of numeric column {name:?} needs more than {precision} digits{hint}"
            ),
            Unfit::Range => {
                format!("value {text:?} of numeric column {name:?} is out of range{hint}")
            }
        }
    }
}

/// One record of `batch` as a JSON object, with the unfitting values as
/// the text they were read as.
fn raw_record(batch: &RecordBatch, row: usize, unfitting: &[&Unfitting]) -> String {
    let mut buffer = Vec::new();
    {
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut buffer);
        let _ = writer.write(&batch.slice(row, 1));
        let _ = writer.finish();
    }
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&buffer).unwrap_or_default();
    for value in unfitting {
        object.insert(
            batch.schema().field(value.column).name().clone(),
            serde_json::Value::String(value.text.clone()),
        );
    }
    serde_json::Value::Object(object).to_string()
}

/// Rows as an Arrow batch of `schema`, and the records whose values the
/// schema cannot hold as [`Malformed`] at `{origin}:record {n}`, `n`
/// counting from `first_record`.
fn to_batch(
    schema: &SchemaRef,
    kinds: &[Kind],
    rows: &[Row],
    origin: &str,
    first_record: u64,
) -> Result<(RecordBatch, Vec<Malformed>), ConnectorError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(kinds.len());
    let mut unfitting: Vec<Unfitting> = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        let array: ArrayRef = match kind {
            Kind::Bool => {
                let mut b = BooleanBuilder::with_capacity(rows.len());
                b.extend(column::<bool>(rows, i)?);
                Arc::new(b.finish())
            }
            Kind::I16 => {
                let mut b = Int16Builder::with_capacity(rows.len());
                b.extend(column::<i16>(rows, i)?);
                Arc::new(b.finish())
            }
            Kind::I32 => {
                let mut b = Int32Builder::with_capacity(rows.len());
                b.extend(column::<i32>(rows, i)?);
                Arc::new(b.finish())
            }
            Kind::I64 => {
                let mut b = Int64Builder::with_capacity(rows.len());
                b.extend(column::<i64>(rows, i)?);
                Arc::new(b.finish())
            }
            Kind::F32 => {
                let mut b = Float32Builder::with_capacity(rows.len());
                b.extend(column::<f32>(rows, i)?);
                Arc::new(b.finish())
            }
            Kind::F64 => {
                let mut b = Float64Builder::with_capacity(rows.len());
                b.extend(column::<f64>(rows, i)?);
                Arc::new(b.finish())
            }
            Kind::Text => {
                let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
                for v in column::<&str>(rows, i)? {
                    b.append_option(v);
                }
                Arc::new(b.finish())
            }
            Kind::Bytes => {
                let mut b = BinaryBuilder::with_capacity(rows.len(), rows.len() * 16);
                for v in column::<&[u8]>(rows, i)? {
                    b.append_option(v);
                }
                Arc::new(b.finish())
            }
            Kind::Date => {
                let mut b = Date32Builder::with_capacity(rows.len());
                for v in column::<NaiveDate>(rows, i)? {
                    b.append_option(v.and_then(|d| {
                        i32::try_from(d.signed_duration_since(epoch).num_days()).ok()
                    }));
                }
                Arc::new(b.finish())
            }
            Kind::Timestamp => {
                let mut b =
                    TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
                for v in column::<NaiveDateTime>(rows, i)? {
                    b.append_option(v.map(|t| t.and_utc().timestamp_micros()));
                }
                Arc::new(b.finish())
            }
            Kind::TimestampTz => {
                let mut b =
                    TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
                for v in column::<DateTime<Utc>>(rows, i)? {
                    b.append_option(v.map(|t| t.timestamp_micros()));
                }
                Arc::new(b.finish())
            }
            Kind::Decimal(precision, scale) => {
                let mut b = Decimal128Builder::with_capacity(rows.len());
                for (row, v) in column::<&str>(rows, i)?.into_iter().enumerate() {
                    let Some(text) = v else {
                        b.append_null();
                        continue;
                    };
                    match read_decimal(text, *precision, *scale) {
                        Ok(value) => b.append_value(value),
                        Err(unfit) => {
                            b.append_null();
                            unfitting.push(Unfitting {
                                row,
                                column: i,
                                text: text.to_owned(),
                                unfit,
                            });
                        }
                    }
                }
                Arc::new(b.finish().with_precision_and_scale(*precision, *scale)?)
            }
        };
        arrays.push(array);
    }
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    if unfitting.is_empty() {
        return Ok((batch, Vec::new()));
    }
    unfitting.sort_by_key(|u| (u.row, u.column));
    let mut malformed = Vec::new();
    let mut keep = vec![true; batch.num_rows()];
    for (row, values) in unfitting
        .chunk_by(|a, b| a.row == b.row)
        .map(|c| (c[0].row, c))
    {
        keep[row] = false;
        let values: Vec<&Unfitting> = values.iter().collect();
        malformed.push(Malformed {
            location: format!("{origin}:record {}", first_record + row as u64),
            raw: raw_record(&batch, row, &values),
            reason: values[0].reason(schema),
            field: Some(schema.field(values[0].column).name().clone()),
        });
    }
    let batch = arrow::compute::filter_record_batch(&batch, &BooleanArray::from(keep))?;
    Ok((batch, malformed))
}

#[cfg(test)]
mod tests {
    use super::{NUMERIC_FALLBACK, numeric_type};

    #[test]
    fn numeric_type_modifiers_become_decimal_types() {
        // PostgreSQL's encoding of numeric(p, s).
        let typmod = |p: i32, s: i32| ((p << 16) | (s & 0x7ff)) + 4;
        assert_eq!(numeric_type(-1), NUMERIC_FALLBACK);
        assert_eq!(numeric_type(typmod(12, 2)), (12, 2));
        assert_eq!(numeric_type(typmod(38, 0)), (38, 0));
        assert_eq!(numeric_type(typmod(1, 1)), (1, 1));
        assert_eq!(numeric_type(typmod(39, 2)), NUMERIC_FALLBACK);
        assert_eq!(numeric_type(typmod(5, -2)), NUMERIC_FALLBACK);
        assert_eq!(numeric_type(typmod(3, 5)), NUMERIC_FALLBACK);
    }
}
