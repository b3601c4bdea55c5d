//! Reading one file or object as the engine's units: JSON Lines in blocks
//! of whole lines decoded on the worker threads, CSV and Parquet batches as
//! they are read. Shared by every source of files or objects (the `file`
//! and `s3` connectors), which only open the bytes.

use std::io::Read;
use std::sync::Arc;

use arrow::datatypes::Schema;
use parquet::arrow::arrow_reader::ParquetRecordBatchReader;

use super::engine::{Chunk, Unit};
use super::format::{self, CsvReader, JsonLinesBlocks};
use super::location::{self, Positions};
use super::schema::RecordSchema;
use crate::api::v1alpha1::flow::{CsvOptions, FileFormat};

/// Records of a JSON Lines or CSV sample that the schema is inferred from.
pub const SAMPLE_RECORDS: usize = 1000;

/// The schema of a JSON Lines or CSV file or object, inferred from `sample`
/// (its first bytes, whole lines): from the first [`SAMPLE_RECORDS`]
/// records. JSON Lines records read later are held to it (a field it lacks
/// makes a bad record); a CSV's columns are its header's.
pub fn infer(
    sample: &[u8],
    format: FileFormat,
    csv: Option<&CsvOptions>,
) -> Result<RecordSchema, format::Error> {
    Ok(match format {
        FileFormat::Csv => {
            let schema = format::infer_csv_schema(sample, csv, SAMPLE_RECORDS)?;
            RecordSchema::declared(Arc::new(schema))
        }
        _ => RecordSchema::inferred(format::infer_json_schema(sample, SAMPLE_RECORDS)),
    })
}

/// A schema read from a file's own description of its records (a Parquet
/// footer).
pub fn declared(schema: Schema) -> RecordSchema {
    RecordSchema::declared(Arc::new(schema))
}

/// The reading state of one file or object.
pub enum ObjectReader {
    /// JSON Lines, in blocks.
    Json(JsonLinesBlocks),
    /// CSV records.
    Csv(Box<CsvReader>),
    /// Parquet batches, with the ordinal of the next record and the size
    /// still to report (counted with the first batch).
    Parquet(ParquetRecordBatchReader, u64, u64),
}

impl ObjectReader {
    /// JSON Lines from `reader` (already decompressed), in blocks of about
    /// `block` bytes.
    pub fn json(reader: Box<dyn Read + Send>, block: usize) -> Self {
        Self::Json(JsonLinesBlocks::new(reader, block))
    }

    /// CSV records.
    pub fn csv(reader: CsvReader) -> Self {
        Self::Csv(Box::new(reader))
    }

    /// Parquet batches of an object of `bytes` bytes.
    pub fn parquet(reader: ParquetRecordBatchReader, bytes: u64) -> Self {
        Self::Parquet(reader, 1, bytes)
    }

    /// The next unit of `name`, whose records have `schema`; `None` once it
    /// is exhausted.
    pub fn next_unit(
        &mut self,
        schema: &RecordSchema,
        name: &str,
    ) -> Result<Option<Unit>, format::Error> {
        let chunk = |batch, malformed, bytes, positions| Chunk {
            batch,
            malformed,
            bytes,
            pages: 0,
            origin: name.to_owned(),
            positions,
        };
        match self {
            Self::Json(blocks) => {
                let next = blocks.next_block().map_err(|source| format::Error::Io {
                    context: name.to_owned(),
                    source,
                })?;
                Ok(next.map(|(block, first_line)| {
                    json_lines_unit(block, first_line, schema.clone(), name.to_owned())
                }))
            }
            Self::Csv(reader) => {
                Ok(reader
                    .next_batch()?
                    .map(|(batch, malformed, bytes, positions)| {
                        ready(chunk(batch, malformed, bytes, positions))
                    }))
            }
            Self::Parquet(reader, record, bytes) => match reader.next() {
                None => Ok(None),
                Some(batch) => {
                    let batch = batch.map_err(|source| format::Error::Arrow {
                        context: name.to_owned(),
                        source,
                    })?;
                    let first = *record;
                    *record += batch.num_rows() as u64;
                    Ok(Some(ready(chunk(
                        batch,
                        Vec::new(),
                        std::mem::take(bytes),
                        Positions::from(location::Unit::Record, first),
                    ))))
                }
            },
        }
    }
}

/// A unit decoding a block of JSON lines whose first line is number
/// `first_line` of `origin`, on a worker thread.
pub fn json_lines_unit(
    block: Vec<u8>,
    first_line: u64,
    schema: RecordSchema,
    origin: String,
) -> Unit {
    Box::new(move || {
        let (batch, malformed, positions) =
            format::decode_json_lines(&block, &schema, &origin, first_line)?;
        Ok(Chunk {
            batch,
            malformed,
            bytes: block.len() as u64,
            pages: 0,
            origin,
            positions,
        })
    })
}

/// A unit that is already decoded.
fn ready(chunk: Chunk) -> Unit {
    Box::new(move || Ok(chunk))
}
