//! `sluice run`: the entry point of a run's Job.
//!
//! Reads its FlowRun from the API and runs the Flow spec and the window the
//! controller pinned on its status (a retried pod reuses them, so a run is
//! reproducible after the Flow changes; a FlowRun nobody pinned, as when
//! the runner is started by hand, is pinned here from the current Flow with
//! the overrides' window), resolves the ConnectorProfiles,
//! moves the data with the same engine as `sluice local`, and reports live
//! progress (at most every two seconds) and the outcome on the status — on
//! success of an incremental run over the pinned window, the window's end
//! as the watermark the Flow moves to. It stops when `spec.cancel` is set
//! or the run was replaced (`sluice.dev/replaced-by`).
//! It reads only its FlowRun, its Flow and the profiles they name, and
//! writes only its FlowRun's status.
//!
//! SIGTERM (the pod deleted or evicted, its node drained) stops the run
//! within the pod's grace period: the engine stops reading and removes its
//! staging, nothing is published, and the run is reported `Failed` with
//! reason `Interrupted`, retryable, so the Job's next attempt runs it
//! again from a clean start; the process exits 143. A run that was
//! cancelled meanwhile (the controller deletes a cancelled run's Job)
//! stays `Cancelled`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};

use crate::api::v1alpha1::flow_run::{
    ErrorReason, PinnedFlow, RunCounts, RunError, RunOutput, RunPhase,
};
use crate::api::v1alpha1::{ConnectorProfile, Flow, FlowRun, FlowRunStatus, condition_type};
use crate::connectors::secrets::Resolver;
use crate::pipeline::engine::{self, Counts};
use crate::pipeline::error::Classify;
use crate::plan::{self, RunParams};
use crate::signal::{Listener, Signal};

/// How long a run asked to stop by a signal waits for the engine to remove
/// its staging before it reports and exits anyway (a stuck write): well
/// within Kubernetes' default grace period of 30 seconds. Staging left then
/// is cleared by the next attempt of the run.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(15);
/// How long the report of an interrupted run may take.
const INTERRUPT_REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors that keep the runner from reporting at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused a request.
    #[error("{action}: {source}")]
    Api {
        /// What was being done.
        action: String,
        /// The client's error.
        source: kube::Error,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which run to execute.
#[derive(Debug, Clone)]
pub struct Request {
    /// The FlowRun's namespace.
    pub namespace: String,
    /// The FlowRun's name.
    pub name: String,
    /// Directory relative `file` roots resolve against.
    pub working_dir: PathBuf,
}

fn api(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Api { action, source }
}

fn now() -> Time {
    Time(Timestamp::now())
}

pub use crate::api::v1alpha1::common::duration_text;

fn counts(c: &Counts) -> RunCounts {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    RunCounts {
        records_read: n(c.records_read),
        records_filtered: n(c.records_filtered),
        records_skipped: n(c.records_skipped),
        records_quarantined: n(c.records_quarantined),
        records_written: n(c.records_written),
        records_failed: 0,
        bytes_read: n(c.bytes_read),
        bytes_written: n(c.bytes_written),
        pages: n(c.pages),
        api_calls: 0,
    }
}

fn condition(status: &str, reason: &str, message: &str, generation: Option<i64>) -> Condition {
    Condition {
        type_: condition_type::SUCCEEDED.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: now(),
        observed_generation: generation,
    }
}

struct Reporter {
    runs: Api<FlowRun>,
    name: String,
    generation: Option<i64>,
    started: Instant,
    attempts: i32,
}

impl Reporter {
    async fn patch(&self, status: &FlowRunStatus) -> Result<()> {
        self.patch_clearing(status, &[]).await
    }

    /// Patches `status`, removing the fields named in `cleared` (what an
    /// earlier attempt reported and this one must not show).
    async fn patch_clearing(&self, status: &FlowRunStatus, cleared: &[&str]) -> Result<()> {
        let mut patch = serde_json::json!({ "status": status });
        if let Some(fields) = patch.get_mut("status").and_then(|s| s.as_object_mut()) {
            for field in cleared {
                fields.insert((*field).to_owned(), serde_json::Value::Null);
            }
        }
        // Whatever an error message quotes, no form of a secret the run
        // holds reaches the status (nor the Events made from it).
        crate::connectors::secrets::redact_json(&mut patch);
        self.runs
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api(format!("updating the status of FlowRun {}", self.name)))?;
        Ok(())
    }

    /// Reports a failure that happened before any record moved.
    async fn fail(
        &self,
        reason: ErrorReason,
        message: String,
        retryable: bool,
    ) -> Result<Finished> {
        let error = RunError {
            reason,
            message,
            retryable,
        };
        self.finish(RunPhase::Failed, Some(error), None, None).await
    }

    async fn finish_with_watermark(
        &self,
        phase: RunPhase,
        progress: Option<RunCounts>,
        output: Option<RunOutput>,
        watermark: Option<Time>,
    ) -> Result<Finished> {
        self.report(phase, None, progress, output, watermark).await
    }

    async fn finish(
        &self,
        phase: RunPhase,
        error: Option<RunError>,
        progress: Option<RunCounts>,
        output: Option<RunOutput>,
    ) -> Result<Finished> {
        self.report(phase, error, progress, output, None).await
    }

    async fn report(
        &self,
        phase: RunPhase,
        error: Option<RunError>,
        progress: Option<RunCounts>,
        output: Option<RunOutput>,
        watermark: Option<Time>,
    ) -> Result<Finished> {
        let (status, reason, message) = match (&phase, &error) {
            (RunPhase::Succeeded, _) => (
                "True",
                "Succeeded".to_owned(),
                "the run published its output".to_owned(),
            ),
            (RunPhase::Cancelled, _) => (
                "False",
                "Cancelled".to_owned(),
                "spec.cancel is set; nothing was published".to_owned(),
            ),
            // The condition reason is the error reason's name (unit
            // variants debug-print as their name, as they serialise).
            (_, Some(e)) => ("False", format!("{:?}", e.reason), e.message.clone()),
            _ => ("False", "Failed".to_owned(), "the run failed".to_owned()),
        };
        let status = FlowRunStatus {
            phase: Some(phase),
            conditions: vec![condition(status, &reason, &message, self.generation)],
            observed_generation: self.generation,
            completion_time: Some(now()),
            duration: Some(duration_text(self.started.elapsed().as_secs())),
            progress: progress.unwrap_or_default(),
            progress_time: Some(now()),
            output,
            error,
            watermark,
            attempts: self.attempts,
            ..FlowRunStatus::default()
        };
        let retryable =
            phase == RunPhase::Failed && status.error.as_ref().is_none_or(|e| e.retryable);
        self.patch(&status).await?;
        Ok(Finished {
            phase,
            retryable,
            signal: None,
        })
    }

    /// Reports a run a signal stopped before it finished: `Cancelled` if it
    /// was cancelled meanwhile (the controller deletes a cancelled run's
    /// Job, which is what sent the signal), else `Failed`, `Interrupted`,
    /// retryable. Bounded in time: the pod's grace period is running.
    async fn interrupted(&self, signal: Signal, counts: Option<RunCounts>) -> Result<Finished> {
        let report = async {
            let current = self
                .runs
                .get(&self.name)
                .await
                .map_err(api(format!("reading FlowRun {}", self.name)))?;
            let phase = current.status.as_ref().and_then(|s| s.phase);
            if phase == Some(RunPhase::Cancelled) {
                return Ok(Finished {
                    phase: RunPhase::Cancelled,
                    retryable: false,
                    signal: None,
                });
            }
            if current.cancel_requested() {
                return self.finish(RunPhase::Cancelled, None, counts, None).await;
            }
            let error = RunError {
                reason: ErrorReason::Interrupted,
                message: format!(
                    "the run's pod received {signal} (deleted, evicted, or its node drained) and stopped before the run finished; nothing was published, and the Job's next attempt runs it again"
                ),
                retryable: true,
            };
            self.finish(RunPhase::Failed, Some(error), counts, None)
                .await
        };
        let finished = match tokio::time::timeout(INTERRUPT_REPORT_TIMEOUT, report).await {
            Ok(reported) => reported?,
            // The API server is not answering: exit anyway, the Job retries.
            Err(_) => Finished {
                phase: RunPhase::Failed,
                retryable: true,
                signal: None,
            },
        };
        Ok(Finished {
            signal: (finished.phase == RunPhase::Failed).then_some(signal),
            ..finished
        })
    }
}

/// How a run ended, for the runner's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The run's final phase.
    pub phase: RunPhase,
    /// Whether another attempt may succeed: only a failure whose error
    /// does not say otherwise.
    pub retryable: bool,
    /// The signal that interrupted the run (phase `Failed`, reason
    /// `Interrupted`), if one did.
    pub signal: Option<Signal>,
}

impl Finished {
    /// The process's exit code: 0 for a success, 128 and the signal's
    /// number for an interrupted run (143 for SIGTERM; the Job counts a
    /// failed attempt and runs another), [`EXIT_NOT_RETRYABLE`] for a
    /// failure a retry cannot mend, and 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match (self.phase, self.signal) {
            (RunPhase::Succeeded, _) => 0,
            (_, Some(signal)) => signal.exit_code(),
            _ if !self.retryable => EXIT_NOT_RETRYABLE,
            _ => 1,
        }
    }
}

pub use crate::protocol::EXIT_NOT_RETRYABLE;

/// A phase's outcome: go on with `T`, or the run is over and reported.
type Phase<T> = std::result::Result<T, Finished>;

/// The APIs a run reads and writes, all in the run's namespace.
struct Apis {
    runs: Api<FlowRun>,
    flows: Api<Flow>,
    profiles: Api<ConnectorProfile>,
}

/// Executes the FlowRun and reports on it; returns its final phase.
///
/// In phases: start (read the run, pin its Flow, say Running) → resolve
/// the profiles → plan → move the data while reporting progress → report
/// the outcome. Each phase that ends the run reports it and says so.
pub async fn run(client: kube::Client, request: Request) -> Result<Finished> {
    // From here on SIGTERM is the runner's to handle.
    let interrupted = listen();
    let apis = Apis {
        runs: Api::namespaced(client.clone(), &request.namespace),
        flows: Api::namespaced(client.clone(), &request.namespace),
        profiles: Api::namespaced(client, &request.namespace),
    };
    let (run, reporter, pinned, start_time) = match start(&apis, &request).await? {
        Ok(started) => started,
        Err(finished) => return Ok(finished),
    };
    let resolved = match resolve_profiles(&apis, &request, &pinned, &reporter).await? {
        Ok(resolved) => resolved,
        Err(finished) => return Ok(finished),
    };
    let previous = run.status.clone().unwrap_or_default();
    let (params, watermark) = parameters(&run, &previous, &request, &start_time);
    let flow = Flow {
        metadata: kube::api::ObjectMeta {
            name: Some(run.spec.flow_ref.name.clone()),
            ..Default::default()
        },
        spec: pinned.spec.clone(),
        status: None,
    };
    // Opening a source may do I/O (an http source fetches its first page):
    // plan off the async threads. A signal meanwhile ends the run: nothing
    // is staged before the engine runs.
    let planning = tokio::task::spawn_blocking(move || plan::plan(&resolved, &flow, params));
    let planned = tokio::select! {
        planned = planning => planned,
        signal = signalled(interrupted.clone()) => {
            return reporter.interrupted(signal, None).await;
        }
    };
    let plan = match planned {
        Ok(Ok(plan)) => plan,
        Ok(Err(e)) => {
            return reporter
                .fail(e.reason(), e.to_string(), e.retryable())
                .await;
        }
        Err(join) => {
            let message = format!("planning the run stopped unexpectedly: {join}");
            return reporter.fail(ErrorReason::Internal, message, true).await;
        }
    };
    let executed = execute(plan, &apis.runs, &request.name, &reporter, interrupted).await;
    let result = match executed {
        Executed::Ended(Ok(result), signal) => match (&result, signal) {
            // The engine stopped for the signal: report the interruption.
            (Err(failure), Some(signal)) if matches!(failure.error, engine::Error::Cancelled) => {
                return reporter
                    .interrupted(signal, Some(counts(&failure.counts)))
                    .await;
            }
            _ => result,
        },
        Executed::Ended(Err(join), _) => {
            let message = format!("the engine stopped unexpectedly: {join}");
            return reporter.fail(ErrorReason::Internal, message, true).await;
        }
        Executed::Abandoned(signal, counts_so_far) => {
            return reporter
                .interrupted(signal, Some(counts(&counts_so_far)))
                .await;
        }
    };
    report(result, watermark, &reporter).await
}

/// Listens for SIGINT and SIGTERM; the receiver holds the first one.
fn listen() -> tokio::sync::watch::Receiver<Option<Signal>> {
    let (tx, rx) = tokio::sync::watch::channel(None);
    match Listener::new() {
        Ok(mut listener) => {
            tokio::spawn(async move {
                let signal = listener.recv().await;
                let _ = tx.send(Some(signal));
                // Later signals change nothing: the run is already stopping.
                loop {
                    listener.recv().await;
                }
            });
        }
        // Without a listener a signal ends the process as it would anyway;
        // the Job's next attempt clears what this one staged.
        Err(error) => eprintln!("cannot listen for SIGTERM: {error}"),
    }
    rx
}

/// Resolves with the first signal; never, when none comes.
async fn signalled(mut interrupted: tokio::sync::watch::Receiver<Option<Signal>>) -> Signal {
    loop {
        if let Some(signal) = *interrupted.borrow_and_update() {
            return signal;
        }
        if interrupted.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Reads the run; a finished or cancelled run ends here. Otherwise pins
/// its Flow (a retried pod runs the spec the first attempt ran) and
/// reports it Running.
async fn start(
    apis: &Apis,
    request: &Request,
) -> Result<Phase<(FlowRun, Reporter, PinnedFlow, Time)>> {
    let name = &request.name;
    let run = apis
        .runs
        .get(name)
        .await
        .map_err(api(format!("reading FlowRun {name}")))?;
    let previous = run.status.clone().unwrap_or_default();
    let reporter = Reporter {
        runs: apis.runs.clone(),
        name: name.clone(),
        generation: run.metadata.generation,
        started: Instant::now(),
        attempts: previous.attempts + 1,
    };
    if matches!(
        previous.phase,
        Some(RunPhase::Succeeded | RunPhase::Cancelled)
    ) {
        // A retried pod of a finished run does nothing.
        return Ok(Err(Finished {
            phase: previous.phase.unwrap_or(RunPhase::Succeeded),
            retryable: false,
            signal: None,
        }));
    }
    if run.cancel_requested() {
        let finished = reporter
            .finish(RunPhase::Cancelled, None, None, None)
            .await?;
        return Ok(Err(finished));
    }
    let pinned = match previous.flow.clone() {
        Some(pinned) => pinned,
        None => match apis
            .flows
            .get_opt(&run.spec.flow_ref.name)
            .await
            .map_err(api("reading the Flow"))?
        {
            Some(flow) => PinnedFlow {
                generation: flow.metadata.generation.unwrap_or_default(),
                uid: flow.metadata.uid.clone().unwrap_or_default(),
                spec: flow.spec,
            },
            None => {
                let message = format!(
                    "spec.flowRef: Flow {:?} does not exist in namespace {}",
                    run.spec.flow_ref.name, request.namespace
                );
                let finished = reporter
                    .fail(ErrorReason::ReferenceNotFound, message, false)
                    .await?;
                return Ok(Err(finished));
            }
        },
    };
    let start_time = previous.start_time.clone().unwrap_or_else(now);
    // An earlier attempt's outcome (an interrupted or failed pod) is not
    // this attempt's.
    reporter
        .patch_clearing(
            &FlowRunStatus {
                phase: Some(RunPhase::Running),
                conditions: vec![condition(
                    "Unknown",
                    "Running",
                    "the run is moving data",
                    run.metadata.generation,
                )],
                observed_generation: run.metadata.generation,
                flow: Some(pinned.clone()),
                start_time: Some(start_time.clone()),
                attempts: reporter.attempts,
                ..FlowRunStatus::default()
            },
            &["error", "completionTime", "output"],
        )
        .await?;
    Ok(Ok((run, reporter, pinned, start_time)))
}

/// The ConnectorProfiles the pinned Flow names, by name; a missing one
/// fails the run.
async fn resolve_profiles(
    apis: &Apis,
    request: &Request,
    pinned: &PinnedFlow,
    reporter: &Reporter,
) -> Result<Phase<BTreeMap<String, ConnectorProfile>>> {
    let spec = &pinned.spec;
    let mut wanted = vec![
        &spec.source.connector_profile_ref.name,
        &spec.destination.connector_profile_ref.name,
    ];
    if let Some(location) = &spec.error_handling.error_location {
        wanted.push(&location.connector_profile_ref.name);
    }
    let mut resolved = BTreeMap::new();
    for profile_name in wanted {
        if resolved.contains_key(profile_name) {
            continue;
        }
        match apis
            .profiles
            .get_opt(profile_name)
            .await
            .map_err(api("reading a ConnectorProfile"))?
        {
            Some(profile) => {
                resolved.insert(profile_name.clone(), profile);
            }
            None => {
                let message = format!(
                    "ConnectorProfile {profile_name:?} does not exist in namespace {}",
                    request.namespace
                );
                let finished = reporter
                    .fail(ErrorReason::ReferenceNotFound, message, false)
                    .await?;
                return Ok(Err(finished));
            }
        }
    }
    Ok(Ok(resolved))
}

/// The run's parameters for the planner, and the watermark a success
/// reaches: the window the controller pinned (the watermark or first-run
/// start, narrowed by the overrides), else the overrides' window.
fn parameters(
    run: &FlowRun,
    previous: &FlowRunStatus,
    request: &Request,
    start_time: &Time,
) -> (RunParams, Option<Time>) {
    let time = run.spec.scheduled_time.as_ref().unwrap_or(start_time);
    let pinned_window = previous.flow.as_ref().and(previous.window.as_ref());
    let (window_start, window_end) = match pinned_window {
        Some(window) => (
            window.from.as_ref().and_then(plan::to_utc),
            window.to.as_ref().and_then(plan::to_utc),
        ),
        None => plan::override_window(run.spec.overrides.as_ref()),
    };
    // A successful incremental run over the watermark's window reached its
    // end; a run with a window override or a full refresh moves nothing.
    let overridden = run
        .spec
        .overrides
        .as_ref()
        .is_some_and(|o| o.full_refresh || o.window.is_some());
    let watermark = match pinned_window {
        Some(window) if !overridden => window.to.clone(),
        _ => None,
    };
    let params = RunParams {
        run_id: request.name.clone(),
        time: chrono::DateTime::from_timestamp(time.0.as_second(), 0)
            .unwrap_or_else(chrono::Utc::now),
        overrides: run.spec.overrides.clone(),
        working_dir: request.working_dir.clone(),
        window_start,
        window_end,
        // Secret keys mounted into the pod by the controller.
        secrets: Resolver::mounted_from_env(),
    };
    (params, watermark)
}

/// How the engine's part of a run ended.
enum Executed {
    /// The engine returned (or panicked), with the signal received
    /// meanwhile, if one was.
    Ended(
        std::result::Result<
            engine::Result<engine::Summary, Box<engine::Failure>>,
            tokio::task::JoinError,
        >,
        Option<Signal>,
    ),
    /// A signal came and the engine had not stopped within
    /// [`INTERRUPT_GRACE`]; the counts reached.
    Abandoned(Signal, Counts),
}

/// Moves the data on the engine's threads; meanwhile reports progress (at
/// most every two seconds) and stops the engine when the run is to stop:
/// cancelled, replaced, or a signal received.
async fn execute(
    plan: plan::Plan,
    runs: &Api<FlowRun>,
    name: &str,
    reporter: &Reporter,
    interrupted: tokio::sync::watch::Receiver<Option<Signal>>,
) -> Executed {
    let cancel = plan.options.cancel.clone();
    let (progress_tx, mut progress_rx) = tokio::sync::watch::channel(Counts::default());
    let engine = tokio::task::spawn_blocking(move || {
        let plan::Plan {
            source,
            tasks,
            destination,
            quarantine,
            options,
            ..
        } = plan;
        engine::run(
            source,
            &tasks,
            destination,
            quarantine,
            &options,
            &mut |c| {
                let _ = progress_tx.send(*c);
            },
        )
    });
    tokio::pin!(engine);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let signal = signalled(interrupted);
    tokio::pin!(signal);
    loop {
        tokio::select! {
            done = &mut engine => break Executed::Ended(done, None),
            signal = &mut signal => {
                // Stop reading and remove the staging, then report.
                cancel.store(true, Ordering::Relaxed);
                return match tokio::time::timeout(INTERRUPT_GRACE, &mut engine).await {
                    Ok(done) => Executed::Ended(done, Some(signal)),
                    Err(_) => Executed::Abandoned(signal, *progress_rx.borrow()),
                };
            }
            _ = tick.tick() => {
                if progress_rx.has_changed().unwrap_or(false) {
                    let c = *progress_rx.borrow_and_update();
                    let status = FlowRunStatus {
                        phase: Some(RunPhase::Running),
                        progress: counts(&c),
                        progress_time: Some(now()),
                        duration: Some(duration_text(reporter.started.elapsed().as_secs())),
                        attempts: reporter.attempts,
                        ..FlowRunStatus::default()
                    };
                    // Progress is best effort; the final status is not.
                    let _ = reporter.patch(&status).await;
                }
                if let Ok(current) = runs.get(name).await && current.cancel_requested() {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Reports the engine's outcome: Succeeded with the output and the
/// watermark, Cancelled, or Failed with the classified error.
async fn report(
    result: engine::Result<engine::Summary, Box<engine::Failure>>,
    watermark: Option<Time>,
    reporter: &Reporter,
) -> Result<Finished> {
    match result {
        Ok(summary) => {
            let output = RunOutput {
                object_count: i64::try_from(summary.outcome.objects).unwrap_or(i64::MAX),
                location: Some(summary.outcome.location.clone()),
                manifest: summary.outcome.manifest.clone(),
                quarantine_location: summary.quarantine.clone(),
                schema_version: Some(1),
            };
            reporter
                .finish_with_watermark(
                    RunPhase::Succeeded,
                    Some(counts(&summary.counts)),
                    Some(output),
                    watermark,
                )
                .await
        }
        Err(failure) => {
            let output = failure.quarantine.clone().map(|q| RunOutput {
                quarantine_location: Some(q),
                ..RunOutput::default()
            });
            if matches!(failure.error, engine::Error::Cancelled) {
                return reporter
                    .finish(
                        RunPhase::Cancelled,
                        None,
                        Some(counts(&failure.counts)),
                        output,
                    )
                    .await;
            }
            let error = RunError {
                reason: failure.error.reason(),
                message: failure.error.to_string(),
                retryable: failure.error.retryable(),
            };
            reporter
                .finish(
                    RunPhase::Failed,
                    Some(error),
                    Some(counts(&failure.counts)),
                    output,
                )
                .await
        }
    }
}
