//! File source: reads the files a glob matches, in name order.
//!
//! JSON Lines is read in blocks of complete lines on the source thread and
//! decoded on the workers, so decoding uses every core; CSV and Parquet are
//! decoded as they are read. The schema comes from the first file (its
//! first 1,000 records, within its first MiB, for text formats; the footer
//! for Parquet).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Error, Result, under_root};
use crate::api::v1alpha1::flow::{FileFormat, FileInput, FileSource as Spec};
use crate::pipeline::engine::{Source, Unit};
use crate::pipeline::error::ConnectorError;
use crate::pipeline::format::{self, CsvReader};
use crate::pipeline::read::{self, ObjectReader};
use crate::pipeline::schema::RecordSchema;

/// Bytes of JSON Lines per unit of work.
const BLOCK: usize = 4 << 20;
/// Records per batch for CSV and Parquet.
const BATCH: usize = 8192;
/// Bytes sampled for schema inference.
const SAMPLE: usize = 1 << 20;

/// Reads the files of `source.file`.
pub struct FileRecordSource {
    files: Vec<PathBuf>,
    next_file: usize,
    input: FileInput,
    schema: RecordSchema,
    current: Option<(String, ObjectReader)>,
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
        let schema = Self::infer(first, &spec.input)?;
        Ok(Self {
            files,
            next_file: 0,
            input: spec.input.clone(),
            schema,
            current: None,
            root: root.to_path_buf(),
        })
    }

    fn infer(path: &Path, input: &FileInput) -> Result<RecordSchema> {
        let name = path.display().to_string();
        if input.format == FileFormat::Parquet {
            let file = open(path)?;
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| {
                Error::Parquet {
                    path: name.clone(),
                    source,
                }
            })?;
            format::check_parquet_footer(builder.metadata(), len).map_err(|message| {
                Error::Parquet {
                    path: name,
                    source: parquet::errors::ParquetError::General(message),
                }
            })?;
            return Ok(read::declared(builder.schema().as_ref().clone()));
        }
        let reader = format::decompress(Box::new(open(path)?), input.compression, &name)?;
        let sample = format::read_sample(&mut format::buffered(reader), SAMPLE)?;
        Ok(read::infer(&sample, input.format, input.csv.as_ref())?)
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
                format::check_parquet_footer(builder.metadata(), bytes).map_err(|message| {
                    Error::Parquet {
                        path: name.clone(),
                        source: parquet::errors::ParquetError::General(message),
                    }
                })?;
                if builder.schema().fields() != self.schema.schema.fields() {
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
                ObjectReader::parquet(reader, bytes)
            }
            FileFormat::Csv => {
                let raw =
                    format::decompress(Box::new(open(&path)?), self.input.compression, &name)?;
                let reader = CsvReader::new(
                    raw,
                    self.schema.schema.clone(),
                    self.input.csv.clone(),
                    &name,
                    BATCH,
                )?;
                ObjectReader::csv(reader)
            }
            FileFormat::JsonLines => {
                let reader =
                    format::decompress(Box::new(open(&path)?), self.input.compression, &name)?;
                ObjectReader::json(reader, BLOCK)
            }
        };
        self.current = Some((name, reading));
        Ok(true)
    }

    /// The next unit from the current file, or `None` when it is exhausted.
    fn next_from_current(&mut self) -> Result<Option<Unit>> {
        let Some((name, reading)) = self.current.as_mut() else {
            return Ok(None);
        };
        reading.next_unit(&self.schema, name).map_err(Error::Format)
    }
}

impl Source for FileRecordSource {
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
