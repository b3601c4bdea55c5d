//! The http source as the engine sees it.
//!
//! [`HttpRecordSource::open`] starts a fetch thread (the shared [`paged`]
//! bridge driving [`pagination`] and the shared
//! [`client`](crate::connectors::common::client)), waits for the first page
//! with records and infers the schema from it (up to 1000 records; a record
//! of a later page with a field the schema lacks is a bad record). Pages
//! then arrive in order through a channel at most a few pages deep, so a
//! slow destination slows the requests down instead of filling memory. Each
//! page becomes one unit whose closure decodes its records on an engine
//! worker. Dropping the source stops the fetch thread: requests in flight
//! are abandoned.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};

use super::config::HttpConfig;
use super::pagination::{self, Page, Paging};
use super::{Error, Result};
use crate::api::v1alpha1::flow::{HttpMethod, PaginationType};
use crate::connectors::common::client::Client;
use crate::connectors::common::paged::{self, PagedBridge};
use crate::connectors::common::records;
use crate::pipeline::engine::{Chunk, Source, Unit};
use crate::pipeline::error::ConnectorError;
use crate::pipeline::location::{self, Positions};
use crate::pipeline::schema::RecordSchema;

/// Records sampled to infer the schema.
const SAMPLE_RECORDS: usize = 1000;

/// Pages that may wait between the fetch thread and the engine, beyond the
/// requests in flight.
const BUFFERED_PAGES: usize = 4;

/// Reads an HTTP JSON API.
pub struct HttpRecordSource {
    schema: RecordSchema,
    pages: PagedBridge<Page, Error>,
    buffered: VecDeque<Page>,
    description: String,
}

impl std::fmt::Debug for HttpRecordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRecordSource")
            .field("description", &self.description)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl HttpRecordSource {
    /// Starts reading and determines the schema from the first page that
    /// has records.
    pub fn open(config: HttpConfig) -> Result<Self> {
        let client = Arc::new(Client::new(&config.client())?);
        let pagination = match config.pagination.kind {
            PaginationType::None => String::new(),
            kind => format!(", {kind:?} pagination"),
        };
        let description = format!(
            "{} (http{pagination})",
            client.describe(
                &match config.method {
                    HttpMethod::Get => reqwest::Method::GET,
                    HttpMethod::Post => reqwest::Method::POST,
                },
                &config.url
            )
        );
        let plan = Paging::new(&config);
        let request = description.clone();
        let fault = move |e: paged::Error| match e {
            paged::Error::Stopped => Error::Stopped,
            e => Error::Network {
                request: request.clone(),
                message: e.to_string(),
            },
        };
        let pages = PagedBridge::start("sluice-http", BUFFERED_PAGES, fault, move |sink| {
            pagination::run(client, plan, sink)
        })?;
        let mut source = Self {
            schema: RecordSchema::declared(Arc::new(Schema::empty())),
            pages,
            buffered: VecDeque::new(),
            description,
        };
        // Pages up to the first with records: the schema comes from it.
        while let Some(page) = source.receive()? {
            let has_records = !page.records.is_empty();
            source.buffered.push_back(page);
            if has_records {
                break;
            }
        }
        if let Some(page) = source.buffered.iter().find(|p| !p.records.is_empty()) {
            let samples = page.records.iter().map(|r| &page.body[r.clone()]);
            source.schema = RecordSchema::inferred(records::infer(samples, SAMPLE_RECORDS));
        }
        Ok(source)
    }

    /// What is read, for summaries: method, URL and pagination.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The next page from the fetch thread; `None` at the end.
    fn receive(&mut self) -> Result<Option<Page>> {
        self.pages.receive()
    }
}

impl Source for HttpRecordSource {
    fn schema(&self) -> SchemaRef {
        self.schema.schema.clone()
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, ConnectorError> {
        let page = match self.buffered.pop_front() {
            Some(page) => page,
            None => match self.receive()? {
                Some(page) => page,
                None => return Ok(None),
            },
        };
        let schema = self.schema.clone();
        Ok(Some(Box::new(move || {
            let Page {
                origin,
                body,
                records,
            } = page;
            let first = Positions::from(location::Unit::Record, 1);
            let (batch, malformed, positions) =
                records::decode(&body, &records, &schema, &origin, &first).map_err(|message| {
                    Error::Decode {
                        origin: origin.clone(),
                        message,
                    }
                })?;
            Ok(Chunk {
                batch,
                malformed,
                bytes: body.len() as u64,
                pages: 1,
                origin,
                positions,
            })
        })))
    }
}
