//! File formats: CSV (RFC 4180), JSON Lines and Parquet, read into and
//! written from Arrow record batches with the arrow-rs readers and writers,
//! plus whole-file gzip and zstd for the text formats.
//!
//! Writers count the bytes they write and checksum them (SHA-256) on the
//! fly, for progress and the commit manifest. Readers never fail a whole
//! block for one bad record: a block that does not decode is re-read record
//! by record, and the records that still fail come back as [`Malformed`]
//! with their location and raw text, for the Flow's error policy.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::number::{self, Empty};
use super::store::{self, ObjectWriter};
use crate::api::v1alpha1::flow::{
    CsvOptions, FileFormat, InputCompression, OutputCompression, ParquetCompression,
};

/// Errors of reading and writing files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Arrow or a format codec failed.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being read or written.
        context: String,
        /// The codec's error.
        source: ArrowError,
    },
    /// The Parquet writer failed.
    #[error("{context}: {source}")]
    Parquet {
        /// What was being written.
        context: String,
        /// The writer's error.
        source: parquet::errors::ParquetError,
    },
    /// Reading or writing bytes failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store refused an operation.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The CSV options are unusable.
    #[error("csv.delimiter must be one ASCII character, not {0:?}")]
    Delimiter(String),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn arrow(context: impl Into<String>) -> impl FnOnce(ArrowError) -> Error {
    let context = context.into();
    move |source| Error::Arrow { context, source }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// A record that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Where it is: `file:line` or `file:record`.
    pub location: String,
    /// Its raw text, as read.
    pub raw: String,
    /// Why it could not be read, naming the field when the reader does.
    pub reason: String,
    /// The field that could not be read, when the reader says.
    pub field: Option<String>,
}

/// The field an Arrow CSV error names by position (`for column 2`).
fn column_of(reason: &str, schema: &SchemaRef) -> Option<String> {
    let start = reason.find("for column ")? + "for column ".len();
    let digits: String = reason[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let index: usize = digits.parse().ok()?;
    schema.fields().get(index).map(|f| f.name().clone())
}

/// The field an Arrow decoder error names (`whilst decoding field 'Amount'`).
fn field_of(reason: &str) -> Option<String> {
    let start = reason.find("field '")? + "field '".len();
    let end = reason[start..].find('\'')?;
    Some(reason[start..start + end].to_owned())
}

/// The file extension of a format and compression (`parquet`, `csv.gz`).
pub fn extension(format: FileFormat, compression: OutputCompression) -> String {
    let base = match format {
        FileFormat::Csv => "csv",
        FileFormat::JsonLines => "jsonl",
        FileFormat::Parquet => "parquet",
    };
    match (format, compression) {
        (FileFormat::Parquet, _) | (_, OutputCompression::None) => base.to_owned(),
        (_, OutputCompression::Gzip) => format!("{base}.gz"),
        (_, OutputCompression::Zstd) => format!("{base}.zst"),
    }
}

fn delimiter(csv: Option<&CsvOptions>) -> Result<u8> {
    let text = csv.map_or(",", |c| c.delimiter.as_str());
    match text.as_bytes() {
        [byte] if byte.is_ascii() => Ok(*byte),
        _ => Err(Error::Delimiter(text.to_owned())),
    }
}

// ---------------------------------------------------------------- writing

/// Counts and checksums the bytes that reach the store.
struct Hashing {
    inner: Box<dyn ObjectWriter>,
    hasher: Sha256,
    bytes: Arc<AtomicU64>,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

enum Compressed {
    Plain(Hashing),
    Gzip(flate2::write::GzEncoder<Hashing>),
    Zstd(zstd::stream::write::Encoder<'static, Hashing>),
}

impl Write for Compressed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(buf),
            Self::Gzip(w) => w.write(buf),
            Self::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Gzip(w) => w.flush(),
            Self::Zstd(w) => w.flush(),
        }
    }
}

impl Compressed {
    fn finish(self) -> std::io::Result<Hashing> {
        match self {
            Self::Plain(w) => Ok(w),
            Self::Gzip(w) => w.finish(),
            Self::Zstd(w) => w.finish(),
        }
    }
}

enum Encoder {
    Csv(Box<arrow::csv::Writer<Compressed>>),
    Json(Box<arrow::json::LineDelimitedWriter<Compressed>>),
    Parquet(Box<ArrowWriter<Compressed>>),
}

/// How a file is written.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The format.
    pub format: FileFormat,
    /// CSV dialect, for CSV.
    pub csv: Option<CsvOptions>,
    /// Parquet codec, for Parquet.
    pub parquet_compression: ParquetCompression,
    /// Keep source types in Parquet; when false every column is text.
    pub preserve_types: bool,
    /// Whole-file compression of text formats.
    pub compression: OutputCompression,
}

/// A file being written.
pub struct FileWriter {
    encoder: Encoder,
    bytes: Arc<AtomicU64>,
    rows: u64,
    preserve_types: bool,
    name: String,
}

/// A finished file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Records in it.
    pub rows: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

impl FileWriter {
    /// Starts a file of `schema` in `sink`; `name` is used in errors.
    pub fn new(
        sink: Box<dyn ObjectWriter>,
        schema: &SchemaRef,
        options: &WriteOptions,
        name: &str,
    ) -> Result<Self> {
        let bytes = Arc::new(AtomicU64::new(0));
        let hashing = Hashing {
            inner: sink,
            hasher: Sha256::new(),
            bytes: bytes.clone(),
        };
        let compressed = match (options.format, options.compression) {
            (FileFormat::Parquet, _) | (_, OutputCompression::None) => Compressed::Plain(hashing),
            (_, OutputCompression::Gzip) => Compressed::Gzip(flate2::write::GzEncoder::new(
                hashing,
                flate2::Compression::default(),
            )),
            (_, OutputCompression::Zstd) => {
                Compressed::Zstd(zstd::stream::write::Encoder::new(hashing, 3).map_err(io(name))?)
            }
        };
        let encoder = match options.format {
            FileFormat::Csv => {
                let csv = options.csv.as_ref();
                Encoder::Csv(Box::new(
                    arrow::csv::WriterBuilder::new()
                        .with_header(csv.is_none_or(|c| c.header))
                        .with_delimiter(delimiter(csv)?)
                        .with_null(csv.map(|c| c.null_value.clone()).unwrap_or_default())
                        .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_owned())
                        .build(compressed),
                ))
            }
            FileFormat::JsonLines => {
                Encoder::Json(Box::new(arrow::json::LineDelimitedWriter::new(compressed)))
            }
            FileFormat::Parquet => {
                let codec = match options.parquet_compression {
                    ParquetCompression::None => Compression::UNCOMPRESSED,
                    ParquetCompression::Snappy => Compression::SNAPPY,
                    ParquetCompression::Zstd => Compression::ZSTD(ZstdLevel::default()),
                };
                let props = WriterProperties::builder().set_compression(codec).build();
                let schema = if options.preserve_types {
                    schema.clone()
                } else {
                    text_schema(schema)
                };
                Encoder::Parquet(Box::new(
                    ArrowWriter::try_new(compressed, schema, Some(props)).map_err(|source| {
                        Error::Parquet {
                            context: name.to_owned(),
                            source,
                        }
                    })?,
                ))
            }
        };
        Ok(Self {
            encoder,
            bytes,
            rows: 0,
            preserve_types: options.preserve_types,
            name: name.to_owned(),
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let name = &self.name;
        match &mut self.encoder {
            Encoder::Csv(w) => w.write(&nested_as_json(batch)?).map_err(arrow(name))?,
            Encoder::Json(w) => w.write(batch).map_err(arrow(name))?,
            Encoder::Parquet(w) => {
                let batch = if self.preserve_types {
                    batch.clone()
                } else {
                    all_text(batch)?
                };
                w.write(&batch).map_err(|source| Error::Parquet {
                    context: name.clone(),
                    source,
                })?;
                // Bound memory: a row group is buffered until flushed.
                if w.in_progress_size() > 32 << 20 {
                    w.flush().map_err(|source| Error::Parquet {
                        context: name.clone(),
                        source,
                    })?;
                }
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Bytes that reached the store so far (Parquet buffers a row group).
    pub fn bytes_written(&self) -> u64 {
        let buffered = match &self.encoder {
            Encoder::Parquet(w) => w.in_progress_size() as u64,
            _ => 0,
        };
        self.bytes.load(Ordering::Relaxed) + buffered
    }

    /// Completes the file and makes it visible under its key.
    pub fn finish(self) -> Result<Written> {
        let name = self.name;
        let compressed = match self.encoder {
            Encoder::Csv(w) => w.into_inner(),
            Encoder::Json(mut w) => {
                w.finish().map_err(arrow(&name))?;
                w.into_inner()
            }
            Encoder::Parquet(w) => w.into_inner().map_err(|source| Error::Parquet {
                context: name.clone(),
                source,
            })?,
        };
        let mut hashing = compressed.finish().map_err(io(&name))?;
        hashing.flush().map_err(io(&name))?;
        let Hashing {
            inner,
            hasher,
            bytes,
        } = hashing;
        inner.finish()?;
        Ok(Written {
            rows: self.rows,
            bytes: bytes.load(Ordering::Relaxed),
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Struct(_)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Map(_, _)
    )
}

/// The schema with every column as nullable text.
fn text_schema(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// Nested values as JSON text, one string per row (null stays null).
fn json_strings(column: &ArrayRef, name: &str) -> Result<ArrayRef> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        name,
        column.data_type().clone(),
        true,
    )]));
    let single = RecordBatch::try_new(schema, vec![column.clone()]).map_err(arrow(name))?;
    let mut buffer = Vec::new();
    {
        let mut writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut buffer);
        writer.write(&single).map_err(arrow(name))?;
        writer.finish().map_err(arrow(name))?;
    }
    let mut builder = StringBuilder::with_capacity(column.len(), buffer.len());
    for line in buffer.split(|b| *b == b'\n').take(column.len()) {
        let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| Error::Io {
            context: name.to_owned(),
            source: e.into(),
        })?;
        match value.get(name) {
            None | Some(serde_json::Value::Null) => builder.append_null(),
            Some(v) => builder.append_value(v.to_string()),
        }
    }
    Ok(Arc::new(builder.finish()))
}

/// CSV cannot hold nested values: write them as JSON text.
fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| is_nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if is_nested(field.data_type()) {
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(json_strings(column, field.name())?);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow("csv"))
}

/// Every column as text (`preserveSourceTypes: false`).
fn all_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        columns.push(if is_nested(field.data_type()) {
            json_strings(column, field.name())?
        } else {
            arrow::compute::cast(column, &DataType::Utf8).map_err(arrow(field.name()))?
        });
    }
    RecordBatch::try_new(text_schema(&batch.schema()), columns).map_err(arrow("parquet"))
}

// ---------------------------------------------------------------- reading

/// Wraps a reader in the decompressor a file needs.
pub fn decompress(
    reader: Box<dyn Read + Send>,
    compression: InputCompression,
    name: &str,
) -> Result<Box<dyn Read + Send>> {
    let detected = match compression {
        InputCompression::Auto if name.ends_with(".gz") => InputCompression::Gzip,
        InputCompression::Auto if name.ends_with(".zst") => InputCompression::Zstd,
        InputCompression::Auto => InputCompression::None,
        other => other,
    };
    Ok(match detected {
        InputCompression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        InputCompression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(reader).map_err(io(name))?)
        }
        _ => reader,
    })
}

/// Infers a JSON Lines schema from the first `max` records of `sample`. A
/// field seen with values of different scalar types is text; nested objects
/// and arrays keep their structure.
pub fn infer_json_schema(sample: &[u8], max: usize) -> Result<Schema> {
    // Skip lines that are not JSON objects: they are reported as malformed
    // when read, and must not stop the inference.
    let lines = sample
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok());
    super::schema::infer_json_records(lines, max).map_err(arrow("inferring the JSON schema"))
}

/// Decodes a block of complete JSON lines whose first line is number
/// `first_line` (1-based) of `file`. Lines that do not decode are returned
/// as [`Malformed`]; blank lines are skipped.
pub fn decode_json_lines(
    block: &[u8],
    schema: &SchemaRef,
    file: &str,
    first_line: u64,
) -> Result<(RecordBatch, Vec<Malformed>)> {
    // One batch for the whole block: at most one record per line.
    let lines = memchr::memchr_iter(b'\n', block).count() + 1;
    // Number fields are decoded as text, then read by the number rule.
    let as_text = number::text_schema(schema);
    let numbers = |batch: Option<RecordBatch>| match (&as_text, batch) {
        (Some(_), Some(batch)) => {
            number::numbers_from_text(&batch, schema, Empty::IsNotANumber).map(Some)
        }
        (_, batch) => Ok(batch),
    };
    let decoder = || {
        arrow::json::ReaderBuilder::new(as_text.clone().unwrap_or_else(|| schema.clone()))
            .with_batch_size(lines)
            .with_strict_mode(false)
            // A text field also takes numbers and booleans, as text.
            .with_coerce_primitive(true)
            .build_decoder()
            .map_err(arrow(file))
    };
    let mut whole = decoder()?;
    let fast = whole
        .decode(block)
        .and_then(|_| whole.flush())
        .and_then(numbers);
    if let Ok(batch) = fast {
        return Ok((
            batch.unwrap_or_else(|| RecordBatch::new_empty(schema.clone())),
            Vec::new(),
        ));
    }
    // Isolate the bad lines, then decode the good ones together.
    let mut good = Vec::with_capacity(block.len());
    let mut malformed = Vec::new();
    for (i, line) in block.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut single = decoder()?;
        let result = match serde_json::from_slice::<serde_json::Value>(line) {
            Err(e) => Err(format!("not valid JSON: {e}")),
            Ok(v) if !v.is_object() => Err("not a JSON object".to_owned()),
            Ok(_) => single
                .decode(line)
                .and_then(|_| single.flush())
                .and_then(numbers)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(()) => {
                good.extend_from_slice(line);
                good.push(b'\n');
            }
            Err(reason) => malformed.push(Malformed {
                location: format!("{file}:{}", first_line + i as u64),
                raw: String::from_utf8_lossy(line).into_owned(),
                field: field_of(&reason),
                reason: reason
                    .replace("Json error: ", "")
                    .replace("Parser error: ", ""),
            }),
        }
    }
    let mut decoder = decoder()?;
    decoder.decode(&good).map_err(arrow(file))?;
    let batch = decoder.flush().and_then(numbers).map_err(arrow(file))?;
    Ok((
        batch.unwrap_or_else(|| RecordBatch::new_empty(schema.clone())),
        malformed,
    ))
}

/// Reads JSON Lines in blocks of whole lines, so the blocks can be decoded
/// in parallel elsewhere: an incomplete last line is kept for the next
/// block. Shared by every source of JSON Lines files or objects.
pub struct JsonLinesBlocks {
    reader: Box<dyn Read + Send>,
    carry: Vec<u8>,
    line: u64,
    done: bool,
    size: usize,
}

impl JsonLinesBlocks {
    /// Blocks of about `size` bytes from `reader` (already decompressed).
    pub fn new(reader: Box<dyn Read + Send>, size: usize) -> Self {
        Self {
            reader,
            carry: Vec::new(),
            line: 1,
            done: false,
            size,
        }
    }

    /// The next block of whole lines and the 1-based number of its first
    /// line; `None` at the end of the input.
    pub fn next_block(&mut self) -> std::io::Result<Option<(Vec<u8>, u64)>> {
        loop {
            if self.done && self.carry.is_empty() {
                return Ok(None);
            }
            let mut block = std::mem::take(&mut self.carry);
            if !self.done {
                // read_to_end on a bounded reader fills spare capacity
                // without zeroing it first.
                block.reserve(self.size);
                let read = self
                    .reader
                    .by_ref()
                    .take(self.size as u64)
                    .read_to_end(&mut block)?;
                self.done = read == 0;
            }
            if !self.done {
                match memchr::memrchr(b'\n', &block) {
                    Some(end) => self.carry = block.split_off(end + 1),
                    None => {
                        // A line longer than a block: read on.
                        self.carry = block;
                        continue;
                    }
                }
            }
            if block.is_empty() {
                return Ok(None);
            }
            let first = self.line;
            self.line += memchr::memchr_iter(b'\n', &block).count() as u64;
            return Ok(Some((block, first)));
        }
    }
}

/// CSV format settings for a file.
fn csv_format(csv: Option<&CsvOptions>) -> Result<arrow::csv::reader::Format> {
    Ok(arrow::csv::reader::Format::default()
        .with_header(csv.is_none_or(|c| c.header))
        .with_delimiter(delimiter(csv)?)
        .with_quote(b'"'))
}

/// Infers a CSV schema from the first `max` records of `sample`.
pub fn infer_csv_schema(sample: &[u8], csv: Option<&CsvOptions>, max: usize) -> Result<Schema> {
    let (schema, _) = csv_format(csv)?
        .infer_schema(sample, Some(max))
        .map_err(arrow("inferring the CSV schema"))?;
    Ok(schema)
}

/// Reads a CSV file as batches of up to `batch_size` records. Records that
/// do not decode come back as [`Malformed`] with their record number.
pub struct CsvReader {
    records: csv::Reader<Box<dyn Read + Send>>,
    schema: SchemaRef,
    options: Option<CsvOptions>,
    header: Option<csv::ByteRecord>,
    file: String,
    batch_size: usize,
    record: u64,
}

impl CsvReader {
    /// Opens `reader` (already decompressed) as CSV of `schema`.
    pub fn new(
        reader: Box<dyn Read + Send>,
        schema: SchemaRef,
        options: Option<CsvOptions>,
        file: &str,
        batch_size: usize,
    ) -> Result<Self> {
        let header = options.as_ref().is_none_or(|c| c.header);
        let mut records = csv::ReaderBuilder::new()
            .has_headers(header)
            .delimiter(delimiter(options.as_ref())?)
            .flexible(true)
            .from_reader(reader);
        let header = if header {
            Some(
                records
                    .byte_headers()
                    .map_err(|e| csv_error(file, e))?
                    .clone(),
            )
        } else {
            None
        };
        Ok(Self {
            records,
            schema,
            options,
            header,
            file: file.to_owned(),
            batch_size,
            record: 0,
        })
    }

    fn encode(&self, rows: &[csv::ByteRecord]) -> Result<Vec<u8>> {
        let mut out = csv::WriterBuilder::new()
            .delimiter(delimiter(self.options.as_ref())?)
            .flexible(true)
            .from_writer(Vec::new());
        for row in self.header.iter().chain(rows) {
            out.write_byte_record(row)
                .map_err(|e| csv_error(&self.file, e))?;
        }
        out.into_inner().map_err(|e| Error::Io {
            context: self.file.clone(),
            source: e.into_error(),
        })
    }

    fn decode(&self, rows: &[csv::ByteRecord]) -> Result<RecordBatch, ArrowError> {
        let bytes = self
            .encode(rows)
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        // Number fields are decoded as text, then read by the number rule.
        let as_text = number::text_schema(&self.schema);
        let mut reader =
            arrow::csv::ReaderBuilder::new(as_text.clone().unwrap_or_else(|| self.schema.clone()))
                .with_format(
                    csv_format(self.options.as_ref())
                        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?,
                )
                .with_batch_size(rows.len().max(1))
                .build(std::io::Cursor::new(bytes))?;
        match reader.next().transpose()? {
            None => Ok(RecordBatch::new_empty(self.schema.clone())),
            Some(batch) if as_text.is_some() => {
                number::numbers_from_text(&batch, &self.schema, Empty::IsNull)
            }
            Some(batch) => Ok(batch),
        }
    }

    /// The next batch and the malformed records met on the way; `None` at
    /// the end of the file.
    pub fn next_batch(&mut self) -> Result<Option<(RecordBatch, Vec<Malformed>, u64)>> {
        let mut rows = Vec::with_capacity(self.batch_size);
        let mut malformed = Vec::new();
        let mut bytes = 0u64;
        let first = self.record + 1;
        while rows.len() < self.batch_size {
            let mut row = csv::ByteRecord::new();
            match self.records.read_byte_record(&mut row) {
                Ok(false) => break,
                Ok(true) => {
                    self.record += 1;
                    bytes += row.as_slice().len() as u64 + row.len() as u64;
                    let expected = self.schema.fields().len();
                    if row.len() != expected {
                        malformed.push(Malformed {
                            location: format!("{}:record {}", self.file, self.record),
                            raw: String::from_utf8_lossy(&self.encode_one(&row))
                                .trim_end()
                                .to_owned(),
                            reason: format!("has {} fields, the header has {expected}", row.len()),
                            field: None,
                        });
                    } else {
                        rows.push(row);
                    }
                }
                Err(e) => {
                    self.record += 1;
                    malformed.push(Malformed {
                        location: format!("{}:record {}", self.file, self.record),
                        raw: String::new(),
                        reason: e.to_string(),
                        field: None,
                    });
                }
            }
        }
        if rows.is_empty() && malformed.is_empty() {
            return Ok(None);
        }
        match self.decode(&rows) {
            Ok(batch) => Ok(Some((batch, malformed, bytes))),
            Err(_) => {
                // Find the records that do not fit the schema.
                let mut good = Vec::with_capacity(rows.len());
                for (i, row) in rows.into_iter().enumerate() {
                    match self.decode(std::slice::from_ref(&row)) {
                        Ok(_) => good.push(row),
                        Err(e) => {
                            let reason = e.to_string().replace("Parser error: ", "");
                            malformed.push(Malformed {
                                location: format!("{}:record {}", self.file, first + i as u64),
                                raw: String::from_utf8_lossy(&self.encode_one(&row))
                                    .trim_end()
                                    .to_owned(),
                                field: column_of(&reason, &self.schema)
                                    .or_else(|| field_of(&reason)),
                                reason,
                            })
                        }
                    }
                }
                let batch = self.decode(&good).map_err(arrow(&self.file))?;
                Ok(Some((batch, malformed, bytes)))
            }
        }
    }

    fn encode_one(&self, row: &csv::ByteRecord) -> Vec<u8> {
        let mut out = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        let _ = out.write_byte_record(row);
        out.into_inner().unwrap_or_default()
    }
}

fn csv_error(file: &str, e: csv::Error) -> Error {
    Error::Io {
        context: file.to_owned(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Reads up to `limit` bytes of complete lines from `reader`, for schema
/// inference; returns the bytes and whether the input ended.
pub fn read_sample(reader: &mut dyn BufRead, limit: usize) -> Result<Vec<u8>> {
    let mut sample = Vec::new();
    while sample.len() < limit {
        let n = reader
            .read_until(b'\n', &mut sample)
            .map_err(io("sampling"))?;
        if n == 0 {
            break;
        }
    }
    Ok(sample)
}

/// A buffered reader of a file, for [`read_sample`].
pub fn buffered(reader: Box<dyn Read + Send>) -> BufReader<Box<dyn Read + Send>> {
    BufReader::with_capacity(1 << 20, reader)
}

/// Makes every array in `columns` nullable text; used for quarantine.
pub fn to_text(column: &ArrayRef) -> Result<ArrayRef> {
    if is_nested(column.data_type()) {
        json_strings(column, "value")
    } else {
        arrow::compute::cast(column, &DataType::Utf8).map_err(arrow("text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::store::{LocalStore, Store};
    use arrow::array::{Float64Array, Int64Array, StringArray};

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            (
                "name",
                Arc::new(StringArray::from(vec![Some("a,b"), None, Some("é \"q\"")])) as ArrayRef,
            ),
            (
                "amount",
                Arc::new(Float64Array::from(vec![1.5, 2.0, -3.25])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn write(format: FileFormat, compression: OutputCompression) -> (Vec<u8>, Written) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let options = WriteOptions {
            format,
            csv: None,
            parquet_compression: ParquetCompression::Zstd,
            preserve_types: true,
            compression,
        };
        let b = batch();
        let mut writer =
            FileWriter::new(store.create("f").unwrap(), &b.schema(), &options, "f").unwrap();
        writer.write(&b).unwrap();
        let written = writer.finish().unwrap();
        (store.read("f").unwrap().unwrap(), written)
    }

    #[test]
    fn csv_is_rfc_4180_with_a_header() {
        let (bytes, written) = write(FileFormat::Csv, OutputCompression::None);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "id,name,amount\n1,\"a,b\",1.5\n2,,2.0\n3,\"é \"\"q\"\"\",-3.25\n"
        );
        assert_eq!(written.rows, 3);
        assert_eq!(written.bytes, bytes.len() as u64);
        assert_eq!(written.sha256, hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn json_lines_round_trip_through_gzip() {
        let (bytes, written) = write(FileFormat::JsonLines, OutputCompression::Gzip);
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(
            text,
            "{\"id\":1,\"name\":\"a,b\",\"amount\":1.5}\n{\"id\":2,\"amount\":2.0}\n{\"id\":3,\"name\":\"é \\\"q\\\"\",\"amount\":-3.25}\n"
        );
        assert_eq!(written.bytes, bytes.len() as u64);
    }

    #[test]
    fn parquet_keeps_types_and_reads_back() {
        let (bytes, written) = write(FileFormat::Parquet, OutputCompression::None);
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::from(bytes),
        )
        .unwrap()
        .build()
        .unwrap();
        let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
        assert_eq!(batches, vec![batch()]);
        assert_eq!(written.rows, 3);
    }

    #[test]
    fn parquet_without_source_types_writes_every_column_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let options = WriteOptions {
            format: FileFormat::Parquet,
            csv: None,
            parquet_compression: ParquetCompression::Snappy,
            preserve_types: false,
            compression: OutputCompression::None,
        };
        let b = batch();
        let mut writer =
            FileWriter::new(store.create("f").unwrap(), &b.schema(), &options, "f").unwrap();
        writer.write(&b).unwrap();
        writer.finish().unwrap();
        let bytes = bytes::Bytes::from(store.read("f").unwrap().unwrap());
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        let read: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        let schema = read[0].schema();
        assert!(
            schema
                .fields()
                .iter()
                .all(|f| f.data_type() == &DataType::Utf8)
        );
        let amounts = read[0]
            .column(2)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        assert_eq!(
            amounts.iter().collect::<Vec<_>>(),
            [Some("1.5"), Some("2.0"), Some("-3.25")]
        );
        let names = read[0]
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        assert_eq!(names.value(2), "é \"q\"");
        assert!(names.is_null(1));
    }

    #[test]
    fn malformed_json_lines_are_isolated_with_their_line_number() {
        let schema: SchemaRef =
            Arc::new(infer_json_schema(b"{\"id\":1,\"amount\":2.5}\n", 10).unwrap());
        let block =
            b"{\"id\":1,\"amount\":2.5}\n{\"id\":2,\"amount\":\"abc\"}\nnot json\n\n{\"id\":3}\n";
        let (batch, malformed) = decode_json_lines(block, &schema, "in.jsonl", 10).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(malformed.len(), 2);
        assert_eq!(malformed[0].location, "in.jsonl:11");
        assert!(
            malformed[0].reason.contains("amount"),
            "{}",
            malformed[0].reason
        );
        assert_eq!(malformed[0].raw, "{\"id\":2,\"amount\":\"abc\"}");
        assert_eq!(malformed[1].location, "in.jsonl:12");
        assert!(malformed[1].reason.starts_with("not valid JSON"));
    }

    /// The ids kept and the malformed records' (location, field) of a
    /// decoded batch.
    fn kept_and_refused(
        batch: &RecordBatch,
        malformed: &[Malformed],
    ) -> (Vec<i64>, Vec<(String, Option<String>)>) {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec();
        let mut refused: Vec<_> = malformed
            .iter()
            .map(|m| {
                assert!(
                    m.reason.contains("is not a") || m.reason.contains("range"),
                    "{}",
                    m.reason
                );
                (m.location.clone(), m.field.clone())
            })
            .collect();
        refused.sort();
        (ids, refused)
    }

    #[test]
    fn json_text_in_number_fields_follows_the_number_rule() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("amount", DataType::Float64, true),
        ]));
        let block = concat!(
            "{\"id\":1,\"amount\":\"12.5\"}\n",
            "{\"id\":2,\"amount\":\"NaN\"}\n",
            "{\"id\":3,\"amount\":\"inf\"}\n",
            "{\"id\":4,\"amount\":\" 20000\"}\n",
            "{\"id\":5.5,\"amount\":1}\n",
            "{\"id\":6,\"amount\":1e400}\n",
            "{\"id\":\"7\",\"amount\":-3e2}\n",
            "{\"id\":8,\"amount\":\"\"}\n",
        );
        let (batch, malformed) =
            decode_json_lines(block.as_bytes(), &schema, "in.jsonl", 1).unwrap();
        let amounts = batch
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(amounts.values(), &[12.5, -300.0]);
        let field = |f: &str| Some(f.to_owned());
        assert_eq!(
            kept_and_refused(&batch, &malformed),
            (
                vec![1, 7],
                vec![
                    ("in.jsonl:2".to_owned(), field("amount")),
                    ("in.jsonl:3".to_owned(), field("amount")),
                    ("in.jsonl:4".to_owned(), field("amount")),
                    ("in.jsonl:5".to_owned(), field("id")),
                    // serde_json finds 1e400 out of range before the decoder.
                    ("in.jsonl:6".to_owned(), None),
                    ("in.jsonl:8".to_owned(), field("amount")),
                ]
            )
        );
    }

    #[test]
    fn csv_text_in_number_fields_follows_the_number_rule() {
        let text = "id,amount\n1,12.5\n2,NaN\n3,inf\n4, 20000\n5.5,1\n6,1e400\n+7,-3e2\n8,\n";
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("amount", DataType::Float64, true),
        ]));
        let mut reader = CsvReader::new(
            Box::new(std::io::Cursor::new(text.to_owned())),
            schema,
            None,
            "in.csv",
            100,
        )
        .unwrap();
        let (batch, malformed, _) = reader.next_batch().unwrap().unwrap();
        let amounts = batch
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        // An empty CSV field is null.
        assert_eq!(
            amounts.iter().collect::<Vec<_>>(),
            [Some(12.5), Some(-300.0), None]
        );
        let field = |f: &str| Some(f.to_owned());
        assert_eq!(
            kept_and_refused(&batch, &malformed),
            (
                vec![1, 7, 8],
                vec![
                    ("in.csv:record 2".to_owned(), field("amount")),
                    ("in.csv:record 3".to_owned(), field("amount")),
                    ("in.csv:record 4".to_owned(), field("amount")),
                    ("in.csv:record 5".to_owned(), field("id")),
                    ("in.csv:record 6".to_owned(), field("amount")),
                ]
            )
        );
    }

    #[test]
    fn malformed_csv_records_are_isolated_with_their_record_number() {
        let text = "id,amount\n1,2.5\n2,abc\n3\n4,1e3\n";
        let schema: SchemaRef =
            Arc::new(infer_csv_schema(b"id,amount\n1,2.5\n", None, 10).unwrap());
        let mut reader = CsvReader::new(
            Box::new(std::io::Cursor::new(text.to_owned())),
            schema,
            None,
            "in.csv",
            100,
        )
        .unwrap();
        let (batch, malformed, _) = reader.next_batch().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 2);
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(ids.values(), &[1, 4]);
        let locations: Vec<_> = malformed.iter().map(|m| m.location.as_str()).collect();
        assert_eq!(locations, ["in.csv:record 3", "in.csv:record 2"]);
        assert_eq!(malformed[1].raw, "2,abc");
        assert_eq!(
            malformed[1].field.as_deref(),
            Some("amount"),
            "{}",
            malformed[1].reason
        );
        assert!(reader.next_batch().unwrap().is_none());
    }
}
