//! File output with atomic commit: how a run's records become published
//! files in a [`Store`](super::store::Store).
//!
//! Layout under the destination's location:
//!
//! ```text
//! {pathTemplate}/[{field=value}/...]{fileNameTemplate}.{ext}   published files
//! _sluice/staging/{flow}/{runId}/...                             files being written
//! _sluice/manifests/{flow}/{runId}.json                          one manifest per published run
//! _sluice/manifests/{flow}/{runId}.pending.json                  a publish in progress
//! ```
//!
//! Protocol: a run first clears its own staging (left by a killed attempt),
//! writes every file under staging, and on commit writes a pending manifest,
//! deletes what an earlier attempt of the same run id published, moves the
//! staged files into place, and renames the pending manifest to the final
//! one. A rerun of a run id therefore replaces, never duplicates; a failed or
//! cancelled run only deletes its staging, so nothing of it is published.
//! With `Overwrite`, the files of the flow's earlier runs are deleted after
//! the new ones are in place (readers never see the data missing).
//! `_`-prefixed folders are ignored by Hive, Spark, Athena and Glue.
//!
//! A `partitionBy` folder (`field=value`) is one path component, and file
//! systems hold at most [`MAX_COMPONENT_BYTES`] bytes in one: a record
//! whose value would make a longer one is refused, with the field and the
//! limit, and handed back to the engine's error policy
//! ([`FileOutputWriter::rejected`]); the same rule holds on S3, so that a
//! layout written there can be copied to a file system.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::engine::{BadRecord, rows_as_json};
use super::format::{self, FileWriter, WriteOptions, Written};
use super::store::Store;
use crate::api::v1alpha1::flow::{AggregationMode, FileOutput};

/// Errors of file output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a file failed.
    #[error(transparent)]
    Format(#[from] format::Error),
    /// The store refused an operation.
    #[error(transparent)]
    Store(#[from] super::store::Error),
    /// A partition field is not in the records.
    #[error("partitionBy field {field:?} is not in the records")]
    PartitionField {
        /// The field.
        field: String,
    },
    /// A manifest could not be read or written.
    #[error("manifest {key}: {source}")]
    Manifest {
        /// Its key.
        key: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Arrow failed while splitting partitions.
    #[error("partitioning: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The longest path component (a folder or file name), in bytes: the limit
/// of ext4, XFS, APFS and most other file systems.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// What a run is, for templates and manifests.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The Flow's name.
    pub flow: String,
    /// The run's id (its FlowRun name).
    pub run_id: String,
    /// The run's scheduled time (its start time for on-demand runs), in the
    /// time zone date placeholders use.
    pub time: DateTime<chrono_tz::Tz>,
    /// The schema version of the records.
    pub schema_version: i32,
}

impl RunInfo {
    /// Fills in the placeholders of a path or file-name template.
    pub fn render(&self, template: &str, sequence: Option<u64>) -> String {
        let t = &self.time;
        template
            .replace("{flow}", &self.flow)
            .replace("{runId}", &self.run_id)
            .replace("{schemaVersion}", &self.schema_version.to_string())
            .replace("{year}", &format!("{:04}", t.year()))
            .replace("{month}", &format!("{:02}", t.month()))
            .replace("{day}", &format!("{:02}", t.day()))
            .replace("{hour}", &format!("{:02}", t.hour()))
            .replace("{minute}", &format!("{:02}", t.minute()))
            .replace(
                "{sequence}",
                &sequence.map(|s| format!("{s:05}")).unwrap_or_default(),
            )
    }
}

/// One published file in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Key relative to the destination's location.
    pub key: String,
    /// Records in it.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// One field of the written schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestField {
    /// Field name.
    pub name: String,
    /// Arrow type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether it may be null.
    pub nullable: bool,
}

/// What a run published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The Flow.
    pub flow: String,
    /// The run id.
    pub run_id: String,
    /// When it was committed (RFC 3339).
    pub committed_at: String,
    /// Schema version of the records.
    pub schema_version: i32,
    /// Records in all files.
    pub rows: u64,
    /// The files.
    pub files: Vec<ManifestFile>,
    /// The written schema.
    pub schema: Vec<ManifestField>,
}

struct Open {
    writer: FileWriter,
    key: String,
}

struct Partition {
    folder: String,
    sequence: u64,
    open: Option<Open>,
}

/// Writes a run's records as files under staging, and publishes them.
pub struct FileOutputWriter {
    store: Arc<dyn Store>,
    output: FileOutput,
    options: WriteOptions,
    run: RunInfo,
    staging: String,
    extension: String,
    folder: String,
    partitions: BTreeMap<Vec<String>, Partition>,
    finished: Vec<ManifestFile>,
    schema: Option<SchemaRef>,
    bytes_done: u64,
    /// Records given to `write` so far, for the location of refused ones.
    records: u64,
    /// Records refused since [`Self::rejected`] was last called.
    rejected: Vec<BadRecord>,
}

fn manifest_dir(flow: &str) -> String {
    format!("_sluice/manifests/{flow}")
}

fn staging_dir(flow: &str, run_id: &str) -> String {
    format!("_sluice/staging/{flow}/{run_id}")
}

impl FileOutputWriter {
    /// Starts the output of one run, clearing staging left by an earlier
    /// attempt of the same run id.
    pub fn new(store: Arc<dyn Store>, output: &FileOutput, run: RunInfo) -> Result<Self> {
        let staging = staging_dir(&run.flow, &run.run_id);
        for key in store.list(&staging)? {
            store.delete(&key)?;
        }
        let options = WriteOptions {
            format: output.format,
            csv: output.csv.clone(),
            parquet_compression: output
                .parquet
                .as_ref()
                .map(|p| p.compression)
                .unwrap_or_default(),
            preserve_types: output
                .parquet
                .as_ref()
                .is_none_or(|p| p.preserve_source_types),
            compression: output.compression,
        };
        Ok(Self {
            extension: format::extension(output.format, output.compression),
            folder: run
                .render(&output.path_template, None)
                .trim_matches('/')
                .to_owned(),
            store,
            output: output.clone(),
            options,
            run,
            staging,
            partitions: BTreeMap::new(),
            finished: Vec::new(),
            schema: None,
            bytes_done: 0,
            records: 0,
            rejected: Vec::new(),
        })
    }

    /// Bytes written so far, for progress.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_done
            + self
                .partitions
                .values()
                .filter_map(|p| p.open.as_ref())
                .map(|o| o.writer.bytes_written())
                .sum::<u64>()
    }

    /// Writes a batch, split by partition. Records whose partition folder
    /// cannot be a path component are left out: see [`Self::rejected`].
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.schema.get_or_insert_with(|| batch.schema());
        let first = self.records + 1;
        self.records += batch.num_rows() as u64;
        for (values, part) in self.split(batch, first)? {
            self.write_partition(values, &part)?;
        }
        Ok(())
    }

    /// The records refused since the last call: a `partitionBy` value that
    /// makes its folder name longer than [`MAX_COMPONENT_BYTES`].
    pub fn rejected(&mut self) -> Vec<BadRecord> {
        std::mem::take(&mut self.rejected)
    }

    /// The batch's rows grouped by partition, leaving out (and recording)
    /// rows whose partition folder would be too long; `first` is the
    /// ordinal of the batch's first record in the run.
    fn split(
        &mut self,
        batch: &RecordBatch,
        first: u64,
    ) -> Result<Vec<(Vec<String>, RecordBatch)>> {
        if self.output.partition_by.is_empty() {
            return Ok(vec![(Vec::new(), batch.clone())]);
        }
        let mut columns = Vec::new();
        for field in &self.output.partition_by {
            let index =
                batch
                    .schema()
                    .index_of(field.as_str())
                    .map_err(|_| Error::PartitionField {
                        field: field.to_string(),
                    })?;
            columns.push(format::to_text(batch.column(index))?);
        }
        let mut groups: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
        let mut refused: Vec<(usize, String, String)> = Vec::new();
        'rows: for row in 0..batch.num_rows() {
            let key: Vec<String> = columns.iter().map(|c| partition_value(c, row)).collect();
            for (field, value) in self.output.partition_by.iter().zip(&key) {
                let bytes = field.as_str().len() + 1 + value.len();
                if bytes > MAX_COMPONENT_BYTES {
                    let reason = format!(
                        "partitionBy field {:?}: its value makes the folder name ({field}=...) {bytes} bytes long; a folder name holds at most {MAX_COMPONENT_BYTES} bytes, so partition by a shorter field or shorten the value with a task (truncate)",
                        field.as_str()
                    );
                    refused.push((row, field.to_string(), reason));
                    continue 'rows;
                }
            }
            groups.entry(key).or_default().push(row as u32);
        }
        if !refused.is_empty() {
            let rows: Vec<usize> = refused.iter().map(|(row, ..)| *row).collect();
            let originals = rows_as_json(batch, &rows);
            let location = self.store.url(&self.folder);
            for ((row, field, reason), original) in refused.into_iter().zip(originals) {
                self.rejected.push(BadRecord {
                    location: Some(format!(
                        "{location}: record {} of the run",
                        first + row as u64
                    )),
                    task: None,
                    field: Some(field),
                    reason,
                    record: Some(original),
                    raw: None,
                });
            }
        }
        let mut parts = Vec::with_capacity(groups.len());
        for (key, rows) in groups {
            parts.push((key, take_record_batch(batch, &UInt32Array::from(rows))?));
        }
        Ok(parts)
    }

    fn write_partition(&mut self, values: Vec<String>, batch: &RecordBatch) -> Result<()> {
        let folder = {
            let mut folder = self.folder.clone();
            for (field, value) in self.output.partition_by.iter().zip(&values) {
                if !folder.is_empty() {
                    folder.push('/');
                }
                folder.push_str(&format!("{field}={value}"));
            }
            folder
        };
        let partition = self.partitions.entry(values).or_insert_with(|| Partition {
            folder,
            sequence: 0,
            open: None,
        });
        if partition.open.is_none() {
            let name = self
                .run
                .render(&self.output.file_name_template, Some(partition.sequence));
            partition.sequence += 1;
            let key = if partition.folder.is_empty() {
                format!("{name}.{}", self.extension)
            } else {
                format!("{}/{name}.{}", partition.folder, self.extension)
            };
            let sink = self.store.create(&format!("{}/{key}", self.staging))?;
            let writer = FileWriter::new(sink, &batch.schema(), &self.options, &key)?;
            partition.open = Some(Open { writer, key });
        }
        let Some(open) = partition.open.as_mut() else {
            return Ok(());
        };
        open.writer.write(batch)?;
        let roll = match self.output.aggregation.mode {
            AggregationMode::None => true,
            AggregationMode::SingleFile => false,
            AggregationMode::TargetSize => {
                let target = self
                    .output
                    .aggregation
                    .target_file_size_mb
                    .unwrap_or(128)
                    .max(1) as u64;
                open.writer.bytes_written() >= target << 20
            }
        };
        if roll && let Some(open) = partition.open.take() {
            self.close(open)?;
        }
        Ok(())
    }

    fn close(&mut self, open: Open) -> Result<()> {
        let Written {
            rows,
            bytes,
            sha256,
        } = open.writer.finish()?;
        self.bytes_done += bytes;
        self.finished.push(ManifestFile {
            key: open.key,
            rows,
            bytes,
            sha256,
        });
        Ok(())
    }

    /// Publishes the run: see the module documentation for the protocol.
    /// `overwrite` deletes the files of the flow's earlier runs.
    pub fn commit(mut self, overwrite: bool) -> Result<Published> {
        let open: Vec<Open> = self
            .partitions
            .values_mut()
            .filter_map(|p| p.open.take())
            .collect();
        for open in open {
            self.close(open)?;
        }
        self.finished.sort_by(|a, b| a.key.cmp(&b.key));
        let store = self.store.clone();
        let dir = manifest_dir(&self.run.flow);
        let final_key = format!("{dir}/{}.json", self.run.run_id);
        let pending_key = format!("{dir}/{}.pending.json", self.run.run_id);
        let manifest = Manifest {
            flow: self.run.flow.clone(),
            run_id: self.run.run_id.clone(),
            committed_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            schema_version: self.run.schema_version,
            rows: self.finished.iter().map(|f| f.rows).sum(),
            files: self.finished.clone(),
            schema: self
                .schema
                .iter()
                .flat_map(|s| s.fields().iter())
                .map(|f| ManifestField {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                    nullable: f.is_nullable(),
                })
                .collect(),
        };
        // Files an earlier attempt of this run id published, or began to.
        let mut replaced = Vec::new();
        for key in [&final_key, &pending_key] {
            if let Some(earlier) = read_manifest(store.as_ref(), key)? {
                replaced.extend(earlier.files.into_iter().map(|f| f.key));
            }
        }
        write_json(store.as_ref(), &pending_key, &manifest)?;
        let new: std::collections::BTreeSet<&str> =
            manifest.files.iter().map(|f| f.key.as_str()).collect();
        for key in replaced.iter().filter(|k| !new.contains(k.as_str())) {
            store.delete(key)?;
        }
        for file in &manifest.files {
            store.rename(&format!("{}/{}", self.staging, file.key), &file.key)?;
        }
        store.rename(&pending_key, &final_key)?;
        let mut superseded = Vec::new();
        if overwrite {
            for key in store.list(&dir)? {
                if key == final_key || !key.ends_with(".json") {
                    continue;
                }
                if let Some(earlier) = read_manifest(store.as_ref(), &key)? {
                    for file in earlier
                        .files
                        .iter()
                        .filter(|f| !new.contains(f.key.as_str()))
                    {
                        store.delete(&file.key)?;
                    }
                    superseded.push(earlier.run_id);
                }
                store.delete(&key)?;
            }
        }
        Ok(Published {
            location: store.url(&self.folder),
            manifest_url: store.url(&final_key),
            manifest,
            superseded,
        })
    }

    /// Deletes everything the run staged; nothing of it is published.
    pub fn abort(self) -> Result<()> {
        drop(self.partitions);
        for key in self.store.list(&self.staging)? {
            self.store.delete(&key)?;
        }
        Ok(())
    }
}

/// A [`FileOutputWriter`] as an engine destination.
pub struct FileDestination {
    writer: FileOutputWriter,
    overwrite: bool,
}

impl FileDestination {
    /// Writes through `writer`; `overwrite` replaces earlier runs on commit.
    pub fn new(writer: FileOutputWriter, overwrite: bool) -> Self {
        Self { writer, overwrite }
    }
}

impl super::engine::Destination for FileDestination {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), super::error::ConnectorError> {
        Ok(self.writer.write(batch)?)
    }

    fn rejected(&mut self) -> Vec<BadRecord> {
        self.writer.rejected()
    }

    fn bytes_written(&self) -> u64 {
        self.writer.bytes_written()
    }

    fn commit(self: Box<Self>) -> Result<super::engine::Outcome, super::error::ConnectorError> {
        let published = self.writer.commit(self.overwrite)?;
        Ok(super::engine::Outcome {
            location: published.location,
            manifest: Some(published.manifest_url),
            objects: published.manifest.files.len() as u64,
            bytes: published.manifest.files.iter().map(|f| f.bytes).sum(),
            rejected: 0,
        })
    }

    fn abort(self: Box<Self>) -> Result<(), super::error::ConnectorError> {
        Ok(self.writer.abort()?)
    }
}

/// The outcome of a commit.
#[derive(Debug, Clone)]
pub struct Published {
    /// Where the files are (the rendered path template).
    pub location: String,
    /// Where the manifest is.
    pub manifest_url: String,
    /// The manifest.
    pub manifest: Manifest,
    /// Runs whose files an `Overwrite` commit replaced.
    pub superseded: Vec<String>,
}

fn partition_value(column: &ArrayRef, row: usize) -> String {
    if column.is_null(row) {
        return "__HIVE_DEFAULT_PARTITION__".to_owned();
    }
    let text = column
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .map(|a| a.value(row).to_owned())
        .unwrap_or_default();
    // Keep the value one path segment.
    text.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn read_manifest(store: &dyn Store, key: &str) -> Result<Option<Manifest>> {
    match store.read(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Manifest {
                key: key.to_owned(),
                source,
            }),
    }
}

fn write_json(store: &dyn Store, key: &str, manifest: &Manifest) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(manifest).map_err(|source| Error::Manifest {
        key: key.to_owned(),
        source,
    })?;
    let mut writer = store.create(key)?;
    std::io::Write::write_all(&mut writer, &bytes).map_err(|e| super::store::Error::Io {
        operation: "write",
        path: key.to_owned(),
        source: e,
    })?;
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::flow::{Aggregation, FileFormat, OutputCompression};
    use crate::pipeline::store::LocalStore;
    use arrow::array::{Int64Array, StringArray};
    use chrono::TimeZone;

    fn run(id: &str) -> RunInfo {
        RunInfo {
            flow: "orders".into(),
            run_id: id.into(),
            time: chrono_tz::Europe::Paris
                .with_ymd_and_hms(2024, 5, 1, 0, 30, 0)
                .unwrap(),
            schema_version: 2,
        }
    }

    fn output(mode: AggregationMode) -> FileOutput {
        serde_json::from_value(serde_json::json!({
            "format": "JsonLines",
            "pathTemplate": "{flow}/v{schemaVersion}/{year}-{month}-{day}T{hour}:{minute}/{runId}",
            "fileNameTemplate": "part-{sequence}",
            "aggregation": {"mode": match mode {
                AggregationMode::None => "None",
                AggregationMode::SingleFile => "SingleFile",
                AggregationMode::TargetSize => "TargetSize",
            }},
        }))
        .unwrap()
    }

    fn batch(ids: &[i64], country: &[Option<&str>]) -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
            (
                "country",
                Arc::new(StringArray::from(country.to_vec())) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn published(store: &LocalStore) -> Vec<String> {
        store
            .list("")
            .unwrap()
            .into_iter()
            .filter(|k| !k.starts_with("_sluice/"))
            .collect()
    }

    fn rows(store: &LocalStore) -> Vec<String> {
        let mut lines: Vec<String> = published(store)
            .iter()
            .flat_map(|k| {
                String::from_utf8(store.read(k).unwrap().unwrap())
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn templates_render_in_the_run_time_zone() {
        let r = run("r1");
        assert_eq!(
            r.render(
                "{flow}/v{schemaVersion}/{year}/{month}/{day}/{hour}{minute}/{runId}-{sequence}",
                Some(7)
            ),
            "orders/v2/2024/05/01/0030/r1-00007"
        );
    }

    #[test]
    fn commit_publishes_files_and_a_manifest_and_clears_staging() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()));
        let mut out =
            FileOutputWriter::new(store.clone(), &output(AggregationMode::None), run("r1"))
                .unwrap();
        out.write(&batch(&[1, 2], &[Some("fr"), Some("de")]))
            .unwrap();
        out.write(&batch(&[3], &[None])).unwrap();
        assert!(
            published(&store).is_empty(),
            "nothing is visible before commit"
        );
        let done = out.commit(false).unwrap();
        assert_eq!(
            published(&store),
            [
                "orders/v2/2024-05-01T00:30/r1/part-00000.jsonl",
                "orders/v2/2024-05-01T00:30/r1/part-00001.jsonl"
            ]
        );
        assert_eq!(done.manifest.rows, 3);
        assert_eq!(done.manifest.files.len(), 2);
        assert_eq!(done.manifest.schema[0].name, "id");
        assert!(store.list("_sluice/staging").unwrap().is_empty());
        assert_eq!(
            store.list("_sluice/manifests").unwrap(),
            ["_sluice/manifests/orders/r1.json"]
        );
        let first = &done.manifest.files[0];
        let bytes = store.read(&first.key).unwrap().unwrap();
        assert_eq!(first.bytes, bytes.len() as u64);
        assert_eq!(
            first.sha256,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
        );
    }

    #[test]
    fn an_aborted_run_publishes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()));
        let mut out = FileOutputWriter::new(
            store.clone(),
            &output(AggregationMode::SingleFile),
            run("r1"),
        )
        .unwrap();
        out.write(&batch(&[1], &[Some("fr")])).unwrap();
        out.abort().unwrap();
        assert!(store.list("").unwrap().is_empty());
    }

    #[test]
    fn a_killed_run_rerun_with_its_id_leaves_one_copy_of_each_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()));
        // The first attempt dies after staging two files.
        let mut killed =
            FileOutputWriter::new(store.clone(), &output(AggregationMode::None), run("r1"))
                .unwrap();
        killed.write(&batch(&[1], &[None])).unwrap();
        killed.write(&batch(&[2], &[None])).unwrap();
        std::mem::forget(killed);
        // The second attempt dies half-way through publishing: a pending
        // manifest, one file moved into place, one still staged.
        let mut half =
            FileOutputWriter::new(store.clone(), &output(AggregationMode::None), run("r1"))
                .unwrap();
        half.write(&batch(&[1], &[None])).unwrap();
        half.write(&batch(&[2], &[None])).unwrap();
        half.write(&batch(&[3], &[None])).unwrap();
        let done = half.commit(false).unwrap();
        let moved = &done.manifest.files[2].key;
        store
            .rename(moved, &format!("_sluice/staging/orders/r1/{moved}"))
            .unwrap();
        store
            .rename(
                "_sluice/manifests/orders/r1.json",
                "_sluice/manifests/orders/r1.pending.json",
            )
            .unwrap();
        // The third attempt reads the data in bigger batches: fewer files.
        let mut rerun =
            FileOutputWriter::new(store.clone(), &output(AggregationMode::None), run("r1"))
                .unwrap();
        rerun
            .write(&batch(&[1, 2, 3], &[None, None, None]))
            .unwrap();
        rerun.commit(false).unwrap();
        assert_eq!(rows(&store), [r#"{"id":1}"#, r#"{"id":2}"#, r#"{"id":3}"#]);
        assert_eq!(published(&store).len(), 1);
        assert_eq!(
            store.list("_sluice").unwrap(),
            ["_sluice/manifests/orders/r1.json"]
        );
    }

    #[test]
    fn overwrite_replaces_earlier_runs_and_append_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()));
        for (id, overwrite) in [("r1", false), ("r2", false)] {
            let mut out =
                FileOutputWriter::new(store.clone(), &output(AggregationMode::SingleFile), run(id))
                    .unwrap();
            out.write(&batch(&[1], &[None])).unwrap();
            out.commit(overwrite).unwrap();
        }
        assert_eq!(rows(&store).len(), 2);
        let mut out = FileOutputWriter::new(
            store.clone(),
            &output(AggregationMode::SingleFile),
            run("r3"),
        )
        .unwrap();
        out.write(&batch(&[9], &[None])).unwrap();
        let done = out.commit(true).unwrap();
        assert_eq!(rows(&store), [r#"{"id":9}"#]);
        assert_eq!(done.superseded, ["r1", "r2"]);
        assert_eq!(
            store.list("_sluice").unwrap(),
            ["_sluice/manifests/orders/r3.json"]
        );
    }

    #[test]
    fn partitions_become_hive_folders() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()));
        let mut spec = output(AggregationMode::SingleFile);
        spec.partition_by = vec!["country".into()];
        let mut out = FileOutputWriter::new(store.clone(), &spec, run("r1")).unwrap();
        out.write(&batch(&[1, 2, 3], &[Some("fr"), Some("a/b"), None]))
            .unwrap();
        out.write(&batch(&[4], &[Some("fr")])).unwrap();
        out.commit(false).unwrap();
        let base = "orders/v2/2024-05-01T00:30/r1";
        assert_eq!(
            published(&store),
            [
                format!("{base}/country=__HIVE_DEFAULT_PARTITION__/part-00000.jsonl"),
                format!("{base}/country=a_b/part-00000.jsonl"),
                format!("{base}/country=fr/part-00000.jsonl"),
            ]
        );
        let fr = String::from_utf8(
            store
                .read(&format!("{base}/country=fr/part-00000.jsonl"))
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(fr.lines().count(), 2);
    }

    #[test]
    fn a_partition_value_too_long_for_a_folder_name_is_refused_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()));
        let mut spec = output(AggregationMode::SingleFile);
        spec.partition_by = vec!["country".into()];
        let mut out = FileOutputWriter::new(store.clone(), &spec, run("r1")).unwrap();
        // `country=` and 247 bytes is 255: the longest folder name.
        let longest = "é".repeat(123) + "x";
        let long = "x".repeat(300);
        out.write(&batch(&[1, 2], &[Some("fr"), Some(&long)]))
            .unwrap();
        out.write(&batch(&[3, 4], &[Some(&longest), Some("de")]))
            .unwrap();
        let rejected = out.rejected();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].field.as_deref(), Some("country"));
        assert_eq!(
            rejected[0].reason,
            "partitionBy field \"country\": its value makes the folder name (country=...) 308 bytes long; a folder name holds at most 255 bytes, so partition by a shorter field or shorten the value with a task (truncate)"
        );
        assert!(
            rejected[0]
                .location
                .as_deref()
                .unwrap()
                .ends_with("orders/v2/2024-05-01T00:30/r1: record 2 of the run"),
            "{:?}",
            rejected[0].location
        );
        assert_eq!(
            rejected[0].record.as_deref(),
            Some(format!(r#"{{"id":2,"country":"{long}"}}"#).as_str())
        );
        assert!(out.rejected().is_empty(), "handed back once");
        out.commit(false).unwrap();
        let base = "orders/v2/2024-05-01T00:30/r1";
        assert_eq!(
            published(&store),
            [
                format!("{base}/country=de/part-00000.jsonl"),
                format!("{base}/country=fr/part-00000.jsonl"),
                format!("{base}/country={longest}/part-00000.jsonl"),
            ]
        );
    }

    #[test]
    fn target_size_rolls_files_and_single_file_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()));
        let mut spec = output(AggregationMode::TargetSize);
        spec.aggregation = Aggregation {
            mode: AggregationMode::TargetSize,
            target_file_size_mb: Some(1),
        };
        let mut out = FileOutputWriter::new(store.clone(), &spec, run("r1")).unwrap();
        let ids: Vec<i64> = (0..100_000).collect();
        let countries = vec![Some("somewhere"); ids.len()];
        for _ in 0..5 {
            out.write(&batch(&ids, &countries)).unwrap();
        }
        let done = out.commit(false).unwrap();
        let sizes: Vec<u64> = done.manifest.files.iter().map(|f| f.bytes).collect();
        assert!(sizes.len() >= 2, "{sizes:?}");
        assert!(
            sizes[..sizes.len() - 1].iter().all(|s| *s >= 1 << 20),
            "{sizes:?}"
        );
        assert_eq!(done.manifest.rows, 500_000);

        let mut spec = output(AggregationMode::SingleFile);
        spec.format = FileFormat::Csv;
        spec.compression = OutputCompression::Gzip;
        let mut out = FileOutputWriter::new(store.clone(), &spec, run("r2")).unwrap();
        for _ in 0..3 {
            out.write(&batch(&[1, 2], &[None, None])).unwrap();
        }
        let done = out.commit(false).unwrap();
        assert_eq!(done.manifest.files.len(), 1);
        assert!(done.manifest.files[0].key.ends_with("part-00000.csv.gz"));
        assert_eq!(done.manifest.rows, 6);
    }
}
