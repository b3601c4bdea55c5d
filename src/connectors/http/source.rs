//! The http source as the engine sees it.
//!
//! [`HttpRecordSource::open`] starts a fetch thread (a single-threaded tokio
//! runtime driving [`pagination`] and the shared
//! [`client`](crate::connectors::common::client)), waits for the first page with records and
//! infers the schema from it (up to 1000 records). Pages then arrive in
//! order through a channel at most a few pages deep, so a slow destination
//! slows the requests down instead of filling memory. Each page becomes one
//! unit whose closure decodes its records on an engine worker. Dropping the
//! source stops the fetch thread: requests in flight are abandoned.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use arrow::datatypes::{Schema, SchemaRef};
use tokio::sync::{Notify, Semaphore};

use super::config::HttpConfig;
use super::pagination::{self, Message, Page, Plan, Sink};
use super::{Error, Result};
use crate::api::v1alpha1::flow::{HttpMethod, PaginationType};
use crate::connectors::common::client::Client;
use crate::connectors::common::records;
use crate::pipeline::engine::{BoxError, Chunk, Source, Unit};

/// Records sampled to infer the schema.
const SAMPLE_RECORDS: usize = 1000;

/// Pages that may wait between the fetch thread and the engine, beyond the
/// requests in flight.
const BUFFERED_PAGES: usize = 4;

/// Reads an HTTP JSON API.
pub struct HttpRecordSource {
    schema: SchemaRef,
    rx: Receiver<Message>,
    permits: Arc<Semaphore>,
    stop: Arc<Notify>,
    buffered: VecDeque<Page>,
    done: bool,
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
        let plan = Plan::new(&config);
        let (tx, rx) = channel();
        let permits = Arc::new(Semaphore::new(BUFFERED_PAGES));
        let stop = Arc::new(Notify::new());
        let sink = Sink {
            tx: tx.clone(),
            permits: permits.clone(),
        };
        let thread_stop = stop.clone();
        let request = description.clone();
        std::thread::Builder::new()
            .name("sluice-http".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = tx.send(Message::Failed(Error::Network {
                            request,
                            message: format!("cannot start the fetch thread's runtime: {e}"),
                        }));
                        return;
                    }
                };
                runtime.block_on(async move {
                    tokio::select! {
                        () = pagination::run(client, plan, sink) => {}
                        () = thread_stop.notified() => {}
                    }
                });
            })
            .map_err(|e| Error::Network {
                request: description.clone(),
                message: format!("cannot start the fetch thread: {e}"),
            })?;
        let mut source = Self {
            schema: Arc::new(Schema::empty()),
            rx,
            permits,
            stop,
            buffered: VecDeque::new(),
            done: false,
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
            let schema = records::infer(samples, SAMPLE_RECORDS).map_err(|e| Error::Decode {
                origin: page.origin.clone(),
                message: format!("inferring the schema: {e}"),
            })?;
            source.schema = Arc::new(schema);
        }
        Ok(source)
    }

    /// What is read, for summaries: method, URL and pagination.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The next page from the fetch thread; `None` at the end.
    fn receive(&mut self) -> Result<Option<Page>> {
        if self.done {
            return Ok(None);
        }
        let message = self.rx.recv();
        match message {
            Ok(Message::Page(page)) => {
                self.permits.add_permits(1);
                Ok(Some(page))
            }
            Ok(Message::End) => {
                self.done = true;
                Ok(None)
            }
            Ok(Message::Failed(e)) => {
                self.done = true;
                Err(e)
            }
            Err(_) => {
                self.done = true;
                Err(Error::Stopped)
            }
        }
    }
}

impl Drop for HttpRecordSource {
    fn drop(&mut self) {
        self.permits.close();
        self.stop.notify_one();
    }
}

impl Source for HttpRecordSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, BoxError> {
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
            let (batch, malformed) =
                records::decode(&body, &records, &schema, &origin).map_err(|message| {
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
                first_record: 1,
            })
        })))
    }
}
