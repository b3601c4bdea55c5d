//! The engine: moves a source's records through the compiled tasks into a
//! destination, applying the Flow's error policy and reporting progress.
//!
//! ```text
//!  source thread ──units──► worker threads ──results──► this thread
//!  (I/O: pages,            (decode, tasks,              (reorder, error policy,
//!   file blocks)            bad-record capture)          destination, quarantine)
//! ```
//!
//! Stages are joined by bounded channels, and a fixed number of units may be
//! in flight between the source and the writer, so memory is bounded by
//! `in_flight × unit size` whatever the data's size. Results are written in
//! source order, so output is deterministic.
//!
//! A run stops when [`Options::cancel`] is set, within [`POLL`] while the
//! writer waits and after the batch it is writing otherwise: the
//! destination is aborted and the quarantine discarded, so nothing is
//! published. The source thread is not waited for: a source blocked in I/O
//! (a page that does not come) must not keep a cancelled or failed run from
//! ending; it finds the run over when its I/O returns.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::format::Malformed;
use super::location::Positions;
use super::tasks::{self, Tasks};
use crate::api::v1alpha1::flow::{ErrorHandling, ErrorPolicy};

pub use super::error::ConnectorError;
use super::error::{Classify, ErrorClass};

/// Errors that end a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source failed.
    #[error("source: {0}")]
    Source(ConnectorError),
    /// A task failed the run (`FailRun`) or an Arrow kernel failed.
    #[error(transparent)]
    Tasks(#[from] tasks::Error),
    /// A bad record under policy `Fail`.
    #[error("bad record{}: {}{}{} (errorHandling.policy is Fail; Skip or Quarantine would go on)",
        .0.location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default(),
        .0.task.as_deref().map(|t| format!("task {t}: ")).unwrap_or_default(),
        .0.field.as_deref().map(|f| format!("field {f}: ")).unwrap_or_default(),
        .0.reason)]
    BadRecord(Box<BadRecord>),
    /// More bad records than `maxBadRecords`.
    #[error("{count} bad records exceed errorHandling.maxBadRecords ({max})")]
    TooManyBadRecords {
        /// Bad records so far.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// The destination failed.
    #[error("destination: {0}")]
    Destination(ConnectorError),
    /// Writing quarantined records failed.
    #[error("quarantine: {0}")]
    Quarantine(ConnectorError),
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl Classify for Error {
    /// A connector's failure keeps the class the connector gave it; bad
    /// records are `Data`; anything else is Sluice's own (`Internal`).
    fn class(&self) -> ErrorClass {
        match self {
            Self::BadRecord(_)
            | Self::TooManyBadRecords { .. }
            | Self::Tasks(tasks::Error::FailRun { .. }) => ErrorClass::Data,
            Self::Tasks(_) | Self::Cancelled => ErrorClass::Internal,
            Self::Source(e) | Self::Destination(e) | Self::Quarantine(e) => e.class(),
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::Source(e) | Self::Destination(e) | Self::Quarantine(e) => e.retryable(),
            other => other.class().retryable(),
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Records read from the source, decoded.
#[derive(Debug)]
pub struct Chunk {
    /// The records.
    pub batch: RecordBatch,
    /// Records that could not be read.
    pub malformed: Vec<Malformed>,
    /// Source bytes this chunk came from.
    pub bytes: u64,
    /// Pages or requests it took (0 for files).
    pub pages: u64,
    /// Where it came from (a file, a page), for bad-record locations.
    pub origin: String,
    /// Where in `origin` each row of `batch` was read.
    pub positions: Positions,
}

/// A unit of source work: decoding runs on a worker thread.
pub type Unit = Box<dyn FnOnce() -> Result<Chunk, ConnectorError> + Send>;

/// A source of records. Its I/O runs on one thread; the units it returns
/// are decoded in parallel.
pub trait Source: Send {
    /// The schema of every chunk.
    fn schema(&self) -> SchemaRef;
    /// The next unit of work, or `None` at the end.
    fn next_unit(&mut self) -> Result<Option<Unit>, ConnectorError>;
}

/// What a destination published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Where the records are.
    pub location: String,
    /// The manifest of the run, when the destination writes one.
    pub manifest: Option<String>,
    /// Files or objects published.
    pub objects: u64,
    /// Bytes published.
    pub bytes: u64,
    /// Records the destination refused one by one when it committed (an
    /// application's per-record errors); it has already quarantined or
    /// skipped them as the Flow's error policy says.
    pub rejected: u64,
}

/// Where records go. Nothing written is visible before `commit`.
pub trait Destination: Send {
    /// Writes a batch.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError>;
    /// Records the destination refused since the last call (per-record
    /// failures that an application API reports after a write); the engine
    /// applies the Flow's error policy to them. Destinations that accept
    /// every record or none keep the default.
    fn rejected(&mut self) -> Vec<BadRecord> {
        Vec::new()
    }
    /// Bytes written so far.
    fn bytes_written(&self) -> u64;
    /// Publishes everything written.
    fn commit(self: Box<Self>) -> Result<Outcome, ConnectorError>;
    /// Discards everything written.
    fn abort(self: Box<Self>) -> Result<(), ConnectorError>;
}

/// A record that failed, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// Where it was read (`in.jsonl:line 12`, `GET …/items:record 3`; see
    /// [`super::location`]).
    pub location: Option<String>,
    /// The task that rejected it; `None` when it could not be read.
    pub task: Option<String>,
    /// The field concerned.
    pub field: Option<String>,
    /// Why.
    pub reason: String,
    /// The record as read (a JSON object), when it could be read.
    pub record: Option<String>,
    /// The raw text, when it could not be read.
    pub raw: Option<String>,
}

/// Where bad records go under policy `Quarantine`.
pub trait Quarantine: Send {
    /// Keeps bad records.
    fn write(&mut self, records: &[BadRecord]) -> Result<(), ConnectorError>;
    /// Publishes what was kept; returns its location.
    fn publish(self: Box<Self>) -> Result<Option<String>, ConnectorError>;
    /// Discards what was kept.
    fn discard(self: Box<Self>) -> Result<(), ConnectorError>;
}

/// Counts of a run, as it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records read (including malformed ones).
    pub records_read: u64,
    /// Records removed by filters.
    pub records_filtered: u64,
    /// Bad records left out (policy Skip).
    pub records_skipped: u64,
    /// Bad records quarantined.
    pub records_quarantined: u64,
    /// Records written.
    pub records_written: u64,
    /// Source bytes read.
    pub bytes_read: u64,
    /// Bytes written to the destination.
    pub bytes_written: u64,
    /// Pages or requests.
    pub pages: u64,
}

/// How often a waiting writer or worker looks whether the run is to stop.
pub const POLL: Duration = Duration::from_millis(50);

/// How the engine runs.
pub struct Options {
    /// Worker threads decoding and applying tasks.
    pub workers: usize,
    /// Units in flight between the source and the writer.
    pub in_flight: usize,
    /// The Flow's error policy.
    pub error_handling: ErrorHandling,
    /// Set to stop the run.
    pub cancel: Arc<AtomicBool>,
}

impl Options {
    /// One worker per core up to 8, two units in flight per worker.
    pub fn new(error_handling: ErrorHandling) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = cores.clamp(1, 8);
        Self {
            workers,
            in_flight: workers * 2,
            error_handling,
            cancel: Arc::default(),
        }
    }
}

/// The result of a successful run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Final counts.
    pub counts: Counts,
    /// What the destination published.
    pub outcome: Outcome,
    /// Where quarantined records were published.
    pub quarantine: Option<String>,
}

/// A failed run: the error and the counts reached.
#[derive(Debug)]
pub struct Failure {
    /// Why it failed.
    pub error: Error,
    /// Counts when it failed.
    pub counts: Counts,
    /// Where quarantined records were published (kept for diagnosis; not
    /// for cancelled runs).
    pub quarantine: Option<String>,
}

struct Processed {
    batch: RecordBatch,
    bad: Vec<BadRecord>,
    read: u64,
    filtered: u64,
    bytes: u64,
    pages: u64,
}

/// The rows of `batch` as JSON objects (explicit nulls), in order: the
/// `record` of a bad record. Destinations refusing records use it too.
pub fn rows_as_json(batch: &RecordBatch, rows: &[usize]) -> Vec<String> {
    let indices = UInt32Array::from(rows.iter().map(|r| *r as u32).collect::<Vec<_>>());
    let Ok(taken) = take_record_batch(batch, &indices) else {
        return vec![String::new(); rows.len()];
    };
    let mut buffer = Vec::new();
    {
        let mut writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut buffer);
        if writer.write(&taken).and_then(|_| writer.finish()).is_err() {
            return vec![String::new(); rows.len()];
        }
    }
    String::from_utf8_lossy(&buffer)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn process(tasks: &Tasks, unit: Unit) -> Result<Processed> {
    let chunk = unit().map_err(Error::Source)?;
    let out = tasks.apply(&chunk.batch)?;
    let mut bad: Vec<BadRecord> = chunk
        .malformed
        .iter()
        .map(|m| BadRecord {
            location: Some(m.location.clone()),
            task: None,
            field: m.field.clone(),
            reason: m.reason.clone(),
            record: None,
            raw: Some(m.raw.clone()),
        })
        .collect();
    if !out.rejected.is_empty() {
        let rows: Vec<usize> = out.rejected.iter().map(|r| r.row).collect();
        let originals = rows_as_json(&chunk.batch, &rows);
        for (rejection, original) in out.rejected.into_iter().zip(originals) {
            bad.push(BadRecord {
                location: Some(chunk.positions.locate(&chunk.origin, rejection.row)),
                task: Some(rejection.task),
                field: rejection.field,
                reason: rejection.reason,
                record: Some(original),
                raw: None,
            });
        }
    }
    Ok(Processed {
        read: (chunk.batch.num_rows() + chunk.malformed.len()) as u64,
        filtered: out.filtered as u64,
        bytes: chunk.bytes,
        pages: chunk.pages,
        batch: out.batch,
        bad,
    })
}

/// Runs source → tasks → destination. `progress` is called after every
/// chunk with the counts so far; it decides itself how often to render.
pub fn run(
    mut source: Box<dyn Source>,
    tasks: &Tasks,
    destination: Box<dyn Destination>,
    quarantine: Option<Box<dyn Quarantine>>,
    options: &Options,
    progress: &mut dyn FnMut(&Counts),
) -> Result<Summary, Box<Failure>> {
    let cancel = options.cancel.clone();
    // Set once the writer is done, whatever the outcome: the reader and the
    // workers end.
    let stop = Arc::new(AtomicBool::new(false));
    let workers = options.workers.max(1);
    let (work_tx, work_rx) = sync_channel::<(u64, Result<Unit, ConnectorError>)>(workers);
    let (result_tx, result_rx) = sync_channel::<(u64, Result<Processed>)>(workers);
    let (permit_tx, permit_rx) = sync_channel::<()>(options.in_flight.max(workers));
    let work_rx = Arc::new(Mutex::new(work_rx));

    // Named threads: `top -H` and profiles show which stage is busy. The
    // reader is not scoped, so a run can end while its source is blocked
    // in I/O (see the module doc).
    let (reader_cancel, reader_stop) = (cancel.clone(), stop.clone());
    let reader = std::thread::Builder::new()
        .name("sluice-read".to_owned())
        .spawn(move || {
            read(
                source.as_mut(),
                &work_tx,
                &permit_tx,
                &reader_cancel,
                &reader_stop,
            )
        });
    let reader = match reader {
        Ok(reader) => reader,
        Err(e) => {
            return Err(Box::new(Failure {
                error: Error::Source(ConnectorError::new(ErrorClass::Internal, e)),
                counts: Counts::default(),
                quarantine: None,
            }));
        }
    };
    let result = std::thread::scope(|scope| {
        let mut started = 0;
        for i in 0..workers {
            let (work_rx, result_tx, stop) = (work_rx.clone(), result_tx.clone(), &*stop);
            // A worker that cannot start leaves the others to do the work.
            let spawned = std::thread::Builder::new()
                .name(format!("sluice-work-{i}"))
                .spawn_scoped(scope, move || work(tasks, &work_rx, &result_tx, stop));
            started += usize::from(spawned.is_ok());
        }
        drop(work_rx);
        if started == 0 {
            stop.store(true, Ordering::Relaxed);
            let error = Error::Source(ConnectorError::new(
                ErrorClass::Internal,
                "no worker thread could be started",
            ));
            return Err(Box::new(Failure {
                error,
                counts: Counts::default(),
                quarantine: None,
            }));
        }
        drop(result_tx);
        write(
            result_rx,
            permit_rx,
            destination,
            quarantine,
            options,
            &stop,
            progress,
        )
    });
    // After a success the reader has returned (its end closed the
    // channels); after a failure it may still wait on its source.
    if result.is_ok() {
        let _ = reader.join();
    }
    result
}

fn read(
    source: &mut dyn Source,
    work: &SyncSender<(u64, Result<Unit, ConnectorError>)>,
    permits: &SyncSender<()>,
    cancel: &AtomicBool,
    stop: &AtomicBool,
) {
    for seq in 0.. {
        let over = cancel.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed);
        if over || permits.send(()).is_err() {
            return;
        }
        let next = match source.next_unit() {
            Ok(Some(unit)) => Ok(unit),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        let failed = next.is_err();
        if work.send((seq, next)).is_err() || failed {
            return;
        }
    }
}

fn work(
    tasks: &Tasks,
    work: &Mutex<Receiver<(u64, Result<Unit, ConnectorError>)>>,
    results: &SyncSender<(u64, Result<Processed>)>,
    stop: &AtomicBool,
) {
    // The reader may outlive the run (blocked in I/O, holding the sender):
    // wait in slices, and end when the writer is done.
    while !stop.load(Ordering::Relaxed) {
        let next = match work.lock() {
            Ok(receiver) => receiver.recv_timeout(POLL),
            Err(_) => return,
        };
        let (seq, unit) = match next {
            Ok(next) => next,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let result = unit
            .map_err(Error::Source)
            .and_then(|unit| process(tasks, unit));
        if results.send((seq, result)).is_err() {
            return;
        }
    }
}

struct Writer<'a> {
    destination: Option<Box<dyn Destination>>,
    quarantine: Option<Box<dyn Quarantine>>,
    policy: ErrorPolicy,
    max_bad: Option<u64>,
    counts: Counts,
    progress: &'a mut dyn FnMut(&Counts),
}

impl Writer<'_> {
    fn handle(&mut self, item: Processed) -> Result<()> {
        self.counts.records_read += item.read;
        self.counts.records_filtered += item.filtered;
        self.counts.bytes_read += item.bytes;
        self.counts.pages += item.pages;
        self.bad(item.bad)?;
        if let Some(destination) = self.destination.as_mut() {
            destination.write(&item.batch).map_err(Error::Destination)?;
            let rejected = destination.rejected();
            self.counts.records_written +=
                (item.batch.num_rows() as u64).saturating_sub(rejected.len() as u64);
            self.counts.bytes_written = destination.bytes_written();
            self.bad(rejected)?;
        }
        (self.progress)(&self.counts);
        Ok(())
    }

    /// Applies the error policy to bad records.
    fn bad(&mut self, bad: Vec<BadRecord>) -> Result<()> {
        if bad.is_empty() {
            return Ok(());
        }
        match self.policy {
            ErrorPolicy::Fail => {
                let first = bad.into_iter().next().map(Box::new);
                return Err(first.map_or(Error::Cancelled, Error::BadRecord));
            }
            ErrorPolicy::Skip => self.counts.records_skipped += bad.len() as u64,
            ErrorPolicy::Quarantine => {
                if let Some(q) = self.quarantine.as_mut() {
                    q.write(&bad).map_err(Error::Quarantine)?;
                }
                self.counts.records_quarantined += bad.len() as u64;
            }
        }
        let count = self.counts.records_skipped + self.counts.records_quarantined;
        if let Some(max) = self.max_bad.filter(|max| count > *max) {
            return Err(Error::TooManyBadRecords { count, max });
        }
        Ok(())
    }
}

fn write(
    results: Receiver<(u64, Result<Processed>)>,
    permits: Receiver<()>,
    destination: Box<dyn Destination>,
    quarantine: Option<Box<dyn Quarantine>>,
    options: &Options,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Counts),
) -> Result<Summary, Box<Failure>> {
    let mut writer = Writer {
        destination: Some(destination),
        quarantine,
        policy: options.error_handling.policy,
        max_bad: options
            .error_handling
            .max_bad_records
            .map(|m| m.max(0) as u64),
        counts: Counts::default(),
        progress,
    };
    let mut pending: BTreeMap<u64, Result<Processed>> = BTreeMap::new();
    let mut next = 0u64;
    let mut outcome: Result<()> = Ok(());
    'receive: loop {
        let (seq, item) = match results.recv_timeout(POLL) {
            Ok(next) => next,
            // A source may be blocked in I/O: a cancel must not wait for it.
            Err(RecvTimeoutError::Timeout) if options.cancel.load(Ordering::Relaxed) => {
                outcome = Err(Error::Cancelled);
                break 'receive;
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        pending.insert(seq, item);
        while let Some(item) = pending.remove(&next) {
            next += 1;
            let _ = permits.try_recv();
            if options.cancel.load(Ordering::Relaxed) {
                outcome = Err(Error::Cancelled);
                break 'receive;
            }
            if let Err(e) = item.and_then(|item| writer.handle(item)) {
                outcome = Err(e);
                break 'receive;
            }
        }
    }
    // Stop the other threads: they see the flag or their channels closed.
    stop.store(true, Ordering::Relaxed);
    drop(results);
    drop(permits);
    if outcome.is_ok() && options.cancel.load(Ordering::Relaxed) {
        outcome = Err(Error::Cancelled);
    }
    let counts = writer.counts;
    let destination = writer.destination.take();
    let quarantine = writer.quarantine.take();
    match outcome {
        Ok(()) => {
            let committed = match destination {
                Some(d) => d.commit().map_err(Error::Destination),
                None => Ok(Outcome::default()),
            };
            match committed {
                Ok(outcome) => {
                    let mut counts = counts;
                    counts.bytes_written = counts.bytes_written.max(outcome.bytes);
                    counts.records_written =
                        counts.records_written.saturating_sub(outcome.rejected);
                    match options.error_handling.policy {
                        ErrorPolicy::Quarantine => counts.records_quarantined += outcome.rejected,
                        _ => counts.records_skipped += outcome.rejected,
                    }
                    let quarantine = match quarantine {
                        Some(q) => q.publish().map_err(Error::Quarantine),
                        None => Ok(None),
                    };
                    match quarantine {
                        Ok(quarantine) => Ok(Summary {
                            counts,
                            outcome,
                            quarantine,
                        }),
                        Err(error) => Err(Box::new(Failure {
                            error,
                            counts,
                            quarantine: None,
                        })),
                    }
                }
                Err(error) => Err(fail(error, counts, None, quarantine)),
            }
        }
        Err(error) => Err(fail(error, counts, destination, quarantine)),
    }
}

fn fail(
    error: Error,
    counts: Counts,
    destination: Option<Box<dyn Destination>>,
    quarantine: Option<Box<dyn Quarantine>>,
) -> Box<Failure> {
    // Nothing of a failed run is published. Cleanup errors are secondary to
    // the error that ended the run.
    if let Some(destination) = destination {
        let _ = destination.abort();
    }
    let quarantine = match (quarantine, &error) {
        (Some(q), Error::Cancelled) => {
            let _ = q.discard();
            None
        }
        (Some(q), _) => q.publish().ok().flatten(),
        (None, _) => None,
    };
    Box::new(Failure {
        error,
        counts,
        quarantine,
    })
}
