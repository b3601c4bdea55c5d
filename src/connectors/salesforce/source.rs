//! The salesforce source: one sObject read with SOQL.
//!
//! [`SalesforceRecordSource::open`] describes the object (its fields give the
//! schema, so the output has the same fields and types whichever API reads
//! it), builds the SOQL (the run's window on the cursor field, the Flow's
//! pushable filters), chooses the API, and fetches the first page so that
//! errors surface when the run is planned:
//!
//! - `Rest`: `GET query?q=...` (`queryAll` when deleted records are asked
//!   for) with `Sforce-Query-Options: batchSize`, then each page's
//!   `nextRecordsUrl`; pages are JSON, decoded with arrow-json;
//! - `Bulk`: a Bulk API 2.0 query job (`POST jobs/query`), polled with
//!   backoff until `JobComplete` (a `Failed` or `Aborted` job is an error
//!   with its `errorMessage`, and nothing is read), then its CSV results:
//!   from API 58.0 the `resultPages` links, fetched several at once, before
//!   that `results?maxRecords=` pages chained by the `Sforce-Locator`
//!   header;
//! - `Automatic`: `SELECT COUNT()` with the same WHERE clause first; Bulk at
//!   `bulkThreshold` records or more.
//!
//! A field of the describe that the query then refuses (`INVALID_FIELD`,
//! `No such column`) was removed in between: under schema-drift policy
//! Fail the run fails naming it; otherwise it is left out of the query and
//! written as null. Fields the Flow's tasks name that the describe lacks
//! are treated the same way.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::new_null_array;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use tokio::runtime::Runtime;

use super::client::{Client, Target};
use super::describe::{self, Describe};
use super::soql::{self, Query};
use super::{Error, Result, SalesforceConfig};
use crate::api::v1alpha1::Task;
use crate::api::v1alpha1::flow::{SalesforceApi, SchemaDriftPolicy};
use crate::connectors::common::records::{self, Found, Pointer};
use crate::pipeline::engine::{Chunk, Source, Unit};
use crate::pipeline::error::ConnectorError;
use crate::pipeline::format::CsvReader;
use crate::pipeline::location::{self, Positions};
use crate::pipeline::schema::RecordSchema;

/// The window of an incremental read: `cursorField` in `[start, end)`.
pub use crate::connectors::CursorWindow as Window;

/// What to read.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// The sObject.
    pub object: String,
    /// Which API reads.
    pub api: SalesforceApi,
    /// `queryAll`: deleted and archived records too.
    pub include_deleted: bool,
    /// With `Automatic`, Bulk from this many records.
    pub bulk_threshold: u64,
    /// The incremental window.
    pub window: Option<Window>,
    /// The Flow's tasks, for filter pushdown.
    pub tasks: Vec<Task>,
    /// Source fields the Flow's tasks name.
    pub expected_fields: Vec<String>,
    /// The Flow's schema-drift policy.
    pub drift: SchemaDriftPolicy,
}

/// Which API a run reads with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadApi {
    /// REST query pages.
    Rest,
    /// A Bulk API 2.0 query job.
    Bulk,
}

/// A fetched page, not yet decoded.
#[derive(Debug)]
struct Page {
    origin: String,
    body: Bytes,
    kind: PageKind,
}

#[derive(Debug)]
enum PageKind {
    Json(Vec<std::ops::Range<usize>>),
    Csv,
}

#[derive(Debug)]
enum Next {
    RestFirst,
    Rest(String),
    BulkLocator(Option<String>),
    BulkPages(Option<String>),
    Done,
}

/// Reads an sObject.
pub struct SalesforceRecordSource {
    runtime: Runtime,
    client: Arc<Client>,
    schema: SchemaRef,
    /// The schema of the selected fields (the pages' columns).
    read_schema: SchemaRef,
    query: Query,
    api: ReadApi,
    settings: SourceSettings,
    job: Option<String>,
    next: Next,
    buffered: VecDeque<Page>,
    pages: u64,
    count: Option<u64>,
    description: String,
}

impl std::fmt::Debug for SalesforceRecordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceRecordSource")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// The field a SOQL error names as missing (`No such column 'X' on entity`).
pub fn missing_column(message: &str) -> Option<String> {
    let start = message.find("No such column '")? + "No such column '".len();
    let end = message[start..].find('\'')?;
    Some(message[start..start + end].to_owned())
}

/// Puts `batch` in `schema`'s shape: missing columns as nulls.
fn widen(batch: RecordBatch, schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let same = batch.schema().fields().len() == schema.fields().len()
        && batch
            .schema()
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.name() == b.name());
    if same {
        return RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
            .map_err(|e| e.to_string());
    }
    let rows = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            batch
                .column_by_name(f.name())
                .cloned()
                .unwrap_or_else(|| new_null_array(f.data_type(), rows))
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

/// A bulk job's state, as `GET jobs/{query|ingest}/{id}` reports it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobInfo {
    pub(crate) id: String,
    pub(crate) state: String,
    #[serde(default)]
    pub(crate) error_message: Option<String>,
    #[serde(default)]
    pub(crate) number_records_processed: Option<u64>,
    #[serde(default)]
    pub(crate) number_records_failed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultPages {
    #[serde(default)]
    result_pages: Vec<ResultPage>,
    #[serde(default)]
    next_records_url: Option<String>,
    #[serde(default)]
    done: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultPage {
    result_url: String,
}

impl SalesforceRecordSource {
    /// Describes the object, plans the query and fetches the first page.
    pub fn open(config: SalesforceConfig, settings: SourceSettings) -> Result<Self> {
        let runtime = super::runtime()?;
        let client = Arc::new(Client::new(config)?);
        let describe = runtime.block_on(describe::object(&client, &settings.object))?;
        let mut source = Self::plan(runtime, client, describe, settings)?;
        source.start()?;
        Ok(source)
    }

    fn plan(
        runtime: Runtime,
        client: Arc<Client>,
        describe: Describe,
        settings: SourceSettings,
    ) -> Result<Self> {
        let mut fields: Vec<Field> = describe
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for expected in &settings.expected_fields {
            if describe.field(expected).is_some() || fields.iter().any(|f| f.name() == expected) {
                continue;
            }
            if settings.drift == SchemaDriftPolicy::Fail {
                return Err(Error::FieldRemoved {
                    object: describe.name.clone(),
                    field: expected.clone(),
                    detail: "the Flow's tasks name it; the object's describe does not have it"
                        .to_owned(),
                });
            }
            fields.push(Field::new(expected, DataType::Utf8, true));
        }
        let mut conditions = Vec::new();
        if let Some(window) = &settings.window {
            let cursor =
                describe
                    .field(&window.cursor_field)
                    .ok_or_else(|| Error::FieldRemoved {
                        object: describe.name.clone(),
                        field: window.cursor_field.clone(),
                        detail: "it is the Flow's sync.cursorField".to_owned(),
                    })?;
            if !matches!(cursor.kind.as_str(), "datetime" | "date") {
                return Err(Error::config(
                    "spec.sync.cursorField",
                    format!(
                        "{}.{} is a {} field; incremental reads need a datetime field such as SystemModstamp or LastModifiedDate",
                        describe.name, cursor.name, cursor.kind
                    ),
                ));
            }
            conditions.push(soql::window_condition(
                &cursor.name,
                window.start,
                window.end,
            ));
        }
        conditions.extend(soql::pushdown(&settings.tasks, &describe));
        let read: Vec<Field> = describe
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let query = Query {
            object: describe.name.clone(),
            fields: read.iter().map(|f| f.name().clone()).collect(),
            conditions,
        };
        Ok(Self {
            runtime,
            client,
            schema: Arc::new(Schema::new(fields)),
            read_schema: Arc::new(Schema::new(read)),
            query,
            api: ReadApi::Rest,
            settings,
            job: None,
            next: Next::RestFirst,
            buffered: VecDeque::new(),
            pages: 0,
            count: None,
            description: String::new(),
        })
    }

    /// Chooses the API and fetches the first page, leaving out fields the
    /// query refuses when the drift policy allows.
    fn start(&mut self) -> Result<()> {
        loop {
            match self.try_start() {
                Err(Error::Api { message, code, .. })
                    if missing_column(&message).is_some()
                        && matches!(
                            code.as_str(),
                            "INVALID_FIELD" | "INVALIDJOB" | "MALFORMED_QUERY"
                        ) =>
                {
                    let field = missing_column(&message).unwrap_or_default();
                    let position = self
                        .query
                        .fields
                        .iter()
                        .position(|f| f.eq_ignore_ascii_case(&field));
                    let Some(position) =
                        position.filter(|_| self.settings.drift != SchemaDriftPolicy::Fail)
                    else {
                        return Err(Error::FieldRemoved {
                            object: self.query.object.clone(),
                            field,
                            detail: format!(
                                "the describe listed it but the query was refused: {message}"
                            ),
                        });
                    };
                    self.query.fields.remove(position);
                    let read: Vec<Field> = self
                        .read_schema
                        .fields()
                        .iter()
                        .filter(|f| !f.name().eq_ignore_ascii_case(&field))
                        .map(|f| f.as_ref().clone())
                        .collect();
                    self.read_schema = Arc::new(Schema::new(read));
                    self.next = Next::RestFirst;
                    self.buffered.clear();
                }
                other => return other,
            }
        }
    }

    fn try_start(&mut self) -> Result<()> {
        self.api = match self.settings.api {
            SalesforceApi::Rest => ReadApi::Rest,
            SalesforceApi::Bulk => ReadApi::Bulk,
            SalesforceApi::Automatic => {
                let count = self.runtime.block_on(self.count())?;
                self.count = Some(count);
                if count >= self.settings.bulk_threshold {
                    ReadApi::Bulk
                } else {
                    ReadApi::Rest
                }
            }
        };
        if self.api == ReadApi::Bulk {
            let job = self.runtime.block_on(self.run_query_job())?;
            self.next = if self.client.config().version_number() >= 58 {
                Next::BulkPages(None)
            } else {
                Next::BulkLocator(None)
            };
            self.job = Some(job);
        }
        if let Some(page) = self.fetch()? {
            self.buffered.push_front(page);
        }
        let api = match self.api {
            ReadApi::Rest if self.settings.include_deleted => "REST queryAll",
            ReadApi::Rest => "REST query",
            ReadApi::Bulk => "Bulk API 2.0 query job",
        };
        let count = self
            .count
            .map(|n| format!(", {n} records counted"))
            .unwrap_or_default();
        let usage = self
            .client
            .usage()
            .map(|u| format!(", {u}"))
            .unwrap_or_default();
        self.description = format!(
            "salesforce {} via {api} ({}{count}{usage})",
            self.query.object,
            self.query.select()
        );
        Ok(())
    }

    /// What is read, for summaries: object, API, SOQL and API usage.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The SOQL of the read.
    pub fn soql(&self) -> String {
        self.query.select()
    }

    /// The API chosen.
    pub fn api(&self) -> ReadApi {
        self.api
    }

    /// The record count of the `SELECT COUNT()` pre-query, with `Automatic`.
    pub fn counted(&self) -> Option<u64> {
        self.count
    }

    /// The client (for its API usage).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn query_resource(&self) -> &'static str {
        if self.settings.include_deleted {
            "queryAll"
        } else {
            "query"
        }
    }

    async fn count(&self) -> Result<u64> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Counted {
            total_size: u64,
        }
        let target = Target::Data(
            self.query_resource().to_owned(),
            vec![("q", self.query.count())],
        );
        let response = self.client.send(Method::GET, &target, None, &[]).await?;
        Ok(response.json::<Counted>()?.total_size)
    }

    async fn run_query_job(&self) -> Result<String> {
        let body = serde_json::json!({
            "operation": self.query_resource(),
            "query": self.query.select(),
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        let created: JobInfo = self
            .client
            .send(
                Method::POST,
                &Target::Data("jobs/query".to_owned(), Vec::new()),
                Some(("application/json", Bytes::from(body.to_string()))),
                &[],
            )
            .await?
            .json()?;
        let info = poll_job(&self.client, "query", &created.id, &self.query.object).await?;
        Ok(info.id)
    }

    fn origin(&self) -> String {
        match self.api {
            ReadApi::Rest => format!("{} query page {}", self.query.object, self.pages),
            ReadApi::Bulk => format!(
                "{} bulk job {} result page {}",
                self.query.object,
                self.job.as_deref().unwrap_or(""),
                self.pages
            ),
        }
    }

    fn rest_page(&mut self, response: super::client::Response) -> Result<Page> {
        self.pages += 1;
        let origin = self.origin();
        let split = records::split(
            &response.body,
            &Pointer::parse("/records"),
            Some(&Pointer::parse("/nextRecordsUrl")),
        )
        .map_err(|e| Error::Response {
            request: format!("{origin} ({})", response.request),
            message: format!("the page is not valid JSON: {}", e.0),
        })?;
        if !matches!(split.found, Found::Array) {
            return Err(Error::Response {
                request: format!("{origin} ({})", response.request),
                message: "the page has no records array".to_owned(),
            });
        }
        self.next = match split.extra {
            Some(url) => Next::Rest(url),
            None => Next::Done,
        };
        Ok(Page {
            origin,
            body: response.body,
            kind: PageKind::Json(split.records),
        })
    }

    fn csv_page(&mut self, body: Bytes) -> Page {
        self.pages += 1;
        Page {
            origin: self.origin(),
            body,
            kind: PageKind::Csv,
        }
    }

    /// Fetches the next page(s); `None` at the end.
    fn fetch(&mut self) -> Result<Option<Page>> {
        if let Some(page) = self.buffered.pop_front() {
            return Ok(Some(page));
        }
        let batch = format!("batchSize={}", self.client.config().query_batch_size);
        let job = self.job.clone().unwrap_or_default();
        match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => Ok(None),
            Next::RestFirst => {
                let target = Target::Data(
                    self.query_resource().to_owned(),
                    vec![("q", self.query.select())],
                );
                let response = self.runtime.block_on(self.client.send(
                    Method::GET,
                    &target,
                    None,
                    &[("sforce-query-options", batch)],
                ))?;
                self.rest_page(response).map(Some)
            }
            Next::Rest(url) => {
                let response = self.runtime.block_on(self.client.send(
                    Method::GET,
                    &Target::Path(url),
                    None,
                    &[("sforce-query-options", batch)],
                ))?;
                self.rest_page(response).map(Some)
            }
            Next::BulkLocator(locator) => {
                let mut query = vec![(
                    "maxRecords",
                    self.client.config().bulk_max_records.to_string(),
                )];
                if let Some(locator) = locator {
                    query.push(("locator", locator));
                }
                let target = Target::Data(format!("jobs/query/{job}/results"), query);
                let response = self.runtime.block_on(self.client.send(
                    Method::GET,
                    &target,
                    None,
                    &[("accept", "text/csv".to_owned())],
                ))?;
                self.next = match response.header("sforce-locator") {
                    Some(l) if !l.is_empty() && l != "null" => {
                        Next::BulkLocator(Some(l.to_owned()))
                    }
                    _ => Next::Done,
                };
                Ok(Some(self.csv_page(response.body)))
            }
            Next::BulkPages(url) => {
                let target = match url {
                    Some(url) => Target::Path(url),
                    None => Target::Data(format!("jobs/query/{job}/resultPages"), Vec::new()),
                };
                let client = self.client.clone();
                let bodies = self.runtime.block_on(async move {
                    let listing: ResultPages =
                        client.send(Method::GET, &target, None, &[]).await?.json()?;
                    // The links are fetched at once, at most maxConcurrency
                    // (the listing holds up to five).
                    let mut set = tokio::task::JoinSet::new();
                    let limit = Arc::new(tokio::sync::Semaphore::new(
                        client.config().max_concurrency.max(1),
                    ));
                    for (i, page) in listing.result_pages.iter().enumerate() {
                        let (client, url, limit) =
                            (client.clone(), page.result_url.clone(), limit.clone());
                        set.spawn(async move {
                            let _permit = limit.acquire_owned().await;
                            let response = client
                                .send(
                                    Method::GET,
                                    &Target::Path(url),
                                    None,
                                    &[("accept", "text/csv".to_owned())],
                                )
                                .await;
                            (i, response)
                        });
                    }
                    let mut bodies = vec![Bytes::new(); listing.result_pages.len()];
                    while let Some(joined) = set.join_next().await {
                        let (i, response) = joined.map_err(|e| Error::Runtime(e.to_string()))?;
                        bodies[i] = response?.body;
                    }
                    let next = match (listing.done, listing.next_records_url) {
                        (false, Some(url)) => Some(url),
                        _ => None,
                    };
                    Ok::<_, Error>((bodies, next))
                })?;
                let (bodies, next) = bodies;
                self.next = match next {
                    Some(url) => Next::BulkPages(Some(url)),
                    None => Next::Done,
                };
                for body in bodies {
                    let page = self.csv_page(body);
                    self.buffered.push_back(page);
                }
                self.fetch()
            }
        }
    }
}

/// Polls a bulk job until it completes; a failed or aborted job is an
/// error with its `errorMessage`.
pub(crate) async fn poll_job(
    client: &Client,
    kind: &'static str,
    id: &str,
    object: &str,
) -> Result<JobInfo> {
    let poll = client.config().poll;
    let started = std::time::Instant::now();
    let mut polls = 0u32;
    loop {
        let info: JobInfo = client
            .send(
                Method::GET,
                &Target::Data(format!("jobs/{kind}/{id}"), Vec::new()),
                None,
                &[],
            )
            .await?
            .json()?;
        match info.state.as_str() {
            "JobComplete" => return Ok(info),
            "Failed" | "Aborted" => {
                return Err(Error::BulkJob {
                    kind,
                    id: id.to_owned(),
                    object: object.to_owned(),
                    state: info.state,
                    message: info
                        .error_message
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| "Salesforce gave no errorMessage".to_owned()),
                    class: if kind == "ingest" {
                        super::ErrorClass::Write
                    } else {
                        super::ErrorClass::Transient
                    },
                });
            }
            _ => {}
        }
        polls += 1;
        let wait = poll.wait(polls);
        if started.elapsed() + wait > poll.timeout {
            return Err(Error::BulkTimeout {
                kind,
                id: id.to_owned(),
                object: object.to_owned(),
                state: info.state,
                waited_secs: started.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(wait).await;
    }
}

fn decode_page(
    page: Page,
    read_schema: &SchemaRef,
    schema: &SchemaRef,
) -> Result<Chunk, ConnectorError> {
    let Page { origin, body, kind } = page;
    let decode_error = |message: String| Error::Response {
        request: origin.clone(),
        message: format!("decoding records: {message}"),
    };
    let (batch, malformed, positions) = match kind {
        PageKind::Json(ranges) => {
            // A REST record carries `attributes` beside the selected fields:
            // the schema is declared, other fields are not read.
            let declared = RecordSchema::declared(read_schema.clone());
            let first = Positions::from(location::Unit::Record, 1);
            records::decode(&body, &ranges, &declared, &origin, &first).map_err(decode_error)?
        }
        PageKind::Csv => {
            let header_end = memchr::memchr(b'\n', &body).unwrap_or(body.len());
            let header: Vec<String> = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(&body[..header_end])
                .records()
                .next()
                .and_then(|r| r.ok())
                .map(|r| r.iter().map(str::to_owned).collect())
                .unwrap_or_default();
            let expected: Vec<&String> = read_schema.fields().iter().map(|f| f.name()).collect();
            if !body.is_empty() && header.iter().collect::<Vec<_>>() != expected {
                return Err(Error::Response {
                    request: origin,
                    message: format!(
                        "the CSV header is {:?}, not the selected fields {:?}",
                        header, expected
                    ),
                }
                .into());
            }
            let mut reader = CsvReader::new(
                Box::new(std::io::Cursor::new(body.clone())),
                read_schema.clone(),
                None,
                &origin,
                8192,
            )
            .map_err(|e| decode_error(e.to_string()))?;
            let mut batches = Vec::new();
            let mut malformed = Vec::new();
            let mut lines = Vec::new();
            while let Some((batch, bad, _, positions)) = reader
                .next_batch()
                .map_err(|e| decode_error(e.to_string()))?
            {
                lines.extend((0..batch.num_rows()).map(|row| positions.of(row)));
                batches.push(batch);
                malformed.extend(bad);
            }
            let batch = arrow::compute::concat_batches(read_schema, &batches)
                .map_err(|e| decode_error(e.to_string()))?;
            (
                batch,
                malformed,
                Positions::listed(location::Unit::Line, lines),
            )
        }
    };
    let batch = widen(batch, schema).map_err(decode_error)?;
    Ok(Chunk {
        batch,
        malformed,
        bytes: body.len() as u64,
        pages: 1,
        origin,
        positions,
    })
}

impl Source for SalesforceRecordSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_unit(&mut self) -> std::result::Result<Option<Unit>, ConnectorError> {
        let Some(page) = self.fetch()? else {
            return Ok(None);
        };
        let (read_schema, schema) = (self.read_schema.clone(), self.schema.clone());
        Ok(Some(Box::new(move || {
            decode_page(page, &read_schema, &schema)
        })))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn missing_columns_are_read_from_soql_errors() {
        let message = "\nSELECT Id, Phone__c FROM Opportunity\n           ^\nERROR at Row:1:Column:12\nNo such column 'Phone__c' on entity 'Opportunity'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name.";
        assert_eq!(missing_column(message).as_deref(), Some("Phone__c"));
        assert_eq!(missing_column("unexpected token: FROM"), None);
    }

    #[test]
    fn json_and_csv_pages_decode_to_the_same_batch() {
        let describe: Describe = serde_json::from_value(serde_json::json!({
            "name": "Opportunity", "queryable": true,
            "fields": [
                {"name": "Id", "type": "id", "nillable": false},
                {"name": "Amount", "type": "currency", "nillable": true},
                {"name": "IsWon", "type": "boolean", "nillable": false},
                {"name": "CloseDate", "type": "date", "nillable": false},
                {"name": "SystemModstamp", "type": "datetime", "nillable": false},
                {"name": "Name", "type": "string", "nillable": true}
            ]
        }))
        .unwrap();
        let schema = describe.schema();
        let json = br#"{"totalSize":2,"done":true,"records":[
            {"attributes":{"type":"Opportunity","url":"/x"},"Id":"006A","Amount":12000.5,"IsWon":true,"CloseDate":"2024-05-01","SystemModstamp":"2024-05-01T10:00:00.000+0000","Name":"Big"},
            {"attributes":{"type":"Opportunity","url":"/y"},"Id":"006B","Amount":null,"IsWon":false,"CloseDate":"2024-06-01","SystemModstamp":"2024-05-02T10:00:00.000+0000","Name":null}]}"#;
        let split = records::split(json, &Pointer::parse("/records"), None).unwrap();
        let page = Page {
            origin: "p".into(),
            body: Bytes::from_static(json),
            kind: PageKind::Json(split.records),
        };
        let from_json = decode_page(page, &schema, &schema).unwrap();
        assert!(from_json.malformed.is_empty(), "{:?}", from_json.malformed);
        let csv = "Id,Amount,IsWon,CloseDate,SystemModstamp,Name\n006A,12000.5,true,2024-05-01,2024-05-01T10:00:00.000Z,Big\n006B,,false,2024-06-01,2024-05-02T10:00:00.000Z,\n";
        let page = Page {
            origin: "p".into(),
            body: Bytes::from(csv),
            kind: PageKind::Csv,
        };
        let from_csv = decode_page(page, &schema, &schema).unwrap();
        assert!(from_csv.malformed.is_empty(), "{:?}", from_csv.malformed);
        assert_eq!(from_json.batch, from_csv.batch);
        assert_eq!(from_json.batch.num_rows(), 2);
    }
}
