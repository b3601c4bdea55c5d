//! File source: reads the files a glob matches, in name order.
//!
//! JSON Lines is read in blocks of complete lines on the source thread and
//! decoded on the workers, so decoding uses every core; CSV and Parquet are
//! decoded as they are read. The schema comes from the first file (a sample
//! of its first MiB for text formats, the footer for Parquet).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{Error, Result, under_root};
use crate::api::v1alpha1::flow::{FileFormat, FileInput, FileSource as Spec};
use crate::pipeline::engine::{BoxError, Chunk, Source, Unit};
use crate::pipeline::format::{self, CsvReader};

/// Bytes of JSON Lines per unit of work.
const BLOCK: usize = 4 << 20;
/// Records per batch for CSV and Parquet.
const BATCH: usize = 8192;
/// Bytes sampled for schema inference.
const SAMPLE: usize = 1 << 20;

enum Reading {
    Json(format::JsonLinesBlocks),
    Csv {
        reader: Box<CsvReader>,
        record: u64,
    },
    Parquet {
        reader: ParquetRecordBatchReader,
        record: u64,
        bytes: u64,
    },
}

/// Reads the files of `source.file`.
pub struct FileRecordSource {
    files: Vec<PathBuf>,
    next_file: usize,
    input: FileInput,
    schema: SchemaRef,
    current: Option<(String, Reading)>,
    root: PathBuf,
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

impl FileRecordSource {
    /// Lists the files and determines the schema.
    pub fn open(root: &Path, spec: &Spec) -> Result<Self> {
        let pattern = under_root(root, &spec.path, "source.file.path")?;
        let pattern_text = pattern.to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = glob::glob(&pattern_text)
            .map_err(|e| Error::Pattern {
                pattern: spec.path.clone(),
                message: e.msg.to_owned(),
            })?
            .filter_map(std::result::Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let Some(first) = files.first() else {
            return Err(Error::NoFiles {
                pattern: spec.path.clone(),
                root: root.display().to_string(),
            });
        };
        let schema = Arc::new(Self::infer(first, &spec.input)?);
        Ok(Self {
            files,
            next_file: 0,
            input: spec.input.clone(),
            schema,
            current: None,
            root: root.to_path_buf(),
        })
    }

    fn infer(path: &Path, input: &FileInput) -> Result<arrow::datatypes::Schema> {
        let name = path.display().to_string();
        if input.format == FileFormat::Parquet {
            let builder = ParquetRecordBatchReaderBuilder::try_new(open(path)?)
                .map_err(|source| Error::Parquet { path: name, source })?;
            return Ok(builder.schema().as_ref().clone());
        }
        let reader = format::decompress(Box::new(open(path)?), input.compression, &name)?;
        let sample = format::read_sample(&mut format::buffered(reader), SAMPLE)?;
        Ok(match input.format {
            FileFormat::Csv => format::infer_csv_schema(&sample, input.csv.as_ref(), 1000)?,
            _ => format::infer_json_schema(&sample, 1000)?,
        })
    }

    /// The files that will be read, for previews and summaries.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn open_next(&mut self) -> Result<bool> {
        let Some(path) = self.files.get(self.next_file).cloned() else {
            return Ok(false);
        };
        self.next_file += 1;
        let name = self.display(&path);
        let reading = match self.input.format {
            FileFormat::Parquet => {
                let file = open(&path)?;
                let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
                let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| {
                    Error::Parquet {
                        path: name.clone(),
                        source,
                    }
                })?;
                if builder.schema().fields() != self.schema.fields() {
                    return Err(Error::SchemaMismatch {
                        path: name,
                        first: self.display(&self.files[0]),
                    });
                }
                let reader =
                    builder
                        .with_batch_size(BATCH)
                        .build()
                        .map_err(|source| Error::Parquet {
                            path: name.clone(),
                            source,
                        })?;
                Reading::Parquet {
                    reader,
                    record: 1,
                    bytes,
                }
            }
            FileFormat::Csv => {
                let raw =
                    format::decompress(Box::new(open(&path)?), self.input.compression, &name)?;
                let reader = CsvReader::new(
                    raw,
                    self.schema.clone(),
                    self.input.csv.clone(),
                    &name,
                    BATCH,
                )?;
                Reading::Csv {
                    reader: Box::new(reader),
                    record: 1,
                }
            }
            FileFormat::JsonLines => {
                let reader =
                    format::decompress(Box::new(open(&path)?), self.input.compression, &name)?;
                Reading::Json(format::JsonLinesBlocks::new(reader, BLOCK))
            }
        };
        self.current = Some((name, reading));
        Ok(true)
    }

    /// The next unit from the current file, or `None` when it is exhausted.
    fn next_from_current(&mut self) -> Result<Option<Unit>> {
        let schema = self.schema.clone();
        let Some((name, reading)) = self.current.as_mut() else {
            return Ok(None);
        };
        let name = name.clone();
        match reading {
            Reading::Json(blocks) => match blocks.next_block().map_err(|source| Error::Io {
                path: name.clone(),
                source,
            })? {
                None => Ok(None),
                Some((block, first_line)) => Ok(Some(crate::pipeline::engine::json_lines_unit(
                    block, first_line, schema, name,
                ))),
            },
            Reading::Csv { reader, record } => match reader.next_batch()? {
                None => Ok(None),
                Some((batch, malformed, bytes)) => {
                    let first_record = *record;
                    *record += (batch.num_rows() + malformed.len()) as u64;
                    Ok(Some(ready(Chunk {
                        batch,
                        malformed,
                        bytes,
                        pages: 0,
                        origin: name,
                        first_record,
                    })))
                }
            },
            Reading::Parquet {
                reader,
                record,
                bytes,
            } => match reader.next() {
                None => Ok(None),
                Some(batch) => {
                    let batch = batch.map_err(|e| Error::Io {
                        path: name.clone(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                    let first_record = *record;
                    *record += batch.num_rows() as u64;
                    // The file's size is counted with its first batch.
                    let bytes = std::mem::take(bytes);
                    Ok(Some(ready(Chunk {
                        batch,
                        malformed: Vec::new(),
                        bytes,
                        pages: 0,
                        origin: name,
                        first_record,
                    })))
                }
            },
        }
    }
}

fn ready(chunk: Chunk) -> Unit {
    Box::new(move || Ok(chunk))
}

impl Source for FileRecordSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, BoxError> {
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
