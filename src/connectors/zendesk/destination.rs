//! Writing tickets: `POST /api/v2/tickets/create_many` and
//! `PUT /api/v2/tickets/update_many`, 100 tickets a request, each answered
//! with a `job_status` that is polled at `/api/v2/job_statuses/{id}` until
//! it is `completed` (or `failed`/`killed`, which ends the run).
//!
//! Rows with an `id` are updates, rows without are creates (`Upsert`);
//! `Append` creates every row (an `id` is not sent) and `Update` updates
//! (a row without `id` is a bad record). Multi-select custom field values
//! read as JSON text go back as lists. Read-only fields (`url`,
//! `created_at`, `updated_at`, `via`, …) are not sent; a created ticket
//! whose row has a `description` but no `comment` gets it as its first
//! comment, which Zendesk requires.
//!
//! A completed job lists a result per ticket; those with an `error` (or
//! `success: false`, `status: Failed`) are handed back to the engine as bad
//! records with Zendesk's error and details, and the Flow's error policy
//! decides (skip, quarantine or fail). Zendesk has no transaction: tickets
//! of completed jobs stay written when the run fails later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use reqwest::{Method, Url};
use serde_json::{Map, Value, json};

use super::client::ZendeskClient;
use super::{Error, Result};
use crate::api::v1alpha1::flow::WriteMode;
use crate::connectors::common::runtime;
use crate::pipeline::engine::{BadRecord, Destination, Outcome};
use crate::pipeline::error::ConnectorError;

/// Tickets per `create_many` / `update_many` request (Zendesk's limit).
pub const BATCH: usize = 100;

/// Fields of a ticket that Zendesk sets itself; they are not sent.
pub const READ_ONLY: &[&str] = &[
    "url",
    "created_at",
    "updated_at",
    "generated_timestamp",
    "has_incidents",
    "is_public",
    "allow_channelback",
    "allow_attachments",
    "from_messaging_channel",
    "satisfaction_rating",
    "via",
    "encoded_id",
];

/// What a row becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
}

/// How rows are written, from the Flow's `sync.writeMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketWrite {
    /// Create every row.
    Create,
    /// Update rows by `id`.
    Update,
    /// Update rows with an `id`, create the others.
    Upsert,
}

impl TicketWrite {
    /// The mode of `write_mode`, or why it cannot be used.
    pub fn of(write_mode: WriteMode, id_fields: &[String]) -> Result<Self> {
        let by_id = || {
            if id_fields == ["id"] {
                Ok(())
            } else {
                Err(Error::config(
                    "spec.sync.idFields",
                    format!(
                        "zendesk tickets are matched by their id: set idFields to [id] (found {id_fields:?})"
                    ),
                ))
            }
        };
        match write_mode {
            WriteMode::Append => Ok(Self::Create),
            WriteMode::Update => by_id().map(|()| Self::Update),
            WriteMode::Upsert => by_id().map(|()| Self::Upsert),
            other => Err(Error::config(
                "spec.sync.writeMode",
                format!(
                    "{other:?} is not supported by the zendesk destination; use Append (create), Update or Upsert"
                ),
            )),
        }
    }
}

/// One request's tickets: the rows as sent, and where they came from.
struct Submitted {
    action: Action,
    rows: Vec<Map<String, Value>>,
    job: Job,
}

#[derive(Debug, Clone)]
struct Job {
    id: String,
    url: Url,
    request: String,
}

/// Writes tickets into Zendesk.
pub struct ZendeskTicketDestination {
    client: Arc<ZendeskClient>,
    runtime: tokio::runtime::Runtime,
    mode: TicketWrite,
    rejected: Vec<BadRecord>,
    written: u64,
    bytes: u64,
    jobs: u64,
    batches: u64,
}

impl std::fmt::Debug for ZendeskTicketDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZendeskTicketDestination")
            .field("mode", &self.mode)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

fn rows(batch: &RecordBatch) -> Result<Vec<Map<String, Value>>, ConnectorError> {
    let mut buffer = Vec::new();
    {
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut buffer);
        writer.write(batch)?;
        writer.finish()?;
    }
    let mut out = Vec::with_capacity(batch.num_rows());
    for line in buffer.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice(line)? {
            Value::Object(map) => out.push(map),
            _ => out.push(Map::new()),
        }
    }
    Ok(out)
}

/// Custom field values as Zendesk takes them: a multi-select value read as
/// JSON text (`["a","b"]`, see [`schema`](super::schema)) goes back as the
/// list it was.
fn restore_custom_values(row: &mut Map<String, Value>) {
    let Some(Value::Array(fields)) = row.get_mut("custom_fields") else {
        return;
    };
    for field in fields {
        if let Some(value) = field.get_mut("value")
            && let Some(text) = value.as_str()
            && text.starts_with('[')
            && let Ok(list @ Value::Array(_)) = serde_json::from_str::<Value>(text)
        {
            *value = list;
        }
    }
}

/// A result that Zendesk reports as failed: its error and details.
fn failure(result: &Value) -> Option<String> {
    let error = result.get("error").and_then(|e| match e {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    });
    let failed = error.is_some()
        || result.get("success") == Some(&Value::Bool(false))
        || result.get("status").and_then(Value::as_str) == Some("Failed");
    if !failed {
        return None;
    }
    let details = match result.get("details") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    Some(match (error, details) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e,
        (None, Some(d)) => d,
        (None, None) => "failed without an error message".to_owned(),
    })
}

impl ZendeskTicketDestination {
    /// A destination writing through `client` as `mode` says.
    pub fn new(client: ZendeskClient, mode: TicketWrite) -> Result<Self> {
        let runtime = runtime::current_thread()
            .map_err(|e| Error::config("zendesk", format!("cannot start a runtime: {e}")))?;
        Ok(Self {
            client: Arc::new(client),
            runtime,
            mode,
            rejected: Vec::new(),
            written: 0,
            bytes: 0,
            jobs: 0,
            batches: 0,
        })
    }

    /// Where tickets go, for summaries.
    pub fn description(&self) -> String {
        format!("zendesk tickets at {}", self.client.config().base)
    }

    fn prepare(
        &mut self,
        rows: Vec<Map<String, Value>>,
        batch: u64,
    ) -> Vec<(Action, Map<String, Value>)> {
        let mut out = Vec::with_capacity(rows.len());
        for (i, mut row) in rows.into_iter().enumerate() {
            for field in READ_ONLY {
                row.remove(*field);
            }
            restore_custom_values(&mut row);
            let has_id = row.get("id").is_some_and(|v| !v.is_null());
            let action = match (self.mode, has_id) {
                (TicketWrite::Create, _) => {
                    row.remove("id");
                    Action::Create
                }
                (TicketWrite::Upsert, false) => Action::Create,
                (_, true) => Action::Update,
                (TicketWrite::Update, false) => {
                    self.rejected.push(BadRecord {
                        location: Some(format!("zendesk tickets: batch {batch}, row {}", i + 1)),
                        task: None,
                        field: Some("id".to_owned()),
                        reason: "writeMode Update needs the ticket's id; the row has none"
                            .to_owned(),
                        record: Some(Value::Object(row).to_string()),
                        raw: None,
                    });
                    continue;
                }
            };
            if action == Action::Create
                && !row.contains_key("comment")
                && let Some(description) = row.get("description").cloned()
                && !description.is_null()
            {
                row.insert("comment".to_owned(), json!({ "body": description }));
            }
            out.push((action, row));
        }
        out
    }

    async fn submit(
        client: &ZendeskClient,
        action: Action,
        rows: Vec<Map<String, Value>>,
    ) -> Result<Submitted> {
        let (method, path) = match action {
            Action::Create => (Method::POST, "tickets/create_many.json"),
            Action::Update => (Method::PUT, "tickets/update_many.json"),
        };
        let url = client.config().url(path)?;
        let body = serde_json::to_vec(&json!({ "tickets": rows }))
            .map_err(|e| Error::config("zendesk", format!("encoding tickets: {e}")))?;
        let response = client
            .send_json(method.clone(), &url, body, "the tickets batch endpoint")
            .await?;
        let value = ZendeskClient::json(&response)?;
        let status = value.get("job_status").ok_or_else(|| Error::Page {
            page: response.request.clone(),
            field: "job_status".to_owned(),
            message: "the answer has no job_status".to_owned(),
        })?;
        let id = status
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Page {
                page: response.request.clone(),
                field: "job_status.id".to_owned(),
                message: "the job has no id".to_owned(),
            })?
            .to_owned();
        let job_url = client.config().url(&format!("job_statuses/{id}.json"))?;
        Ok(Submitted {
            action,
            rows,
            job: Job {
                id,
                url: job_url,
                request: response.request,
            },
        })
    }

    /// Polls a job until it completes; its results.
    async fn poll(client: &ZendeskClient, job: &Job) -> Result<Vec<Value>> {
        let config = client.config();
        let started = Instant::now();
        let mut wait = config.job_poll;
        loop {
            let response = client
                .get(&job.url, &format!("job status {}", job.id))
                .await?;
            let value = ZendeskClient::json(&response)?;
            let status = value.get("job_status").cloned().unwrap_or(Value::Null);
            let state = status.get("status").and_then(Value::as_str).unwrap_or("");
            let message = status
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let job_error = |message: String| Error::Job {
                id: job.id.clone(),
                url: client.describe(&Method::GET, &job.url),
                message,
            };
            match state {
                "completed" => {
                    return match status.get("results") {
                        Some(Value::Array(results)) => Ok(results.clone()),
                        _ => Err(job_error(format!(
                            "completed without per-ticket results (message {message:?})"
                        ))),
                    };
                }
                "failed" | "killed" => {
                    return Err(job_error(format!(
                        "the job {state} (submitted by {}): {message}",
                        job.request
                    )));
                }
                "queued" | "working" => {}
                other => {
                    return Err(job_error(format!(
                        "unknown job status {other:?}; expected queued, working, completed, failed or killed"
                    )));
                }
            }
            if started.elapsed() + wait > config.job_timeout {
                return Err(job_error(format!(
                    "still {state} after {:.0}s; the tickets it holds may be written later",
                    started.elapsed().as_secs_f64()
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    fn send(&mut self, prepared: Vec<(Action, Map<String, Value>)>) -> Result<()> {
        let mut groups: Vec<(Action, Vec<Map<String, Value>>)> = Vec::new();
        for action in [Action::Create, Action::Update] {
            let rows: Vec<Map<String, Value>> = prepared
                .iter()
                .filter(|(a, _)| *a == action)
                .map(|(_, r)| r.clone())
                .collect();
            for chunk in rows.chunks(BATCH) {
                groups.push((action, chunk.to_vec()));
            }
        }
        let client = self.client.clone();
        // Every request first, then the polls: Zendesk works on the jobs
        // while the others are submitted.
        let outcomes = self.runtime.block_on(async {
            let mut submitted = Vec::with_capacity(groups.len());
            for (action, rows) in groups {
                submitted.push(Self::submit(&client, action, rows).await?);
            }
            let mut out = Vec::with_capacity(submitted.len());
            for job in submitted {
                let results = Self::poll(&client, &job.job).await?;
                out.push((job, results));
            }
            Ok::<_, Error>(out)
        })?;
        for (submitted, results) in outcomes {
            self.jobs += 1;
            let Submitted { action, rows, job } = submitted;
            self.bytes += rows
                .iter()
                .map(|r| Value::Object(r.clone()).to_string().len() as u64)
                .sum::<u64>();
            let mut failed = vec![None; rows.len()];
            for (position, result) in results.iter().enumerate() {
                let Some(reason) = failure(result) else {
                    continue;
                };
                let index = result
                    .get("index")
                    .and_then(Value::as_u64)
                    .map(|i| i as usize)
                    .or_else(|| {
                        let id = result.get("id")?;
                        rows.iter().position(|r| r.get("id") == Some(id))
                    })
                    .unwrap_or(position);
                if let Some(slot) = failed.get_mut(index) {
                    *slot = Some(reason);
                }
            }
            let verb = match action {
                Action::Create => "create_many",
                Action::Update => "update_many",
            };
            for (index, (row, reason)) in rows.into_iter().zip(failed).enumerate() {
                match reason {
                    None => self.written += 1,
                    Some(reason) => self.rejected.push(BadRecord {
                        location: Some(format!(
                            "zendesk tickets {verb} job {}: tickets[{index}]",
                            job.id
                        )),
                        task: None,
                        field: None,
                        reason: format!("Zendesk refused the ticket: {reason}"),
                        record: Some(Value::Object(row).to_string()),
                        raw: None,
                    }),
                }
            }
        }
        Ok(())
    }
}

impl Destination for ZendeskTicketDestination {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.batches += 1;
        let rows = rows(batch)?;
        let prepared = self.prepare(rows, self.batches);
        self.send(prepared).map_err(ConnectorError::from)
    }

    fn rejected(&mut self) -> Vec<BadRecord> {
        std::mem::take(&mut self.rejected)
    }

    fn bytes_written(&self) -> u64 {
        self.bytes
    }

    fn commit(self: Box<Self>) -> Result<Outcome, ConnectorError> {
        Ok(Outcome {
            location: self.description(),
            manifest: None,
            objects: self.written,
            bytes: self.bytes,
            // Refused tickets were handed back as they were written.
            rejected: 0,
        })
    }

    fn abort(self: Box<Self>) -> Result<(), ConnectorError> {
        // Completed jobs cannot be undone: Zendesk has no transaction.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn failed_results_in_each_documented_form() {
        assert_eq!(failure(&json!({"id": 244, "index": 0})), None);
        assert_eq!(
            failure(&json!({"id": 1, "action": "update", "success": true, "status": "Updated"})),
            None
        );
        assert_eq!(
            failure(
                &json!({"index": 1, "error": "TicketCreateFailed", "details": "Requester: cannot be blank"})
            ),
            Some("TicketCreateFailed: Requester: cannot be blank".to_owned())
        );
        assert_eq!(
            failure(
                &json!({"id": 2, "success": false, "status": "Failed", "details": "Permission denied"})
            ),
            Some("Permission denied".to_owned())
        );
    }

    #[test]
    fn multi_select_values_go_back_as_lists() {
        let mut row = json!({"custom_fields": [
            {"id": 1, "value": "[\"a\",\"b\"]"},
            {"id": 2, "value": "745"},
            {"id": 3, "value": "[not json"}
        ]});
        restore_custom_values(row.as_object_mut().unwrap());
        assert_eq!(
            row["custom_fields"],
            json!([{"id": 1, "value": ["a", "b"]}, {"id": 2, "value": "745"}, {"id": 3, "value": "[not json"}])
        );
    }

    #[test]
    fn write_modes() {
        let id = ["id".to_owned()];
        assert_eq!(
            TicketWrite::of(WriteMode::Append, &[]).unwrap(),
            TicketWrite::Create
        );
        assert_eq!(
            TicketWrite::of(WriteMode::Upsert, &id).unwrap(),
            TicketWrite::Upsert
        );
        assert!(TicketWrite::of(WriteMode::Upsert, &["external_id".to_owned()]).is_err());
        assert!(TicketWrite::of(WriteMode::Delete, &id).is_err());
    }
}
