//! Local mode: `sluice local` runs a Flow from a manifest file with no
//! cluster, and `sluice preview` shows records before and after the tasks.
//!
//! Progress is a bar on a terminal and a log line every two seconds
//! otherwise; a run ends with a summary table and the output paths.
//! SIGINT (Ctrl-C) or SIGTERM cancels a run: its staging is removed,
//! nothing is published, the summary says `Cancelled`, and the process
//! exits with 130 or 143; a second signal ends it at once.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use chrono::Utc;

use crate::api::v1alpha1::Flow;
use crate::connectors::secrets::Resolver;
use crate::manifest::{self, Bundle};
use crate::pipeline::engine::{self, Counts};
use crate::plan::{self, Plan, RunParams};
use crate::signal::{self, Signal};

/// Errors of local mode.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest file cannot be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The manifests are invalid.
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    /// The manifests hold no Flow, or not the one asked for.
    #[error("{0}")]
    Flow(String),
    /// The run cannot be planned.
    #[error(transparent)]
    Plan(#[from] plan::Error),
    /// Reading a preview failed.
    #[error("preview: {0}")]
    Preview(String),
    /// A profile could not be checked or discovered.
    #[error("{0}")]
    Catalog(String),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to run.
#[derive(Debug, Clone)]
pub struct Request {
    /// The manifest file.
    pub file: PathBuf,
    /// The Flow to run, when the file holds several.
    pub flow: Option<String>,
    /// The run id; by default one of its own (the start time to the
    /// microsecond and random bits), never another run's.
    pub run_id: Option<String>,
}

fn load(request: &Request) -> Result<(Bundle, Flow)> {
    let file = request.file.display().to_string();
    let text = std::fs::read_to_string(&request.file).map_err(|source| Error::Read {
        file: file.clone(),
        source,
    })?;
    let bundle = Bundle::parse(&text, &file)?;
    let names: Vec<String> = bundle
        .flows
        .iter()
        .filter_map(|f| f.metadata.name.clone())
        .collect();
    let flow = match &request.flow {
        Some(wanted) => bundle
            .flows
            .iter()
            .find(|f| f.metadata.name.as_deref() == Some(wanted.as_str()))
            .ok_or_else(|| {
                Error::Flow(format!(
                    "{file} has no Flow {wanted:?}; it has: {}",
                    names.join(", ")
                ))
            })?,
        None => match bundle.flows.as_slice() {
            [only] => only,
            [] => return Err(Error::Flow(format!("{file} has no Flow"))),
            _ => {
                return Err(Error::Flow(format!(
                    "{file} has several Flows ({}); choose one with --flow",
                    names.join(", ")
                )));
            }
        },
    };
    let flow = flow.clone();
    Ok((bundle, flow))
}

/// A run id for a run started without one: the start time to the
/// microsecond and 32 random bits, so that two runs never share one (a
/// shared id would make the second replace the first's output, whatever
/// the write mode). `--run-id` names an id on purpose, and rerunning it
/// replaces its output.
fn automatic_run_id(now: chrono::DateTime<Utc>) -> String {
    let mut random = [0u8; 4];
    // Without randomness the microseconds and the process id keep runs of
    // this machine apart.
    let suffix = match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
    {
        Ok(()) => random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        Err(_) => format!("p{}", std::process::id()),
    };
    format!("local-{}-{suffix}", now.format("%Y%m%dT%H%M%S%6fZ"))
}

/// Reads the manifests and plans the run.
pub fn prepare(request: &Request) -> Result<Plan> {
    let (bundle, flow) = load(request)?;
    let flow_name = flow.metadata.name.clone().unwrap_or_default();
    // A FlowRun of this Flow in the file supplies the run id and overrides.
    let run = bundle
        .runs
        .iter()
        .find(|r| r.spec.flow_ref.name == flow_name);
    let now = Utc::now();
    let run_id = request
        .run_id
        .clone()
        .or_else(|| run.and_then(|r| r.metadata.name.clone()))
        .unwrap_or_else(|| automatic_run_id(now));
    let overrides = run.and_then(|r| r.spec.overrides.clone());
    let (window_start, window_end) = plan::override_window(overrides.as_ref());
    let params = RunParams {
        run_id,
        time: run
            .and_then(|r| r.spec.scheduled_time.as_ref())
            .and_then(plan::to_utc)
            .unwrap_or(now),
        overrides,
        working_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        window_start,
        window_end,
        // The file's Secret documents, then SLUICE_SECRET_* variables.
        secrets: Resolver::manifest(bundle.secrets.clone()),
    };
    Ok(plan::plan(&bundle.profiles, &flow, params)?)
}

/// Renders progress: a bar on terminals, periodic lines otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: Instant,
    started: Instant,
}

impl Progress {
    /// A renderer on standard error.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            last: Instant::now(),
            started: Instant::now(),
        }
    }

    /// Shows the counts so far.
    pub fn update(&mut self, counts: &Counts) {
        let line = progress_line(counts, self.started.elapsed());
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None if self.last.elapsed() >= Duration::from_secs(2) => {
                self.last = Instant::now();
                eprintln!("progress: {line}");
            }
            None => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

fn progress_line(c: &Counts, elapsed: Duration) -> String {
    let rate = c.records_read as f64 / elapsed.as_secs_f64().max(0.001);
    format!(
        "{} read, {} written, {} filtered, {} bad · {} in, {} out · {:.0} records/s",
        thousands(c.records_read),
        thousands(c.records_written),
        thousands(c.records_filtered),
        thousands(c.records_skipped + c.records_quarantined),
        bytes(c.bytes_read),
        bytes(c.bytes_written),
        rate
    )
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in B, kB, MB or GB (decimal units).
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

/// The summary table printed at the end of a run; `signal` is the signal
/// that cancelled it, if one did.
pub fn summary(
    plan_flow: &str,
    run_id: &str,
    source: &str,
    destination: &str,
    result: &Result<engine::Summary, Box<engine::Failure>>,
    signal: Option<Signal>,
    elapsed: Duration,
) -> String {
    let seconds = elapsed.as_secs_f64();
    let cancelled = matches!(result, Err(f) if matches!(f.error, engine::Error::Cancelled));
    let (status, counts) = match result {
        Ok(s) => (format!("Succeeded in {seconds:.1}s"), s.counts),
        Err(f) if cancelled => {
            let by = signal.map(|s| format!(" by {s}")).unwrap_or_default();
            (format!("Cancelled{by} after {seconds:.1}s"), f.counts)
        }
        Err(f) => (format!("Failed after {seconds:.1}s"), f.counts),
    };
    let mut rows = vec![
        ("Flow", plan_flow.to_owned()),
        ("Run", run_id.to_owned()),
        ("Status", status),
        ("Source", source.to_owned()),
        ("Destination", destination.to_owned()),
        (
            "Read",
            format!(
                "{} records, {}",
                thousands(counts.records_read),
                bytes(counts.bytes_read)
            ),
        ),
        ("Filtered", thousands(counts.records_filtered)),
        ("Skipped", thousands(counts.records_skipped)),
        ("Quarantined", thousands(counts.records_quarantined)),
        (
            "Written",
            format!(
                "{} records, {}",
                thousands(counts.records_written),
                bytes(counts.bytes_written)
            ),
        ),
    ];
    match result {
        Ok(s) => {
            let plural = if s.outcome.objects == 1 { "" } else { "s" };
            rows.push((
                "Output",
                format!(
                    "{} ({} file{plural})",
                    s.outcome.location, s.outcome.objects
                ),
            ));
            if let Some(manifest) = &s.outcome.manifest {
                rows.push(("Manifest", manifest.clone()));
            }
            if let Some(q) = &s.quarantine {
                rows.push(("Bad records", q.clone()));
            }
        }
        Err(_) if cancelled => {
            rows.push((
                "Output",
                "nothing published; staged files removed".to_owned(),
            ));
        }
        Err(f) => {
            rows.push(("Error", f.error.to_string()));
            rows.push(("Output", "nothing published".to_owned()));
            if let Some(q) = &f.quarantine {
                rows.push(("Bad records", q.clone()));
            }
        }
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

/// How a local run ended.
#[derive(Debug)]
pub struct Executed {
    /// The engine's result.
    pub result: Result<engine::Summary, Box<engine::Failure>>,
    /// The summary table.
    pub table: String,
    /// The signal that cancelled the run, if one did.
    pub signal: Option<Signal>,
}

impl Executed {
    /// The process's exit code: 0 for a success, 128 and the signal's
    /// number for a run a signal cancelled (130 for SIGINT, 143 for
    /// SIGTERM), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match (&self.result, self.signal) {
            (Ok(_), _) => 0,
            (Err(_), Some(signal)) => signal.exit_code(),
            (Err(_), None) => 1,
        }
    }
}

/// Runs a planned run with progress on standard error, until it ends or
/// SIGINT or SIGTERM cancels it; returns the result and its summary table.
pub fn execute(plan: Plan) -> Executed {
    let Plan {
        flow,
        run_id,
        source_description,
        destination_description,
        source,
        tasks,
        destination,
        quarantine,
        options,
    } = plan;
    let started = Instant::now();
    let mut progress = Progress::new();
    let received = match signal::cancel_on_signal(options.cancel.clone(), |signal| {
        eprintln!(
            "{signal}: cancelling the run; its staged files are removed and nothing is published (a second {signal} stops at once)"
        );
    }) {
        Ok(received) => Some(received),
        Err(error) => {
            eprintln!(
                "warning: cannot listen for SIGINT and SIGTERM ({error}); a signal ends the run without cleaning up"
            );
            None
        }
    };
    let result = engine::run(
        source,
        &tasks,
        destination,
        quarantine,
        &options,
        &mut |c| progress.update(c),
    );
    progress.finish();
    // The signal counts only if it is what ended the run.
    let cancelled = matches!(&result, Err(f) if matches!(f.error, engine::Error::Cancelled));
    let signal = received.and_then(|r| r.signal()).filter(|_| cancelled);
    let table = summary(
        &flow,
        &run_id,
        &source_description,
        &destination_description,
        &result,
        signal,
        started.elapsed(),
    );
    Executed {
        result,
        table,
        signal,
    }
}

/// The fields the Flow's source exposes (name, Arrow type, nullability), and
/// the fields it writes after the tasks, as a table.
pub fn discover(request: &Request) -> Result<String> {
    let plan = prepare(request)?;
    let mut out = format!("Source: {}\n\n", plan.source_description);
    let mut table = |title: &str, schema: &arrow::datatypes::SchemaRef| {
        let width = schema
            .fields()
            .iter()
            .map(|f| f.name().len())
            .max()
            .unwrap_or(0)
            .max(5);
        out.push_str(&format!("{title} ({} fields):\n", schema.fields().len()));
        out.push_str(&format!(
            "  {:<width$}  {:<10}  TYPE\n",
            "FIELD", "NULLABLE"
        ));
        for field in schema.fields() {
            let nullable = if field.is_nullable() { "yes" } else { "no" };
            out.push_str(&format!(
                "  {:<width$}  {nullable:<10}  {}\n",
                field.name(),
                field.data_type()
            ));
        }
    };
    table("Source fields", &plan.source.schema());
    table("\nAfter the tasks", plan.tasks.output_schema());
    Ok(out)
}

/// Whether the manifest file holds a Flow.
pub fn has_flow(file: &std::path::Path) -> Result<bool> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|source| Error::Read {
        file: name.clone(),
        source,
    })?;
    Ok(!Bundle::parse(&text, &name)?.flows.is_empty())
}

/// What the file's ConnectorProfiles expose: with `entity`, that entity's
/// fields (of `profile`, or of the file's only profile); otherwise each
/// profile's connection check and entities (of `profile` alone when set).
pub fn catalog(
    file: &std::path::Path,
    profile: Option<&str>,
    entity: Option<&str>,
) -> Result<String> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|source| Error::Read {
        file: name.clone(),
        source,
    })?;
    let bundle = Bundle::parse(&text, &name)?;
    let secrets = Resolver::manifest(bundle.secrets.clone());
    let working_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let names: Vec<&String> = bundle.profiles.keys().collect();
    let chosen: Vec<&String> = match profile {
        Some(wanted) => vec![
            bundle
                .profiles
                .get_key_value(wanted)
                .map(|(k, _)| k)
                .ok_or_else(|| {
                    Error::Flow(format!(
                        "{name} has no ConnectorProfile {wanted:?}; it has: {}",
                        names
                            .iter()
                            .map(|n| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
        ],
        None if entity.is_some() && names.len() != 1 => {
            return Err(Error::Flow(format!(
                "{name} has {} ConnectorProfiles; choose the one that holds the entity with --profile",
                names.len()
            )));
        }
        None => names.clone(),
    };
    fn ask<'a>(
        bundle: &'a Bundle,
        name: &'a str,
        secrets: &'a Resolver,
        working_dir: &'a std::path::Path,
    ) -> crate::connectors::catalog::Profile<'a> {
        crate::connectors::catalog::Profile {
            name,
            profile: &bundle.profiles[name],
            secrets,
            working_dir,
        }
    }
    if let Some(entity) = entity {
        let found = ask(&bundle, chosen[0], &secrets, &working_dir)
            .describe(entity)
            .map_err(|e| Error::Catalog(e.to_string()))?;
        return Ok(fields_table(&found));
    }
    let mut out = String::new();
    let mut failed = Vec::new();
    for profile_name in chosen {
        match ask(&bundle, profile_name, &secrets, &working_dir).entities() {
            Ok(entities) => {
                out.push_str(&format!(
                    "ConnectorProfile {profile_name}: reachable, {} entities\n",
                    entities.len()
                ));
                for entity in entities {
                    out.push_str(&format!("  {}\n", entity.name));
                }
            }
            Err(e) => {
                out.push_str(&format!("ConnectorProfile {profile_name}: {e}\n"));
                failed.push(profile_name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(out)
    } else {
        print!("{out}");
        Err(Error::Catalog(format!(
            "cannot reach ConnectorProfile {}",
            failed.join(", ")
        )))
    }
}

fn fields_table(entity: &crate::connectors::Entity) -> String {
    let width = entity
        .fields
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = format!("{} ({} fields):\n", entity.name, entity.fields.len());
    out.push_str(&format!(
        "  {:<width$}  {:<8}  {:<3}  {:<6}  {:<8}  TYPE\n",
        "FIELD", "NULLABLE", "KEY", "CURSOR", "WRITABLE"
    ));
    let yes = |b: bool| if b { "yes" } else { "no" };
    for f in &entity.fields {
        out.push_str(&format!(
            "  {:<width$}  {:<8}  {:<3}  {:<6}  {:<8}  {}\n",
            f.name,
            yes(f.nullable),
            yes(f.primary_key),
            yes(f.incremental),
            yes(f.writable),
            f.data_type
        ));
    }
    out
}

/// The first `limit` records before and after the tasks, as tables.
pub fn preview(request: &Request, limit: usize) -> Result<String> {
    let mut plan = prepare(request)?;
    let mut before: Vec<RecordBatch> = Vec::new();
    // Where each batch of `before` was read, to locate its bad records.
    let mut read_at = Vec::new();
    let mut bad = Vec::new();
    let mut seen = 0usize;
    while seen < limit {
        let Some(unit) = plan
            .source
            .next_unit()
            .map_err(|e| Error::Preview(e.to_string()))?
        else {
            break;
        };
        let chunk = unit().map_err(|e| Error::Preview(e.to_string()))?;
        let take = (limit - seen).min(chunk.batch.num_rows());
        before.push(chunk.batch.slice(0, take));
        read_at.push((chunk.origin, chunk.positions));
        bad.extend(
            chunk
                .malformed
                .into_iter()
                .map(|m| format!("{}: {}", m.location, m.reason)),
        );
        seen += take;
    }
    let mut out = format!("Before tasks ({seen} records):\n");
    out.push_str(&table(&before)?);
    let mut after = Vec::new();
    let mut filtered = 0;
    for (batch, (origin, positions)) in before.iter().zip(&read_at) {
        let result = plan
            .tasks
            .apply(batch)
            .map_err(|e| Error::Preview(e.to_string()))?;
        filtered += result.filtered;
        bad.extend(result.rejected.into_iter().map(|r| {
            format!(
                "{}: task {}: {}{}",
                positions.locate(origin, r.row),
                r.task,
                r.field.map(|f| format!("field {f}: ")).unwrap_or_default(),
                r.reason
            )
        }));
        after.push(result.batch);
    }
    let kept: usize = after.iter().map(RecordBatch::num_rows).sum();
    out.push_str(&format!(
        "\nAfter tasks ({kept} records, {filtered} filtered, {} bad):\n",
        bad.len()
    ));
    out.push_str(&table(&after)?);
    if !bad.is_empty() {
        out.push_str("\nBad records:\n");
        for line in bad {
            out.push_str(&format!("  {line}\n"));
        }
    }
    Ok(out)
}

fn table(batches: &[RecordBatch]) -> Result<String> {
    let batches: Vec<RecordBatch> = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .cloned()
        .collect();
    if batches.is_empty() {
        return Ok("(no records)\n".to_owned());
    }
    arrow::util::pretty::pretty_format_batches(&batches)
        .map(|t| format!("{t}\n"))
        .map_err(|e| Error::Preview(e.to_string()))
}
