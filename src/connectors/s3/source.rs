//! S3 source: the objects under a prefix, in key order, read like the file
//! source reads files (JSON Lines in blocks decoded on the workers, CSV and
//! Parquet as they are read). JSON Lines and CSV objects are streamed in
//! ranged GETs of [`RANGE`] bytes, so memory stays bounded; a Parquet object
//! is downloaded whole when it is reached (its footer is at the end). The
//! schema comes from the first object. Incremental runs read the objects whose LastModified falls
//! in the run's window.

use std::io::Read;

use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Aws, Error, Result};
use crate::api::v1alpha1::flow::{FileFormat, FileInput, S3Source as Spec};
use crate::pipeline::engine::{Source, Unit};
use crate::pipeline::error::{ConnectorError, ErrorClass};
use crate::pipeline::format::{self, CsvReader};
use crate::pipeline::read::{self, ObjectReader};
use crate::pipeline::schema::RecordSchema;

/// Bytes of JSON Lines per unit of work.
const BLOCK: usize = 4 << 20;
/// Records per batch for CSV and Parquet.
const BATCH: usize = 8192;
/// Bytes sampled for schema inference.
const SAMPLE: usize = 1 << 20;
/// Bytes per ranged GET of a streamed object.
pub const RANGE: u64 = 8 << 20;

/// The window of an incremental read: objects modified in `[start, end)`.
pub use crate::connectors::Window;

/// Reads the objects of `source.s3`.
pub struct S3RecordSource {
    aws: Aws,
    bucket: String,
    keys: Vec<String>,
    sizes: Vec<u64>,
    next_key: usize,
    input: FileInput,
    schema: RecordSchema,
    current: Option<(String, ObjectReader)>,
}

/// A failed read keeps the class of the request that failed; anything
/// else the format refused means the Flow's input settings do not fit.
fn format_error(e: format::Error) -> Error {
    match e {
        format::Error::Io { .. } | format::Error::Store(_) => Error::Read(e),
        e => Error::Invalid(e.to_string()),
    }
}

impl S3RecordSource {
    /// Lists the objects and determines the schema from the first.
    pub fn open(aws: Aws, spec: &Spec, window: Option<Window>) -> Result<Self> {
        let all = list(&aws, &spec.bucket, &spec.prefix)?;
        let Some(first) = all.first().cloned() else {
            return Err(Error::Invalid(format!(
                "no object under s3://{}/{}",
                spec.bucket, spec.prefix
            )));
        };
        let in_window = |modified: Option<DateTime<Utc>>| {
            window.is_none_or(|w| modified.is_some_and(|m| m >= w.start && m < w.end))
        };
        let (keys, sizes): (Vec<String>, Vec<u64>) = all
            .into_iter()
            .filter(|(_, _, modified)| in_window(*modified))
            .map(|(key, size, _)| (key, size))
            .unzip();
        let mut source = Self {
            aws,
            bucket: spec.bucket.clone(),
            keys,
            sizes,
            next_key: 0,
            input: spec.input.clone(),
            schema: read::declared(arrow::datatypes::Schema::empty()),
            current: None,
        };
        let (key, size) = match (source.keys.first(), source.sizes.first()) {
            (Some(key), Some(size)) => (key.clone(), *size),
            _ => (first.0, first.1),
        };
        source.schema = source.infer(&key, size)?;
        Ok(source)
    }

    /// The keys that will be read.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn get(&self, key: &str) -> Result<Bytes> {
        let url = self.url(key);
        let request = self.aws.s3.get_object().bucket(&self.bucket).key(key);
        self.aws.runtime.block_on(async {
            let output = request.send().await.map_err(|e| Error::Request {
                operation: "read",
                url: url.clone(),
                message: super::sdk_message(&e),
            })?;
            let body = output.body.collect().await.map_err(|e| Error::Request {
                operation: "read",
                url: url.clone(),
                message: crate::connectors::common::aws::error_text(&e),
            })?;
            Ok(body.into_bytes())
        })
    }

    /// A streaming reader of object `key` of `size` bytes.
    fn stream(&self, key: &str, size: u64) -> Box<dyn Read + Send> {
        Box::new(RangedReader {
            aws: self.aws.clone(),
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            size,
            offset: 0,
            chunk: Bytes::new(),
        })
    }

    fn infer(&self, key: &str, size: u64) -> Result<RecordSchema> {
        let name = self.url(key);
        if self.input.format == FileFormat::Parquet {
            let body = self.get(key)?;
            let len = body.len() as u64;
            let builder = ParquetRecordBatchReaderBuilder::try_new(body)
                .map_err(|e| Error::Invalid(format!("{name}: {e}")))?;
            format::check_parquet_footer(builder.metadata(), len)
                .map_err(|e| Error::Invalid(format!("{name}: {e}")))?;
            return Ok(read::declared(builder.schema().as_ref().clone()));
        }
        let reader = format::decompress(self.stream(key, size), self.input.compression, &name)
            .map_err(format_error)?;
        let sample =
            format::read_sample(&mut format::buffered(reader), SAMPLE).map_err(format_error)?;
        read::infer(&sample, self.input.format, self.input.csv.as_ref()).map_err(format_error)
    }

    fn open_next(&mut self) -> Result<bool> {
        let Some(key) = self.keys.get(self.next_key).cloned() else {
            return Ok(false);
        };
        let index = self.next_key;
        self.next_key += 1;
        let name = self.url(&key);
        let reading = match self.input.format {
            FileFormat::Parquet => {
                let body = self.get(&key)?;
                let bytes = body.len() as u64;
                let builder = ParquetRecordBatchReaderBuilder::try_new(body)
                    .map_err(|e| Error::Invalid(format!("{name}: {e}")))?;
                format::check_parquet_footer(builder.metadata(), bytes)
                    .map_err(|e| Error::Invalid(format!("{name}: {e}")))?;
                if builder.schema().fields() != self.schema.schema.fields() {
                    return Err(Error::Invalid(format!(
                        "{name} has a different schema from {}; every object of a source must have the same fields and types",
                        self.url(&self.keys[0])
                    )));
                }
                let reader = builder
                    .with_batch_size(BATCH)
                    .build()
                    .map_err(|e| Error::Invalid(format!("{name}: {e}")))?;
                ObjectReader::parquet(reader, bytes)
            }
            FileFormat::Csv => {
                let raw = format::decompress(
                    self.stream(&key, self.sizes[index]),
                    self.input.compression,
                    &name,
                )
                .map_err(format_error)?;
                let reader = CsvReader::new(
                    raw,
                    self.schema.schema.clone(),
                    self.input.csv.clone(),
                    &name,
                    BATCH,
                )
                .map_err(format_error)?;
                ObjectReader::csv(reader)
            }
            FileFormat::JsonLines => {
                let reader = format::decompress(
                    self.stream(&key, self.sizes[index]),
                    self.input.compression,
                    &name,
                )
                .map_err(format_error)?;
                ObjectReader::json(reader, BLOCK)
            }
        };
        self.current = Some((name, reading));
        Ok(true)
    }

    /// The next unit from the current object, or `None` when it is exhausted.
    fn next_from_current(&mut self) -> Result<Option<Unit>> {
        let Some((name, reading)) = self.current.as_mut() else {
            return Ok(None);
        };
        reading.next_unit(&self.schema, name).map_err(format_error)
    }
}

/// A listed object: key, size and LastModified.
type Listed = (String, u64, Option<DateTime<Utc>>);

/// Keys under `prefix`, sorted, without folder markers and sluice's own
/// `_sluice/` bookkeeping, with their sizes and LastModified times.
fn list(aws: &Aws, bucket: &str, prefix: &str) -> Result<Vec<Listed>> {
    let url = format!("s3://{bucket}/{prefix}");
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .runtime
            .block_on(
                aws.s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_continuation_token(token.take())
                    .send(),
            )
            .map_err(|e| {
                let missing = e.as_service_error().is_some_and(|s| s.is_no_such_bucket());
                Error::Request {
                    operation: "list",
                    url: url.clone(),
                    message: if missing {
                        format!("bucket {bucket:?} does not exist")
                    } else {
                        super::sdk_message(&e)
                    },
                }
            })?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            if key.ends_with('/') || key.split('/').any(|part| part == "_sluice") {
                continue;
            }
            let modified = object
                .last_modified()
                .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
            let size = object.size().and_then(|s| u64::try_from(s).ok());
            keys.push((key.to_owned(), size.unwrap_or(0), modified));
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => break,
        }
    }
    keys.sort();
    Ok(keys)
}

/// Reads an object in ranged GETs of [`RANGE`] bytes.
struct RangedReader {
    aws: Aws,
    bucket: String,
    key: String,
    size: u64,
    offset: u64,
    chunk: Bytes,
}

impl Read for RangedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.chunk.is_empty() {
            if self.offset >= self.size || buf.is_empty() {
                return Ok(0);
            }
            let last = (self.offset + RANGE).min(self.size) - 1;
            let request = self
                .aws
                .s3
                .get_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .range(format!("bytes={}-{last}", self.offset));
            let url = format!("s3://{}/{}", self.bucket, self.key);
            let body = self.aws.runtime.block_on(async {
                let output = request.send().await.map_err(|e| {
                    let message = format!("{url}: {}", super::sdk_message(&e));
                    std::io::Error::other(ConnectorError::new(super::class_of(&message), message))
                })?;
                output
                    .body
                    .collect()
                    .await
                    .map(|b| b.into_bytes())
                    .map_err(|e| {
                        // The body broke off: a network failure.
                        let message = format!("{url}: {e}");
                        std::io::Error::other(ConnectorError::new(ErrorClass::Transient, message))
                    })
            })?;
            if body.is_empty() {
                return Ok(0);
            }
            self.offset += body.len() as u64;
            self.chunk = body;
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

impl Source for S3RecordSource {
    fn schema(&self) -> SchemaRef {
        self.schema.schema.clone()
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, ConnectorError> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(None);
            }
            match self.next_from_current()? {
                Some(unit) => return Ok(Some(unit)),
                None => self.current = None,
            }
        }
    }
}
