//! The FlowRun reconciler: one Job per FlowRun.
//!
//! Each reconcile goes through three steps:
//!
//! 1. **observe** — the run as the watch delivered it, and
//!    what it refers to into one [`Observed`]: its Job (from the watch
//!    cache, a GET on a miss) and, when the Job's state needs them, its
//!    pods; for a run that is to start, the Flow (until the run is pinned:
//!    the cached Flow that scheduled it, else a GET) and the
//!    ConnectorProfiles its spec names (for their Secret references only;
//!    Secret values are never read). Reads stop where the decision no
//!    longer depends on them.
//! 2. **decide** ([`decide`], pure) — what the run calls for, as a
//!    [`Step`]: wait, cancel, finish, mirror a Job failure, fail or stall
//!    an invalid run, record the Job's name, or pin the run and create its
//!    Job. Validation ([`validate`]) checks the references exist and
//!    match and that the Flow is not suspended, and computes the run
//!    window from the Flow's incremental watermark (or the first-run
//!    start) narrowed by the run's overrides ([`run_window`]); the Job is
//!    built by [`super::job::build_job`].
//! 3. **execute** — the Step's requests: before the Job exists, the
//!    Flow's generation, uid and spec and the window are pinned on the
//!    FlowRun's status with the Job's name (the runner executes exactly
//!    that); then the runner's RBAC in the namespace and the Job, created
//!    if absent under a name derived from the FlowRun's, so a restarted
//!    controller finds it instead of starting a second one. Every status
//!    write is conditional on the resourceVersion decided from
//!    ([`super::status`]).
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
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use super::access::{OptIn, account_refusal, refusal, secret_access, service_account_access};
use super::children::{controlled_by, controller_ref_to, delete_job, list_pods};
use super::conditions::{find_condition, remove_condition, set_condition};
use super::job::{self, RunJob, build_job, job_name, label_value};
use super::status::{StatusWriter, WriteOutcome, stale, wire};
use super::{
    COMPONENT_LABEL, COMPONENT_RUNNER, Context, Error, FIELD_MANAGER, FLOW_RUN_ANNOTATION,
    FLOW_RUN_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RUNNER_SERVICE_ACCOUNT, Result, Shutdown,
    cached_watch, rbac, shutdown_requested, watched_api,
};
use crate::api::v1alpha1::common::{Condition, Time, condition_status, condition_type};
use crate::api::v1alpha1::flow::{FlowSpec, FlowStatus, ReadMode, RunTemplate};
use crate::api::v1alpha1::flow_run::{
    ErrorReason, PinnedFlow, RunCounts, RunError, RunOverrides, RunPhase, Window,
};
use crate::api::v1alpha1::{ConnectorKind, ConnectorProfile, Flow, FlowRun, FlowRunStatus};

/// The controller label of this reconciler's metrics.
pub const CONTROLLER: &str = "flow_run";
/// `Reconciling` reason once the controller has seen the run finish.
pub use crate::api::v1alpha1::FINISHED;
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
    let (run_cache, run_events) = cached_watch::<FlowRun>(&ctx, watcher::Config::default(), |_| {});
    // The runs' Jobs, without their pod templates (never read here; most
    // of a Job).
    let (jobs, job_events) = cached_watch::<Job>(
        &ctx,
        watcher::Config::default().labels(&runner_selector),
        |job| {
            if let Some(spec) = job.spec.as_mut() {
                spec.template = Default::default();
            }
        },
    );
    // The Flows and profiles runs are pinned from (see [`Caches`]).
    let (flows, flow_events) = cached_watch::<Flow>(&ctx, watcher::Config::default(), |_| {});
    let (profiles, profile_events) =
        cached_watch::<ConnectorProfile>(&ctx, watcher::Config::default(), |_| {});
    let state = Arc::new(State {
        ctx: ctx.clone(),
        caches: Caches {
            flows,
            profiles,
            jobs,
        },
    });
    let controller = Controller::for_stream(run_events.applied_objects(), run_cache);
    let runs = controller.store();
    let waiting_on_flow = runs.clone();
    let waiting_on_profile = runs;
    controller
        .owns_stream(job_events.touched_objects())
        .watches(
            watched_api::<Pod>(&ctx),
            watcher::Config::default().labels(&runner_selector),
            |pod: Pod| {
                let run = pod.annotations().get(FLOW_RUN_ANNOTATION)?.clone();
                Some(ObjectRef::<FlowRun>::new(&run).within(&pod.namespace()?))
            },
        )
        // A run waiting for its Flow starts when the Flow appears or changes.
        .watches_stream(flow_events.touched_objects(), move |flow: Flow| {
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
        .watches_stream(
            profile_events.touched_objects(),
            move |profile: ConnectorProfile| {
                let namespace = profile.namespace();
                waiting_on_profile
                    .state()
                    .into_iter()
                    .filter(|run| run.namespace() == namespace && waits_for_references(run))
                    .map(|run| ObjectRef::from_obj(&*run))
                    .collect::<Vec<_>>()
            },
        )
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
    spec.source
        .connector()
        .map_or("unknown", |k| k.connector().name())
}

/// The connector a profile configures (a bounded metric label).
pub fn profile_connector(profile: &ConnectorProfile) -> &'static str {
    profile
        .spec
        .connector()
        .map_or("unknown", ConnectorKind::name)
}

fn destination_connector(spec: &FlowSpec) -> &'static str {
    spec.destination
        .connector()
        .map_or("unknown", |k| k.connector().name())
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
                let span = crate::api::v1alpha1::parse_duration(lookback.as_str())
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
    secrets: Option<&BTreeMap<String, OptIn>>,
    service_account_access: Option<OptIn>,
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
            if let Some((secret, _)) = job::credential_keys(c)
                && let Some((state, message)) = refusal(
                    secrets,
                    &namespace,
                    &secret,
                    &format!("Flow {flow_name:?} {field}: ConnectorProfile {name:?}"),
                )
            {
                return Err(Invalid {
                    reason: state.run_reason(),
                    message,
                    terminal: false,
                });
            }
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
    if let Some((state, message)) = account_refusal(
        service_account_access,
        &namespace,
        &service_account,
        &format!("Flow {flow_name:?} spec.runTemplate.serviceAccountName"),
    ) {
        return Err(Invalid {
            reason: state.run_reason(),
            message,
            terminal: false,
        });
    }
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

async fn reconcile_run(object: &FlowRun, ctx: &Context, caches: &Caches) -> Result<Action> {
    if object.namespace().is_none() {
        return Ok(Action::await_change());
    }
    let observed = observe(object, ctx, caches).await?;
    let step = decide(&observed, &now());
    execute(step, &observed, ctx).await
}

// ---------------------------------------------------------------- observe

/// What a reconcile read about a run before deciding: the run as the watch
/// delivered it, and what it refers to, read as far as [`decide`] looks
/// (`observe` says how far).
#[derive(Debug, Clone)]
pub struct Observed {
    /// The run.
    pub run: FlowRun,
    /// The run's Job, once the run names or pins one (`None`: not looked
    /// for, or not found).
    pub job: Option<Job>,
    /// The pods of the run's Job, when classifying the Job needs them
    /// ([`needs_pods`]); empty otherwise.
    pub pods: Vec<Pod>,
    /// The Flow of a run that is to start and is not pinned yet (`None`:
    /// not read, or not found).
    pub flow: Option<Flow>,
    /// The ConnectorProfiles that exist among those the (pinned or
    /// current) Flow spec names, for a run that is to start.
    pub profiles: BTreeMap<String, ConnectorProfile>,
    /// Whether each Secret those profiles name opted in to being used
    /// (`None`: the controller does not require it, or nothing read yet).
    pub secrets: Option<BTreeMap<String, OptIn>>,
    /// Whether the service account the Flow names opted in (`None`: not
    /// required, the runner's own account, or not read).
    pub service_account: Option<OptIn>,
    /// The image of run Jobs (`--runner-image`).
    pub image: String,
}

impl Observed {
    /// The run alone, nothing it refers to read yet.
    pub fn of(run: FlowRun, image: &str) -> Self {
        Self {
            run,
            job: None,
            pods: Vec::new(),
            flow: None,
            profiles: BTreeMap::new(),
            secrets: None,
            service_account: None,
            image: image.to_owned(),
        }
    }
}

/// Whether a run's phase is an outcome (`Succeeded`, `Cancelled`,
/// `Failed`); a failed attempt may still be retried ([`is_final`]).
fn has_outcome(phase: Option<RunPhase>) -> bool {
    matches!(
        phase,
        Some(RunPhase::Succeeded | RunPhase::Cancelled | RunPhase::Failed)
    )
}

/// Whether [`decide`] looks past the run itself: not at a deleted or
/// settled run, nor at a run to cancel.
fn looks_past_the_run(run: &FlowRun, status: &FlowRunStatus) -> bool {
    let over = run.meta().deletion_timestamp.is_some() || status.settled();
    !over && !to_cancel(run, status)
}

/// Whether a run is to be cancelled: asked to stop before it had an
/// outcome.
fn to_cancel(run: &FlowRun, status: &FlowRunStatus) -> bool {
    run.cancel_requested() && !has_outcome(status.phase)
}

/// The name of a run's Job: the one its status records, else the one
/// derived from its name.
fn run_job_name(run: &FlowRun, status: &FlowRunStatus) -> String {
    status
        .job_name
        .clone()
        .unwrap_or_else(|| job_name(&run.name_any()))
}

/// Whether classifying a run's Job needs its pods: it failed (OOMKilled or
/// evicted pods say why), or it is active with no pod ready (an image
/// that cannot be pulled).
pub fn needs_pods(job: &Job) -> bool {
    condition_true(job, "Failed").is_some()
        || job
            .status
            .as_ref()
            .is_some_and(|s| s.active.unwrap_or(0) > 0 && s.ready.unwrap_or(0) == 0)
}

/// Reads what [`decide`] will look at, in its order, and no more: nothing
/// past a deleted, settled or cancelled run; the Job once the run names or
/// pins one, and its pods only for a Job of this run whose state needs
/// them; nothing more for a run with a Job or an outcome; the Flow of a
/// run not pinned yet, and then the profiles of a Flow that exists. Cached
/// objects are used where the watches have them.
async fn observe(run: &FlowRun, ctx: &Context, caches: &Caches) -> Result<Observed> {
    let mut observed = Observed::of(run.clone(), &ctx.config.runner_image);
    let status = run.status.clone().unwrap_or_default();
    if !looks_past_the_run(run, &status) {
        return Ok(observed);
    }
    let namespace = run.namespace().unwrap_or_default();
    let name = run.name_any();
    if status.job_name.is_some() || status.flow.is_some() {
        let job_name = run_job_name(run, &status);
        observed.job = read_job(ctx, caches, &namespace, &job_name).await?;
    }
    if let Some(job) = &observed.job {
        if controlled_by(job, &run.uid().unwrap_or_default()) && needs_pods(job) {
            observed.pods = runner_pods(ctx, &namespace, &name).await?;
        }
        return Ok(observed);
    }
    if has_outcome(status.phase) {
        return Ok(observed);
    }
    if status.flow.is_none() {
        observed.flow = read_flow(ctx, caches, run, &namespace).await?;
    }
    let spec = match (&status.flow, &observed.flow) {
        (Some(pinned), _) => &pinned.spec,
        (None, Some(flow)) => &flow.spec,
        (None, None) => return Ok(observed),
    };
    let profiles = get_profiles(ctx, caches, &namespace, spec).await?;
    let mounts = job::secret_mounts(
        profiles
            .values()
            .filter_map(|p| p.spec.credentials.as_ref()),
    );
    observed.secrets = secret_access(ctx, &namespace, &mounts).await?;
    if let Some(account) = spec
        .run_template
        .as_ref()
        .and_then(|t| t.service_account_name.as_deref())
    {
        observed.service_account = service_account_access(ctx, &namespace, account).await?;
    }
    observed.profiles = profiles;
    Ok(observed)
}

/// The run's Job. A cached Job may be an older state of it: its next
/// event brings the reconcile that sees the rest. One not cached (yet) is
/// read.
async fn read_job(
    ctx: &Context,
    caches: &Caches,
    namespace: &str,
    job_name: &str,
) -> Result<Option<Job>> {
    if let Some(job) = caches.jobs.get(&ObjectRef::new(job_name).within(namespace)) {
        return Ok(Some((*job).clone()));
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    jobs.get_opt(job_name)
        .await
        .map_err(Error::dereference(format!(
            "reading Job {namespace}/{job_name}"
        )))
}

/// The Flow a run not pinned yet names: the cached Flow that scheduled it,
/// else read from the API server (an on-demand run, or a cache miss).
async fn read_flow(
    ctx: &Context,
    caches: &Caches,
    run: &FlowRun,
    namespace: &str,
) -> Result<Option<Flow>> {
    if let Some(flow) = caches.scheduling_flow(run) {
        return Ok(Some(flow));
    }
    let flows: Api<Flow> = Api::namespaced(ctx.client.clone(), namespace);
    let flow_name = &run.spec.flow_ref.name;
    flows
        .get_opt(flow_name)
        .await
        .map_err(Error::dereference(format!(
            "reading Flow {namespace}/{flow_name}"
        )))
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

/// The label selector of a run's pods.
pub fn runner_pod_selector(run_name: &str) -> String {
    format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY},{FLOW_RUN_LABEL}={}",
        label_value(run_name)
    )
}

/// The pods of a run's Job: by label, then by the annotation holding the
/// run's full name (labels hold shortened names).
async fn runner_pods(ctx: &Context, namespace: &str, run_name: &str) -> Result<Vec<Pod>> {
    let pods = list_pods(ctx, namespace, &runner_pod_selector(run_name), || {
        format!("the pods of FlowRun {namespace}/{run_name}")
    })
    .await?;
    Ok(pods
        .into_iter()
        .filter(|p| p.annotations().get(FLOW_RUN_ANNOTATION).map(String::as_str) == Some(run_name))
        .collect())
}

// ---------------------------------------------------------------- decide

/// A merge patch of a FlowRun's status: the members a [`Step`] writes. A
/// member left `None` is not sent (the stored value stays); an
/// `Option<Option<_>>` member set to `Some(None)` is sent as `null` and
/// clears the stored value. Members are named as in [`FlowRunStatus`]
/// (a test holds them to it) and declared in alphabetical order, the
/// order of the JSON the API server receives.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStatusPatch {
    /// `completionTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// `conditions`, all of them (a merge patch replaces the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// `duration` (`null` for a run that never started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Option<String>>,
    /// `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    /// `flow`: the pinned Flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<PinnedFlow>,
    /// `jobName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// `observedGeneration` (`null` for an object without a generation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<Option<i64>>,
    /// `phase`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// `window`: the pinned window (`null` for a full read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Option<Window>>,
}

/// An Event about the run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    /// Normal or Warning.
    pub type_: EventType,
    /// The reason (CamelCase).
    pub reason: &'static str,
    /// What the controller did (`Validate`, `CreateJob`, `Finish`).
    pub action: &'static str,
    /// A sentence for the user.
    pub note: String,
}

/// What [`decide`] calls for: every action of the reconciler, with the
/// status it writes. Each status write is conditional on the run's
/// resourceVersion; a refused one ends the reconcile ([`stale`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to do until the run or its Job changes: deleted, settled,
    /// stalled for the same reason, running, or failed with retries left.
    Wait,
    /// Cancel: delete the Job, then mark the run `Cancelled`.
    Cancel {
        /// The Job to delete.
        job: String,
        /// Phase, `Succeeded=False`, completion time and duration.
        status: RunStatusPatch,
    },
    /// The run is over: record `Reconciling=False` (reason `Finished`),
    /// then count it and tell the user; first delete the Job of a run
    /// cancelled while its Job went on.
    Finish(Box<Finish>),
    /// The Job reports what the runner could not: mark the run `Failed`,
    /// deleting a Job that cannot run (image pulls) first.
    MirrorFailure {
        /// The Job to delete first, if any.
        delete_job: Option<String>,
        /// Phase, `Succeeded=False`, completion time, duration and error.
        status: RunStatusPatch,
    },
    /// An invalid run that cannot start at all (a suspended Flow, an empty
    /// window): mark it `Failed`.
    Fail {
        /// Phase, `Succeeded=False`, completion time and error.
        status: RunStatusPatch,
    },
    /// A run waiting for a change (a missing Flow or profile, a profile of
    /// the wrong connector, a Job of another owner): `Stalled=True`, then a
    /// Warning Event.
    Stall {
        /// Phase `Pending`, `Stalled=True` and `Succeeded=Unknown`.
        status: RunStatusPatch,
        /// The Warning.
        event: RunEvent,
    },
    /// The Job exists but the run does not name it (a restart between its
    /// creation and the status write): record its name.
    RecordJob {
        /// `jobName`.
        status: RunStatusPatch,
    },
    /// Pin the run (if not yet) and create its Job.
    CreateJob(Box<CreateJob>),
}

/// [`Step::Finish`].
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// The Job of a cancelled run still running, to delete first.
    pub delete_job: Option<String>,
    /// `Reconciling=False` and the observed generation.
    pub status: RunStatusPatch,
    /// What the metrics count.
    pub metrics: FinishedRun,
    /// The Event of the outcome.
    pub event: RunEvent,
}

/// A finished run as the metrics count it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRun {
    /// The source connector.
    pub connector: &'static str,
    /// The outcome.
    pub phase: RunPhase,
    /// The classified error of a failed run.
    pub error_reason: Option<ErrorReason>,
    /// From start to completion, if the run started.
    pub seconds: Option<f64>,
    /// The run's counts.
    pub progress: RunCounts,
}

/// [`Step::CreateJob`]: the requests in their order.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateJob {
    /// The status write that pins the Flow and the window and names the
    /// Job, before the Job exists; `None` for a run pinned before.
    pub pin: Option<RunStatusPatch>,
    /// The Flow to own the run as its controller, unless it already does
    /// (deleting the Flow deletes its runs).
    pub adopt: Option<OwnerReference>,
    /// Re-read the run before creating its Job: a run pinned before this
    /// reconcile without a Job is new, or a stale cached copy of a run
    /// whose Job was deleted (cancelled, failed); only a fresh read may
    /// create the Job.
    pub confirm: bool,
    /// The service account whose runner RBAC is applied first.
    pub service_account: String,
    /// The Job's name.
    pub job_name: String,
    /// The Job.
    pub job: Job,
    /// The source connector (the `runs_started` label).
    pub connector: &'static str,
    /// The Event of a created Job.
    pub event: RunEvent,
    /// The status write naming the Job after creating it, for a run pinned
    /// without its Job's name.
    pub name: Option<RunStatusPatch>,
}

/// The run as [`decide`] reads it.
struct Facts<'a> {
    run: &'a FlowRun,
    status: FlowRunStatus,
    job_name: String,
    now: &'a Time,
}

impl Facts<'_> {
    fn condition(&self, type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        super::conditions::at(
            type_,
            status,
            reason,
            message,
            self.run.metadata.generation,
            self.now,
        )
    }

    /// The conditions without `Stalled`, and `condition` set.
    fn unstalled_with(&self, condition: Condition) -> Vec<Condition> {
        set_condition(
            &remove_condition(&self.status.conditions, condition_type::STALLED),
            condition,
        )
    }

    /// The duration of a run that ends now (`None` if it never started).
    fn duration_until_now(&self) -> Option<String> {
        seconds_between(self.status.start_time.as_ref(), Some(self.now))
            .map(|s| crate::api::v1alpha1::duration_text(s as u64))
    }

    fn generation(&self) -> Option<Option<i64>> {
        Some(self.run.metadata.generation)
    }
}

/// Decides what a run calls for at `now`, from what was observed: the
/// reconciler's whole state machine, without I/O.
pub fn decide(observed: &Observed, now: &Time) -> Step {
    let run = &observed.run;
    let status = run.status.clone().unwrap_or_default();
    if run.meta().deletion_timestamp.is_some() || status.settled() {
        return Step::Wait;
    }
    let facts = Facts {
        run,
        job_name: run_job_name(run, &status),
        status,
        now,
    };
    let phase = facts.status.phase;
    if to_cancel(run, &facts.status) {
        return cancel(&facts);
    }
    // Only the run's own Job counts; one of its name that another object
    // owns is never this run's outcome (nor deleted by it).
    let uid = run.uid().unwrap_or_default();
    let own_job = observed
        .job
        .as_ref()
        .filter(|job| controlled_by(*job, &uid));
    if has_outcome(phase) {
        let outcome = own_job.map(|job| job_outcome(job, &observed.pods));
        // Failed with retries left waits for the Job.
        if !is_final(phase, outcome.as_ref()) {
            return Step::Wait;
        }
        let running = matches!(outcome, Some(JobOutcome::Active));
        let delete_job =
            (phase == Some(RunPhase::Cancelled) && running).then(|| facts.job_name.clone());
        return finish(&facts, delete_job);
    }
    if observed.job.is_some() && own_job.is_none() {
        let (job_name, namespace) = (&facts.job_name, run.namespace().unwrap_or_default());
        return invalid(
            &facts,
            Invalid {
                reason: ErrorReason::InvalidSpec,
                message: format!(
                    "a Job named {job_name:?} already exists in namespace {namespace} and does not belong to this FlowRun; delete it or create the FlowRun under another name"
                ),
                terminal: false,
            },
        );
    }
    let outcome = observed
        .job
        .as_ref()
        .map(|job| job_outcome(job, &observed.pods));
    // The Job reports what the runner could not.
    match outcome {
        Some(JobOutcome::Failed(error)) => mirror_failure(&facts, error),
        Some(JobOutcome::Complete) => mirror_failure(
            &facts,
            RunError {
                reason: ErrorReason::Internal,
                message: "the run's pod exited successfully without reporting the run's outcome on the FlowRun; see the pod's logs".to_owned(),
                retryable: true,
            },
        ),
        Some(JobOutcome::Active) if facts.status.job_name.is_none() => Step::RecordJob {
            status: RunStatusPatch {
                job_name: Some(facts.job_name.clone()),
                ..RunStatusPatch::default()
            },
        },
        Some(JobOutcome::Active) => Step::Wait,
        None => start(observed, &facts),
    }
}

/// Stop the Job, then the run is Cancelled.
fn cancel(facts: &Facts<'_>) -> Step {
    let run = facts.run;
    let replaced_by = run.annotations().get(super::REPLACED_BY_ANNOTATION);
    let message = match replaced_by {
        Some(by) if !run.spec.cancel => format!(
            "replaced by run {by:?} (concurrencyPolicy Replace): the Job was deleted and nothing was published"
        ),
        _ => "spec.cancel is set: the Job was deleted and nothing was published".to_owned(),
    };
    let conditions = facts.unstalled_with(facts.condition(
        condition_type::SUCCEEDED,
        condition_status::FALSE,
        CANCELLED,
        &message,
    ));
    Step::Cancel {
        job: facts.job_name.clone(),
        status: RunStatusPatch {
            phase: Some(RunPhase::Cancelled),
            conditions: Some(conditions),
            observed_generation: facts.generation(),
            completion_time: Some(facts.now.clone()),
            duration: Some(facts.duration_until_now()),
            ..RunStatusPatch::default()
        },
    }
}

/// Marks the run failed with what the Job says, deleting a Job that cannot
/// run (image pulls).
fn mirror_failure(facts: &Facts<'_>, error: RunError) -> Step {
    let delete_job = (error.reason == ErrorReason::ImagePullFailed).then(|| facts.job_name.clone());
    let conditions = facts.unstalled_with(facts.condition(
        condition_type::SUCCEEDED,
        condition_status::FALSE,
        error.reason.as_str(),
        &error.message,
    ));
    Step::MirrorFailure {
        delete_job,
        status: RunStatusPatch {
            phase: Some(RunPhase::Failed),
            conditions: Some(conditions),
            observed_generation: facts.generation(),
            completion_time: Some(facts.now.clone()),
            duration: Some(facts.duration_until_now()),
            error: Some(error),
            ..RunStatusPatch::default()
        },
    }
}

/// The run is over: remember it was seen (first: a stale second look at
/// the run then writes nothing and counts nothing), count it, tell the
/// user.
fn finish(facts: &Facts<'_>, delete_job: Option<String>) -> Step {
    let status = &facts.status;
    let conditions = facts.unstalled_with(facts.condition(
        condition_type::RECONCILING,
        condition_status::FALSE,
        FINISHED,
        "the run is over",
    ));
    let phase = status.phase.unwrap_or(RunPhase::Failed);
    let metrics = FinishedRun {
        connector: status
            .flow
            .as_ref()
            .map_or("unknown", |p| source_connector(&p.spec)),
        phase,
        error_reason: status.error.as_ref().map(|e| e.reason),
        seconds: seconds_between(status.start_time.as_ref(), status.completion_time.as_ref()),
        progress: status.progress.clone(),
    };
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
                    (e.reason.as_str(), e.message.clone())
                });
            (
                EventType::Warning,
                reason,
                format!("the run failed: {message}"),
            )
        }
    };
    Step::Finish(Box::new(Finish {
        delete_job,
        status: RunStatusPatch {
            conditions: Some(conditions),
            observed_generation: facts.generation(),
            ..RunStatusPatch::default()
        },
        metrics,
        event: RunEvent {
            type_,
            reason,
            action: "Finish",
            note,
        },
    }))
}

/// Why the run cannot start: it fails, or waits for a change (once per
/// reason and message).
fn invalid(facts: &Facts<'_>, invalid: Invalid) -> Step {
    let reason = invalid.reason.as_str();
    if invalid.terminal {
        let conditions = facts.unstalled_with(facts.condition(
            condition_type::SUCCEEDED,
            condition_status::FALSE,
            reason,
            &invalid.message,
        ));
        return Step::Fail {
            status: RunStatusPatch {
                phase: Some(RunPhase::Failed),
                conditions: Some(conditions),
                observed_generation: facts.generation(),
                completion_time: Some(facts.now.clone()),
                error: Some(RunError {
                    reason: invalid.reason,
                    message: invalid.message,
                    retryable: false,
                }),
                ..RunStatusPatch::default()
            },
        };
    }
    let unchanged = find_condition(&facts.status.conditions, condition_type::STALLED)
        .is_some_and(|c| c.status == condition_status::TRUE && c.message == invalid.message);
    if unchanged {
        return Step::Wait;
    }
    let conditions = set_condition(
        &set_condition(
            &facts.status.conditions,
            facts.condition(
                condition_type::STALLED,
                condition_status::TRUE,
                reason,
                &invalid.message,
            ),
        ),
        facts.condition(
            condition_type::SUCCEEDED,
            condition_status::UNKNOWN,
            reason,
            &invalid.message,
        ),
    );
    Step::Stall {
        status: RunStatusPatch {
            phase: Some(RunPhase::Pending),
            conditions: Some(conditions),
            observed_generation: facts.generation(),
            ..RunStatusPatch::default()
        },
        event: RunEvent {
            type_: EventType::Warning,
            reason,
            action: "Validate",
            note: invalid.message,
        },
    }
}

/// A run without a Job: dereference (the pinned or observed Flow),
/// validate, pin, build.
fn start(observed: &Observed, facts: &Facts<'_>) -> Step {
    let (run, status) = (facts.run, &facts.status);
    let (pinned, suspended, flow) = match (&status.flow, &observed.flow) {
        (Some(pinned), _) => (pinned.clone(), false, None),
        (None, Some(flow)) => {
            let pinned = PinnedFlow {
                generation: flow.metadata.generation.unwrap_or_default(),
                uid: flow.uid().unwrap_or_default(),
                spec: flow.spec.clone(),
            };
            (pinned, flow.spec.suspend, Some(flow))
        }
        (None, None) => {
            let (flow_name, namespace) =
                (&run.spec.flow_ref.name, run.namespace().unwrap_or_default());
            return invalid(
                facts,
                Invalid {
                    reason: ErrorReason::ReferenceNotFound,
                    message: format!(
                        "spec.flowRef: Flow {flow_name:?} does not exist in namespace {namespace}; create it or correct spec.flowRef"
                    ),
                    terminal: false,
                },
            );
        }
    };
    let validated = match validate(
        run,
        &pinned,
        suspended,
        flow.and_then(|f| f.status.as_ref()),
        &observed.profiles,
        observed.secrets.as_ref(),
        observed.service_account,
        &observed.image,
        facts.now,
    ) {
        Ok(validated) => validated,
        Err(problem) => return invalid(facts, problem),
    };
    let job_name = &facts.job_name;
    // Pending with the Job named: before it exists (pinned with the same
    // write), or after it was created (a run pinned without its name).
    let pending = |message: &str, patch: RunStatusPatch| RunStatusPatch {
        phase: Some(RunPhase::Pending),
        conditions: Some(set_condition(
            &facts.unstalled_with(facts.condition(
                condition_type::SUCCEEDED,
                condition_status::UNKNOWN,
                PENDING,
                message,
            )),
            facts.condition(
                condition_type::RECONCILING,
                condition_status::TRUE,
                JOB_CREATED,
                message,
            ),
        )),
        observed_generation: facts.generation(),
        job_name: Some(job_name.clone()),
        ..patch
    };
    let pin = status.flow.is_none().then(|| {
        pending(
            &format!(
                "the Flow's spec and the run's window are pinned; Job {job_name} runs the Flow"
            ),
            RunStatusPatch {
                flow: Some(validated.pinned.clone()),
                window: Some(validated.window.clone()),
                ..RunStatusPatch::default()
            },
        )
    });
    let name = (status.flow.is_some() && status.job_name.is_none()).then(|| {
        pending(
            &format!("Job {job_name} runs the Flow"),
            RunStatusPatch::default(),
        )
    });
    // Own the run by its Flow, so deleting the Flow deletes its runs.
    let adopt = flow
        .filter(|flow| {
            let uid = flow.uid().unwrap_or_default();
            !run.owner_references().iter().any(|o| o.uid == uid)
        })
        .map(controller_ref_to);
    Step::CreateJob(Box::new(CreateJob {
        pin,
        adopt,
        confirm: status.flow.is_some(),
        service_account: validated.job.service_account.clone(),
        job_name: job_name.clone(),
        job: build_job(&validated.job),
        connector: validated.connector,
        event: RunEvent {
            type_: EventType::Normal,
            reason: JOB_CREATED,
            action: "CreateJob",
            note: format!(
                "created Job {job_name} for generation {} of Flow {}",
                validated.pinned.generation, run.spec.flow_ref.name
            ),
        },
        name,
    }))
}

fn seconds_between(start: Option<&Time>, end: Option<&Time>) -> Option<f64> {
    let (start, end) = (start?, end?);
    let span = end.0.duration_since(start.0);
    Some(span.as_secs_f64().max(0.0))
}

// ---------------------------------------------------------------- execute

/// What the end of a status write means for the reconcile: done, or
/// decided on a stale run.
fn after(written: WriteOutcome) -> Action {
    match written {
        WriteOutcome::Done => Action::await_change(),
        WriteOutcome::Stale => stale(),
    }
}

/// Makes the requests of `step`.
async fn execute(step: Step, observed: &Observed, ctx: &Context) -> Result<Action> {
    let run = &observed.run;
    let namespace = run.namespace().unwrap_or_default();
    let uid = run.uid().unwrap_or_default();
    let api: Api<FlowRun> = Api::namespaced(ctx.client.clone(), &namespace);
    let writer = StatusWriter::new(api, run, PatchParams::default());
    let event = |e: RunEvent| ctx.event(run, e.type_, e.reason, e.action, e.note);
    // Secrets are not watched: a run stopped on one looks again.
    let waiting_on_a_secret = observed
        .secrets
        .as_ref()
        .is_some_and(|s| s.values().any(|a| *a != OptIn::Allowed))
        || observed
            .service_account
            .is_some_and(|a| a != OptIn::Allowed);
    let wait = || {
        if waiting_on_a_secret {
            Action::requeue(super::access::RECHECK)
        } else {
            Action::await_change()
        }
    };
    match step {
        Step::Wait => Ok(wait()),
        Step::Cancel { job, status } => {
            delete_job(ctx, &namespace, &job, &uid, observed.job.as_ref()).await?;
            Ok(after(writer.write_if_unchanged(&status).await?))
        }
        Step::MirrorFailure {
            delete_job: job,
            status,
        } => {
            if let Some(job) = job {
                delete_job(ctx, &namespace, &job, &uid, observed.job.as_ref()).await?;
            }
            Ok(after(writer.write_if_unchanged(&status).await?))
        }
        // The Finished bookkeeping (metrics, Event) of a failed run follows
        // on the next reconcile, triggered by this change.
        Step::Fail { status } | Step::RecordJob { status } => {
            Ok(after(writer.write_if_unchanged(&status).await?))
        }
        Step::Stall { status, event: e } => {
            if writer.write_if_unchanged(&status).await? == WriteOutcome::Stale {
                return Ok(stale());
            }
            event(e).await;
            Ok(wait())
        }
        Step::Finish(finish) => {
            let Finish {
                delete_job: job,
                status,
                metrics: m,
                event: e,
            } = *finish;
            if let Some(job) = job {
                delete_job(ctx, &namespace, &job, &uid, observed.job.as_ref()).await?;
            }
            if writer.write_if_unchanged(&status).await? == WriteOutcome::Stale {
                return Ok(stale());
            }
            ctx.metrics
                .run_finished(m.connector, m.phase, m.error_reason, m.seconds, &m.progress);
            event(e).await;
            Ok(Action::await_change())
        }
        Step::CreateJob(create) => create_job(*create, run, &writer, ctx).await,
    }
}

/// Pins the run, owns it by its Flow, applies the runner's identity and
/// creates the Job.
async fn create_job(
    create: CreateJob,
    run: &FlowRun,
    writer: &StatusWriter<FlowRun>,
    ctx: &Context,
) -> Result<Action> {
    let namespace = run.namespace().unwrap_or_default();
    let name = run.name_any();
    let job_name = &create.job_name;
    if let Some(pin) = &create.pin
        && writer.write_if_unchanged(pin).await? == WriteOutcome::Stale
    {
        return Ok(stale());
    }
    if let Some(owner) = create.adopt {
        adopt(run, owner, writer, ctx).await?;
    }
    if create.confirm {
        let api: Api<FlowRun> = Api::namespaced(ctx.client.clone(), &namespace);
        let fresh = api.get(&name).await.map_err(Error::dereference(format!(
            "reading FlowRun {namespace}/{name}"
        )))?;
        if fresh.resource_version() != writer.resource_version() {
            return Ok(stale());
        }
    }
    rbac::ensure_runner_rbac(ctx, &namespace, &create.service_account).await?;
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let created = match jobs.create(&params, &create.job).await {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 409 => false,
        Err(e) => return Err(Error::apply(format!("creating Job {namespace}/{job_name}"))(e)),
    };
    if created {
        ctx.metrics
            .runs_started
            .with_label_values(&[create.connector])
            .inc();
        if let Some(created_at) = run.meta().creation_timestamp.as_ref() {
            let delay = Timestamp::now().duration_since(created_at.0);
            ctx.metrics
                .job_creation_delay
                .observe(delay.as_secs_f64().max(0.0));
        }
        tracing::info!(flow_run = %name, namespace = %namespace, job = %job_name, "created the run's Job");
        let e = create.event;
        ctx.event(run, e.type_, e.reason, e.action, e.note).await;
    }
    match &create.name {
        Some(patch) => Ok(after(writer.write_if_unchanged(patch).await?)),
        None => Ok(Action::await_change()),
    }
}

/// The server-side apply patch that adds an owner to a FlowRun: its
/// identity and the owner reference only, so the controller's field
/// manager owns nothing else.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Adoption {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
}

impl Adoption {
    fn of(run: &str, owner: OwnerReference) -> Self {
        Self {
            api_version: FlowRun::api_version(&()).into_owned(),
            kind: FlowRun::kind(&()).into_owned(),
            metadata: ObjectMeta {
                name: Some(run.to_owned()),
                owner_references: Some(vec![owner]),
                ..ObjectMeta::default()
            },
        }
    }
}

/// Adds the Flow as the FlowRun's owner.
async fn adopt(
    run: &FlowRun,
    owner: OwnerReference,
    writer: &StatusWriter<FlowRun>,
    ctx: &Context,
) -> Result<()> {
    let (namespace, name) = (run.namespace().unwrap_or_default(), run.name_any());
    let flow = owner.name.clone();
    let api: Api<FlowRun> = Api::namespaced(ctx.client.clone(), &namespace);
    let what = format!("adding Flow {flow} as the owner of FlowRun {namespace}/{name}");
    let patch = wire(&Adoption::of(&name, owner)).map_err(Error::apply(what.clone()))?;
    let adopted = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::apply(what))?;
    writer.seen(&adopted);
    Ok(())
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
        assert!(!run.cancel_requested());
        run.spec.cancel = true;
        assert!(run.cancel_requested());
        run.spec.cancel = false;
        run.annotations_mut().insert(
            super::super::REPLACED_BY_ANNOTATION.to_owned(),
            "orders-29000000".to_owned(),
        );
        assert!(run.cancel_requested());
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
        let validated = validate(
            &run,
            &pinned(spec),
            false,
            None,
            &profiles,
            None,
            None,
            "img:1",
            &now,
        )
        .unwrap();
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
    fn a_secret_that_has_not_opted_in_is_never_mounted() {
        let run = flow_run(serde_json::json!(null));
        let mut profiles = file_profiles();
        let (_, pg) = profile(
            "in",
            serde_json::json!({"postgres": {"host": "db", "database": "app"}, "credentials": {"secretRef": {"name": "pg"}, "basic": {}}}),
        );
        profiles.insert("in".to_owned(), pg);
        let spec = flow_spec(serde_json::json!({
            "source": {"connectorProfileRef": {"name": "in"}, "postgres": {"table": "t"}},
        }));
        let now = time("2024-05-01T12:00:00Z");
        let check = |access: OptIn| {
            let secrets = BTreeMap::from([("pg".to_owned(), access)]);
            validate(
                &run,
                &pinned(spec.clone()),
                false,
                None,
                &profiles,
                Some(&secrets),
                None,
                "i",
                &now,
            )
        };
        let refused = check(OptIn::NotAllowed).unwrap_err();
        assert_eq!(refused.reason, ErrorReason::Forbidden);
        assert!(!refused.terminal);
        assert!(
            refused.message.contains("spec.source.connectorProfileRef")
                && refused
                    .message
                    .contains("label secret pg sluice.dev/allowed=true"),
            "{}",
            refused.message
        );
        let missing = check(OptIn::Missing).unwrap_err();
        assert_eq!(missing.reason, ErrorReason::ReferenceNotFound);
        assert!(
            missing.message.contains("does not exist"),
            "{}",
            missing.message
        );
        let allowed = check(OptIn::Allowed).unwrap();
        assert!(allowed.job.secrets.contains_key("pg"));
    }

    #[test]
    fn a_service_account_that_has_not_opted_in_runs_nothing() {
        let run = flow_run(serde_json::json!(null));
        let spec = flow_spec(serde_json::json!({
            "runTemplate": {"serviceAccountName": "cluster-admin-ish"}
        }));
        let now = time("2024-05-01T12:00:00Z");
        let check = |access: Option<OptIn>| {
            validate(
                &run,
                &pinned(spec.clone()),
                false,
                None,
                &file_profiles(),
                None,
                access,
                "i",
                &now,
            )
        };
        let refused = check(Some(OptIn::NotAllowed)).unwrap_err();
        assert_eq!(refused.reason, ErrorReason::Forbidden);
        assert!(!refused.terminal);
        assert!(
            refused
                .message
                .contains("spec.runTemplate.serviceAccountName")
                && refused
                    .message
                    .contains("label serviceaccount cluster-admin-ish sluice.dev/allowed=true"),
            "{}",
            refused.message
        );
        let missing = check(Some(OptIn::Missing)).unwrap_err();
        assert_eq!(missing.reason, ErrorReason::ReferenceNotFound);
        assert_eq!(
            check(Some(OptIn::Allowed)).unwrap().job.service_account,
            "cluster-admin-ish"
        );
        // Not required (single-tenant clusters): as before.
        assert!(check(None).is_ok());
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
            None,
            None,
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
            None,
            None,
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
            None,
            None,
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
            None,
            None,
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
            None,
            None,
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
            None,
            None,
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
        assert_eq!(ErrorReason::OutOfMemory.as_str(), "OutOfMemory");
        assert_eq!(
            reason::REFERENCE_NOT_FOUND,
            ErrorReason::ReferenceNotFound.as_str()
        );
        assert_eq!(reason::INVALID_SPEC, ErrorReason::InvalidSpec.as_str());
    }

    // ------------------------------------------------------------ decide

    fn run_status(phase: Option<RunPhase>, pinned_flow: bool, job_name: bool) -> FlowRunStatus {
        FlowRunStatus {
            phase,
            flow: pinned_flow.then(|| pinned(flow_spec(serde_json::json!({})))),
            job_name: job_name.then(|| "r1".to_owned()),
            start_time: Some(time("2024-05-01T11:59:00Z")),
            ..FlowRunStatus::default()
        }
    }

    fn our_job(conditions: &[(&str, &str)], active: i32, ready: i32) -> Job {
        let mut job = job(conditions, active, ready);
        job.metadata.owner_references =
            Some(vec![super::super::children::controller_ref::<FlowRun>(
                "r1", "u1",
            )]);
        job
    }

    fn the_flow(suspend: bool) -> Flow {
        let mut flow = Flow::new("orders", flow_spec(serde_json::json!({"suspend": suspend})));
        flow.metadata.namespace = Some("ns".into());
        flow.metadata.uid = Some("flow-uid".into());
        flow.metadata.generation = Some(3);
        flow
    }

    /// A run observed with `status`, nothing else read.
    fn observed(status: Option<FlowRunStatus>) -> Observed {
        let mut run = flow_run(serde_json::json!(null));
        run.status = status;
        Observed::of(run, "img:1")
    }

    fn stalled(message: &str) -> Condition {
        super::super::conditions::new(
            condition_type::STALLED,
            condition_status::TRUE,
            "InvalidSpec",
            message,
            Some(1),
        )
    }

    fn finished_condition() -> Condition {
        super::super::conditions::new(
            condition_type::RECONCILING,
            condition_status::FALSE,
            FINISHED,
            "the run is over",
            Some(1),
        )
    }

    type Row = (&'static str, Observed, fn(&Step) -> bool);

    fn rows() -> Vec<Row> {
        let running = || run_status(Some(RunPhase::Running), true, true);
        let foreign = "a Job named \"r1\" already exists in namespace ns and does not belong to this FlowRun; delete it or create the FlowRun under another name";
        vec![
            (
                "a deleted run waits",
                {
                    let mut o = observed(Some(running()));
                    o.run.metadata.deletion_timestamp = Some(time("2024-05-01T12:00:00Z"));
                    o
                },
                |s| *s == Step::Wait,
            ),
            (
                "a settled run waits",
                {
                    let mut status = run_status(Some(RunPhase::Succeeded), true, true);
                    status.conditions = vec![finished_condition()];
                    observed(Some(status))
                },
                |s| *s == Step::Wait,
            ),
            (
                "spec.cancel cancels a running run",
                {
                    let mut o = observed(Some(running()));
                    o.run.spec.cancel = true;
                    o
                },
                |s| {
                    matches!(s, Step::Cancel { job, status }
                if job == "r1" && status.phase == Some(RunPhase::Cancelled)
                    && status.duration == Some(Some("1m0s".to_owned())))
                },
            ),
            (
                "a replaced run is cancelled",
                {
                    let mut o = observed(None);
                    o.run.annotations_mut().insert(
                        super::super::REPLACED_BY_ANNOTATION.to_owned(),
                        "orders-2".to_owned(),
                    );
                    o
                },
                |s| {
                    matches!(s, Step::Cancel { job, status }
                if job == "r1" && status.duration == Some(None)
                    && status.conditions.as_ref().is_some_and(|c| c[0].message.contains("replaced by run \"orders-2\"")))
                },
            ),
            (
                "cancel after an outcome finishes the run",
                {
                    let mut o = observed(Some(run_status(Some(RunPhase::Succeeded), true, true)));
                    o.run.spec.cancel = true;
                    o
                },
                |s| matches!(s, Step::Finish(f) if f.event.reason == "Succeeded" && f.delete_job.is_none()),
            ),
            (
                "a Job of another owner stalls the run",
                {
                    let mut o = observed(Some(running()));
                    o.job = Some(job(&[], 1, 1));
                    o
                },
                |s| {
                    matches!(s, Step::Stall { event, status }
                if event.reason == "InvalidSpec" && event.note.contains("does not belong")
                    && status.phase == Some(RunPhase::Pending))
                },
            ),
            (
                "stalled for the same reason waits",
                {
                    let mut status = running();
                    status.conditions = vec![stalled(foreign)];
                    let mut o = observed(Some(status));
                    o.job = Some(job(&[], 1, 1));
                    o
                },
                |s| *s == Step::Wait,
            ),
            (
                "a failed attempt with retries left waits for the Job",
                {
                    let mut o = observed(Some(run_status(Some(RunPhase::Failed), true, true)));
                    o.job = Some(our_job(&[], 1, 1));
                    o
                },
                |s| *s == Step::Wait,
            ),
            (
                "a failed run whose Job is over finishes",
                {
                    let mut o = observed(Some(run_status(Some(RunPhase::Failed), true, true)));
                    o.job = Some(our_job(&[("Failed", "BackoffLimitExceeded")], 0, 0));
                    o
                },
                |s| {
                    matches!(s, Step::Finish(f)
                if f.event.type_ == EventType::Warning && f.delete_job.is_none()
                    && f.metrics.phase == RunPhase::Failed)
                },
            ),
            (
                "a run failed before it was pinned finishes",
                { observed(Some(run_status(Some(RunPhase::Failed), false, false))) },
                |s| matches!(s, Step::Finish(f) if f.metrics.connector == "unknown"),
            ),
            (
                "a cancelled run whose Job goes on deletes it and finishes",
                {
                    let mut o = observed(Some(run_status(Some(RunPhase::Cancelled), true, true)));
                    o.job = Some(our_job(&[], 1, 1));
                    o
                },
                |s| {
                    matches!(s, Step::Finish(f)
                if f.delete_job.as_deref() == Some("r1") && f.event.reason == CANCELLED)
                },
            ),
            (
                "a cancelled run beside a Job of its name that another owns finishes and leaves it",
                {
                    let mut o = observed(Some(run_status(Some(RunPhase::Cancelled), true, true)));
                    o.job = Some(job(&[], 1, 1));
                    o
                },
                |s| matches!(s, Step::Finish(f) if f.delete_job.is_none() && f.event.reason == CANCELLED),
            ),
            (
                "a cancelled run whose Job is gone finishes",
                observed(Some(run_status(Some(RunPhase::Cancelled), true, true))),
                |s| matches!(s, Step::Finish(f) if f.delete_job.is_none() && f.event.reason == CANCELLED),
            ),
            (
                "a succeeded run finishes",
                { observed(Some(run_status(Some(RunPhase::Succeeded), true, true))) },
                |s| {
                    matches!(s, Step::Finish(f)
                if f.event.type_ == EventType::Normal && f.metrics.connector == "file"
                    && f.status.conditions.as_ref().is_some_and(|c| c.contains(&finished_condition_at())))
                },
            ),
            (
                "a Job past its deadline fails the run",
                {
                    let mut o = observed(Some(running()));
                    o.job = Some(our_job(&[("Failed", "DeadlineExceeded")], 0, 0));
                    o
                },
                |s| {
                    matches!(s, Step::MirrorFailure { delete_job: None, status }
                if status.error.as_ref().is_some_and(|e| e.reason == ErrorReason::DeadlineExceeded)
                    && status.phase == Some(RunPhase::Failed))
                },
            ),
            (
                "an image that cannot be pulled deletes the Job and fails the run",
                {
                    let mut o = observed(Some(running()));
                    o.job = Some(our_job(&[], 1, 0));
                    o.pods = vec![pod(Some("ImagePullBackOff"), None, false)];
                    o
                },
                |s| {
                    matches!(s, Step::MirrorFailure { delete_job: Some(job), status }
                if job == "r1" && status.error.as_ref().is_some_and(|e| e.reason == ErrorReason::ImagePullFailed))
                },
            ),
            (
                "a Job complete without an outcome fails the run",
                {
                    let mut o = observed(Some(running()));
                    o.job = Some(our_job(&[("Complete", "")], 0, 0));
                    o
                },
                |s| {
                    matches!(s, Step::MirrorFailure { delete_job: None, status }
                if status.error.as_ref().is_some_and(|e| e.reason == ErrorReason::Internal && e.retryable))
                },
            ),
            (
                "a Job the run does not name is recorded",
                {
                    let mut o = observed(Some(run_status(Some(RunPhase::Pending), true, false)));
                    o.job = Some(our_job(&[], 1, 1));
                    o
                },
                |s| {
                    matches!(s, Step::RecordJob { status }
                if *status == RunStatusPatch { job_name: Some("r1".to_owned()), ..RunStatusPatch::default() })
                },
            ),
            (
                "a running Job is waited for",
                {
                    let mut o = observed(Some(running()));
                    o.job = Some(our_job(&[], 1, 1));
                    o
                },
                |s| *s == Step::Wait,
            ),
            ("a missing Flow stalls the run", observed(None), |s| {
                matches!(s, Step::Stall { event, .. }
                if event.reason == "ReferenceNotFound" && event.note.starts_with("spec.flowRef"))
            }),
            (
                "a suspended Flow fails the run",
                {
                    let mut o = observed(None);
                    o.flow = Some(the_flow(true));
                    o.profiles = file_profiles();
                    o
                },
                |s| {
                    matches!(s, Step::Fail { status }
                if status.error.as_ref().is_some_and(|e| e.message.contains("suspended") && !e.retryable))
                },
            ),
            (
                "a missing profile stalls the run",
                {
                    let mut o = observed(None);
                    o.flow = Some(the_flow(false));
                    o
                },
                |s| matches!(s, Step::Stall { event, .. } if event.reason == "ReferenceNotFound"),
            ),
            (
                "a new run is pinned, adopted and its Job created",
                {
                    let mut o = observed(None);
                    o.flow = Some(the_flow(false));
                    o.profiles = file_profiles();
                    o
                },
                |s| {
                    matches!(s, Step::CreateJob(c)
                if c.pin.as_ref().is_some_and(|p| p.flow.as_ref().is_some_and(|f| f.uid == "flow-uid")
                    && p.window == Some(None) && p.job_name.as_deref() == Some("r1"))
                    && c.adopt.as_ref().is_some_and(|o| o.uid == "flow-uid" && o.kind == "Flow")
                    && !c.confirm && c.name.is_none() && c.job.metadata.name.as_deref() == Some("r1")
                    && c.event.note == "created Job r1 for generation 3 of Flow orders")
                },
            ),
            (
                "a run its Flow owns already is not adopted again",
                {
                    let mut o = observed(None);
                    let flow = the_flow(false);
                    o.run.metadata.owner_references =
                        Some(vec![super::super::children::controller_ref_to(&flow)]);
                    o.flow = Some(flow);
                    o.profiles = file_profiles();
                    o
                },
                |s| matches!(s, Step::CreateJob(c) if c.adopt.is_none() && c.pin.is_some()),
            ),
            (
                "a pinned run without its Job creates it after a fresh read",
                {
                    let mut o = observed(Some(run_status(Some(RunPhase::Pending), true, true)));
                    o.profiles = file_profiles();
                    o
                },
                |s| {
                    matches!(s, Step::CreateJob(c)
                if c.pin.is_none() && c.adopt.is_none() && c.confirm && c.name.is_none())
                },
            ),
            (
                "a run pinned without its Job's name names it after creating it",
                {
                    let mut o = observed(Some(run_status(Some(RunPhase::Pending), true, false)));
                    o.profiles = file_profiles();
                    o
                },
                |s| {
                    matches!(s, Step::CreateJob(c)
                if c.pin.is_none() && c.confirm
                    && c.name.as_ref().is_some_and(|n| n.job_name.as_deref() == Some("r1") && n.flow.is_none()))
                },
            ),
        ]
    }

    fn finished_condition_at() -> Condition {
        super::super::conditions::at(
            condition_type::RECONCILING,
            condition_status::FALSE,
            FINISHED,
            "the run is over",
            Some(1),
            &time("2024-05-01T12:00:00Z"),
        )
    }

    #[test]
    fn decide_covers_every_transition() {
        let now = time("2024-05-01T12:00:00Z");
        for (transition, observed, expected) in rows() {
            let step = decide(&observed, &now);
            assert!(expected(&step), "{transition}: got {step:#?}");
        }
    }

    /// The JSON of a typed patch, as the API server receives it.
    fn on_the_wire(value: &impl Serialize) -> String {
        wire(value).unwrap().to_string()
    }

    fn step(observed: Observed) -> Step {
        decide(&observed, &time("2024-05-01T12:00:00Z"))
    }

    #[test]
    fn status_patches_keep_the_json_the_api_server_received() {
        let now = time("2024-05-01T12:00:00Z");
        let mut o = observed(Some(run_status(Some(RunPhase::Running), true, true)));
        o.run.spec.cancel = true;
        let Step::Cancel { status, .. } = step(o) else {
            panic!("cancel")
        };
        assert_eq!(
            on_the_wire(&status),
            serde_json::json!({
                "phase": RunPhase::Cancelled,
                "conditions": status.conditions,
                "observedGeneration": Some(1),
                "completionTime": now,
                "duration": Some("1m0s"),
            })
            .to_string()
        );
        // Never started: an explicit null duration.
        let mut o = observed(None);
        o.run.spec.cancel = true;
        let Step::Cancel { status, .. } = step(o) else {
            panic!("cancel")
        };
        assert!(on_the_wire(&status).contains(r#""duration":null"#));

        let mut o = observed(Some(run_status(Some(RunPhase::Running), true, true)));
        o.job = Some(our_job(&[("Failed", "DeadlineExceeded")], 0, 0));
        let Step::MirrorFailure { status, .. } = step(o) else {
            panic!("mirror")
        };
        assert_eq!(
            on_the_wire(&status),
            serde_json::json!({
                "phase": RunPhase::Failed,
                "conditions": status.conditions,
                "observedGeneration": Some(1),
                "completionTime": now,
                "duration": Some("1m0s"),
                "error": status.error,
            })
            .to_string()
        );

        let mut o = observed(None);
        o.flow = Some(the_flow(true));
        let Step::Fail { status } = step(o) else {
            panic!("fail")
        };
        assert_eq!(
            on_the_wire(&status),
            serde_json::json!({
                "phase": RunPhase::Failed,
                "conditions": status.conditions,
                "observedGeneration": Some(1),
                "completionTime": now,
                "error": status.error,
            })
            .to_string()
        );

        let Step::Stall { status, .. } = step(observed(None)) else {
            panic!("stall")
        };
        assert_eq!(
            on_the_wire(&status),
            serde_json::json!({
                "phase": RunPhase::Pending,
                "conditions": status.conditions,
                "observedGeneration": Some(1),
            })
            .to_string()
        );

        let mut o = observed(Some(run_status(Some(RunPhase::Pending), true, false)));
        o.job = Some(our_job(&[], 1, 1));
        let Step::RecordJob { status } = step(o) else {
            panic!("record")
        };
        assert_eq!(
            on_the_wire(&status),
            serde_json::json!({ "jobName": "r1" }).to_string()
        );

        let Step::Finish(finish) = step(observed(Some(run_status(
            Some(RunPhase::Succeeded),
            true,
            true,
        )))) else {
            panic!("finish")
        };
        assert_eq!(
            on_the_wire(&finish.status),
            serde_json::json!({
                "conditions": finish.status.conditions,
                "observedGeneration": Some(1),
            })
            .to_string()
        );

        let mut o = observed(None);
        o.flow = Some(the_flow(false));
        o.profiles = file_profiles();
        let Step::CreateJob(create) = step(o) else {
            panic!("create")
        };
        let pin = create.pin.clone().unwrap();
        assert_eq!(
            on_the_wire(&pin),
            serde_json::json!({
                "phase": RunPhase::Pending,
                "conditions": pin.conditions,
                "observedGeneration": Some(1),
                "flow": pin.flow,
                "window": None::<Window>,
                "jobName": "r1",
            })
            .to_string()
        );
        assert!(on_the_wire(&pin).contains(r#""window":null"#));
        // The server-side apply patch that adopts the run.
        let owner = create.adopt.clone().unwrap();
        assert_eq!(
            on_the_wire(&Adoption::of("r1", owner.clone())),
            serde_json::json!({
                "apiVersion": "sluice.dev/v1alpha1",
                "kind": "FlowRun",
                "metadata": { "name": "r1", "ownerReferences": [owner] },
            })
            .to_string()
        );

        let mut o = observed(Some(run_status(Some(RunPhase::Pending), true, false)));
        o.profiles = file_profiles();
        let Step::CreateJob(create) = step(o) else {
            panic!("create")
        };
        let name = create.name.clone().unwrap();
        assert_eq!(
            on_the_wire(&name),
            serde_json::json!({
                "phase": RunPhase::Pending,
                "conditions": name.conditions,
                "observedGeneration": Some(1),
                "jobName": "r1",
            })
            .to_string()
        );
    }

    #[test]
    fn status_patch_members_are_flow_run_status_members() {
        let full = RunStatusPatch {
            completion_time: Some(time("2024-05-01T12:00:00Z")),
            conditions: Some(vec![finished_condition()]),
            duration: Some(Some("1s".to_owned())),
            error: Some(RunError {
                reason: ErrorReason::Internal,
                message: "m".to_owned(),
                retryable: true,
            }),
            flow: Some(pinned(flow_spec(serde_json::json!({})))),
            job_name: Some("j".to_owned()),
            observed_generation: Some(Some(1)),
            phase: Some(RunPhase::Failed),
            window: Some(Some(Window::default())),
        };
        let patch = serde_json::to_value(&full).unwrap();
        let status: FlowRunStatus = serde_json::from_value(patch.clone()).unwrap();
        let round_trip = serde_json::to_value(&status).unwrap();
        for key in patch.as_object().unwrap().keys() {
            assert!(
                round_trip.get(key).is_some(),
                "{key} is not a FlowRunStatus member"
            );
        }
    }
}
