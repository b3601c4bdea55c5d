//! The postgres destination. Batches are written with `COPY ... FROM STDIN`
//! (CSV) into a temporary staging table `_sluice_stage_{run}` on the
//! connector's own connection; nothing reaches the target before `commit`,
//! which in one transaction creates the target when `createTable` asks for
//! it, applies the write mode (Append: insert; Overwrite: truncate, then
//! insert; Upsert: `INSERT ... ON CONFLICT (idFields) DO UPDATE`, the last
//! record of an id winning) and drops the staging table. `abort` drops the
//! staging table; being temporary, it also vanishes if the run dies.
//!
//! A record PostgreSQL cannot store — text holding a NUL character
//! (U+0000), which neither `text` nor `jsonb` accepts — is left out of the
//! COPY and handed back to the engine ([`Destination::rejected`]), which
//! applies the Flow's error policy to it; the other records of the batch
//! are written.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use futures_util::SinkExt;
use tokio::runtime::Runtime;
use tokio_postgres::Client;

use crate::connectors::common::runtime;
use crate::pipeline::engine::{BadRecord, Destination, Outcome, rows_as_json};
use crate::pipeline::error::{ConnectorError, ErrorClass};

use super::client::{connect, ident, qualified, query_error};
use super::{Error, PgConfig, Result};

/// The identity column that keeps the staging table's record order.
const ROW_COLUMN: &str = "_sluice_row";

/// How the staged records are applied to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgWriteMode {
    /// Insert them.
    Append,
    /// Replace the table's rows with them.
    Overwrite,
    /// Insert or update by the id columns.
    Upsert,
}

/// What and how to write.
#[derive(Debug, Clone)]
pub struct DestinationSettings {
    /// Schema of the table.
    pub schema: String,
    /// The table.
    pub table: String,
    /// Create the table from the records' schema when missing.
    pub create_table: bool,
    /// The write mode.
    pub write_mode: PgWriteMode,
    /// Id columns for Upsert.
    pub id_fields: Vec<String>,
    /// The run id, naming the staging table.
    pub run_id: String,
}

/// Writes records into a PostgreSQL table; see the module doc.
pub struct PostgresRecordDestination {
    runtime: Runtime,
    client: Client,
    settings: DestinationSettings,
    description: String,
    stage: String,
    /// The target's columns when it exists.
    target_columns: Option<Vec<String>>,
    /// The records' schema, once the staging table exists.
    staged: Option<SchemaRef>,
    bytes: u64,
    /// Records given to `write` so far, for the location of refused ones.
    records: u64,
    /// Records refused since the engine last asked.
    rejected: Vec<BadRecord>,
}

impl std::fmt::Debug for PostgresRecordDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresRecordDestination")
            .field("table", &self.description)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

/// The staging table's name for a run: `_sluice_stage_` and the run id's
/// letters, digits and underscores, within PostgreSQL's 63 bytes.
pub fn stage_name(run_id: &str) -> String {
    let mut name = String::from("_sluice_stage_");
    name.extend(run_id.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        }
    }));
    name.truncate(63);
    name
}

/// The PostgreSQL column type of an Arrow type (nested types as jsonb).
pub fn pg_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "boolean".to_owned(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".to_owned(),
        DataType::Int32 | DataType::UInt16 => "integer".to_owned(),
        DataType::Int64 | DataType::UInt32 => "bigint".to_owned(),
        DataType::UInt64 => "numeric(20,0)".to_owned(),
        DataType::Float16 | DataType::Float32 => "real".to_owned(),
        DataType::Float64 => "double precision".to_owned(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => {
            if *s >= 0 && i16::from(*s) <= i16::from(*p) {
                format!("numeric({p},{s})")
            } else {
                "numeric".to_owned()
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".to_owned(),
        DataType::FixedSizeBinary(_) => "bytea".to_owned(),
        DataType::Date32 | DataType::Date64 => "date".to_owned(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".to_owned(),
        DataType::Timestamp(_, None) => "timestamp".to_owned(),
        DataType::Time32(_) | DataType::Time64(_) => "time".to_owned(),
        DataType::Duration(_) | DataType::Interval(_) => "interval".to_owned(),
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::ListView(_)
        | DataType::LargeListView(_)
        | DataType::FixedSizeList(_, _)
        | DataType::Struct(_)
        | DataType::Map(_, _) => "jsonb".to_owned(),
        DataType::Dictionary(_, value) => pg_type(value),
        _ => "text".to_owned(),
    }
}

fn is_nested(data_type: &DataType) -> bool {
    pg_type(data_type) == "jsonb"
}

fn is_binary(data_type: &DataType) -> bool {
    pg_type(data_type) == "bytea"
}

/// Column definitions of a table for `schema`.
fn column_definitions(schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", ident(f.name()), pg_type(f.data_type())))
        .collect()
}

impl PostgresRecordDestination {
    /// Connects and prepares the staging table. Fails when the target is
    /// missing and `createTable` is off.
    pub fn open(config: &PgConfig, settings: DestinationSettings) -> Result<Self> {
        let runtime = runtime::current_thread()?;
        let client = runtime.block_on(connect(config))?;
        let target = qualified(&settings.schema, &settings.table);
        let description = format!("{}.{}", settings.schema, settings.table);
        let target_columns: Option<Vec<String>> = runtime.block_on(async {
            let rows = client
                .query(
                    "SELECT a.attname::text FROM pg_attribute a \
                     WHERE a.attrelid = to_regclass($1::text) AND a.attnum > 0 AND NOT a.attisdropped \
                     ORDER BY a.attnum",
                    &[&target],
                )
                .await
                .map_err(|e| query_error(format!("looking up table {description}"), &e))?;
            let exists = client
                .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&target])
                .await
                .map_err(|e| query_error(format!("looking up table {description}"), &e))?;
            Ok::<_, Error>(
                exists
                    .get::<_, bool>(0)
                    .then(|| rows.iter().map(|r| r.get::<_, String>(0)).collect()),
            )
        })?;
        if target_columns.is_none() && !settings.create_table {
            return Err(Error::TableNotFound { table: description });
        }
        if settings.write_mode == PgWriteMode::Upsert && settings.id_fields.is_empty() {
            return Err(Error::Config {
                field: "spec.sync.idFields".to_owned(),
                message: "writeMode Upsert needs the id columns; list them in idFields".to_owned(),
            });
        }
        if let Some(columns) = &target_columns {
            for id in &settings.id_fields {
                if !columns.contains(id) {
                    return Err(Error::Config {
                        field: "spec.sync.idFields".to_owned(),
                        message: format!(
                            "{id:?} is not a column of table {description}; use one of {columns:?}"
                        ),
                    });
                }
            }
        }
        let stage = stage_name(&settings.run_id);
        let destination = Self {
            runtime,
            client,
            settings,
            description,
            stage,
            target_columns,
            staged: None,
            bytes: 0,
            records: 0,
            rejected: Vec::new(),
        };
        if destination.target_columns.is_some() {
            let sql = format!(
                "DROP TABLE IF EXISTS pg_temp.{stage}; \
                 CREATE TEMP TABLE {stage} (LIKE {target} INCLUDING DEFAULTS); \
                 ALTER TABLE {stage} ADD COLUMN {row} bigint GENERATED ALWAYS AS IDENTITY",
                stage = ident(&destination.stage),
                row = ident(ROW_COLUMN),
            );
            destination.execute_batch(&sql, "creating the staging table")?;
        }
        Ok(destination)
    }

    /// `schema.table`.
    pub fn description(&self) -> &str {
        &self.description
    }

    fn execute_batch(&self, sql: &str, doing: &str) -> Result<()> {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .map_err(|e| query_error(format!("table {}: {doing}", self.description), &e))
    }

    /// Checks a batch's schema against the target and creates the staging
    /// table from it when the target is to be created.
    fn prepare(&mut self, schema: &SchemaRef) -> Result<()> {
        if let Some(staged) = &self.staged {
            if staged.fields() != schema.fields() {
                return Err(Error::Config {
                    field: format!("table {}", self.description),
                    message: "the records' schema changed within the run".to_owned(),
                });
            }
            return Ok(());
        }
        match &self.target_columns {
            Some(columns) => {
                for field in schema.fields() {
                    if !columns.contains(field.name()) {
                        return Err(Error::Config {
                            field: format!("table {}", self.description),
                            message: format!(
                                "has no column {:?} for the records' field of that name; add the column, or drop or rename the field in spec.tasks",
                                field.name()
                            ),
                        });
                    }
                }
            }
            None => {
                let mut columns = column_definitions(schema);
                columns.push(format!(
                    "{} bigint GENERATED ALWAYS AS IDENTITY",
                    ident(ROW_COLUMN)
                ));
                let sql = format!(
                    "DROP TABLE IF EXISTS pg_temp.{stage}; CREATE TEMP TABLE {stage} ({})",
                    columns.join(", "),
                    stage = ident(&self.stage)
                );
                self.execute_batch(&sql, "creating the staging table")?;
            }
        }
        for id in &self.settings.id_fields {
            if schema.field_with_name(id).is_err() {
                return Err(Error::Config {
                    field: "spec.sync.idFields".to_owned(),
                    message: format!(
                        "{id:?} is not a field of the records written to {}",
                        self.description
                    ),
                });
            }
        }
        self.staged = Some(schema.clone());
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.prepare(&batch.schema())?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let Encoded { data, refused } = encode_csv(batch).map_err(|message| Error::Config {
            field: format!("table {}", self.description),
            message,
        })?;
        let first = self.records + 1;
        self.records += batch.num_rows() as u64;
        if !refused.is_empty() {
            let rows: Vec<usize> = refused.iter().map(|r| r.row).collect();
            let originals = rows_as_json(batch, &rows);
            for (refusal, original) in refused.into_iter().zip(originals) {
                self.rejected.push(BadRecord {
                    location: Some(format!(
                        "postgres table {}: record {} of the run",
                        self.description,
                        first + refusal.row as u64
                    )),
                    task: None,
                    field: Some(refusal.field),
                    reason: refusal.reason,
                    record: Some(original),
                    raw: None,
                });
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        self.bytes += data.len() as u64;
        let columns: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| ident(f.name()))
            .collect();
        let sql = format!(
            "COPY {} ({}) FROM STDIN (FORMAT csv)",
            ident(&self.stage),
            columns.join(", ")
        );
        let context = format!(
            "table {}: copying records into the staging table",
            self.description
        );
        self.runtime.block_on(async {
            let sink = self
                .client
                .copy_in::<_, Bytes>(&sql)
                .await
                .map_err(|e| query_error(context.clone(), &e))?;
            let mut sink = std::pin::pin!(sink);
            sink.send(Bytes::from(data))
                .await
                .map_err(|e| query_error(context.clone(), &e))?;
            sink.as_mut()
                .finish()
                .await
                .map_err(|e| query_error(context.clone(), &e))?;
            Ok(())
        })
    }

    /// The statements of the commit transaction.
    fn merge_sql(&self) -> Option<String> {
        let target = qualified(&self.settings.schema, &self.settings.table);
        let stage = ident(&self.stage);
        let Some(schema) = self.staged.as_ref() else {
            // No records: Overwrite still empties an existing table.
            return (self.settings.write_mode == PgWriteMode::Overwrite
                && self.target_columns.is_some())
            .then(|| format!("BEGIN; TRUNCATE {target}; DROP TABLE {stage}; COMMIT;"));
        };
        let columns: Vec<String> = schema.fields().iter().map(|f| ident(f.name())).collect();
        let list = columns.join(", ");
        let mut sql = String::from("BEGIN;");
        if self.target_columns.is_none() {
            let mut definitions = column_definitions(schema);
            if self.settings.write_mode == PgWriteMode::Upsert {
                let ids: Vec<String> = self.settings.id_fields.iter().map(|c| ident(c)).collect();
                definitions.push(format!("PRIMARY KEY ({})", ids.join(", ")));
            }
            let _ = write!(
                sql,
                " CREATE TABLE IF NOT EXISTS {target} ({});",
                definitions.join(", ")
            );
        }
        match self.settings.write_mode {
            PgWriteMode::Append => {
                let _ = write!(
                    sql,
                    " INSERT INTO {target} ({list}) SELECT {list} FROM {stage} ORDER BY {};",
                    ident(ROW_COLUMN)
                );
            }
            PgWriteMode::Overwrite => {
                let _ = write!(
                    sql,
                    " TRUNCATE {target}; INSERT INTO {target} ({list}) SELECT {list} FROM {stage} ORDER BY {};",
                    ident(ROW_COLUMN)
                );
            }
            PgWriteMode::Upsert => {
                let ids: Vec<String> = self.settings.id_fields.iter().map(|c| ident(c)).collect();
                let ids = ids.join(", ");
                let id_set: BTreeSet<&str> =
                    self.settings.id_fields.iter().map(String::as_str).collect();
                let updates: Vec<String> = schema
                    .fields()
                    .iter()
                    .filter(|f| !id_set.contains(f.name().as_str()))
                    .map(|f| format!("{c} = EXCLUDED.{c}", c = ident(f.name())))
                    .collect();
                let action = if updates.is_empty() {
                    "DO NOTHING".to_owned()
                } else {
                    format!("DO UPDATE SET {}", updates.join(", "))
                };
                let _ = write!(
                    sql,
                    " INSERT INTO {target} ({list}) SELECT DISTINCT ON ({ids}) {list} FROM {stage} \
                     ORDER BY {ids}, {} DESC ON CONFLICT ({ids}) {action};",
                    ident(ROW_COLUMN)
                );
            }
        }
        let _ = write!(sql, " DROP TABLE {stage}; COMMIT;");
        Some(sql)
    }

    fn commit_all(&self) -> Result<()> {
        match self.merge_sql() {
            Some(sql) => {
                if let Err(e) = self.runtime.block_on(self.client.batch_execute(&sql)) {
                    let _ = self.runtime.block_on(self.client.batch_execute("ROLLBACK"));
                    self.drop_stage();
                    let context = format!(
                        "table {}: applying the run's records ({:?})",
                        self.description, self.settings.write_mode
                    );
                    let no_key = e.code()
                        == Some(&tokio_postgres::error::SqlState::INVALID_COLUMN_REFERENCE);
                    if no_key && self.settings.write_mode == PgWriteMode::Upsert {
                        return Err(Error::Query {
                            context,
                            message: format!(
                                "the table has no primary key or unique constraint on spec.sync.idFields ({}); add one (ALTER TABLE {} ADD PRIMARY KEY ({})), or let createTable create the table under writeMode Upsert",
                                self.settings.id_fields.join(", "),
                                self.description,
                                self.settings.id_fields.join(", ")
                            ),
                            class: ErrorClass::Write,
                        });
                    }
                    return Err(query_error(context, &e));
                }
                Ok(())
            }
            // Nothing to apply: no records (and not Overwrite), or no
            // target and no schema to create it from.
            None => {
                self.drop_stage();
                Ok(())
            }
        }
    }

    fn drop_stage(&self) {
        let sql = format!("DROP TABLE IF EXISTS pg_temp.{}", ident(&self.stage));
        let _ = self.runtime.block_on(self.client.batch_execute(&sql));
    }
}

impl Destination for PostgresRecordDestination {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        Ok(self.write_batch(batch)?)
    }

    fn rejected(&mut self) -> Vec<BadRecord> {
        std::mem::take(&mut self.rejected)
    }

    fn bytes_written(&self) -> u64 {
        self.bytes
    }

    fn commit(self: Box<Self>) -> Result<Outcome, ConnectorError> {
        self.commit_all()?;
        Ok(Outcome {
            location: format!("postgres table {}", self.description),
            manifest: None,
            objects: 1,
            bytes: self.bytes,
            rejected: 0,
        })
    }

    fn abort(self: Box<Self>) -> Result<(), ConnectorError> {
        self.drop_stage();
        Ok(())
    }
}

/// How one column's cells are written into CSV.
enum Cells<'a> {
    /// Through Arrow's display of the value.
    Display(ArrayFormatter<'a>),
    /// bytea in hex (`\x...`).
    Binary(&'a dyn Array),
    /// JSON text of nested values, and whether each holds a NUL character.
    Json(Vec<Option<(String, bool)>>),
}

/// A record of a batch PostgreSQL cannot store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its row in the batch.
    pub row: usize,
    /// The field that cannot be stored.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// A batch encoded for `COPY`: the rows PostgreSQL can store, and those it
/// cannot.
#[derive(Debug, Default)]
pub struct Encoded {
    /// CSV of the rows that can be stored.
    pub data: Vec<u8>,
    /// The rows left out.
    pub refused: Vec<Refused>,
}

/// Why PostgreSQL cannot store a NUL character in a value of `field`.
fn nul_reason(field: &Field) -> String {
    let kind = if is_nested(field.data_type()) {
        "jsonb"
    } else {
        "text"
    };
    format!(
        "field {:?} holds a NUL character (U+0000), which a PostgreSQL {kind} value cannot store; remove it with a task (such as compute with replace) or let the error policy take the record",
        field.name()
    )
}

/// Whether a JSON value holds a NUL character in a string or a key.
fn json_has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || json_has_nul(value)),
        _ => false,
    }
}

/// A batch as CSV for `COPY ... (FORMAT csv)`: values quoted, nulls as
/// unquoted empty fields; rows with a value PostgreSQL cannot store (a NUL
/// character in text or JSON) are left out and listed.
pub fn encode_csv(batch: &RecordBatch) -> Result<Encoded, String> {
    let options = FormatOptions::default().with_null("");
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let cells = if is_nested(field.data_type()) {
            Cells::Json(json_cells(field, array.as_ref())?)
        } else if is_binary(field.data_type()) {
            Cells::Binary(array.as_ref())
        } else {
            Cells::Display(
                ArrayFormatter::try_new(array.as_ref(), &options)
                    .map_err(|e| format!("field {:?} cannot be written: {e}", field.name()))?,
            )
        };
        columns.push((array.as_ref(), cells));
    }
    let schema = batch.schema();
    let mut out = Vec::with_capacity(batch.get_array_memory_size());
    let mut refused = Vec::new();
    let mut cell = String::new();
    'rows: for row in 0..batch.num_rows() {
        let start = out.len();
        for (i, (array, cells)) in columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if array.is_null(row) {
                continue;
            }
            cell.clear();
            let nul = match cells {
                Cells::Display(formatter) => {
                    let _ = write!(cell, "{}", formatter.value(row));
                    cell.contains('\0')
                }
                Cells::Binary(array) => {
                    cell.push_str("\\x");
                    cell.push_str(&hex::encode(binary_value(*array, row)));
                    false
                }
                Cells::Json(values) => match &values[row] {
                    Some((text, nul)) => {
                        cell.push_str(text);
                        *nul
                    }
                    None => continue,
                },
            };
            if nul {
                out.truncate(start);
                let field = schema.field(i);
                refused.push(Refused {
                    row,
                    field: field.name().clone(),
                    reason: nul_reason(field),
                });
                continue 'rows;
            }
            out.push(b'"');
            for byte in cell.bytes() {
                if byte == b'"' {
                    out.push(b'"');
                }
                out.push(byte);
            }
            out.push(b'"');
        }
        out.push(b'\n');
    }
    Ok(Encoded { data: out, refused })
}

fn binary_value(array: &dyn Array, row: usize) -> &[u8] {
    match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(row),
        DataType::LargeBinary => array.as_binary::<i64>().value(row),
        DataType::BinaryView => array.as_binary_view().value(row),
        DataType::FixedSizeBinary(_) => array.as_fixed_size_binary().value(row),
        _ => &[],
    }
}

/// The JSON text of each value of a nested column, and whether it holds a
/// NUL character.
fn json_cells(field: &Field, array: &dyn Array) -> Result<Vec<Option<(String, bool)>>, String> {
    let name = "v";
    let schema = std::sync::Arc::new(Schema::new(vec![Field::new(
        name,
        field.data_type().clone(),
        true,
    )]));
    let single = RecordBatch::try_new(schema, vec![arrow::array::make_array(array.to_data())])
        .map_err(|e| format!("field {:?} cannot be written as JSON: {e}", field.name()))?;
    let mut buffer = Vec::new();
    {
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut buffer);
        writer
            .write(&single)
            .map_err(|e| format!("field {:?} cannot be written as JSON: {e}", field.name()))?;
        writer
            .finish()
            .map_err(|e| format!("field {:?} cannot be written as JSON: {e}", field.name()))?;
    }
    let mut values = Vec::with_capacity(array.len());
    for line in buffer.split(|b| *b == b'\n').take(array.len()) {
        let value: serde_json::Value = serde_json::from_slice(line)
            .map_err(|e| format!("field {:?} cannot be written as JSON: {e}", field.name()))?;
        values.push(
            value
                .get(name)
                .filter(|v| !v.is_null())
                .map(|v| (v.to_string(), json_has_nul(v))),
        );
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use arrow::array::{ArrayRef, BinaryArray, Int32Array, StringArray};

    use super::*;

    #[test]
    fn staging_names_are_safe_identifiers_within_63_bytes() {
        assert_eq!(stage_name("Orders-2024.05"), "_sluice_stage_orders_2024_05");
        assert_eq!(stage_name(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn arrow_types_map_to_postgres_types() {
        assert_eq!(pg_type(&DataType::Int64), "bigint");
        assert_eq!(pg_type(&DataType::UInt64), "numeric(20,0)");
        assert_eq!(pg_type(&DataType::Decimal128(12, 2)), "numeric(12,2)");
        assert_eq!(pg_type(&DataType::Utf8View), "text");
        assert_eq!(pg_type(&DataType::new_list(DataType::Utf8, true)), "jsonb");
    }

    #[test]
    fn csv_quotes_values_and_leaves_nulls_unquoted() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "i",
                Arc::new(Int32Array::from(vec![Some(1), None])) as ArrayRef,
            ),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a\"b,c"), Some("")])),
            ),
            (
                "b",
                Arc::new(BinaryArray::from(vec![Some(&[1u8, 255][..]), None])),
            ),
        ])
        .unwrap();
        let encoded = encode_csv(&batch).unwrap();
        let csv = String::from_utf8(encoded.data).unwrap();
        assert_eq!(csv, "\"1\",\"a\"\"b,c\",\"\\x01ff\"\n,\"\",\n");
        assert!(encoded.refused.is_empty());
    }

    #[test]
    fn rows_with_a_nul_character_are_left_out_and_named() {
        let batch = RecordBatch::try_from_iter(vec![
            ("i", Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef),
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a"), Some("b\0c"), None])),
            ),
        ])
        .unwrap();
        let encoded = encode_csv(&batch).unwrap();
        assert_eq!(
            String::from_utf8(encoded.data).unwrap(),
            "\"1\",\"a\"\n\"3\",\n"
        );
        assert_eq!(encoded.refused.len(), 1);
        assert_eq!(encoded.refused[0].row, 1);
        assert_eq!(encoded.refused[0].field, "s");
        assert!(
            encoded.refused[0]
                .reason
                .starts_with("field \"s\" holds a NUL character (U+0000), which a PostgreSQL text value cannot store"),
            "{}",
            encoded.refused[0].reason
        );
    }
}
