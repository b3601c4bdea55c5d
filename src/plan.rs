//! Turns a Flow, its ConnectorProfiles and a run's parameters into the
//! engine's parts: source, compiled tasks, destination, quarantine and
//! options. Shared by `sluice local` and the run pod's `sluice run`.
//!
//! It keeps only what is the run's rather than a connector's: the
//! schedule's time zone, the incremental window, the task list compiled
//! against the source's schema, and the quarantine's wiring. Which
//! connector opens what is [`crate::connectors`]' one match per concern.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::api::v1alpha1::flow::{ReadMode, TriggerType};
use crate::api::v1alpha1::flow_run::RunOverrides;
use crate::api::v1alpha1::{ConnectorProfile, Flow};
use crate::connectors::secrets::Resolver;
use crate::connectors::{self, Context, Window};
use crate::pipeline::engine::{Destination, Options, Quarantine, Source};
use crate::pipeline::error::{Classify, ErrorClass};
use crate::pipeline::tasks::{self, Tasks};

/// Errors of planning a run: the manifests do not fit together, or a
/// connector could not open its side.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A connector could not be opened.
    #[error(transparent)]
    Connector(#[from] connectors::Error),
    /// A sync setting this build cannot run.
    #[error("{0}")]
    Unsupported(String),
    /// The tasks do not fit the source schema.
    #[error("spec.tasks: {0}")]
    Tasks(#[from] tasks::Error),
    /// The time zone is not an IANA name.
    #[error("spec.trigger.schedule.timeZone: {0:?} is not an IANA time zone name")]
    TimeZone(String),
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Connector(e) => e.class(),
            Self::Unsupported(_) | Self::Tasks(_) | Self::TimeZone(_) => ErrorClass::Config,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::Connector(e) => e.retryable(),
            _ => false,
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A run's parameters.
#[derive(Debug, Clone)]
pub struct RunParams {
    /// The run id (FlowRun name).
    pub run_id: String,
    /// When it was scheduled, or started for on-demand runs.
    pub time: DateTime<Utc>,
    /// The run's overrides.
    pub overrides: Option<RunOverrides>,
    /// Directory relative `file` roots resolve against.
    pub working_dir: PathBuf,
    /// Start of the incremental window (inclusive): the FlowRun's
    /// `overrides.window.from`, else (in a cluster) the window the controller
    /// pinned from the Flow's watermark or `sync.firstRun`. Without it an
    /// incremental read is refused: local mode keeps no watermark.
    pub window_start: Option<DateTime<Utc>>,
    /// End of the incremental window (exclusive): `overrides.window.to`;
    /// unset means the run's `time`.
    pub window_end: Option<DateTime<Utc>>,
    /// Where the secret values of the profiles' credentials are read.
    pub secrets: Resolver,
}

pub use crate::api::v1alpha1::common::to_utc;

/// The window of a run's overrides: `(from, to)`.
pub fn override_window(
    overrides: Option<&RunOverrides>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let window = overrides.and_then(|o| o.window.as_ref());
    (
        window.and_then(|w| w.from.as_ref()).and_then(to_utc),
        window.and_then(|w| w.to.as_ref()).and_then(to_utc),
    )
}

/// A planned run.
pub struct Plan {
    /// The Flow's name.
    pub flow: String,
    /// The run id.
    pub run_id: String,
    /// Where records come from, in words.
    pub source_description: String,
    /// Where they go, in words.
    pub destination_description: String,
    /// The source.
    pub source: Box<dyn Source>,
    /// The compiled tasks.
    pub tasks: Tasks,
    /// The destination.
    pub destination: Box<dyn Destination>,
    /// Where bad records go under policy Quarantine.
    pub quarantine: Option<Box<dyn Quarantine>>,
    /// Engine options.
    pub options: Options,
}

/// The time zone of the Flow's schedule (UTC for other triggers).
fn zone(flow: &Flow) -> Result<chrono_tz::Tz> {
    match (&flow.spec.trigger.kind, &flow.spec.trigger.schedule) {
        (TriggerType::Schedule, Some(schedule)) => schedule
            .time_zone
            .as_str()
            .parse()
            .map_err(|_| Error::TimeZone(schedule.time_zone.to_string())),
        _ => Ok(chrono_tz::UTC),
    }
}

/// The window an incremental read covers, `None` for full reads: from
/// the window start to `overrides.window.to`, else the run's time.
fn window(flow: &Flow, params: &RunParams) -> Result<Option<Window>> {
    let spec = &flow.spec;
    let full_refresh = params.overrides.as_ref().is_some_and(|o| o.full_refresh);
    if spec.sync.mode != ReadMode::Incremental || full_refresh {
        return Ok(None);
    }
    if !spec
        .source
        .connector()
        .is_some_and(connectors::reads_windows)
    {
        return Err(Error::Unsupported(
            "spec.sync.mode: the file source cannot read incrementally; use Full, or a FlowRun with overrides.fullRefresh".to_owned(),
        ));
    }
    let Some(start) = params.window_start else {
        return Err(Error::Unsupported(
            "spec.sync.mode: incremental reads need the window start, and local mode keeps no watermark; run with a FlowRun whose overrides.window.from sets it, or with overrides.fullRefresh (in a cluster the Flow's watermark or sync.firstRun gives it)".to_owned(),
        ));
    };
    let end = params.window_end.unwrap_or(params.time);
    if start >= end {
        return Err(Error::Unsupported(format!(
            "the incremental window is empty: it starts at {} but ends at {} (overrides.window.to, or the run's time when unset)",
            start.to_rfc3339(),
            end.to_rfc3339()
        )));
    }
    Ok(Some(Window { start, end }))
}

/// Plans a run of `flow` with `profiles`.
pub fn plan(
    profiles: &BTreeMap<String, ConnectorProfile>,
    flow: &Flow,
    params: RunParams,
) -> Result<Plan> {
    let name = flow.metadata.name.clone().unwrap_or_default();
    let spec = &flow.spec;
    let ctx = Context {
        flow_name: &name,
        flow: spec,
        run_id: &params.run_id,
        time: params.time.with_timezone(&zone(flow)?),
        window: window(flow, &params)?,
        profiles,
        secrets: &params.secrets,
        working_dir: &params.working_dir,
    };
    let source = connectors::open_source(&ctx)?;
    let extra_filter = params.overrides.as_ref().and_then(|o| o.filter.as_deref());
    let tasks = Tasks::compile(&spec.tasks, extra_filter, &source.part.schema())?;
    let mut quarantine = connectors::open_quarantine(&ctx)?;
    let destination = connectors::open_destination(&ctx, &mut quarantine)?;
    Ok(Plan {
        flow: name.clone(),
        run_id: params.run_id.clone(),
        source_description: source.description,
        destination_description: destination.description,
        source: source.part,
        tasks,
        destination: destination.part,
        quarantine,
        options: Options::new(spec.error_handling.clone()),
    })
}
