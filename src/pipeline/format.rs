//! File formats: CSV (RFC 4180), JSON Lines and Parquet, read into and
//! written from Arrow record batches with the arrow-rs readers and writers,
//! plus whole-file gzip and zstd for the text formats.
//!
//! Writers count the bytes they write and checksum them (SHA-256) on the
//! fly, for progress and the commit manifest. Readers never fail a whole
//! block for one bad record: a block that does not decode is re-read record
//! by record, and the records that still fail come back as [`Malformed`]
//! with their location and raw text, for the Flow's error policy. Readers
//! count the physical lines they read, so every record — decoded or bad —
//! is located at the line it starts on (see [`super::location`]), and say
//! for each decoded row which line that was.

use std::borrow::Cow;
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

use super::location::{self, Positions, Unit};
use super::number::{self, Empty};
use super::schema::{self, Inferred, RecordSchema};
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
    /// Where it was read (`in.csv:line 7`; see [`super::location`]).
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

/// Infers a JSON Lines schema from the first `max` records (non-blank
/// lines) of `sample`. A field seen with values of different scalar types
/// is text; nested objects and arrays keep their structure down to
/// [`schema::DEPTH`] levels and are text below. Lines that are not JSON
/// objects, or do not fit the lines before them, are left out: they are
/// bad records when read.
pub fn infer_json_schema(sample: &[u8], max: usize) -> Inferred {
    let lines = sample
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty());
    schema::infer_json_records(lines, max)
}

/// A JSON decoder of records of `schema`, `rows` at a time. A text field
/// also takes numbers and booleans, as text; under an inferred schema a
/// field outside it fails the batch (the records are then held to the
/// schema one by one).
pub fn json_decoder(
    schema: &RecordSchema,
    rows: usize,
) -> Result<arrow::json::reader::Decoder, ArrowError> {
    // Number fields are decoded as text, then read by the number rule
    // ([`json_numbers`]).
    arrow::json::ReaderBuilder::new(
        number::text_schema(&schema.schema).unwrap_or_else(|| schema.schema.clone()),
    )
    .with_batch_size(rows.max(1))
    .with_strict_mode(schema.strict())
    .with_coerce_primitive(true)
    .build_decoder()
}

/// A batch of [`json_decoder`] with its number fields, decoded as text,
/// read by the number rule (`crate::pipeline::number`); an empty batch
/// for none.
pub fn json_numbers(
    batch: Option<RecordBatch>,
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    match batch {
        None => Ok(RecordBatch::new_empty(schema.clone())),
        Some(batch) if number::text_schema(schema).is_some() => {
            number::numbers_from_text(&batch, schema, Empty::IsNotANumber)
        }
        Some(batch) => Ok(batch),
    }
}

/// Checks that every column chunk a Parquet footer describes lies within
/// the file's `len` bytes. A damaged footer (a negative offset or size)
/// would otherwise make the reader panic (the parquet crate asserts in
/// `ColumnChunkMetaData::byte_range`) instead of failing the read.
pub fn check_parquet_footer(
    metadata: &parquet::file::metadata::ParquetMetaData,
    len: u64,
) -> std::result::Result<(), String> {
    for (g, group) in metadata.row_groups().iter().enumerate() {
        for (c, column) in group.columns().iter().enumerate() {
            let start = column
                .dictionary_page_offset()
                .filter(|d| *d >= 0)
                .unwrap_or(column.data_page_offset());
            let size = column.compressed_size();
            let fits = start >= 0
                && column.data_page_offset() >= 0
                && size >= 0
                && u64::try_from(start)
                    .ok()
                    .zip(u64::try_from(size).ok())
                    .and_then(|(s, n)| s.checked_add(n))
                    .is_some_and(|end| end <= len);
            if !fits {
                return Err(format!(
                    "the Parquet footer is damaged: column chunk {c} of row group {g} lies at offset {start}, {size} bytes, outside the file's {len} bytes"
                ));
            }
        }
    }
    Ok(())
}

/// Whether a line holds nothing but whitespace.
fn blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The lines of `block` (without their `\n`), with their 0-based index;
/// a last line after the final `\n` only when it is not empty.
fn lines(block: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', block).chain(std::iter::once(block.len()));
    ends.enumerate().filter_map(move |(i, end)| {
        let line = block.get(start..end)?;
        start = end + 1;
        (end < block.len() || !line.is_empty()).then_some((i, line))
    })
}

/// Where the `rows` records decoded from `block` were read: one per
/// non-blank line, from line `first_line`. `None` when the counts differ
/// (a line holding two values): the block is then read line by line.
fn line_positions(block: &[u8], first_line: u64, rows: usize) -> Option<Positions> {
    let mut records = 0;
    let mut blanks = false;
    for (_, line) in lines(block) {
        if blank(line) {
            blanks = true;
        } else {
            records += 1;
        }
    }
    if records != rows {
        return None;
    }
    if !blanks {
        return Some(Positions::from(Unit::Line, first_line));
    }
    let numbers = lines(block)
        .filter(|(_, line)| !blank(line))
        .map(|(i, _)| first_line + i as u64)
        .collect();
    Some(Positions::listed(Unit::Line, numbers))
}

/// Decodes all of `input` as one batch, or fails.
fn decode_whole(
    decoder: &mut arrow::json::reader::Decoder,
    input: &[u8],
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    let read = decoder.decode(input)?;
    if read < input.len() {
        // More values than lines: some line holds two.
        return Err(ArrowError::JsonError("more values than lines".to_owned()));
    }
    json_numbers(decoder.flush()?, schema)
}

/// Why one JSON line is a bad record: the reason and the field, if any.
type Refused = (String, Option<String>);

/// Reads one non-blank line on its own: the record to decode (with values
/// nested deeper than the inference depth as text), or why it is bad.
fn check_line<'a>(line: &'a [u8], schema: &RecordSchema) -> Result<Cow<'a, [u8]>, Refused> {
    // Borrowed raw values check the syntax (and UTF-8) at any depth.
    if let Err(e) = serde_json::from_slice::<&serde_json::value::RawValue>(line) {
        return Err((format!("not valid JSON: {e}"), None));
    }
    if line.trim_ascii_start().first() != Some(&b'{') {
        return Err(("not a JSON object".to_owned(), None));
    }
    let record = schema::fit(line, schema).map_err(|late| (late.reason, Some(late.field)))?;
    let mut single = json_decoder(schema, 1).map_err(|e| (e.to_string(), None))?;
    match single
        .decode(&record)
        .and_then(|_| single.flush())
        .and_then(|batch| json_numbers(batch, &schema.schema))
    {
        Ok(_) => Ok(record),
        Err(e) => {
            let reason = e.to_string();
            Err((
                reason
                    .replace("Json error: ", "")
                    .replace("Parser error: ", ""),
                field_of(&reason),
            ))
        }
    }
}

/// Decodes a block of complete JSON lines whose first line is number
/// `first_line` (1-based) of `file`: the records, the lines that are bad
/// records (located at their line), and the line each record was read
/// from. Blank lines are skipped.
///
/// The whole block is decoded at once; only a block that fails is read
/// again line by line, to find the bad lines (not JSON, not an object, a
/// late field, a value that does not fit its type).
pub fn decode_json_lines(
    block: &[u8],
    schema: &RecordSchema,
    file: &str,
    first_line: u64,
) -> Result<(RecordBatch, Vec<Malformed>, Positions)> {
    // One batch for the whole block: at most one record per line.
    let rows = memchr::memchr_iter(b'\n', block).count() + 1;
    let fitted;
    let input = if schema.deep {
        // Values nested deeper than the inference depth become text.
        fitted = fit_lines(block, schema);
        fitted.as_slice()
    } else {
        block
    };
    let mut whole = json_decoder(schema, rows + 1).map_err(arrow(file))?;
    if let Ok(batch) = decode_whole(&mut whole, input, &schema.schema)
        && let Some(positions) = line_positions(input, first_line, batch.num_rows())
    {
        return Ok((batch, Vec::new(), positions));
    }
    // Isolate the bad lines, then decode the good ones together.
    let mut good = Vec::with_capacity(block.len());
    let mut numbers = Vec::with_capacity(rows);
    let mut malformed = Vec::new();
    for (i, line) in lines(block) {
        if blank(line) {
            continue;
        }
        let number = first_line + i as u64;
        match check_line(line, schema) {
            Ok(record) => {
                good.extend_from_slice(&record);
                good.push(b'\n');
                numbers.push(number);
            }
            Err((reason, field)) => malformed.push(Malformed {
                location: location::locate(file, Unit::Line, number),
                raw: String::from_utf8_lossy(line).into_owned(),
                reason,
                field,
            }),
        }
    }
    let mut decoder = json_decoder(schema, numbers.len() + 1).map_err(arrow(file))?;
    let batch = decode_whole(&mut decoder, &good, &schema.schema).map_err(arrow(file))?;
    Ok((batch, malformed, Positions::listed(Unit::Line, numbers)))
}

/// `block` with every line fitted to `schema` (see [`schema::fit`]); a line
/// that does not fit is kept as it is, for decoding to refuse.
fn fit_lines(block: &[u8], schema: &RecordSchema) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() + block.len() / 8);
    for (_, line) in lines(block) {
        match schema::fit(line, schema) {
            Ok(fitted) => out.extend_from_slice(&fitted),
            Err(_) => out.extend_from_slice(line),
        }
        out.push(b'\n');
    }
    out
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

/// The quote of quoted CSV fields.
const QUOTE: u8 = b'"';

/// CSV format settings for arrow-csv; `header` says whether the text starts
/// with one.
fn csv_format(delimiter: u8, header: bool) -> arrow::csv::reader::Format {
    arrow::csv::reader::Format::default()
        .with_header(header)
        .with_delimiter(delimiter)
        .with_quote(QUOTE)
}

/// One CSV record as read.
#[derive(Debug)]
struct RawRecord {
    /// Its text as read, without the line terminator, in the buffer it was
    /// read into.
    text: std::ops::Range<usize>,
    /// The (1-based) line it starts on.
    line: u64,
    /// Its number of fields.
    fields: usize,
    /// The line where a quoted field opened that the input ended inside.
    unterminated: Option<u64>,
}

/// Splits CSV text into records with csv-core (the tokenizer arrow-csv and
/// the csv crate use, with the same dialect), keeping each record's text as
/// read and the physical line it starts on: blank lines, CRLF ends and
/// multi-line quoted fields are counted, not assumed away.
struct Splitter<R> {
    input: R,
    core: csv_core::Reader,
    buffer: Vec<u8>,
    at: usize,
    eof: bool,
    /// Field output, which only the number of fields is taken from.
    fields: Vec<u8>,
    ends: Vec<usize>,
    delimiter: u8,
    /// Bytes consumed so far.
    bytes: u64,
}

impl<R: Read> Splitter<R> {
    fn new(input: R, delimiter: u8) -> Self {
        Self {
            input,
            core: csv_core::ReaderBuilder::new()
                .delimiter(delimiter)
                .quote(QUOTE)
                .build(),
            buffer: Vec::with_capacity(64 << 10),
            at: 0,
            eof: false,
            fields: vec![0; 4096],
            ends: vec![0; 64],
            delimiter,
            bytes: 0,
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        self.buffer.clear();
        self.at = 0;
        let read = (&mut self.input)
            .take(64 << 10)
            .read_to_end(&mut self.buffer)?;
        self.eof = read == 0;
        Ok(())
    }

    /// The next record, its bytes as read appended to `out`; `None` at the
    /// end of the input.
    fn next(&mut self, out: &mut Vec<u8>) -> std::io::Result<Option<RawRecord>> {
        use csv_core::ReadRecordResult as Read;
        let begin = out.len();
        let line = self.core.line();
        let (mut written, mut ended) = (0, 0);
        loop {
            if self.at == self.buffer.len() && !self.eof {
                self.fill()?;
            }
            let input = &self.buffer[self.at..];
            let at_end = input.is_empty();
            let (result, read, wrote, end) =
                self.core
                    .read_record(input, &mut self.fields[written..], &mut self.ends[ended..]);
            out.extend_from_slice(&input[..read]);
            self.at += read;
            self.bytes += read as u64;
            written += wrote;
            ended += end;
            match result {
                Read::InputEmpty if at_end => return Ok(None),
                Read::InputEmpty => {}
                // Only the number of fields is used: their bytes are
                // overwritten rather than kept.
                Read::OutputFull => written = 0,
                Read::OutputEndsFull => {
                    let size = self.ends.len() * 2;
                    self.ends.resize(size, 0);
                }
                Read::Record => return Ok(Some(self.record(out, begin, line, ended, at_end))),
                Read::End => {
                    out.truncate(begin);
                    return Ok(None);
                }
            }
        }
    }

    /// The record csv-core just read into `out[begin..]`, from line `line`
    /// on; `at_end` when the input ended it.
    fn record(
        &self,
        out: &[u8],
        begin: usize,
        line: u64,
        fields: usize,
        at_end: bool,
    ) -> RawRecord {
        let text = &out[begin..];
        // csv-core skips blank lines (and the `\n` of a CRLF) before a
        // record as part of reading it.
        let lead = text
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        let line = line + memchr::memchr_iter(b'\n', &text[..lead]).count() as u64;
        let mut end = text.len();
        while end > lead && matches!(text[end - 1], b'\r' | b'\n') {
            end -= 1;
        }
        let own = &text[lead..end];
        let unterminated = if at_end {
            open_quote(own, self.delimiter)
                .map(|at| line + memchr::memchr_iter(b'\n', &own[..at]).count() as u64)
        } else {
            None
        };
        RawRecord {
            text: begin + lead..begin + end,
            line,
            fields,
            unterminated,
        }
    }
}

/// Where the quoted field opens that `text` (one record, as csv-core reads
/// it) ends inside, if it does.
fn open_quote(text: &[u8], delimiter: u8) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        Start,
        Field,
        Quoted,
        Closing,
    }
    memchr::memchr(QUOTE, text)?;
    let mut state = State::Start;
    let mut open = 0;
    for (i, &b) in text.iter().enumerate() {
        state = match state {
            State::Start if b == QUOTE => {
                open = i;
                State::Quoted
            }
            State::Start | State::Field | State::Closing if b == delimiter => State::Start,
            State::Start | State::Field => State::Field,
            State::Quoted if b == QUOTE => State::Closing,
            State::Quoted => State::Quoted,
            // A doubled quote inside a quoted field.
            State::Closing if b == QUOTE => State::Quoted,
            State::Closing => State::Field,
        };
    }
    (state == State::Quoted).then_some(open)
}

/// Moves a record's own text to `start` in `text`, ended by `\n`.
fn keep_alone(text: &mut Vec<u8>, start: usize, record: &RawRecord) -> std::ops::Range<usize> {
    let len = record.text.len();
    text.copy_within(record.text.clone(), start);
    text.truncate(start + len);
    text.push(b'\n');
    start..start + len
}

/// An arrow-csv reason without its `at line N`, which counts the lines
/// given to the decoder, not the file's (the location says where).
fn without_line(reason: &str) -> String {
    let Some(at) = reason.find(" at line ") else {
        return reason.to_owned();
    };
    let rest = &reason[at + " at line ".len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    format!("{}{}", &reason[..at], &rest[digits..])
}

/// Infers a CSV schema from the first `max` records of `sample`. Records
/// with a different number of fields from the header (or the first record)
/// and a last record that the sample ends inside a quoted field of are
/// left out: they are bad records when read.
pub fn infer_csv_schema(sample: &[u8], csv: Option<&CsvOptions>, max: usize) -> Result<Schema> {
    let delimiter = delimiter(csv)?;
    let header = csv.is_none_or(|c| c.header);
    let mut split = Splitter::new(sample, delimiter);
    let mut text = Vec::with_capacity(sample.len() + 1);
    let mut expected = None;
    if header && let Some(record) = split.next(&mut text).map_err(io("sampling"))? {
        expected = Some(record.fields);
        keep_alone(&mut text, 0, &record);
    }
    for _ in 0..max {
        let start = text.len();
        let Some(record) = split.next(&mut text).map_err(io("sampling"))? else {
            break;
        };
        if record.unterminated.is_some() || expected.is_some_and(|n| n != record.fields) {
            text.truncate(start);
            continue;
        }
        expected.get_or_insert(record.fields);
        keep_alone(&mut text, start, &record);
    }
    let (schema, _) = csv_format(delimiter, header)
        .infer_schema(text.as_slice(), None)
        .map_err(arrow("inferring the CSV schema"))?;
    Ok(schema)
}

/// Reads a CSV file as batches of up to `batch_size` records. Records that
/// cannot be read come back as [`Malformed`] at the line they start on: a
/// record with the wrong number of fields, one whose quoted field the file
/// ends inside (it would swallow the rest of the file), a value that does
/// not fit its column's type.
pub struct CsvReader {
    split: Splitter<Box<dyn Read + Send>>,
    schema: SchemaRef,
    delimiter: u8,
    file: String,
    batch_size: usize,
    /// Bytes already reported with a batch (the header's go with the first).
    reported: u64,
    /// The size of the last batch's text, to size the next one.
    text_size: usize,
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
        let delimiter = delimiter(options.as_ref())?;
        let mut split = Splitter::new(reader, delimiter);
        if options.as_ref().is_none_or(|c| c.header) {
            split.next(&mut Vec::new()).map_err(io(file))?;
        }
        Ok(Self {
            split,
            schema,
            delimiter,
            file: file.to_owned(),
            batch_size,
            reported: 0,
            text_size: 0,
        })
    }

    /// Decodes `rows` records, one per line of `text`.
    fn decode(&self, text: &[u8], rows: usize) -> Result<RecordBatch, ArrowError> {
        // Number fields are decoded as text, then read by the number rule.
        let as_text = number::text_schema(&self.schema);
        let mut reader =
            arrow::csv::ReaderBuilder::new(as_text.clone().unwrap_or_else(|| self.schema.clone()))
                .with_format(csv_format(self.delimiter, false))
                .with_batch_size(rows.max(1))
                .build(std::io::Cursor::new(text))?;
        match reader.next().transpose()? {
            None => Ok(RecordBatch::new_empty(self.schema.clone())),
            Some(batch) if as_text.is_some() => {
                number::numbers_from_text(&batch, &self.schema, Empty::IsNull)
            }
            Some(batch) => Ok(batch),
        }
    }

    fn malformed(&self, line: u64, raw: &[u8], reason: String, field: Option<String>) -> Malformed {
        Malformed {
            location: location::locate(&self.file, Unit::Line, line),
            raw: String::from_utf8_lossy(raw).into_owned(),
            reason,
            field,
        }
    }

    /// The next batch, the records met on the way that cannot be read (in
    /// file order), the bytes read and the line each row starts on; `None`
    /// at the end of the file.
    #[allow(clippy::type_complexity)]
    pub fn next_batch(&mut self) -> Result<Option<(RecordBatch, Vec<Malformed>, u64, Positions)>> {
        let mut text = Vec::with_capacity(self.text_size);
        let mut rows = Vec::with_capacity(self.batch_size);
        let mut lines = Vec::with_capacity(self.batch_size);
        let mut bad: Vec<(u64, Malformed)> = Vec::new();
        let expected = self.schema.fields().len();
        while rows.len() < self.batch_size {
            let start = text.len();
            let Some(record) = self.split.next(&mut text).map_err(io(&self.file))? else {
                break;
            };
            let reason = match record.unterminated {
                Some(open) => Some(format!("unterminated quoted field starting at line {open}")),
                None if record.fields != expected => Some(format!(
                    "has {} fields, the header has {expected}",
                    record.fields
                )),
                None => None,
            };
            match reason {
                Some(reason) => {
                    let bad_record =
                        self.malformed(record.line, &text[record.text.clone()], reason, None);
                    bad.push((record.line, bad_record));
                    text.truncate(start);
                }
                None => {
                    rows.push(keep_alone(&mut text, start, &record));
                    lines.push(record.line);
                }
            }
        }
        let bytes = self.split.bytes - self.reported;
        self.reported = self.split.bytes;
        self.text_size = self.text_size.max(text.len());
        if rows.is_empty() && bad.is_empty() {
            return Ok(None);
        }
        let (batch, positions) = match self.decode(&text, rows.len()) {
            Ok(batch) => (batch, Positions::listed(Unit::Line, lines)),
            Err(_) => {
                // Find the records that do not fit the schema.
                let mut good = Vec::with_capacity(text.len());
                let mut kept = Vec::with_capacity(lines.len());
                for (row, line) in rows.into_iter().zip(lines) {
                    // The record with its `\n`.
                    let record = &text[row.start..=row.end];
                    match self.decode(record, 1) {
                        Ok(_) => {
                            good.extend_from_slice(record);
                            kept.push(line);
                        }
                        Err(e) => {
                            let reason = without_line(&e.to_string().replace("Parser error: ", ""));
                            let field =
                                column_of(&reason, &self.schema).or_else(|| field_of(&reason));
                            bad.push((line, self.malformed(line, &text[row], reason, field)));
                        }
                    }
                }
                let batch = self.decode(&good, kept.len()).map_err(arrow(&self.file))?;
                (batch, Positions::listed(Unit::Line, kept))
            }
        };
        bad.sort_by_key(|(line, _)| *line);
        let malformed = bad.into_iter().map(|(_, m)| m).collect();
        Ok(Some((batch, malformed, bytes, positions)))
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
        let schema = RecordSchema::inferred(infer_json_schema(b"{\"id\":1,\"amount\":2.5}\n", 10));
        let block =
            b"{\"id\":1,\"amount\":2.5}\n{\"id\":2,\"amount\":\"abc\"}\nnot json\n\n{\"id\":3}\n";
        let (batch, malformed, positions) =
            decode_json_lines(block, &schema, "in.jsonl", 10).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(positions, Positions::listed(Unit::Line, vec![10, 14]));
        assert_eq!(malformed.len(), 2);
        assert_eq!(malformed[0].location, "in.jsonl:line 11");
        assert!(
            malformed[0].reason.contains("amount"),
            "{}",
            malformed[0].reason
        );
        assert_eq!(malformed[0].raw, "{\"id\":2,\"amount\":\"abc\"}");
        assert_eq!(malformed[1].location, "in.jsonl:line 12");
        assert!(malformed[1].reason.starts_with("not valid JSON"));
    }

    #[test]
    fn blank_lines_keep_the_lines_of_the_records_after_them() {
        let schema = RecordSchema::inferred(infer_json_schema(b"{\"id\":1}\n", 10));
        let (batch, malformed, positions) =
            decode_json_lines(b"{\"id\":1}\n\n \r\n{\"id\":2}\n", &schema, "in.jsonl", 5).unwrap();
        assert_eq!((batch.num_rows(), malformed.len()), (2, 0));
        assert_eq!(positions, Positions::listed(Unit::Line, vec![5, 8]));
        let (_, _, positions) =
            decode_json_lines(b"{\"id\":1}\n{\"id\":2}", &schema, "in.jsonl", 5).unwrap();
        assert_eq!(positions, Positions::from(Unit::Line, 5));
        // Two values on a line are one bad record, not two records.
        let (batch, malformed, _) =
            decode_json_lines(b"{\"id\":1} {\"id\":2}\n", &schema, "in.jsonl", 5).unwrap();
        assert_eq!((batch.num_rows(), malformed.len()), (0, 1));
    }

    /// The ids kept and the malformed records' (location, field) of
    /// decoded batches.
    fn kept_and_refused(
        batches: &[RecordBatch],
        malformed: &[Malformed],
    ) -> (Vec<i64>, Vec<(String, Option<String>)>) {
        let ids = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
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
        let (batch, malformed, _) = decode_json_lines(
            block.as_bytes(),
            &RecordSchema::declared(schema),
            "in.jsonl",
            1,
        )
        .unwrap();
        let amounts = batch
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(amounts.values(), &[12.5, -300.0]);
        let field = |f: &str| Some(f.to_owned());
        assert_eq!(
            kept_and_refused(&[batch], &malformed),
            (
                vec![1, 7],
                vec![
                    ("in.jsonl:line 2".to_owned(), field("amount")),
                    ("in.jsonl:line 3".to_owned(), field("amount")),
                    ("in.jsonl:line 4".to_owned(), field("amount")),
                    ("in.jsonl:line 5".to_owned(), field("id")),
                    ("in.jsonl:line 6".to_owned(), field("amount")),
                    ("in.jsonl:line 8".to_owned(), field("amount")),
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
        let (batches, malformed, _) = read_csv(text, schema);
        let amounts: Vec<_> = batches
            .iter()
            .flat_map(|b| {
                b.column(1)
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect();
        // An empty CSV field is null.
        assert_eq!(amounts, [Some(12.5), Some(-300.0), None]);
        let field = |f: &str| Some(f.to_owned());
        assert_eq!(
            kept_and_refused(&batches, &malformed),
            (
                vec![1, 7, 8],
                vec![
                    ("in.csv:line 3".to_owned(), field("amount")),
                    ("in.csv:line 4".to_owned(), field("amount")),
                    ("in.csv:line 5".to_owned(), field("amount")),
                    ("in.csv:line 6".to_owned(), field("id")),
                    ("in.csv:line 7".to_owned(), field("amount")),
                ]
            )
        );
    }

    fn read_csv(text: &str, schema: SchemaRef) -> (Vec<RecordBatch>, Vec<Malformed>, Vec<u64>) {
        let mut reader = CsvReader::new(
            Box::new(std::io::Cursor::new(text.to_owned())),
            schema,
            None,
            "in.csv",
            100,
        )
        .unwrap();
        let (mut batches, mut malformed, mut lines) = (Vec::new(), Vec::new(), Vec::new());
        while let Some((batch, bad, _, positions)) = reader.next_batch().unwrap() {
            lines.extend((0..batch.num_rows()).map(|row| positions.of(row)));
            batches.push(batch);
            malformed.extend(bad);
        }
        (batches, malformed, lines)
    }

    #[test]
    fn malformed_csv_records_are_isolated_with_their_line_number() {
        let text = "id,amount\n1,2.5\n2,abc\n3\n4,1e3\n";
        let schema: SchemaRef =
            Arc::new(infer_csv_schema(b"id,amount\n1,2.5\n", None, 10).unwrap());
        let (batches, malformed, lines) = read_csv(text, schema);
        assert_eq!(batches.len(), 1);
        let ids = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(ids.values(), &[1, 4]);
        assert_eq!(lines, [2, 5]);
        let locations: Vec<_> = malformed.iter().map(|m| m.location.as_str()).collect();
        assert_eq!(locations, ["in.csv:line 3", "in.csv:line 4"]);
        assert_eq!(malformed[0].raw, "2,abc");
        assert_eq!(
            malformed[0].field.as_deref(),
            Some("amount"),
            "{}",
            malformed[0].reason
        );
        assert!(
            !malformed[0].reason.contains("at line"),
            "{}",
            malformed[0].reason
        );
        assert_eq!(malformed[1].raw, "3");
        assert_eq!(malformed[1].reason, "has 1 fields, the header has 2");
    }

    #[test]
    fn csv_lines_count_blank_lines_crlf_and_quoted_newlines() {
        let schema: SchemaRef = Arc::new(infer_csv_schema(b"id,note\n1,a\n", None, 10).unwrap());
        let text = "id,note\r\n1,a\r\n\r\n2,\"x\r\ny\"\r\n3,b,extra\r\n4,c";
        let (_, malformed, lines) = read_csv(text, schema.clone());
        assert_eq!(lines, [2, 4, 7]);
        assert_eq!(malformed[0].location, "in.csv:line 6");
        let text = "id,note\n1,a\n2,\"b\n3,c\n4,d\n";
        let (batches, malformed, lines) = read_csv(text, schema.clone());
        assert_eq!(lines, [2]);
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
        assert_eq!(malformed.len(), 1);
        assert_eq!(malformed[0].location, "in.csv:line 3");
        assert_eq!(
            malformed[0].reason,
            "unterminated quoted field starting at line 3"
        );
        assert_eq!(malformed[0].raw, "2,\"b\n3,c\n4,d");
        // A closed quote at the very end is no bad record.
        let (_, malformed, lines) = read_csv("id,note\n1,\"a\"\"b\"", schema.clone());
        assert_eq!((lines, malformed), (vec![2], vec![]));
        // Inference leaves out what the reader makes bad records.
        let sample = b"id,note\n1,a\n2,b,c\n3,\"d\n";
        let inferred = infer_csv_schema(sample, None, 10).unwrap();
        assert_eq!(inferred.fields().len(), 2);
        assert_eq!(inferred.field(0).data_type(), &DataType::Int64);
    }
}
