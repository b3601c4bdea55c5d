//! The FlowRun reconciler: one Job per FlowRun.
//!
//! Phases, for a run not finished yet:
//!
//! 1. **dereference** — the Flow (until the run is pinned) and the
//!    ConnectorProfiles its spec names (for their Secret references only;
//!    Secret values are never read).
//! 2. **validate** ([`validate`], pure) — the references exist and match,
//!    the Flow is not suspended; the run window is computed from the Flow's
//!    incremental watermark (or the first-run start) narrowed by the run's
//!    overrides ([`run_window`]).
//! 3. **build** ([`super::job::build_job`], pure) — the Job.
//! 4. **apply** — the runner's RBAC in the namespace, then the Job, created
//!    if absent under a name derived from the FlowRun's, so a restarted
//!    controller finds it instead of starting a second one.
//! 5. **update status** — before the Job exists, the Flow's generation, uid
//!    and spec and the window are pinned on the FlowRun's status (the
//!    runner executes exactly that); then the Job's name.
//!
//! Afterwards the reconciler mirrors what the runner could not report: a
//! Job that failed (deadline, backoff limit, a pod OOMKilled or evicted) or
//! a pod whose image cannot be pulled marks the run `Failed` with a
//! classified reason ([`job_outcome`]); an outcome the runner reported stays
//! as reported. `spec.cancel` (or the Flow reconciler's
//! `sluice.dev/replaced-by` annotation) deletes the Job and marks the run
//! `Cancelled`. Once the run is over the reconciler records its metrics,
//! publishes an Event and sets `Reconciling=False` (reason `Finished`),
//! which is also how it knows not to count the run twice.
//!
//! A missing Flow or profile, or a profile of the wrong connector, sets
//! `Stalled=True` with the reason and a Warning Event; the run waits for a
//! change of the Flow or profiles (they are watched), never a retry loop.
//! A FlowRun of a suspended Flow, or whose window is empty, fails at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};

use super::conditions::{find_condition, remove_condition, set_condition};
use super::job::{self, RunJob, build_job, job_name, label_value};
use super::{
    COMPONENT_LABEL, COMPONENT_RUNNER, Context, Error, FIELD_MANAGER, FLOW_RUN_ANNOTATION,
    FLOW_RUN_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RUNNER_SERVICE_ACCOUNT, Result, Shutdown, rbac,
    shutdown_requested, watched_api,
};
use crate::api::v1alpha1::common::{Condition, Time, condition_status, condition_type};
use crate::api::v1alpha1::flow::{FlowSpec, FlowStatus, ReadMode, RunTemplate};
use crate::api::v1alpha1::flow_run::{
    ErrorReason, PinnedFlow, RunError, RunOverrides, RunPhase, Window,
};
use crate::api::v1alpha1::{ConnectorProfile, Flow, FlowRun, FlowRunStatus};

/// The controller label of this reconciler's metrics.
pub const CONTROLLER: &str = "flow_run";
/// `Reconciling` reason once the controller has seen the run finish.
pub const FINISHED: &str = "Finished";
/// `Reconciling` reason while the run's Job exists and the run goes on.
pub const JOB_CREATED: &str = "JobCreated";
/// `Succeeded` reason of a run whose Job has not started it yet.
pub const PENDING: &str = "Pending";
/// `Succeeded` and Event reason of a cancelled run.
pub const CANCELLED: &str = "Cancelled";
/// How far back the first incremental run reads when `sync.firstRun` is
/// unset: 30 days, as AppFlow does.
pub const DEFAULT_FIRST_RUN_LOOKBACK: Duration = Duration::from_secs(30 * 24 * 3600);

/// Runs the FlowRun reconciler until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: Shutdown) {
    let runner_selector =
        format!("{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={COMPONENT_RUNNER}");
    // The runs, without their managed fields: those of a pinned Flow spec
    // are about half of each run.
    let (run_cache, runs_writer) = reflector::store::<FlowRun>();
    let run_events = watcher(watched_api::<FlowRun>(&ctx), watcher::Config::default())
        .default_backoff()
        .modify(|run: &mut FlowRun| run.managed_fields_mut().clear())
        .reflect(runs_writer)
        .applied_objects();
    // The runs' Jobs, without their pod templates (never read here; most
    // of a Job).
    let (jobs, jobs_writer) = reflector::store::<Job>();
    let job_events = watcher(
        watched_api::<Job>(&ctx),
        watcher::Config::default().labels(&runner_selector),
    )
    .default_backoff()
    .modify(|job: &mut Job| {
        job.managed_fields_mut().clear();
        if let Some(spec) = job.spec.as_mut() {
            spec.template = Default::default();
        }
    })
    .reflect(jobs_writer)
    .touched_objects();
    // The Flows and profiles runs are pinned from (see [`Caches`]).
    let (flows, flows_writer) = reflector::store::<Flow>();
    let flow_events = watcher(watched_api::<Flow>(&ctx), watcher::Config::default())
        .default_backoff()
        .modify(|flow: &mut Flow| flow.managed_fields_mut().clear())
        .reflect(flows_writer)
        .touched_objects();
    let (profiles, profiles_writer) = reflector::store::<ConnectorProfile>();
    let profile_events = watcher(
        watched_api::<ConnectorProfile>(&ctx),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(|profile: &mut ConnectorProfile| profile.managed_fields_mut().clear())
    .reflect(profiles_writer)
    .touched_objects();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        caches: Caches {
            flows,
            profiles,
            jobs,
        },
    });
    let controller = Controller::for_stream(run_events, run_cache);
    let runs = controller.store();
    let waiting_on_flow = runs.clone();
    let waiting_on_profile = runs;
    controller
        .owns_stream(job_events)
        .watches(
            watched_api::<Pod>(&ctx),
            watcher::Config::default().labels(&runner_selector),
            |pod: Pod| {
                let run = pod.annotations().get(FLOW_RUN_ANNOTATION)?.clone();
                Some(ObjectRef::<FlowRun>::new(&run).within(&pod.namespace()?))
            },
        )
        // A run waiting for its Flow starts when the Flow appears or changes.
        .watches_stream(flow_events, move |flow: Flow| {
            let (namespace, name) = (flow.namespace(), flow.name_any());
            waiting_on_flow
                .state()
                .into_iter()
                .filter(|run| {
                    run.namespace() == namespace
                        && run.spec.flow_ref.name == name
                        && run.status.as_ref().is_none_or(|s| s.flow.is_none())
                })
                .map(|run| ObjectRef::from_obj(&*run))
                .collect::<Vec<_>>()
        })
        // A run waiting for a profile starts when a profile changes.
        .watches_stream(profile_events, move |profile: ConnectorProfile| {
            let namespace = profile.namespace();
            waiting_on_profile
                .state()
                .into_iter()
                .filter(|run| run.namespace() == namespace && waits_for_references(run))
                .map(|run| ObjectRef::from_obj(&*run))
                .collect::<Vec<_>>()
        })
        .with_config(kube::runtime::controller::Config::default().concurrency(16))
        .graceful_shutdown_on(shutdown_requested(shutdown))
        .run(reconcile, error_policy, state)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "FlowRun reconcile not done");
            }
        })
        .await;
}

/// Whether a run is waiting for its references: not pinned yet, or
/// stalled (a profile vanished between pinning and the Job).
pub fn waits_for_references(run: &FlowRun) -> bool {
    run.status.as_ref().is_none_or(|s| {
        s.flow.is_none()
            || find_condition(&s.conditions, condition_type::STALLED)
                .is_some_and(|c| c.status == condition_status::TRUE)
    })
}

fn error_policy(run: Arc<FlowRun>, error: &Error, state: Arc<State>) -> Action {
    super::retry_after_error(CONTROLLER, &*run, error, &state.ctx)
}

/// What the reconciler shares.
pub struct State {
    ctx: Arc<Context>,
    caches: Caches,
}

/// The watched Flows, profiles and runs' Jobs. A scheduled run is pinned
/// from the cached Flow that scheduled it, profiles and Jobs are read from
/// the caches: at a busy minute those reads were two round trips between a
/// run's creation and its Job, and about two Job reads per run after. An
/// on-demand run, which a user may create right after changing its Flow,
/// reads the Flow from the API server, and so does any read the cache
/// cannot answer (yet).
struct Caches {
    flows: Store<Flow>,
    profiles: Store<ConnectorProfile>,
    jobs: Store<Job>,
}

impl Caches {
    /// The cached Flow of a scheduled run: the Flow that owns it as its
    /// controller (the Flow reconciler creates scheduled runs so).
    fn scheduling_flow(&self, run: &FlowRun) -> Option<Flow> {
        let owner = run
            .owner_references()
            .iter()
            .find(|o| o.kind == "Flow" && o.controller == Some(true))?;
        let flow = self
            .flows
            .get(&ObjectRef::new(&owner.name).within(&run.namespace()?))?;
        (flow.uid().as_deref() == Some(owner.uid.as_str()) && owner.name == run.spec.flow_ref.name)
            .then(|| (*flow).clone())
    }
}

/// Reconciles one FlowRun.
pub async fn reconcile(run: Arc<FlowRun>, state: Arc<State>) -> Result<Action> {
    let ctx = &state.ctx;
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    let action = reconcile_run(&run, ctx, &state.caches).await?;
    ctx.reset_backoff(&ObjectRef::from_obj(&*run));
    Ok(action)
}

/// Why a run cannot start: the condition reason, a message a user can act
/// on, and whether the run fails (`terminal`) or waits for a change.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The FlowRun error reason.
    pub reason: ErrorReason,
    /// What is wrong and what would fix it.
    pub message: String,
    /// Fail the run instead of waiting for a change.
    pub terminal: bool,
}

/// A run that can start: its Job, and what the status pins.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// What the Job is built from.
    pub job: RunJob,
    /// The Flow the run executes.
    pub pinned: PinnedFlow,
    /// The window the run reads (incremental runs).
    pub window: Option<Window>,
    /// The source connector, a metric label.
    pub connector: &'static str,
}

/// The source connector of a Flow spec (a bounded metric label).
pub fn source_connector(spec: &FlowSpec) -> &'static str {
    let s = &spec.source;
    [
        (s.salesforce.is_some(), "salesforce"),
        (s.zendesk.is_some(), "zendesk"),
        (s.s3.is_some(), "s3"),
        (s.postgres.is_some(), "postgres"),
        (s.http.is_some(), "http"),
        (s.file.is_some(), "file"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
    .unwrap_or("unknown")
}

/// Whether this reconciler is done with a run for good (`Reconciling=False`,
/// reason `Finished`): outcome final, metrics and Event recorded.
pub fn settled(status: &FlowRunStatus) -> bool {
    find_condition(&status.conditions, condition_type::RECONCILING)
        .is_some_and(|c| c.status == condition_status::FALSE && c.reason == FINISHED)
}

/// Whether a run is to stop: `spec.cancel`, or replaced by a newer run of
/// its Flow (`concurrencyPolicy: Replace` annotates it
/// [`super::REPLACED_BY_ANNOTATION`]). The reconciler and the runner both
/// ask this.
pub fn cancel_requested(run: &FlowRun) -> bool {
    run.spec.cancel
        || run
            .annotations()
            .contains_key(super::REPLACED_BY_ANNOTATION)
}

/// The connector a profile configures (a bounded metric label).
pub fn profile_connector(profile: &ConnectorProfile) -> &'static str {
    let s = &profile.spec;
    [
        (s.salesforce.is_some(), "salesforce"),
        (s.zendesk.is_some(), "zendesk"),
        (s.s3.is_some(), "s3"),
        (s.postgres.is_some(), "postgres"),
        (s.http.is_some(), "http"),
        (s.file.is_some(), "file"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
    .unwrap_or("unknown")
}

fn destination_connector(spec: &FlowSpec) -> &'static str {
    let d = &spec.destination;
    [
        (d.salesforce.is_some(), "salesforce"),
        (d.zendesk.is_some(), "zendesk"),
        (d.s3.is_some(), "s3"),
        (d.postgres.is_some(), "postgres"),
        (d.file.is_some(), "file"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
    .unwrap_or("unknown")
}

/// The profiles a Flow spec names: `(field, profile name, connector the
/// field needs)`; the error location takes an `s3` or `file` profile.
pub fn profile_references(spec: &FlowSpec) -> Vec<(&'static str, String, &'static str)> {
    let mut refs = vec![
        (
            "spec.source.connectorProfileRef",
            spec.source.connector_profile_ref.name.clone(),
            source_connector(spec),
        ),
        (
            "spec.destination.connectorProfileRef",
            spec.destination.connector_profile_ref.name.clone(),
            destination_connector(spec),
        ),
    ];
    if let Some(location) = &spec.error_handling.error_location {
        let connector = if location.s3.is_some() { "s3" } else { "file" };
        refs.push((
            "spec.errorHandling.errorLocation.connectorProfileRef",
            location.connector_profile_ref.name.clone(),
            connector,
        ));
    }
    refs
}

fn add(time: &Time, delta: SignedDuration) -> Time {
    Time(time.0.checked_add(delta).unwrap_or(time.0))
}

/// The window a run reads: `None` unless the Flow reads incrementally and
/// the run does not ask for a full refresh. It starts at the run's
/// `overrides.window.from`, else the Flow's watermark, else
/// `sync.firstRun` (a time, or a span before `run_time`; 30 days by
/// default); it ends at `overrides.window.to`, else `run_time`.
pub fn run_window(
    spec: &FlowSpec,
    flow_status: Option<&FlowStatus>,
    overrides: Option<&RunOverrides>,
    run_time: &Time,
) -> Option<Window> {
    if spec.sync.mode != ReadMode::Incremental || overrides.is_some_and(|o| o.full_refresh) {
        return None;
    }
    let requested = overrides.and_then(|o| o.window.as_ref());
    let watermark = flow_status
        .and_then(|s| s.incremental.as_ref())
        .and_then(|i| i.watermark.clone());
    let first_run = || match &spec.sync.first_run {
        Some(first) => match (&first.start_time, &first.lookback) {
            (Some(start), _) => start.clone(),
            (None, Some(lookback)) => {
                let span = crate::connectors::http::config::parse_duration(lookback.as_str())
                    .unwrap_or(DEFAULT_FIRST_RUN_LOOKBACK);
                back(run_time, span)
            }
            (None, None) => back(run_time, DEFAULT_FIRST_RUN_LOOKBACK),
        },
        None => back(run_time, DEFAULT_FIRST_RUN_LOOKBACK),
    };
    let from = requested
        .and_then(|w| w.from.clone())
        .or(watermark)
        .unwrap_or_else(first_run);
    let to = requested
        .and_then(|w| w.to.clone())
        .unwrap_or_else(|| run_time.clone());
    Some(Window {
        from: Some(from),
        to: Some(to),
    })
}

fn back(time: &Time, span: Duration) -> Time {
    let span = SignedDuration::try_from(span).unwrap_or(SignedDuration::ZERO);
    add(time, -span)
}

/// A default run template: the schema's defaults (backoff limit 2).
pub fn default_run_template() -> RunTemplate {
    serde_json::from_value(serde_json::json!({})).unwrap_or_default()
}

/// Validates a run against its (pinned or current) Flow and profiles.
/// `flow_status` gives the watermark when the run is not pinned yet;
/// `suspended` is the current Flow's `spec.suspend` for such runs.
#[allow(clippy::too_many_arguments)]
pub fn validate(
    run: &FlowRun,
    pinned: &PinnedFlow,
    suspended: bool,
    flow_status: Option<&FlowStatus>,
    profiles: &BTreeMap<String, ConnectorProfile>,
    image: &str,
    now: &Time,
) -> Result<Validated, Invalid> {
    let namespace = run.namespace().unwrap_or_default();
    let flow_name = run.spec.flow_ref.name.clone();
    let status = run.status.clone().unwrap_or_default();
    if suspended {
        return Err(Invalid {
            reason: ErrorReason::InvalidSpec,
            message: format!(
                "Flow {flow_name:?} is suspended (spec.suspend: true), so no new run starts; set spec.suspend to false and create a new FlowRun"
            ),
            terminal: true,
        });
    }
    let mut credentials = Vec::new();
    for (field, name, connector) in profile_references(&pinned.spec) {
        let Some(profile) = profiles.get(&name) else {
            return Err(Invalid {
                reason: ErrorReason::ReferenceNotFound,
                message: format!(
                    "Flow {flow_name:?} {field}: ConnectorProfile {name:?} does not exist in namespace {namespace}; create it or correct the reference"
                ),
                terminal: false,
            });
        };
        let configured = profile_connector(profile);
        if configured != connector {
            return Err(Invalid {
                reason: ErrorReason::InvalidSpec,
                message: format!(
                    "Flow {flow_name:?} {field}: ConnectorProfile {name:?} configures {configured}, but the Flow needs a {connector} profile there"
                ),
                terminal: false,
            });
        }
        if let Some(c) = &profile.spec.credentials {
            credentials.push(c);
        }
    }
    let window = match &status.window {
        Some(window) if status.flow.is_some() => Some(window.clone()),
        _ => {
            let run_time = run
                .spec
                .scheduled_time
                .clone()
                .unwrap_or_else(|| now.clone());
            run_window(
                &pinned.spec,
                flow_status,
                run.spec.overrides.as_ref(),
                &run_time,
            )
        }
    };
    if let Some(Window {
        from: Some(from),
        to: Some(to),
    }) = &window
        && from.0 >= to.0
    {
        return Err(Invalid {
            reason: ErrorReason::InvalidSpec,
            message: format!(
                "the run's window is empty: it starts at {} (overrides.window.from, the Flow's watermark or sync.firstRun) and ends at {} (overrides.window.to, or the run's time)",
                from.0, to.0
            ),
            terminal: true,
        });
    }
    let template = pinned
        .spec
        .run_template
        .clone()
        .unwrap_or_else(default_run_template);
    let service_account = template
        .service_account_name
        .clone()
        .unwrap_or_else(|| RUNNER_SERVICE_ACCOUNT.to_owned());
    Ok(Validated {
        job: RunJob {
            namespace,
            run_name: run.name_any(),
            run_uid: run.uid().unwrap_or_default(),
            flow_name,
            image: image.to_owned(),
            service_account,
            secrets: job::secret_mounts(credentials),
            template,
        },
        pinned: pinned.clone(),
        window,
        connector: source_connector(&pinned.spec),
    })
}

/// What a run's Job says about the run.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Its pod is pending or running, or will be retried.
    Active,
    /// The Job completed: the runner exited successfully.
    Complete,
    /// The Job failed, or cannot run; the classified error.
    Failed(RunError),
}

fn condition_true<'a>(job: &'a Job, type_: &str) -> Option<&'a str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == condition_status::TRUE)
        .map(|c| c.reason.as_deref().unwrap_or(""))
}

/// Pod failure evidence: OOMKilled containers, evictions, image pulls.
fn pod_failure(pods: &[Pod]) -> Option<RunError> {
    let statuses = |pod: &Pod| {
        pod.status
            .as_ref()
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default()
    };
    for pod in pods {
        for container in statuses(pod) {
            let waiting = container
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone());
            if let Some(waiting) = waiting
                && matches!(
                    waiting.as_str(),
                    "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull"
                )
            {
                let image = container.image.clone();
                return Some(RunError {
                    reason: ErrorReason::ImagePullFailed,
                    message: format!(
                        "the runner image {image:?} cannot be pulled ({waiting}); check the controller's --runner-image and the registry's credentials"
                    ),
                    retryable: false,
                });
            }
        }
    }
    for pod in pods {
        for container in statuses(pod) {
            let terminated = [container.state.as_ref(), container.last_state.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|s| s.terminated.as_ref())
                .any(|t| t.reason.as_deref() == Some("OOMKilled"));
            if terminated {
                let limit = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.resources.as_ref())
                    .and_then(|r| r.limits.as_ref())
                    .and_then(|l| l.get("memory"))
                    .map(|q| format!(" (memory limit {})", q.0))
                    .unwrap_or_default();
                return Some(RunError {
                    reason: ErrorReason::OutOfMemory,
                    message: format!(
                        "the run's pod ran out of memory{limit}; raise spec.runTemplate.resources.limits.memory of the Flow"
                    ),
                    retryable: false,
                });
            }
        }
    }
    for pod in pods {
        let status = pod.status.as_ref();
        if status.and_then(|s| s.reason.as_deref()) == Some("Evicted") {
            let why = status
                .and_then(|s| s.message.clone())
                .unwrap_or_else(|| "no message".to_owned());
            return Some(RunError {
                reason: ErrorReason::Internal,
                message: format!("the run's pod was evicted from its node: {why}"),
                retryable: true,
            });
        }
    }
    None
}

/// Classifies a run's Job and its pods.
pub fn job_outcome(job: &Job, pods: &[Pod]) -> JobOutcome {
    if condition_true(job, "Complete").is_some() {
        return JobOutcome::Complete;
    }
    if let Some(job_reason) = condition_true(job, "Failed") {
        if job_reason == "DeadlineExceeded" {
            let seconds = job
                .spec
                .as_ref()
                .and_then(|s| s.active_deadline_seconds)
                .map(|s| format!(" of {s}s"))
                .unwrap_or_default();
            return JobOutcome::Failed(RunError {
                reason: ErrorReason::DeadlineExceeded,
                message: format!(
                    "the run took longer than its deadline{seconds} (spec.runTemplate.activeDeadlineSeconds) and was stopped"
                ),
                retryable: true,
            });
        }
        if let Some(error) = pod_failure(pods) {
            return JobOutcome::Failed(error);
        }
        let attempts = job
            .spec
            .as_ref()
            .and_then(|s| s.backoff_limit)
            .map_or(1, |b| b + 1);
        return JobOutcome::Failed(RunError {
            reason: ErrorReason::BackoffLimitExceeded,
            message: format!(
                "the run's pod failed {attempts} time(s) without reporting an outcome (Job reason {}); see the pod's logs",
                if job_reason.is_empty() {
                    "unknown"
                } else {
                    job_reason
                }
            ),
            retryable: true,
        });
    }
    // A pod that cannot start fails the run instead of waiting forever.
    match pod_failure(pods) {
        Some(error) if error.reason == ErrorReason::ImagePullFailed => JobOutcome::Failed(error),
        _ => JobOutcome::Active,
    }
}

/// Whether the runner can no longer change the run: `Succeeded`,
/// `Cancelled`, or `Failed` with the Job over (a failed attempt is retried
/// while the Job's backoff limit allows).
pub fn is_final(phase: Option<RunPhase>, job: Option<&JobOutcome>) -> bool {
    match phase {
        Some(RunPhase::Succeeded | RunPhase::Cancelled) => true,
        Some(RunPhase::Failed) => !matches!(job, Some(JobOutcome::Active)),
        _ => false,
    }
}

fn now() -> Time {
    Time(Timestamp::now())
}

/// The reason name of an error reason, as conditions and Events use it.
pub fn reason_name(reason: ErrorReason) -> &'static str {
    super::metrics::error_reason_label(reason)
}

struct Run<'a> {
    ctx: &'a Context,
    object: &'a FlowRun,
    api: Api<FlowRun>,
    name: String,
    namespace: String,
    generation: Option<i64>,
    status: FlowRunStatus,
    /// The resourceVersion the reconciler's decisions are based on: every
    /// status write is conditional on it, so a decision made on a stale
    /// cached object (its own earlier write not seen yet) is not applied
    /// twice.
    resource_version: std::sync::Mutex<Option<String>>,
}

/// Whether a conditional status write was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Applied.
    Done,
    /// The FlowRun changed since it was read; the next reconcile decides
    /// again from the newer object.
    Stale,
}

/// What a reconcile acting on a stale FlowRun returns: the watch delivers
/// the newer object, and a short requeue covers a lost event.
fn stale() -> Action {
    Action::requeue(Duration::from_secs(2))
}

impl Run<'_> {
    fn resource_version(&self) -> Option<String> {
        self.resource_version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn seen(&self, object: &FlowRun) {
        *self
            .resource_version
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = object.resource_version();
    }

    async fn patch_status(&self, status: serde_json::Value) -> Result<Written> {
        let patch = serde_json::json!({
            "metadata": { "resourceVersion": self.resource_version() },
            "status": status,
        });
        match self
            .api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(object) => {
                self.seen(&object);
                Ok(Written::Done)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Written::Stale),
            Err(e) => Err(Error::update_status(format!(
                "FlowRun {}/{}",
                self.namespace, self.name
            ))(e)),
        }
    }

    async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        self.ctx
            .event(self.object, type_, reason, action, note)
            .await;
    }

    fn condition(&self, type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        super::conditions::new(type_, status, reason, message, self.generation)
    }

    /// Reports why the run cannot start: it fails, or waits for a change.
    async fn invalid(&self, invalid: Invalid) -> Result<Action> {
        let reason = reason_name(invalid.reason);
        if invalid.terminal {
            let conditions = set_condition(
                &remove_condition(&self.status.conditions, condition_type::STALLED),
                self.condition(
                    condition_type::SUCCEEDED,
                    condition_status::FALSE,
                    reason,
                    &invalid.message,
                ),
            );
            let error = RunError {
                reason: invalid.reason,
                message: invalid.message.clone(),
                retryable: false,
            };
            if self
                .patch_status(serde_json::json!({
                    "phase": RunPhase::Failed,
                    "conditions": conditions,
                    "observedGeneration": self.generation,
                    "completionTime": now(),
                    "error": error,
                }))
                .await?
                == Written::Stale
            {
                return Ok(stale());
            }
            // The Finished bookkeeping (metrics, Event) follows on the
            // next reconcile, triggered by this change.
            return Ok(Action::await_change());
        }
        let unchanged = find_condition(&self.status.conditions, condition_type::STALLED)
            .is_some_and(|c| c.status == condition_status::TRUE && c.message == invalid.message);
        if unchanged {
            return Ok(Action::await_change());
        }
        let conditions = set_condition(
            &set_condition(
                &self.status.conditions,
                self.condition(
                    condition_type::STALLED,
                    condition_status::TRUE,
                    reason,
                    &invalid.message,
                ),
            ),
            self.condition(
                condition_type::SUCCEEDED,
                condition_status::UNKNOWN,
                reason,
                &invalid.message,
            ),
        );
        if self
            .patch_status(serde_json::json!({
                "phase": RunPhase::Pending,
                "conditions": conditions,
                "observedGeneration": self.generation,
            }))
            .await?
            == Written::Stale
        {
            return Ok(stale());
        }
        self.event(EventType::Warning, reason, "Validate", invalid.message)
            .await;
        Ok(Action::await_change())
    }
}

async fn get_profiles(
    ctx: &Context,
    caches: &Caches,
    namespace: &str,
    spec: &FlowSpec,
) -> Result<BTreeMap<String, ConnectorProfile>> {
    let api: Api<ConnectorProfile> = Api::namespaced(ctx.client.clone(), namespace);
    let mut profiles = BTreeMap::new();
    let mut uncached = std::collections::BTreeSet::new();
    for (_, name, _) in profile_references(spec) {
        match caches
            .profiles
            .get(&ObjectRef::new(&name).within(namespace))
        {
            Some(profile) => {
                profiles.insert(name, (*profile).clone());
            }
            None => {
                uncached.insert(name);
            }
        }
    }
    // Read the others at once: their round trips are the reconcile's latency.
    let reads = uncached.into_iter().map(|name| {
        let api = api.clone();
        async move {
            let profile = api
                .get_opt(&name)
                .await
                .map_err(Error::dereference(format!(
                    "reading ConnectorProfile {namespace}/{name}"
                )))?;
            Ok::<_, Error>((name, profile))
        }
    });
    for read in futures_util::future::join_all(reads).await {
        if let (name, Some(profile)) = read? {
            profiles.insert(name, profile);
        }
    }
    Ok(profiles)
}

async fn runner_pods(ctx: &Context, namespace: &str, run_name: &str) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY},{FLOW_RUN_LABEL}={}",
        label_value(run_name)
    );
    let pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::dereference(format!(
            "listing the pods of FlowRun {namespace}/{run_name}"
        )))?;
    Ok(pods
        .items
        .into_iter()
        .filter(|p| p.annotations().get(FLOW_RUN_ANNOTATION).map(String::as_str) == Some(run_name))
        .collect())
}

fn owned_by(job: &Job, uid: &str) -> bool {
    job.owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

async fn delete_job(ctx: &Context, namespace: &str, name: &str) -> Result<()> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(Error::apply(format!("deleting Job {namespace}/{name}"))(e)),
    }
}

fn seconds_between(start: Option<&Time>, end: Option<&Time>) -> Option<f64> {
    let (start, end) = (start?, end?);
    let span = end.0.duration_since(start.0);
    Some(span.as_secs_f64().max(0.0))
}

async fn reconcile_run(object: &FlowRun, ctx: &Context, caches: &Caches) -> Result<Action> {
    let Some(namespace) = object.namespace() else {
        return Ok(Action::await_change());
    };
    if object.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = object.name_any();
    let run = Run {
        ctx,
        object,
        api: Api::namespaced(ctx.client.clone(), &namespace),
        name: name.clone(),
        namespace: namespace.clone(),
        generation: object.metadata.generation,
        status: object.status.clone().unwrap_or_default(),
        resource_version: std::sync::Mutex::new(object.resource_version()),
    };
    let status = &run.status;
    if settled(status) {
        return Ok(Action::await_change());
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let job_name = status.job_name.clone().unwrap_or_else(|| job_name(&name));
    let uid = object.uid().unwrap_or_default();

    // Cancel: stop the Job, then the run is Cancelled (unless it already
    // finished).
    let terminal = matches!(
        status.phase,
        Some(RunPhase::Succeeded | RunPhase::Cancelled | RunPhase::Failed)
    );
    if cancel_requested(object) && !terminal {
        delete_job(ctx, &namespace, &job_name).await?;
        let replaced_by = object.annotations().get(super::REPLACED_BY_ANNOTATION);
        let message = match replaced_by {
            Some(by) if !object.spec.cancel => format!(
                "replaced by run {by:?} (concurrencyPolicy Replace): the Job was deleted and nothing was published"
            ),
            _ => "spec.cancel is set: the Job was deleted and nothing was published".to_owned(),
        };
        let message = message.as_str();
        let conditions = set_condition(
            &remove_condition(&status.conditions, condition_type::STALLED),
            run.condition(
                condition_type::SUCCEEDED,
                condition_status::FALSE,
                CANCELLED,
                message,
            ),
        );
        let completion = now();
        let duration = seconds_between(status.start_time.as_ref(), Some(&completion))
            .map(|s| crate::runner::duration_text(s as u64));
        if run
            .patch_status(serde_json::json!({
                "phase": RunPhase::Cancelled,
                "conditions": conditions,
                "observedGeneration": run.generation,
                "completionTime": completion,
                "duration": duration,
            }))
            .await?
            == Written::Stale
        {
            return Ok(stale());
        }
        return Ok(Action::await_change());
    }

    // The Job, if it exists.
    // A cached Job may be an older state of it: its next event brings the
    // reconcile that sees the rest. One not cached (yet) is read.
    let job = if status.job_name.is_some() || status.flow.is_some() {
        match caches
            .jobs
            .get(&ObjectRef::new(&job_name).within(&namespace))
        {
            Some(job) => Some((*job).clone()),
            None => jobs
                .get_opt(&job_name)
                .await
                .map_err(Error::dereference(format!(
                    "reading Job {namespace}/{job_name}"
                )))?,
        }
    } else {
        None
    };
    if let Some(job) = &job
        && !owned_by(job, &uid)
    {
        return run
            .invalid(Invalid {
                reason: ErrorReason::InvalidSpec,
                message: format!(
                    "a Job named {job_name:?} already exists in namespace {namespace} and does not belong to this FlowRun; delete it or create the FlowRun under another name"
                ),
                terminal: false,
            })
            .await;
    }
    let outcome = match &job {
        Some(job) => {
            let needs_pods = condition_true(job, "Failed").is_some()
                || job
                    .status
                    .as_ref()
                    .is_some_and(|s| s.active.unwrap_or(0) > 0 && s.ready.unwrap_or(0) == 0);
            let pods = if needs_pods {
                runner_pods(ctx, &namespace, &name).await?
            } else {
                Vec::new()
            };
            Some(job_outcome(job, &pods))
        }
        None => None,
    };

    if terminal {
        // Failed with retries left waits for the Job.
        if !is_final(status.phase, outcome.as_ref()) {
            return Ok(Action::await_change());
        }
        if status.phase == Some(RunPhase::Cancelled) && matches!(outcome, Some(JobOutcome::Active))
        {
            delete_job(ctx, &namespace, &job_name).await?;
        }
        return finish(&run).await;
    }

    // The Job reports what the runner could not.
    match &outcome {
        Some(JobOutcome::Failed(error)) => return mirror_failure(&run, error, &job_name).await,
        Some(JobOutcome::Complete) => {
            let error = RunError {
                reason: ErrorReason::Internal,
                message: "the run's pod exited successfully without reporting the run's outcome on the FlowRun; see the pod's logs".to_owned(),
                retryable: true,
            };
            return mirror_failure(&run, &error, &job_name).await;
        }
        Some(JobOutcome::Active) => {
            // The Job exists (a restart between its creation and the status
            // write): record its name.
            if status.job_name.is_none()
                && run
                    .patch_status(serde_json::json!({ "jobName": job_name }))
                    .await?
                    == Written::Stale
            {
                return Ok(stale());
            }
            return Ok(Action::await_change());
        }
        None => {}
    }

    // No Job yet: dereference, validate, pin, build, apply.
    let (pinned, suspended, flow) = match &status.flow {
        Some(pinned) => (pinned.clone(), false, None),
        None => {
            let flows: Api<Flow> = Api::namespaced(ctx.client.clone(), &namespace);
            let flow_name = &object.spec.flow_ref.name;
            let cached = caches.scheduling_flow(object);
            let read = match cached {
                Some(flow) => Some(flow),
                None => flows
                    .get_opt(flow_name)
                    .await
                    .map_err(Error::dereference(format!(
                        "reading Flow {namespace}/{flow_name}"
                    )))?,
            };
            let Some(flow) = read else {
                return run
                    .invalid(Invalid {
                        reason: ErrorReason::ReferenceNotFound,
                        message: format!(
                            "spec.flowRef: Flow {flow_name:?} does not exist in namespace {namespace}; create it or correct spec.flowRef"
                        ),
                        terminal: false,
                    })
                    .await;
            };
            let pinned = PinnedFlow {
                generation: flow.metadata.generation.unwrap_or_default(),
                uid: flow.uid().unwrap_or_default(),
                spec: flow.spec.clone(),
            };
            (pinned, flow.spec.suspend, Some(flow))
        }
    };
    let profiles = get_profiles(ctx, caches, &namespace, &pinned.spec).await?;
    let validated = match validate(
        object,
        &pinned,
        suspended,
        flow.as_ref().and_then(|f| f.status.as_ref()),
        &profiles,
        &ctx.config.runner_image,
        &now(),
    ) {
        Ok(validated) => validated,
        Err(invalid) => return run.invalid(invalid).await,
    };

    // Pin the Flow and the window before the Job exists.
    // The Job's name is known before it exists: one write pins and names it.
    if status.flow.is_none() {
        let message = &format!(
            "the Flow's spec and the run's window are pinned; Job {job_name} runs the Flow"
        );
        let conditions = set_condition(
            &set_condition(
                &remove_condition(&status.conditions, condition_type::STALLED),
                run.condition(
                    condition_type::SUCCEEDED,
                    condition_status::UNKNOWN,
                    PENDING,
                    message,
                ),
            ),
            run.condition(
                condition_type::RECONCILING,
                condition_status::TRUE,
                JOB_CREATED,
                message,
            ),
        );
        if run
            .patch_status(serde_json::json!({
                "phase": RunPhase::Pending,
                "conditions": conditions,
                "observedGeneration": run.generation,
                "flow": validated.pinned,
                "window": validated.window,
                "jobName": job_name,
            }))
            .await?
            == Written::Stale
        {
            return Ok(stale());
        }
    }

    // Own the run by its Flow, so deleting the Flow deletes its runs.
    if let Some(flow) = &flow {
        adopt(&run, flow).await?;
    }

    // A pinned run without a Job is either new or a stale cached copy of a
    // run whose Job was deleted (cancelled, failed): only a fresh read may
    // create the Job.
    if status.flow.is_some() {
        let fresh = run
            .api
            .get(&name)
            .await
            .map_err(Error::dereference(format!(
                "reading FlowRun {namespace}/{name}"
            )))?;
        if fresh.resource_version() != run.resource_version() {
            return Ok(stale());
        }
    }

    // Apply: the runner's identity, then the Job.
    rbac::ensure_runner_rbac(ctx, &namespace, &validated.job.service_account).await?;
    let built = build_job(&validated.job);
    let created = match jobs
        .create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PostParams::default()
            },
            &built,
        )
        .await
    {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 409 => false,
        Err(e) => return Err(Error::apply(format!("creating Job {namespace}/{job_name}"))(e)),
    };
    if created {
        ctx.metrics
            .runs_started
            .with_label_values(&[validated.connector])
            .inc();
        if let Some(created_at) = object.meta().creation_timestamp.as_ref() {
            let delay = Timestamp::now().duration_since(created_at.0);
            ctx.metrics
                .job_creation_delay
                .observe(delay.as_secs_f64().max(0.0));
        }
        tracing::info!(flow_run = %name, namespace = %namespace, job = %job_name, "created the run's Job");
        run.event(
            EventType::Normal,
            JOB_CREATED,
            "CreateJob",
            format!(
                "created Job {job_name} for generation {} of Flow {}",
                validated.pinned.generation, object.spec.flow_ref.name
            ),
        )
        .await;
    }
    if status.job_name.is_some() || status.flow.is_none() {
        // Named when pinned.
        return Ok(Action::await_change());
    }
    let message = format!("Job {job_name} runs the Flow");
    let conditions = set_condition(
        &set_condition(
            &remove_condition(&status.conditions, condition_type::STALLED),
            run.condition(
                condition_type::SUCCEEDED,
                condition_status::UNKNOWN,
                PENDING,
                &message,
            ),
        ),
        run.condition(
            condition_type::RECONCILING,
            condition_status::TRUE,
            JOB_CREATED,
            &message,
        ),
    );
    if run
        .patch_status(serde_json::json!({
            "phase": RunPhase::Pending,
            "conditions": conditions,
            "observedGeneration": run.generation,
            "jobName": job_name,
        }))
        .await?
        == Written::Stale
    {
        return Ok(stale());
    }
    Ok(Action::await_change())
}

/// Adds the Flow as the FlowRun's owner, unless it already is.
async fn adopt(run: &Run<'_>, flow: &Flow) -> Result<()> {
    let uid = flow.uid().unwrap_or_default();
    if run.object.owner_references().iter().any(|o| o.uid == uid) {
        return Ok(());
    }
    let owner = OwnerReference {
        api_version: "sluice.dev/v1alpha1".to_owned(),
        kind: "Flow".to_owned(),
        name: flow.name_any(),
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let patch = serde_json::json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "FlowRun",
        "metadata": { "name": run.name, "ownerReferences": [owner] },
    });
    let adopted = run
        .api
        .patch(
            &run.name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::apply(format!(
            "adding Flow {} as the owner of FlowRun {}/{}",
            flow.name_any(),
            run.namespace,
            run.name
        )))?;
    run.seen(&adopted);
    Ok(())
}

/// Marks the run failed with what the Job says, deleting a Job that cannot
/// run (image pulls).
async fn mirror_failure(run: &Run<'_>, error: &RunError, job_name: &str) -> Result<Action> {
    if error.reason == ErrorReason::ImagePullFailed {
        delete_job(run.ctx, &run.namespace, job_name).await?;
    }
    let reason = reason_name(error.reason);
    let conditions = set_condition(
        &remove_condition(&run.status.conditions, condition_type::STALLED),
        run.condition(
            condition_type::SUCCEEDED,
            condition_status::FALSE,
            reason,
            &error.message,
        ),
    );
    let completion = now();
    let duration = seconds_between(run.status.start_time.as_ref(), Some(&completion))
        .map(|s| crate::runner::duration_text(s as u64));
    if run
        .patch_status(serde_json::json!({
            "phase": RunPhase::Failed,
            "conditions": conditions,
            "observedGeneration": run.generation,
            "completionTime": completion,
            "duration": duration,
            "error": error,
        }))
        .await?
        == Written::Stale
    {
        return Ok(stale());
    }
    Ok(Action::await_change())
}

/// The run is over: count it, tell the user, and remember it was seen.
async fn finish(run: &Run<'_>) -> Result<Action> {
    let status = &run.status;
    // Remember first: a stale second look at the run then writes nothing
    // and counts nothing.
    let conditions = set_condition(
        &remove_condition(&status.conditions, condition_type::STALLED),
        run.condition(
            condition_type::RECONCILING,
            condition_status::FALSE,
            FINISHED,
            "the run is over",
        ),
    );
    if run
        .patch_status(serde_json::json!({
            "conditions": conditions,
            "observedGeneration": run.generation,
        }))
        .await?
        == Written::Stale
    {
        return Ok(stale());
    }
    let phase = status.phase.unwrap_or(RunPhase::Failed);
    let connector = status
        .flow
        .as_ref()
        .map_or("unknown", |p| source_connector(&p.spec));
    let error_reason = status.error.as_ref().map(|e| e.reason);
    run.ctx.metrics.run_finished(
        connector,
        phase,
        error_reason,
        seconds_between(status.start_time.as_ref(), status.completion_time.as_ref()),
        &status.progress,
    );
    let p = &status.progress;
    let (type_, reason, note) = match phase {
        RunPhase::Succeeded => (
            EventType::Normal,
            "Succeeded",
            format!(
                "the run succeeded: {} records read, {} written, {} filtered, {} skipped, {} quarantined",
                p.records_read,
                p.records_written,
                p.records_filtered,
                p.records_skipped,
                p.records_quarantined
            ),
        ),
        RunPhase::Cancelled => (
            EventType::Normal,
            CANCELLED,
            "the run was cancelled; nothing was published".to_owned(),
        ),
        _ => {
            let (reason, message) = status
                .error
                .as_ref()
                .map_or(("Failed", "the run failed".to_owned()), |e| {
                    (reason_name(e.reason), e.message.clone())
                });
            (
                EventType::Warning,
                reason,
                format!("the run failed: {message}"),
            )
        }
    };
    run.event(type_, reason, "Finish", note).await;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::v1alpha1::common::reason;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, PodStatus,
    };

    fn time(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    fn flow_spec(extra: serde_json::Value) -> FlowSpec {
        let mut spec = serde_json::json!({
            "source": {"connectorProfileRef": {"name": "in"}, "file": {"path": "*.jsonl", "format": "JsonLines"}},
            "destination": {"connectorProfileRef": {"name": "out"}, "file": {"path": "out", "format": "JsonLines"}},
        });
        if let (Some(map), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(spec).unwrap()
    }

    fn incremental(first_run: serde_json::Value) -> FlowSpec {
        flow_spec(serde_json::json!({
            "sync": {"mode": "Incremental", "cursorField": "updated_at", "firstRun": first_run}
        }))
    }

    fn flow_run(overrides: serde_json::Value) -> FlowRun {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "sluice.dev/v1alpha1",
            "kind": "FlowRun",
            "metadata": {"name": "r1", "namespace": "ns", "uid": "u1", "generation": 1},
            "spec": {"flowRef": {"name": "orders"}, "overrides": overrides},
        }))
        .unwrap()
    }

    #[test]
    fn a_run_is_cancelled_by_its_spec_or_by_a_replacing_run() {
        let mut run = flow_run(serde_json::json!({}));
        assert!(!cancel_requested(&run));
        run.spec.cancel = true;
        assert!(cancel_requested(&run));
        run.spec.cancel = false;
        run.annotations_mut().insert(
            super::super::REPLACED_BY_ANNOTATION.to_owned(),
            "orders-29000000".to_owned(),
        );
        assert!(cancel_requested(&run));
    }

    fn profile(name: &str, block: serde_json::Value) -> (String, ConnectorProfile) {
        let profile: ConnectorProfile = serde_json::from_value(serde_json::json!({
            "apiVersion": "sluice.dev/v1alpha1",
            "kind": "ConnectorProfile",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": block,
        }))
        .unwrap();
        (name.to_owned(), profile)
    }

    fn file_profiles() -> BTreeMap<String, ConnectorProfile> {
        BTreeMap::from([
            profile("in", serde_json::json!({"file": {"root": "data"}})),
            profile("out", serde_json::json!({"file": {"root": "data"}})),
        ])
    }

    fn pinned(spec: FlowSpec) -> PinnedFlow {
        PinnedFlow {
            generation: 3,
            uid: "flow-uid".to_owned(),
            spec,
        }
    }

    #[test]
    fn full_reads_have_no_window() {
        let now = time("2024-05-01T12:00:00Z");
        assert_eq!(
            run_window(&flow_spec(serde_json::json!({})), None, None, &now),
            None
        );
        let full = RunOverrides {
            full_refresh: true,
            ..RunOverrides::default()
        };
        assert_eq!(
            run_window(
                &incremental(serde_json::json!({"lookback": "1h"})),
                None,
                Some(&full),
                &now
            ),
            None
        );
    }

    #[test]
    fn the_window_starts_at_the_watermark() {
        let now = time("2024-05-01T12:00:00Z");
        let status: FlowStatus = serde_json::from_value(serde_json::json!({
            "incremental": {"watermark": "2024-05-01T10:00:00Z"}
        }))
        .unwrap();
        let spec = incremental(serde_json::json!({"lookback": "1h"}));
        let window = run_window(&spec, Some(&status), None, &now).unwrap();
        assert_eq!(window.from, Some(time("2024-05-01T10:00:00Z")));
        assert_eq!(window.to, Some(now.clone()));
    }

    #[test]
    fn the_first_window_starts_at_first_run() {
        let now = time("2024-05-01T12:00:00Z");
        let lookback = run_window(
            &incremental(serde_json::json!({"lookback": "2h"})),
            None,
            None,
            &now,
        )
        .unwrap();
        assert_eq!(lookback.from, Some(time("2024-05-01T10:00:00Z")));
        let start = run_window(
            &incremental(serde_json::json!({"startTime": "2024-04-01T00:00:00Z"})),
            Some(&FlowStatus::default()),
            None,
            &now,
        )
        .unwrap();
        assert_eq!(start.from, Some(time("2024-04-01T00:00:00Z")));
        let spec =
            flow_spec(serde_json::json!({"sync": {"mode": "Incremental", "cursorField": "t"}}));
        let default = run_window(&spec, None, None, &now).unwrap();
        assert_eq!(default.from, Some(time("2024-04-01T12:00:00Z")));
    }

    #[test]
    fn overrides_narrow_the_window() {
        let now = time("2024-05-01T12:00:00Z");
        let status: FlowStatus = serde_json::from_value(serde_json::json!({
            "incremental": {"watermark": "2024-05-01T10:00:00Z"}
        }))
        .unwrap();
        let overrides: RunOverrides = serde_json::from_value(serde_json::json!({
            "window": {"to": "2024-05-01T11:00:00Z"}
        }))
        .unwrap();
        let spec = incremental(serde_json::json!({"lookback": "1h"}));
        let window = run_window(&spec, Some(&status), Some(&overrides), &now).unwrap();
        assert_eq!(window.from, Some(time("2024-05-01T10:00:00Z")));
        assert_eq!(window.to, Some(time("2024-05-01T11:00:00Z")));
        let overrides: RunOverrides = serde_json::from_value(serde_json::json!({
            "window": {"from": "2024-04-30T00:00:00Z"}
        }))
        .unwrap();
        let window = run_window(&spec, Some(&status), Some(&overrides), &now).unwrap();
        assert_eq!(window.from, Some(time("2024-04-30T00:00:00Z")));
        assert_eq!(window.to, Some(now));
    }

    #[test]
    fn a_valid_run_builds_its_job_from_the_pinned_spec() {
        let run = flow_run(serde_json::json!(null));
        let mut profiles = file_profiles();
        let (_, pg) = profile(
            "in",
            serde_json::json!({"postgres": {"host": "db", "database": "app"}, "credentials": {"secretRef": {"name": "pg"}, "basic": {}}}),
        );
        profiles.insert("in".to_owned(), pg);
        let spec = flow_spec(serde_json::json!({
            "source": {"connectorProfileRef": {"name": "in"}, "postgres": {"table": "t"}},
            "runTemplate": {"serviceAccountName": "etl", "backoffLimit": 0}
        }));
        let now = time("2024-05-01T12:00:00Z");
        let validated =
            validate(&run, &pinned(spec), false, None, &profiles, "img:1", &now).unwrap();
        assert_eq!(validated.connector, "postgres");
        assert_eq!(validated.job.service_account, "etl");
        assert_eq!(validated.job.template.backoff_limit, 0);
        assert_eq!(validated.job.image, "img:1");
        assert_eq!(validated.job.run_uid, "u1");
        assert_eq!(
            validated.job.secrets["pg"].iter().collect::<Vec<_>>(),
            ["password", "username"]
        );
        assert_eq!(validated.window, None);
        assert_eq!(validated.pinned.generation, 3);
    }

    #[test]
    fn runs_without_a_template_get_the_default_backoff() {
        let run = flow_run(serde_json::json!(null));
        let now = time("2024-05-01T12:00:00Z");
        let validated = validate(
            &run,
            &pinned(flow_spec(serde_json::json!({}))),
            false,
            None,
            &file_profiles(),
            "i",
            &now,
        )
        .unwrap();
        assert_eq!(validated.job.template.backoff_limit, 2);
        assert_eq!(validated.job.service_account, RUNNER_SERVICE_ACCOUNT);
        assert!(validated.job.secrets.is_empty());
    }

    #[test]
    fn missing_and_mismatched_profiles_wait_for_a_change() {
        let run = flow_run(serde_json::json!(null));
        let now = time("2024-05-01T12:00:00Z");
        let mut profiles = file_profiles();
        profiles.remove("out");
        let invalid = validate(
            &run,
            &pinned(flow_spec(serde_json::json!({}))),
            false,
            None,
            &profiles,
            "i",
            &now,
        )
        .unwrap_err();
        assert_eq!(invalid.reason, ErrorReason::ReferenceNotFound);
        assert!(!invalid.terminal);
        assert!(
            invalid
                .message
                .contains("spec.destination.connectorProfileRef"),
            "{}",
            invalid.message
        );
        assert!(invalid.message.contains("\"out\""), "{}", invalid.message);

        let mut profiles = file_profiles();
        let (_, s3) = profile("out", serde_json::json!({"s3": {"region": "eu-west-1"}}));
        profiles.insert("out".to_owned(), s3);
        let invalid = validate(
            &run,
            &pinned(flow_spec(serde_json::json!({}))),
            false,
            None,
            &profiles,
            "i",
            &now,
        )
        .unwrap_err();
        assert_eq!(invalid.reason, ErrorReason::InvalidSpec);
        assert!(!invalid.terminal);
        assert!(
            invalid.message.contains("configures s3"),
            "{}",
            invalid.message
        );
    }

    #[test]
    fn suspended_flows_and_empty_windows_fail_the_run() {
        let run = flow_run(serde_json::json!(null));
        let now = time("2024-05-01T12:00:00Z");
        let invalid = validate(
            &run,
            &pinned(flow_spec(serde_json::json!({}))),
            true,
            None,
            &file_profiles(),
            "i",
            &now,
        )
        .unwrap_err();
        assert!(invalid.terminal);
        assert!(invalid.message.contains("suspended"));

        let status: FlowStatus = serde_json::from_value(serde_json::json!({
            "incremental": {"watermark": "2024-05-02T00:00:00Z"}
        }))
        .unwrap();
        let spec = incremental(serde_json::json!({"lookback": "1h"}));
        let invalid = validate(
            &run,
            &pinned(spec),
            false,
            Some(&status),
            &file_profiles(),
            "i",
            &now,
        )
        .unwrap_err();
        assert!(invalid.terminal);
        assert_eq!(invalid.reason, ErrorReason::InvalidSpec);
        assert!(
            invalid.message.contains("window is empty"),
            "{}",
            invalid.message
        );
    }

    #[test]
    fn a_pinned_window_is_kept() {
        let mut run = flow_run(serde_json::json!(null));
        let spec = incremental(serde_json::json!({"lookback": "1h"}));
        let window = Window {
            from: Some(time("2024-01-01T00:00:00Z")),
            to: Some(time("2024-01-02T00:00:00Z")),
        };
        run.status = Some(FlowRunStatus {
            flow: Some(pinned(spec.clone())),
            window: Some(window.clone()),
            ..FlowRunStatus::default()
        });
        let now = time("2024-05-01T12:00:00Z");
        let validated = validate(
            &run,
            &pinned(spec),
            false,
            None,
            &file_profiles(),
            "i",
            &now,
        )
        .unwrap();
        assert_eq!(validated.window, Some(window));
    }

    fn job(conditions: &[(&str, &str)], active: i32, ready: i32) -> Job {
        Job {
            spec: Some(JobSpec {
                backoff_limit: Some(2),
                active_deadline_seconds: Some(60),
                ..JobSpec::default()
            }),
            status: Some(JobStatus {
                active: Some(active),
                ready: Some(ready),
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, r)| JobCondition {
                            type_: (*t).to_owned(),
                            status: "True".to_owned(),
                            reason: Some((*r).to_owned()),
                            ..JobCondition::default()
                        })
                        .collect(),
                ),
                ..JobStatus::default()
            }),
            ..Job::default()
        }
    }

    fn pod(waiting: Option<&str>, terminated: Option<&str>, evicted: bool) -> Pod {
        Pod {
            status: Some(PodStatus {
                reason: evicted.then(|| "Evicted".to_owned()),
                message: evicted.then(|| "the node was low on memory".to_owned()),
                container_statuses: Some(vec![ContainerStatus {
                    name: "runner".to_owned(),
                    image: "img:1".to_owned(),
                    state: Some(ContainerState {
                        waiting: waiting.map(|r| ContainerStateWaiting {
                            reason: Some(r.to_owned()),
                            message: None,
                        }),
                        terminated: terminated.map(|r| ContainerStateTerminated {
                            reason: Some(r.to_owned()),
                            exit_code: 137,
                            ..ContainerStateTerminated::default()
                        }),
                        running: None,
                    }),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    fn failed(outcome: JobOutcome) -> RunError {
        match outcome {
            JobOutcome::Failed(error) => error,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn job_failures_are_classified() {
        let deadline = failed(job_outcome(
            &job(&[("Failed", "DeadlineExceeded")], 0, 0),
            &[],
        ));
        assert_eq!(deadline.reason, ErrorReason::DeadlineExceeded);
        assert!(deadline.message.contains("60s"), "{}", deadline.message);

        let oom = failed(job_outcome(
            &job(&[("Failed", "BackoffLimitExceeded")], 0, 0),
            &[
                pod(None, Some("Error"), false),
                pod(None, Some("OOMKilled"), false),
            ],
        ));
        assert_eq!(oom.reason, ErrorReason::OutOfMemory);

        let evicted = failed(job_outcome(
            &job(&[("Failed", "BackoffLimitExceeded")], 0, 0),
            &[pod(None, None, true)],
        ));
        assert_eq!(evicted.reason, ErrorReason::Internal);
        assert!(evicted.message.contains("evicted"));
        assert!(evicted.message.contains("low on memory"));

        let backoff = failed(job_outcome(
            &job(&[("Failed", "BackoffLimitExceeded")], 0, 0),
            &[pod(None, Some("Error"), false)],
        ));
        assert_eq!(backoff.reason, ErrorReason::BackoffLimitExceeded);
        assert!(backoff.message.contains("3 time(s)"), "{}", backoff.message);
    }

    #[test]
    fn image_pull_failures_fail_an_active_job() {
        let pull = failed(job_outcome(
            &job(&[], 1, 0),
            &[pod(Some("ImagePullBackOff"), None, false)],
        ));
        assert_eq!(pull.reason, ErrorReason::ImagePullFailed);
        assert!(pull.message.contains("img:1"));
        // A first pull error may be transient.
        assert_eq!(
            job_outcome(&job(&[], 1, 0), &[pod(Some("ErrImagePull"), None, false)]),
            JobOutcome::Active
        );
        assert_eq!(
            job_outcome(
                &job(&[], 1, 0),
                &[pod(Some("ContainerCreating"), None, false)]
            ),
            JobOutcome::Active
        );
        assert_eq!(
            job_outcome(&job(&[("Complete", "")], 0, 0), &[]),
            JobOutcome::Complete
        );
    }

    #[test]
    fn failed_runs_are_final_only_when_the_job_is_over() {
        assert!(is_final(
            Some(RunPhase::Succeeded),
            Some(&JobOutcome::Active)
        ));
        assert!(is_final(Some(RunPhase::Cancelled), None));
        assert!(!is_final(Some(RunPhase::Failed), Some(&JobOutcome::Active)));
        assert!(is_final(
            Some(RunPhase::Failed),
            Some(&JobOutcome::Complete)
        ));
        assert!(is_final(Some(RunPhase::Failed), None));
        assert!(!is_final(Some(RunPhase::Running), None));
        assert!(!is_final(None, None));
    }

    #[test]
    fn profile_references_include_the_error_location() {
        let spec = flow_spec(serde_json::json!({
            "errorHandling": {"policy": "Quarantine", "errorLocation": {"connectorProfileRef": {"name": "bad"}, "s3": {"bucket": "quarantine"}}}
        }));
        let refs = profile_references(&spec);
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[2].1, "bad");
        assert_eq!(refs[2].2, "s3");
        assert_eq!(refs[0].2, "file");
    }

    #[test]
    fn runs_wait_for_references_until_pinned_or_while_stalled() {
        let mut run = flow_run(serde_json::json!(null));
        assert!(waits_for_references(&run));
        let spec = flow_spec(serde_json::json!({}));
        run.status = Some(FlowRunStatus {
            flow: Some(pinned(spec)),
            job_name: Some("r1".to_owned()),
            ..FlowRunStatus::default()
        });
        assert!(!waits_for_references(&run));
        let status = run.status.as_mut().unwrap();
        status.conditions = vec![super::super::conditions::new(
            condition_type::STALLED,
            condition_status::TRUE,
            "ReferenceNotFound",
            "gone",
            None,
        )];
        assert!(waits_for_references(&run));
    }

    #[test]
    fn reasons_are_named_like_the_api() {
        assert_eq!(reason_name(ErrorReason::OutOfMemory), "OutOfMemory");
        assert_eq!(
            reason::REFERENCE_NOT_FOUND,
            reason_name(ErrorReason::ReferenceNotFound)
        );
        assert_eq!(reason::INVALID_SPEC, reason_name(ErrorReason::InvalidSpec));
    }
}
