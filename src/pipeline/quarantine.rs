//! Quarantine: bad records written as JSON Lines to the Flow's error
//! location, each with its original content, where it came from, the task
//! and field that rejected it, and the reason.
//!
//! Files are staged and published like any output
//! (`{flow}/{runId}/quarantine-{sequence}.jsonl` under the location), and
//! roll over every 64 MiB.

use std::io::Write;
use std::sync::Arc;

use serde::Serialize;

use super::engine::{BadRecord, Quarantine};
use super::error::{ConnectorError, ErrorClass};
use super::store::{ObjectWriter, Store};

const ROLL_BYTES: u64 = 64 << 20;

/// One quarantined record, as written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    flow: &'a str,
    run_id: &'a str,
    location: Option<&'a str>,
    task: Option<&'a str>,
    field: Option<&'a str>,
    reason: &'a str,
    /// The record as read, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<Box<serde_json::value::RawValue>>,
    /// Its raw text, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a str>,
    quarantined_at: &'a str,
}

/// Writes quarantined records to a store.
pub struct QuarantineWriter {
    store: Arc<dyn Store>,
    flow: String,
    run_id: String,
    open: Option<(Box<dyn ObjectWriter>, String, u64)>,
    staged: Vec<String>,
    sequence: u64,
}

impl QuarantineWriter {
    /// Quarantine of one run of `flow` in `store`.
    pub fn new(store: Arc<dyn Store>, flow: &str, run_id: &str) -> Result<Self, ConnectorError> {
        let writer = Self {
            store,
            flow: flow.to_owned(),
            run_id: run_id.to_owned(),
            open: None,
            staged: Vec::new(),
            sequence: 0,
        };
        for key in writer.store.list(&writer.staging())? {
            writer.store.delete(&key)?;
        }
        Ok(writer)
    }

    fn staging(&self) -> String {
        format!("_sluice/staging/{}/{}", self.flow, self.run_id)
    }

    fn name(&self, sequence: u64) -> String {
        format!(
            "{}/{}/quarantine-{sequence:05}.jsonl",
            self.flow, self.run_id
        )
    }

    fn close(&mut self) -> Result<(), ConnectorError> {
        if let Some((writer, key, _)) = self.open.take() {
            writer.finish()?;
            self.staged.push(key);
        }
        Ok(())
    }
}

impl Quarantine for QuarantineWriter {
    fn write(&mut self, records: &[BadRecord]) -> Result<(), ConnectorError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for bad in records {
            if self.open.is_none() {
                let key = self.name(self.sequence);
                self.sequence += 1;
                let writer = self.store.create(&format!("{}/{key}", self.staging()))?;
                self.open = Some((writer, key, 0));
            }
            let record = match &bad.record {
                Some(json) => Some(serde_json::value::RawValue::from_string(json.clone())?),
                None => None,
            };
            let entry = Entry {
                flow: &self.flow,
                run_id: &self.run_id,
                location: bad.location.as_deref(),
                task: bad.task.as_deref(),
                field: bad.field.as_deref(),
                reason: &bad.reason,
                record,
                raw: bad.raw.as_deref(),
                quarantined_at: &now,
            };
            let mut line = serde_json::to_vec(&entry)?;
            line.push(b'\n');
            if let Some((writer, _, bytes)) = self.open.as_mut() {
                writer.write_all(&line)?;
                *bytes += line.len() as u64;
                if *bytes >= ROLL_BYTES {
                    self.close()?;
                }
            }
        }
        Ok(())
    }

    fn publish(mut self: Box<Self>) -> Result<Option<String>, ConnectorError> {
        self.close()?;
        if self.staged.is_empty() {
            return Ok(None);
        }
        // A rerun of the run id replaces what an earlier attempt published.
        let folder = format!("{}/{}", self.flow, self.run_id);
        for key in self.store.list(&folder)? {
            if !self.staged.contains(&key) {
                self.store.delete(&key)?;
            }
        }
        for key in &self.staged {
            self.store
                .rename(&format!("{}/{key}", self.staging()), key)?;
        }
        Ok(Some(self.store.url(&folder)))
    }

    fn discard(mut self: Box<Self>) -> Result<(), ConnectorError> {
        self.close()?;
        for key in self.store.list(&self.staging())? {
            self.store.delete(&key)?;
        }
        Ok(())
    }
}

/// A quarantine shared by the engine and a destination that refuses
/// records one by one after they were handed to it (an application API's
/// per-record errors). The engine publishes or discards it; the
/// destination's handle only writes, before its commit returns.
#[derive(Clone)]
pub struct SharedQuarantine(Arc<std::sync::Mutex<Option<Box<dyn Quarantine>>>>);

impl SharedQuarantine {
    /// Shares `inner`.
    pub fn new(inner: Box<dyn Quarantine>) -> Self {
        Self(Arc::new(std::sync::Mutex::new(Some(inner))))
    }

    fn take(&self) -> Option<Box<dyn Quarantine>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl Quarantine for SharedQuarantine {
    fn write(&mut self, records: &[BadRecord]) -> Result<(), ConnectorError> {
        let mut inner = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match inner.as_mut() {
            Some(q) => q.write(records),
            None => Err(ConnectorError::new(
                ErrorClass::Internal,
                "the quarantine was already published",
            )),
        }
    }

    fn publish(self: Box<Self>) -> Result<Option<String>, ConnectorError> {
        match self.take() {
            Some(q) => q.publish(),
            None => Ok(None),
        }
    }

    fn discard(self: Box<Self>) -> Result<(), ConnectorError> {
        match self.take() {
            Some(q) => q.discard(),
            None => Ok(()),
        }
    }
}
