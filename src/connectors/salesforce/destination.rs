//! The salesforce destination: insert, update, upsert (on an external id
//! field) or delete records of one sObject.
//!
//! Records are kept until the run commits, so a run that fails before
//! (a bad record under policy Fail, a source error) sends nothing. At
//! commit the API is chosen by count (`Automatic`: Bulk API 2.0 from
//! `bulkThreshold` records) and:
//!
//! - sObject Collections: 200 records a request with `allOrNone: false`
//!   (`POST composite/sobjects` to insert, `PATCH` to update,
//!   `PATCH composite/sobjects/{object}/{externalIdField}` to upsert,
//!   `DELETE composite/sobjects?ids=...` to delete); each record's result
//!   says `success` or its `errors` (`statusCode`, `message`, `fields`);
//! - Bulk API 2.0 ingest: `POST jobs/ingest`, the CSV uploaded with
//!   `PUT .../batches`, `PATCH {"state": "UploadComplete"}`, polled until
//!   `JobComplete`, then `failedResults` (`sf__Id`, `sf__Error` and the
//!   record's fields). A job that ends `Failed` or `Aborted` fails the run
//!   with its `errorMessage`.
//!
//! Refused records are counted ([`Outcome::rejected`]) and, under policy
//! Quarantine, written to the Flow's quarantine with Salesforce's error
//! code and message; under policy Fail the run fails naming the first one
//! (the records Salesforce accepted stay written: an application API has no
//! transaction spanning requests).

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use tokio::runtime::Runtime;

use super::client::{Client, Target};
use super::describe::{self, Describe};
use super::source::poll_job;
use super::{Error, Result, SalesforceConfig};
use crate::api::v1alpha1::flow::{ErrorPolicy, SalesforceApi};
use crate::pipeline::engine::{BadRecord, Destination, Outcome, Quarantine};
use crate::pipeline::error::ConnectorError;
use crate::pipeline::quarantine::SharedQuarantine;

/// Records per sObject Collections request (the API's limit).
pub const COLLECTION_SIZE: usize = 200;

/// What the destination does with each record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Create records.
    Insert,
    /// Update records by `Id`.
    Update,
    /// Insert or update by the external id field.
    Upsert {
        /// The external id field.
        external_id: String,
    },
    /// Delete records by `Id`.
    Delete,
}

impl Operation {
    /// The Bulk API 2.0 operation name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Upsert { .. } => "upsert",
            Self::Delete => "delete",
        }
    }
}

/// Where and how to write.
#[derive(Clone)]
pub struct DestinationSettings {
    /// The sObject.
    pub object: String,
    /// Which API writes.
    pub api: SalesforceApi,
    /// With `Automatic`, Bulk from this many records.
    pub bulk_threshold: u64,
    /// The operation.
    pub operation: Operation,
    /// The Flow's error policy for refused records.
    pub policy: ErrorPolicy,
    /// Where refused records go under policy Quarantine.
    pub quarantine: Option<SharedQuarantine>,
}

/// Writes records to an sObject.
pub struct SalesforceRecordDestination {
    runtime: Runtime,
    client: Arc<Client>,
    describe: Describe,
    settings: DestinationSettings,
    schema: Option<SchemaRef>,
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: u64,
}

#[derive(Debug, Deserialize)]
struct SaveResult {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<SaveError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SaveError {
    #[serde(default)]
    status_code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    fields: Vec<String>,
}

/// What a write sent and what came back.
#[derive(Debug, Default)]
struct Sent {
    requests: u64,
    bytes: u64,
    refused: Vec<BadRecord>,
}

/// Reads a Bulk API 2.0 `sf__Error`: `CODE:message:Field1,Field2 --`.
pub fn bulk_error(text: &str) -> (&str, &str, Option<String>) {
    let text = text.trim().trim_end_matches("--").trim_end();
    let Some((code, rest)) = text.split_once(':') else {
        return ("UNKNOWN", text, None);
    };
    match rest.rsplit_once(':') {
        Some((message, fields)) if !fields.contains(char::is_whitespace) => (
            code,
            message.trim(),
            fields
                .split(',')
                .next()
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
        ),
        _ => (code, rest.trim(), None),
    }
}

impl SalesforceRecordDestination {
    /// Describes the object and checks the operation's id field.
    pub fn open(config: SalesforceConfig, settings: DestinationSettings) -> Result<Self> {
        let runtime = super::runtime()?;
        let client = Arc::new(Client::new(config)?);
        let describe = runtime.block_on(describe::object(&client, &settings.object))?;
        if let Operation::Upsert { external_id } = &settings.operation {
            let field = describe.field(external_id).ok_or_else(|| {
                Error::config(
                    "spec.sync.idFields",
                    format!("{external_id:?} is not a field of {}", describe.name),
                )
            })?;
            if !(field.external_id || field.id_lookup) {
                return Err(Error::config(
                    "spec.sync.idFields",
                    format!(
                        "{}.{} is not an external id field (mark it External ID in Salesforce, or upsert on Id)",
                        describe.name, field.name
                    ),
                ));
            }
        }
        Ok(Self {
            runtime,
            client,
            describe,
            settings,
            schema: None,
            batches: Vec::new(),
            rows: 0,
            bytes: 0,
        })
    }

    /// `Opportunity (upsert on External_Id__c)`, for summaries.
    pub fn description(&self) -> String {
        match &self.settings.operation {
            Operation::Upsert { external_id } => {
                format!(
                    "salesforce {} (upsert on {external_id})",
                    self.describe.name
                )
            }
            other => format!("salesforce {} ({})", self.describe.name, other.name()),
        }
    }

    /// The records' fields under the describe's names, checked against
    /// what the operation may set.
    fn check_schema(&self, schema: &SchemaRef) -> Result<SchemaRef> {
        let object = &self.describe.name;
        let op = &self.settings.operation;
        let mut fields = Vec::new();
        for field in schema.fields() {
            let info = self.describe.field(field.name()).ok_or_else(|| {
                Error::config(
                    "spec.destination.salesforce",
                    format!(
                        "field {:?} of the records is not a field of {object}; map or project it away with the Flow's tasks",
                        field.name()
                    ),
                )
            })?;
            let is_id = info.name == "Id";
            let is_key = matches!(op, Operation::Upsert { external_id } if external_id.eq_ignore_ascii_case(&info.name));
            let allowed = match op {
                Operation::Delete => true,
                Operation::Insert => info.createable,
                Operation::Update => is_id || info.updateable,
                Operation::Upsert { .. } => is_key || is_id || info.createable || info.updateable,
            };
            if !allowed {
                return Err(Error::config(
                    "spec.destination.salesforce",
                    format!(
                        "{object}.{} cannot be set by {} (it is not {}); leave it out with the Flow's tasks",
                        info.name,
                        op.name(),
                        if matches!(op, Operation::Insert) {
                            "createable"
                        } else {
                            "updateable"
                        }
                    ),
                ));
            }
            fields.push(Field::new(&info.name, field.data_type().clone(), true));
        }
        let has = |name: &str| fields.iter().any(|f| f.name() == name);
        let needed = match op {
            Operation::Update | Operation::Delete => Some("Id".to_owned()),
            Operation::Upsert { external_id } => {
                self.describe.field(external_id).map(|f| f.name.clone())
            }
            Operation::Insert => None,
        };
        if let Some(needed) = needed
            && !has(&needed)
        {
            return Err(Error::config(
                "spec.destination.salesforce",
                format!(
                    "{} needs the {needed} field in every record, and the records have none",
                    op.name()
                ),
            ));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    fn refused_record(
        &self,
        location: String,
        record: Option<String>,
        code: &str,
        message: &str,
        field: Option<String>,
    ) -> BadRecord {
        BadRecord {
            location: Some(location),
            task: None,
            field,
            reason: format!("{code}: {message}"),
            record,
            raw: None,
        }
    }

    /// The records as JSON objects, one a line.
    fn json_lines(&self) -> Result<Vec<String>> {
        let mut buffer = Vec::new();
        {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(&mut buffer);
            for batch in &self.batches {
                writer.write(batch).map_err(|e| Error::Response {
                    request: format!("{} records", self.describe.name),
                    message: format!("encoding as JSON: {e}"),
                })?;
            }
            writer.finish().map_err(|e| Error::Response {
                request: format!("{} records", self.describe.name),
                message: format!("encoding as JSON: {e}"),
            })?;
        }
        Ok(String::from_utf8_lossy(&buffer)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    async fn collections(&self, lines: &[String]) -> Result<Sent> {
        let object = &self.describe.name;
        let op = &self.settings.operation;
        let mut written = Sent::default();
        for (chunk_index, chunk) in lines.chunks(COLLECTION_SIZE).enumerate() {
            let (method, target, body) = match op {
                Operation::Delete => {
                    let ids: Vec<String> = chunk
                        .iter()
                        .map(|line| {
                            serde_json::from_str::<serde_json::Value>(line)
                                .ok()
                                .and_then(|v| {
                                    v.get("Id").and_then(|id| id.as_str()).map(str::to_owned)
                                })
                                .unwrap_or_default()
                        })
                        .collect();
                    (
                        Method::DELETE,
                        Target::Data(
                            "composite/sobjects".to_owned(),
                            vec![("ids", ids.join(",")), ("allOrNone", "false".to_owned())],
                        ),
                        None,
                    )
                }
                _ => {
                    let mut records = Vec::with_capacity(chunk.len());
                    for line in chunk {
                        let mut record: serde_json::Map<String, serde_json::Value> =
                            serde_json::from_str(line).map_err(|e| Error::Response {
                                request: format!("{object} records"),
                                message: format!("re-reading a record: {e}"),
                            })?;
                        record.insert(
                            "attributes".to_owned(),
                            serde_json::json!({ "type": object }),
                        );
                        records.push(serde_json::Value::Object(record));
                    }
                    let body = serde_json::json!({"allOrNone": false, "records": records});
                    let (method, path) = match op {
                        Operation::Insert => (Method::POST, "composite/sobjects".to_owned()),
                        Operation::Update => (Method::PATCH, "composite/sobjects".to_owned()),
                        Operation::Upsert { external_id } => (
                            Method::PATCH,
                            format!(
                                "composite/sobjects/{object}/{}",
                                self.describe
                                    .field(external_id)
                                    .map_or(external_id.as_str(), |f| f.name.as_str())
                            ),
                        ),
                        Operation::Delete => (Method::DELETE, String::new()),
                    };
                    let bytes = Bytes::from(body.to_string());
                    (
                        method,
                        Target::Data(path, Vec::new()),
                        Some(("application/json", bytes)),
                    )
                }
            };
            written.bytes += body.as_ref().map_or(0, |(_, b)| b.len() as u64);
            let response = self.client.send(method, &target, body, &[]).await?;
            written.requests += 1;
            let results: Vec<SaveResult> = response.json()?;
            if results.len() != chunk.len() {
                return Err(Error::Response {
                    request: response.request,
                    message: format!(
                        "{} results for {} records; the outcome of this request is unknown",
                        results.len(),
                        chunk.len()
                    ),
                });
            }
            for (i, (result, line)) in results.iter().zip(chunk).enumerate() {
                if result.success {
                    continue;
                }
                let first = result.errors.first();
                written.refused.push(self.refused_record(
                    format!(
                        "{object} {} record {}",
                        op.name(),
                        chunk_index * COLLECTION_SIZE + i + 1
                    ),
                    Some(line.clone()),
                    first.map_or("UNKNOWN", |e| e.status_code.as_str()),
                    first.map_or("Salesforce gave no error", |e| e.message.as_str()),
                    first.and_then(|e| e.fields.first().cloned()),
                ));
            }
        }
        Ok(written)
    }

    fn csv(&self) -> Result<Bytes> {
        let mut out = Vec::new();
        {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.3fZ".to_owned())
                .with_date_format("%Y-%m-%d".to_owned())
                .build(&mut out);
            for batch in &self.batches {
                let batch = if self.settings.operation == Operation::Delete {
                    let index = batch.schema().index_of("Id").map_err(|e| Error::Response {
                        request: format!("{} records", self.describe.name),
                        message: e.to_string(),
                    })?;
                    batch.project(&[index]).map_err(|e| Error::Response {
                        request: format!("{} records", self.describe.name),
                        message: e.to_string(),
                    })?
                } else {
                    batch.clone()
                };
                writer.write(&batch).map_err(|e| Error::Response {
                    request: format!("{} records", self.describe.name),
                    message: format!("encoding as CSV: {e}"),
                })?;
            }
        }
        Ok(Bytes::from(out))
    }

    async fn bulk(&self, csv: Bytes) -> Result<Sent> {
        let object = &self.describe.name;
        let op = &self.settings.operation;
        let mut job = serde_json::json!({
            "object": object,
            "operation": op.name(),
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        if let Operation::Upsert { external_id } = op {
            job["externalIdFieldName"] = serde_json::Value::String(
                self.describe
                    .field(external_id)
                    .map_or(external_id.clone(), |f| f.name.clone()),
            );
        }
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let created: Created = self
            .client
            .send(
                Method::POST,
                &Target::Data("jobs/ingest".to_owned(), Vec::new()),
                Some(("application/json", Bytes::from(job.to_string()))),
                &[],
            )
            .await?
            .json()?;
        let id = created.id;
        let bytes = csv.len() as u64;
        let uploaded = async {
            self.client
                .send(
                    Method::PUT,
                    &Target::Data(format!("jobs/ingest/{id}/batches"), Vec::new()),
                    Some(("text/csv", csv)),
                    &[],
                )
                .await?;
            self.client
                .send(
                    Method::PATCH,
                    &Target::Data(format!("jobs/ingest/{id}"), Vec::new()),
                    Some((
                        "application/json",
                        Bytes::from(r#"{"state":"UploadComplete"}"#),
                    )),
                    &[],
                )
                .await
        }
        .await;
        if let Err(e) = uploaded {
            // Nothing is processed before UploadComplete: abort the job.
            let _ = self
                .client
                .send(
                    Method::PATCH,
                    &Target::Data(format!("jobs/ingest/{id}"), Vec::new()),
                    Some(("application/json", Bytes::from(r#"{"state":"Aborted"}"#))),
                    &[],
                )
                .await;
            return Err(e);
        }
        let info = poll_job(&self.client, "ingest", &id, object).await?;
        let mut written = Sent {
            requests: 4,
            bytes,
            refused: Vec::new(),
        };
        if info.number_records_failed.unwrap_or(1) > 0 {
            let failed = self
                .client
                .send(
                    Method::GET,
                    &Target::Data(format!("jobs/ingest/{id}/failedResults/"), Vec::new()),
                    None,
                    &[("accept", "text/csv".to_owned())],
                )
                .await?;
            written.requests += 1;
            let mut reader = csv::ReaderBuilder::new().from_reader(failed.body.as_ref());
            let header = reader
                .headers()
                .map_err(|e| Error::Response {
                    request: failed.request.clone(),
                    message: format!("the failed results are not CSV: {e}"),
                })?
                .clone();
            for (n, row) in reader.records().enumerate() {
                let row = row.map_err(|e| Error::Response {
                    request: failed.request.clone(),
                    message: format!("the failed results are not CSV: {e}"),
                })?;
                let mut record = serde_json::Map::new();
                let mut error = String::new();
                for (name, value) in header.iter().zip(row.iter()) {
                    match name {
                        "sf__Error" => error = value.to_owned(),
                        "sf__Id" => {}
                        _ => {
                            record.insert(
                                name.to_owned(),
                                serde_json::Value::String(value.to_owned()),
                            );
                        }
                    }
                }
                let (code, message, field) = bulk_error(&error);
                written.refused.push(self.refused_record(
                    format!("{object} bulk ingest job {id} failed result {}", n + 1),
                    Some(serde_json::Value::Object(record).to_string()),
                    code,
                    message,
                    field,
                ));
            }
        }
        if let Some(processed) = info.number_records_processed
            && processed < self.rows as u64
        {
            return Err(Error::BulkJob {
                kind: "ingest",
                id,
                object: object.clone(),
                state: info.state,
                message: format!(
                    "only {processed} of {} records were processed; see the job's unprocessedrecords",
                    self.rows
                ),
                class: super::ErrorClass::Write,
            });
        }
        Ok(written)
    }

    fn finish(&mut self) -> Result<Outcome> {
        let total = self.rows as u64;
        let bulk = match self.settings.api {
            SalesforceApi::Bulk => true,
            SalesforceApi::Rest => false,
            SalesforceApi::Automatic => total >= self.settings.bulk_threshold,
        };
        let written = if total == 0 {
            Sent::default()
        } else if bulk {
            let csv = self.csv()?;
            self.runtime.block_on(self.bulk(csv))?
        } else {
            let lines = self.json_lines()?;
            self.runtime.block_on(self.collections(&lines))?
        };
        let rejected = written.refused.len() as u64;
        if let Some(first) = written.refused.first() {
            match self.settings.policy {
                ErrorPolicy::Fail => {
                    return Err(Error::Refused {
                        count: rejected,
                        total,
                        location: first.location.clone().unwrap_or_default(),
                        reason: first.reason.clone(),
                    });
                }
                ErrorPolicy::Quarantine => {
                    if let Some(q) = self.settings.quarantine.as_mut() {
                        q.write(&written.refused).map_err(|e| Error::Response {
                            request: "quarantine".to_owned(),
                            message: e.to_string(),
                        })?;
                    }
                }
                ErrorPolicy::Skip => {}
            }
        }
        let instance = self
            .runtime
            .block_on(self.client.session())
            .map(|(s, _)| s.instance_url.to_string())
            .unwrap_or_default();
        let usage = self
            .client
            .usage()
            .map(|u| format!("; {u}"))
            .unwrap_or_default();
        Ok(Outcome {
            location: format!(
                "{} at {} via {}: {} written, {rejected} refused{usage}",
                self.description(),
                instance.trim_end_matches('/'),
                if bulk {
                    "Bulk API 2.0"
                } else {
                    "sObject Collections"
                },
                total - rejected
            ),
            manifest: None,
            objects: written.requests,
            bytes: written.bytes,
            rejected,
        })
    }
}

impl Destination for SalesforceRecordDestination {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let schema = match &self.schema {
            Some(schema) => schema.clone(),
            None => {
                let schema = self.check_schema(&batch.schema())?;
                self.schema = Some(schema.clone());
                schema
            }
        };
        let batch = RecordBatch::try_new(schema, batch.columns().to_vec())?;
        self.rows += batch.num_rows();
        self.bytes += batch.get_array_memory_size() as u64;
        self.batches.push(batch);
        Ok(())
    }

    fn bytes_written(&self) -> u64 {
        self.bytes
    }

    fn commit(mut self: Box<Self>) -> Result<Outcome, ConnectorError> {
        Ok(self.finish()?)
    }

    fn abort(self: Box<Self>) -> Result<(), ConnectorError> {
        // Nothing was sent.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_errors_split_into_code_message_and_field() {
        assert_eq!(
            bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"),
            (
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [Name]",
                Some("Name".to_owned())
            )
        );
        assert_eq!(
            bulk_error("ENTITY_IS_DELETED:entity is deleted: --"),
            ("ENTITY_IS_DELETED", "entity is deleted", None)
        );
        assert_eq!(bulk_error("odd"), ("UNKNOWN", "odd", None));
    }
}
