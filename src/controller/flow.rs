//! The Flow reconciler: validation, schedules, concurrency, deactivation,
//! history and the Flow's status.
//!
//! Phases, on every change of the Flow, one of its runs or a profile it
//! names, and at each scheduled time:
//!
//! 1. **dereference** — the Flow's runs (FlowRuns whose `spec.flowRef`
//!    names it, from a shared watch) and the ConnectorProfiles it names
//!    (from a watch; their specs only, never a Secret).
//! 2. **validate** ([`validate`], pure) — the profiles exist in the Flow's
//!    namespace and configure the connector each block needs, and the
//!    schedule parses with a known time zone. An invalid Flow gets
//!    `Ready=False` and `Stalled=True` with the field and what would be
//!    right, and waits for a change: nothing is scheduled.
//! 3. **build** ([`derive`], pure) — the status from the runs (last and
//!    last successful run, active runs, consecutive failures, the
//!    incremental watermark of the latest successful run), deactivation
//!    after `deactivateAfterFailures` failed runs of the current generation,
//!    the due scheduled time ([`super::schedule::Timetable::due`]) and the
//!    finished runs past the history limits.
//! 4. **apply** — the scheduled FlowRun, created under a name derived from
//!    the Flow and the scheduled time ([`scheduled_run_name`]) so that a
//!    controller restarted at any moment finds it instead of starting a
//!    second one; under `Replace` the running runs are cancelled (annotated
//!    `sluice.dev/replaced-by`, which the FlowRun reconciler acts on); old
//!    runs are deleted (their Jobs go with them).
//! 5. **update status** — written only when it changed, then a requeue at
//!    the next scheduled start.
//!
//! The watermark moves only with a run that succeeded, read incrementally
//! with the Flow's window (no window or full-refresh override), and only
//! forward.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use super::children::controller_ref_to;
use super::conditions::{find_condition, remove_condition, set_condition};
use super::flow_run::{profile_connector, profile_references};
use super::schedule::{Due, Timetable, to_chrono, to_time};
use super::status::{StatusWriter, wire};
use super::{
    Context, Error, FIELD_MANAGER, FLOW_LABEL, MANAGED_BY, MANAGED_BY_LABEL, Result, Shutdown,
    cached_watch, shutdown_requested,
};
use crate::api::v1alpha1::common::{Condition, Time, condition_status, condition_type};
use crate::api::v1alpha1::flow::{
    ConcurrencyPolicy, FlowStatus, IncrementalState, ReadMode, RunSummary, TriggerType,
};
use crate::api::v1alpha1::flow_run::{FlowRunSpec, RunPhase};
use crate::api::v1alpha1::{ConnectorProfile, Flow, FlowRun, FlowRunStatus};

/// The controller label of this reconciler's metrics.
pub const CONTROLLER: &str = "flow";
/// `Ready` reason of a valid Flow.
pub const VALID: &str = "Valid";
/// `Ready`/`Stalled` reason of a Flow naming a profile that does not exist.
pub const PROFILE_NOT_FOUND: &str = "ProfileNotFound";
/// `Ready`/`Stalled` reason of a Flow whose profile configures another connector.
pub const PROFILE_MISMATCH: &str = "ProfileMismatch";
/// `Ready`/`Stalled` reason of a schedule the controller cannot read.
pub const INVALID_SCHEDULE: &str = "InvalidSchedule";
/// `Scheduled` reason while runs are scheduled; also the Event of a started run.
pub const SCHEDULED: &str = "Scheduled";
/// `Scheduled` reason once `endTime` has passed.
pub const SCHEDULE_ENDED: &str = "ScheduleEnded";
/// `Scheduled`/`Suspended` reason of a suspended Flow.
pub const SUSPENDED: &str = "Suspended";
/// `Suspended` reason of a Flow that is not suspended.
pub const ACTIVE: &str = "Active";
/// `Deactivated` reason (and Event) after too many failed runs.
pub const TOO_MANY_FAILURES: &str = "TooManyFailures";
/// `Deactivated=False` reason after a spec change reactivated the Flow.
pub const REACTIVATED: &str = "Reactivated";
/// Event of a scheduled time whose run could not start in time.
pub const MISSED_SCHEDULE: &str = "MissedSchedule";
/// Event of a scheduled run held back by `concurrencyPolicy: Forbid`.
pub const RUN_SKIPPED: &str = "RunSkipped";
/// Event of a run cancelled by `concurrencyPolicy: Replace`.
pub const RUN_REPLACED: &str = "RunReplaced";

/// A scheduled run that is not started when the controller cannot look
/// again sooner (a far next time) is looked at again after this long, so a
/// lost event never delays a Flow for longer.
const MAX_REQUEUE: Duration = Duration::from_secs(3600);

/// Runs the Flow reconciler until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: Shutdown) {
    // The runs of every Flow, without their pinned Flow specs: the status
    // needs phases, times and watermarks only.
    let (runs, run_events) =
        cached_watch::<FlowRun>(&ctx, watcher::Config::default(), |run: &mut FlowRun| {
            if let Some(status) = run.status.as_mut() {
                status.flow = status.flow.take().map(|mut pinned| {
                    pinned.spec = light_spec(&pinned.spec);
                    pinned
                });
            }
        });
    let (profiles, profile_events) =
        cached_watch::<ConnectorProfile>(&ctx, watcher::Config::default(), |_| {});

    // The Flows, without their managed fields (about half of each object).
    let (flow_cache, flow_events) = cached_watch::<Flow>(&ctx, watcher::Config::default(), |_| {});
    let controller = Controller::for_stream(flow_events.applied_objects(), flow_cache);
    let flows = controller.store();
    let state = Arc::new(State {
        ctx,
        runs: runs.clone(),
        profiles: profiles.clone(),
        flows: controller.store(),
        written: Mutex::new(HashMap::new()),
    });
    controller
        .watches_stream(run_events.touched_objects(), |run: FlowRun| {
            Some(ObjectRef::<Flow>::new(&run.spec.flow_ref.name).within(&run.namespace()?))
        })
        .watches_stream(
            profile_events.touched_objects(),
            move |profile: ConnectorProfile| {
                let (namespace, name) = (profile.namespace(), profile.name_any());
                flows
                    .state()
                    .into_iter()
                    .filter(|flow| {
                        flow.namespace() == namespace
                            && profile_references(&flow.spec)
                                .iter()
                                .any(|(_, referenced, _)| *referenced == name)
                    })
                    .map(|flow| ObjectRef::from_obj(&*flow))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(kube::runtime::controller::Config::default().concurrency(16))
        .graceful_shutdown_on(shutdown_requested(shutdown))
        .run(
            |flow, state: Arc<State>| async move {
                // Decide on complete caches only: a run missing from a store
                // still filling could be scheduled twice. Bounded, so that a
                // shutdown (which stops filling them) never waits on it.
                let ready = async {
                    let _ = state.runs.wait_until_ready().await;
                    let _ = state.profiles.wait_until_ready().await;
                };
                if tokio::time::timeout(Duration::from_secs(5), ready)
                    .await
                    .is_err()
                {
                    return Ok(Action::requeue(Duration::from_secs(1)));
                }
                reconcile(flow, state).await
            },
            error_policy,
            state,
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "Flow reconcile not done");
            }
        })
        .await;
}

/// What the reconciler shares.
pub struct State {
    ctx: Arc<Context>,
    runs: Store<FlowRun>,
    profiles: Store<ConnectorProfile>,
    flows: Store<Flow>,
    /// The status this process last wrote on each Flow (by uid). The
    /// controller is the only writer of a Flow's status, so this is never
    /// older than the cached Flow's, which lags behind the writes: a
    /// reconcile woken by a run's event before the Flow's own update
    /// arrived would otherwise see the scheduled time as still due (a
    /// second create, answered "already exists") and write the same
    /// status again.
    written: Mutex<HashMap<String, FlowStatus>>,
}

impl State {
    /// `flow` with the status this process last wrote on it, if any.
    fn latest(&self, flow: Arc<Flow>) -> Arc<Flow> {
        let written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        match flow.uid().and_then(|uid| written.get(&uid)) {
            Some(status) if flow.status.as_ref() != Some(status) => {
                let mut latest = (*flow).clone();
                latest.status = Some(status.clone());
                Arc::new(latest)
            }
            _ => flow,
        }
    }

    /// Remembers the status written on `flow` (`None`: unknown after a
    /// failed write). Forgets deleted Flows once they are half the entries.
    fn wrote(&self, flow: &Flow, status: Option<FlowStatus>) {
        let Some(uid) = flow.uid() else {
            return;
        };
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        match status {
            Some(status) => {
                written.insert(uid, status);
            }
            None => {
                written.remove(&uid);
            }
        }
        let live = self.flows.state();
        if written.len() > 2 * live.len() + 16 {
            let live: HashSet<String> = live.iter().filter_map(|f| f.uid()).collect();
            written.retain(|uid, _| live.contains(uid));
        }
    }
}

/// A Flow spec reduced to what the Flow reconciler reads of a pinned run
/// (its sync mode): the cached runs stay small.
fn light_spec(spec: &crate::api::v1alpha1::flow::FlowSpec) -> crate::api::v1alpha1::flow::FlowSpec {
    let mut light = spec.clone();
    light.tasks.clear();
    light.run_template = None;
    light
}

fn error_policy(flow: Arc<Flow>, error: &Error, state: Arc<State>) -> Action {
    super::retry_after_error(CONTROLLER, &*flow, error, &state.ctx)
}

/// A reason the Flow cannot run, with the field and what would be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// `Ready`/`Stalled` reason.
    pub reason: &'static str,
    /// What is wrong, naming the field.
    pub message: String,
}

/// Validates a Flow against the profiles of its namespace; returns the
/// schedule plan of a scheduled Flow.
pub fn validate(
    flow: &Flow,
    profiles: &BTreeMap<String, Arc<ConnectorProfile>>,
) -> std::result::Result<Option<Timetable>, Invalid> {
    for (field, name, connector) in profile_references(&flow.spec) {
        let Some(profile) = profiles.get(&name) else {
            return Err(Invalid {
                reason: PROFILE_NOT_FOUND,
                message: format!(
                    "{field}: ConnectorProfile {name:?} does not exist in namespace {:?}; create it there (references never cross namespaces) or name an existing one",
                    flow.namespace().unwrap_or_default()
                ),
            });
        };
        let configured = profile_connector(profile);
        if configured != connector {
            return Err(Invalid {
                reason: PROFILE_MISMATCH,
                message: format!(
                    "{field}: ConnectorProfile {name:?} configures {configured}, but this block needs a {connector} profile"
                ),
            });
        }
    }
    if flow.spec.trigger.kind != TriggerType::Schedule {
        return Ok(None);
    }
    let Some(schedule) = &flow.spec.trigger.schedule else {
        return Err(Invalid {
            reason: INVALID_SCHEDULE,
            message: "spec.trigger.schedule: trigger type Schedule needs a schedule".to_owned(),
        });
    };
    let created = created(flow);
    Timetable::parse(schedule, created)
        .map(Some)
        .map_err(|invalid| Invalid {
            reason: INVALID_SCHEDULE,
            message: invalid.to_string(),
        })
}

fn created(flow: &Flow) -> DateTime<Utc> {
    flow.meta()
        .creation_timestamp
        .as_ref()
        .map(to_chrono)
        .unwrap_or_else(Utc::now)
}

/// Whether a run is over for the Flow: succeeded or cancelled, or failed
/// with its Job over (the FlowRun reconciler then marks it finished).
pub fn is_finished(run: &FlowRun) -> bool {
    let Some(status) = &run.status else {
        return false;
    };
    matches!(
        status.phase,
        Some(RunPhase::Succeeded | RunPhase::Cancelled)
    ) || status.settled()
}

/// Whether the FlowRun reconciler is done with a run (metrics and Event
/// recorded, Job outcome mirrored): only then may history collect it.
fn is_settled(run: &FlowRun) -> bool {
    run.status.as_ref().is_some_and(FlowRunStatus::settled)
}

fn phase(run: &FlowRun) -> Option<RunPhase> {
    run.status.as_ref().and_then(|s| s.phase)
}

/// When a run finished (completion time, else its last status), for
/// ordering.
fn finished_at(run: &FlowRun) -> Option<DateTime<Utc>> {
    let status = run.status.as_ref()?;
    status
        .completion_time
        .as_ref()
        .or(status.start_time.as_ref())
        .map(to_chrono)
        .or_else(|| run.meta().creation_timestamp.as_ref().map(to_chrono))
}

fn started_at(run: &FlowRun) -> Option<DateTime<Utc>> {
    run.meta().creation_timestamp.as_ref().map(to_chrono)
}

/// A run as the Flow reports it. A run without a phase yet is `Pending`,
/// the phase the FlowRun reconciler gives it when it pins the Flow: that
/// write leaves the Flow's status as it was.
fn summary(run: &FlowRun) -> RunSummary {
    let status = run.status.clone().unwrap_or_default();
    RunSummary {
        name: run.name_any(),
        phase: status.phase.or(Some(RunPhase::Pending)),
        start_time: status
            .start_time
            .or_else(|| run.meta().creation_timestamp.clone()),
        completion_time: status.completion_time,
        records_read: status.progress.records_read,
        records_written: status.progress.records_written,
    }
}

/// Whether a run moves the watermark when it succeeds: it read the Flow's
/// own window (no window or full-refresh override).
fn moves_watermark(run: &FlowRun) -> bool {
    run.spec
        .overrides
        .as_ref()
        .is_none_or(|o| o.window.is_none() && !o.full_refresh)
}

/// The runs of `flow`: those whose `flowRef` names it, except runs owned by
/// another (deleted and recreated) Flow of the same name.
pub fn runs_of(flow: &Flow, runs: &[Arc<FlowRun>]) -> Vec<Arc<FlowRun>> {
    let uid = flow.uid().unwrap_or_default();
    let (namespace, name) = (flow.namespace(), flow.name_any());
    runs.iter()
        .filter(|run| run.namespace() == namespace && run.spec.flow_ref.name == name)
        .filter(|run| {
            run.owner_references()
                .iter()
                .filter(|o| o.kind == "Flow")
                .all(|o| o.uid == uid)
        })
        .cloned()
        .collect()
}

/// What a reconcile decides, without I/O.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The new status.
    pub status: FlowStatus,
    /// The scheduled time to start a run for.
    pub start: Option<DateTime<Utc>>,
    /// Runs to cancel before starting (`Replace`).
    pub cancel: Vec<String>,
    /// A scheduled time missed (past its starting deadline).
    pub missed: Option<DateTime<Utc>>,
    /// Scheduled times skipped before `start` or `missed`.
    pub skipped: u32,
    /// A due run held back by `Forbid` while these runs go on.
    pub held_back_by: Vec<String>,
    /// Finished runs past the history limits.
    pub delete: Vec<String>,
    /// Whether the Flow became deactivated (`true`) or was reactivated
    /// (`false`) by this decision.
    pub deactivation_changed: Option<bool>,
    /// Whether the Flow became invalid by this decision.
    pub became_invalid: bool,
    /// When to look again.
    pub requeue: Option<Duration>,
}

/// Sets the runs the status lists from `runs`: the active ones, oldest
/// first, and the latest started.
fn record_runs(status: &mut FlowStatus, runs: &[Arc<FlowRun>]) {
    let mut active: Vec<&Arc<FlowRun>> = runs.iter().filter(|r| !is_finished(r)).collect();
    active.sort_by_key(|r| (started_at(r), r.name_any()));
    status.active_runs = active.iter().map(|r| r.name_any()).collect();
    let latest_started = runs.iter().max_by_key(|r| (started_at(r), r.name_any()));
    if let Some(run) = latest_started {
        status.last_run = Some(summary(run));
    }
}

/// The scheduled FlowRun's name for a scheduled time: the Flow's name and
/// the minutes since the epoch, as CronJobs name their Jobs, so that the
/// same scheduled time always gives the same name.
pub fn scheduled_run_name(flow: &str, scheduled: DateTime<Utc>) -> String {
    let minutes = scheduled.timestamp().div_euclid(60);
    let suffix = format!("-{minutes}");
    let keep = 253 - suffix.len();
    let prefix: String = flow.chars().take(keep).collect();
    format!("{}{suffix}", prefix.trim_end_matches(['-', '.']))
}

/// Decides the status and actions of a Flow at `now`, from its runs and
/// the validation result: the runs (`record_run_history`), the history
/// to collect (`collectable_runs`), then the conditions in their order —
/// validity (`record_validity`), suspension, deactivation
/// (`record_deactivation`) — and the schedule (`schedule`), each a pure
/// function.
pub fn derive(
    flow: &Flow,
    runs: &[Arc<FlowRun>],
    validated: &std::result::Result<Option<Timetable>, Invalid>,
    now: DateTime<Utc>,
) -> Decision {
    let generation = flow.meta().generation;
    let previous = flow.status.clone().unwrap_or_default();
    let mut status = FlowStatus {
        observed_generation: generation,
        ..previous.clone()
    };
    let finished = finished_newest_first(runs);
    let streak = record_run_history(&mut status, flow, &previous, runs, &finished);
    let delete = collectable_runs(flow, &finished);

    let mut conditions = Conditions {
        list: previous.conditions.clone(),
        generation,
        now: to_time(now),
    };
    let (plan, became_invalid) = record_validity(&mut conditions, validated);
    record_suspension(&mut conditions, flow);
    let (deactivated, deactivation_changed) =
        record_deactivation(&mut conditions, flow, &streak, generation);
    let scheduling = schedule(
        flow,
        plan,
        deactivated,
        &previous,
        &mut status,
        &mut conditions,
        now,
    );
    status.conditions = conditions.list;
    Decision {
        status,
        start: scheduling.start,
        cancel: scheduling.cancel,
        missed: scheduling.missed,
        skipped: scheduling.skipped,
        held_back_by: scheduling.held_back_by,
        delete,
        deactivation_changed,
        became_invalid,
        requeue: scheduling.requeue,
    }
}

/// The conditions a decision builds, observed at `now` for `generation`.
struct Conditions {
    list: Vec<Condition>,
    generation: Option<i64>,
    now: Time,
}

impl Conditions {
    /// Sets the condition of `type_` (its transition time kept while its
    /// status does not change).
    fn set(&mut self, type_: &str, value: &str, reason: &str, message: &str) {
        let condition =
            super::conditions::at(type_, value, reason, message, self.generation, &self.now);
        self.list = set_condition(&self.list, condition);
    }

    /// Removes the condition of `type_`.
    fn remove(&mut self, type_: &str) {
        self.list = remove_condition(&self.list, type_);
    }

    /// Whether the condition of `type_` is `True`.
    fn is_true(&self, type_: &str) -> bool {
        find_condition(&self.list, type_).is_some_and(|c| c.status == condition_status::TRUE)
    }
}

/// The finished runs, newest first.
fn finished_newest_first(runs: &[Arc<FlowRun>]) -> Vec<&Arc<FlowRun>> {
    let mut finished: Vec<&Arc<FlowRun>> = runs.iter().filter(|r| is_finished(r)).collect();
    finished.sort_by_key(|r| std::cmp::Reverse((finished_at(r), r.name_any())));
    finished
}

/// Records on `status` what the runs say: the active and latest runs, the
/// latest successful one, the failures in a row since it, and the
/// watermark. Returns that failure streak, newest first.
fn record_run_history<'a>(
    status: &mut FlowStatus,
    flow: &Flow,
    previous: &FlowStatus,
    runs: &[Arc<FlowRun>],
    finished: &[&'a Arc<FlowRun>],
) -> Vec<&'a Arc<FlowRun>> {
    record_runs(status, runs);
    if let Some(run) = finished
        .iter()
        .find(|r| phase(r) == Some(RunPhase::Succeeded))
    {
        status.last_successful_run = Some(summary(run));
    }
    // Failures in a row since the last success; cancelled runs are neither.
    let streak: Vec<&Arc<FlowRun>> = finished
        .iter()
        .take_while(|r| phase(r) != Some(RunPhase::Succeeded))
        .filter(|r| phase(r) == Some(RunPhase::Failed))
        .copied()
        .collect();
    status.consecutive_failures = i32::try_from(streak.len()).unwrap_or(i32::MAX);
    if let Some(incremental) = advanced_watermark(flow, previous, finished) {
        status.incremental = Some(incremental);
    }
    streak
}

/// The incremental state when the watermark moves: to that of the latest
/// successful run that read the Flow's own window, and never backwards.
fn advanced_watermark(
    flow: &Flow,
    previous: &FlowStatus,
    finished: &[&Arc<FlowRun>],
) -> Option<IncrementalState> {
    if flow.spec.sync.mode != ReadMode::Incremental {
        return None;
    }
    let (run, watermark) = finished
        .iter()
        .filter(|r| phase(r) == Some(RunPhase::Succeeded) && moves_watermark(r))
        .find_map(|r| {
            let watermark = r.status.as_ref()?.watermark.clone()?;
            Some((r.name_any(), watermark))
        })?;
    let current = previous
        .incremental
        .as_ref()
        .and_then(|i| i.watermark.clone());
    current
        .as_ref()
        .is_none_or(|c| c.0 < watermark.0)
        .then(|| IncrementalState {
            cursor_field: flow.spec.sync.cursor_field.as_ref().map(|f| f.to_string()),
            watermark: Some(watermark),
            run: Some(run),
        })
}

/// History: the finished runs past the limits, newest of each outcome
/// kept. Failed runs counting towards deactivation are kept until it could
/// be decided; a run is collected once the FlowRun reconciler is done with
/// it.
fn collectable_runs(flow: &Flow, finished: &[&Arc<FlowRun>]) -> Vec<String> {
    let history = &flow.spec.history;
    let keep_failed = usize::try_from(history.failed_runs).unwrap_or(0).max(
        flow.spec
            .trigger
            .schedule
            .as_ref()
            .and_then(|s| s.deactivate_after_failures)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
    );
    let keep_succeeded = usize::try_from(history.successful_runs).unwrap_or(0);
    let (succeeded, failed): (Vec<&Arc<FlowRun>>, Vec<&Arc<FlowRun>>) = finished
        .iter()
        .copied()
        .partition(|r| phase(r) == Some(RunPhase::Succeeded));
    let past = |runs: Vec<&Arc<FlowRun>>, keep: usize| {
        runs.into_iter()
            .skip(keep)
            .filter(|r| is_settled(r))
            .map(|r| r.name_any())
            .collect::<Vec<_>>()
    };
    let mut delete = past(succeeded, keep_succeeded);
    delete.extend(past(failed, keep_failed));
    delete
}

/// Validity: `Ready`, and `Stalled` while invalid. Returns the schedule
/// plan of a valid scheduled Flow, and whether the Flow became invalid.
fn record_validity<'a>(
    conditions: &mut Conditions,
    validated: &'a std::result::Result<Option<Timetable>, Invalid>,
) -> (Option<&'a Timetable>, bool) {
    let was_invalid = conditions.is_true(condition_type::STALLED);
    match validated {
        Ok(plan) => {
            conditions.set(
                condition_type::READY,
                condition_status::TRUE,
                VALID,
                "the Flow's profiles exist and match its connectors",
            );
            conditions.remove(condition_type::STALLED);
            (plan.as_ref(), false)
        }
        Err(invalid) => {
            conditions.set(
                condition_type::READY,
                condition_status::FALSE,
                invalid.reason,
                &invalid.message,
            );
            conditions.set(
                condition_type::STALLED,
                condition_status::TRUE,
                invalid.reason,
                &invalid.message,
            );
            (None, !was_invalid)
        }
    }
}

/// `Suspended`: whether new runs may start.
fn record_suspension(conditions: &mut Conditions, flow: &Flow) {
    if flow.spec.suspend {
        conditions.set(
            condition_type::SUSPENDED,
            condition_status::TRUE,
            SUSPENDED,
            "spec.suspend is true: no new run starts until it is false",
        );
    } else {
        conditions.set(
            condition_type::SUSPENDED,
            condition_status::FALSE,
            ACTIVE,
            "new runs may start",
        );
    }
}

/// Deactivation: failed runs of the current generation in a row, against
/// `deactivateAfterFailures` of a scheduled Flow. Returns whether the Flow
/// is deactivated, and whether that changed (`Some(true)` deactivated,
/// `Some(false)` reactivated).
fn record_deactivation(
    conditions: &mut Conditions,
    flow: &Flow,
    streak: &[&Arc<FlowRun>],
    generation: Option<i64>,
) -> (bool, Option<bool>) {
    let limit = flow
        .spec
        .trigger
        .schedule
        .as_ref()
        .and_then(|s| s.deactivate_after_failures);
    let was_deactivated = conditions.is_true(condition_type::DEACTIVATED);
    let deactivated = match limit {
        Some(limit) if flow.spec.trigger.kind == TriggerType::Schedule => {
            let current: Vec<_> = streak
                .iter()
                .filter(|r| {
                    r.status
                        .as_ref()
                        .and_then(|s| s.flow.as_ref())
                        .is_none_or(|pinned| Some(pinned.generation) == generation)
                })
                .collect();
            let count = i32::try_from(current.len()).unwrap_or(i32::MAX);
            if count >= limit {
                let names: Vec<_> = current.iter().take(3).map(|r| r.name_any()).collect();
                conditions.set(
                    condition_type::DEACTIVATED,
                    condition_status::TRUE,
                    TOO_MANY_FAILURES,
                    &format!(
                        "{count} runs failed in a row (latest: {}), reaching deactivateAfterFailures {limit}: no scheduled run starts until the spec changes",
                        names.join(", ")
                    ),
                );
                true
            } else {
                if was_deactivated {
                    conditions.set(
                        condition_type::DEACTIVATED,
                        condition_status::FALSE,
                        REACTIVATED,
                        "the spec changed: scheduled runs start again",
                    );
                } else if find_condition(&conditions.list, condition_type::DEACTIVATED).is_none() {
                    conditions.set(
                        condition_type::DEACTIVATED,
                        condition_status::FALSE,
                        ACTIVE,
                        &format!("{count} of {limit} failed runs in a row allowed"),
                    );
                }
                false
            }
        }
        _ => {
            conditions.remove(condition_type::DEACTIVATED);
            false
        }
    };
    let changed =
        (deactivated != was_deactivated && (deactivated || limit.is_some())).then_some(deactivated);
    (deactivated, changed)
}

/// What the schedule calls for.
#[derive(Debug, Default)]
struct Scheduling {
    start: Option<DateTime<Utc>>,
    cancel: Vec<String>,
    missed: Option<DateTime<Utc>>,
    skipped: u32,
    held_back_by: Vec<String>,
    requeue: Option<Duration>,
}

/// Scheduling: the next and last scheduled times and `Scheduled`, and the
/// run due now, if any, under the concurrency policy.
fn schedule(
    flow: &Flow,
    plan: Option<&Timetable>,
    deactivated: bool,
    previous: &FlowStatus,
    status: &mut FlowStatus,
    conditions: &mut Conditions,
    now: DateTime<Utc>,
) -> Scheduling {
    let plan = match (flow.spec.trigger.kind, plan) {
        (TriggerType::Schedule, Some(plan)) => plan,
        (TriggerType::Schedule, None) => {
            status.next_schedule_time = None;
            conditions.set(
                condition_type::SCHEDULED,
                condition_status::FALSE,
                INVALID_SCHEDULE,
                "the Flow is not valid (see Ready): nothing is scheduled",
            );
            return Scheduling::default();
        }
        (TriggerType::OnDemand, _) => {
            status.next_schedule_time = None;
            conditions.remove(condition_type::SCHEDULED);
            return Scheduling::default();
        }
    };
    let last = previous.last_schedule_time.as_ref().map(to_chrono);
    let due: Due = plan.due(last, created(flow), now);
    let blocked = if flow.spec.suspend {
        Some((SUSPENDED, "spec.suspend is true"))
    } else if deactivated {
        Some((
            TOO_MANY_FAILURES,
            "the Flow is deactivated after failed runs; change its spec to reactivate it",
        ))
    } else {
        None
    };
    if let Some((reason, message)) = blocked {
        status.next_schedule_time = None;
        conditions.set(
            condition_type::SCHEDULED,
            condition_status::FALSE,
            reason,
            message,
        );
        return Scheduling::default();
    }
    let mut scheduling = Scheduling::default();
    status.next_schedule_time = due.next_start.map(to_time);
    if let Some(time) = due.run {
        let policy = flow
            .spec
            .trigger
            .schedule
            .as_ref()
            .map(|s| s.concurrency_policy)
            .unwrap_or_default();
        let own = scheduled_run_name(&flow.name_any(), time);
        let others: Vec<String> = status
            .active_runs
            .iter()
            .filter(|name| **name != own)
            .cloned()
            .collect();
        match policy {
            ConcurrencyPolicy::Forbid if !others.is_empty() => scheduling.held_back_by = others,
            ConcurrencyPolicy::Replace => {
                scheduling.cancel = others;
                scheduling.start = Some(time);
            }
            _ => scheduling.start = Some(time),
        }
        if scheduling.start.is_some() {
            status.last_schedule_time = Some(to_time(time));
        }
        scheduling.skipped = due.skipped;
    }
    if let Some(time) = due.missed {
        scheduling.missed = Some(time);
        scheduling.skipped = due.skipped;
        status.last_schedule_time = Some(to_time(time));
    }
    let (value, reason, message) = match &status.next_schedule_time {
        Some(next) => (
            condition_status::TRUE,
            SCHEDULED,
            format!("the next run starts at {}", next.0),
        ),
        None => (
            condition_status::FALSE,
            SCHEDULE_ENDED,
            "no scheduled time is left before spec.trigger.schedule.endTime".to_owned(),
        ),
    };
    conditions.set(condition_type::SCHEDULED, value, reason, &message);
    scheduling.requeue = Some(match (scheduling.held_back_by.is_empty(), due.next_start) {
        // Held back: the running run's end triggers a reconcile; the
        // deadline is checked again soon.
        (false, _) => Duration::from_secs(30),
        (true, Some(next)) => (next - now).to_std().unwrap_or_default().min(MAX_REQUEUE),
        (true, None) => MAX_REQUEUE,
    });
    scheduling
}

/// Reconciles one Flow.
pub async fn reconcile(flow: Arc<Flow>, state: Arc<State>) -> Result<Action> {
    let ctx = &state.ctx;
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    if flow.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = flow.namespace().unwrap_or_default();
    let name = flow.name_any();

    // dereference
    let flow = state.latest(flow);
    let runs = runs_of(&flow, &state.runs.state());
    let profiles: BTreeMap<String, Arc<ConnectorProfile>> = state
        .profiles
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()))
        .map(|p| (p.name_any(), p))
        .collect();

    // validate, build
    let validated = validate(&flow, &profiles);
    let now = Utc::now();
    let mut decision = derive(&flow, &runs, &validated, now);
    tracing::debug!(
        flow = %name,
        namespace = %namespace,
        runs = runs.len(),
        start = ?decision.start,
        missed = ?decision.missed,
        held_back_by = ?decision.held_back_by,
        delete = ?decision.delete,
        next = ?decision.status.next_schedule_time,
        "Flow reconciled"
    );

    // apply
    announce(ctx, &flow, &validated, &decision).await;
    let runs_api: Api<FlowRun> = Api::namespaced(ctx.client.clone(), &namespace);
    let replacement = decision.start.map(|time| scheduled_run_name(&name, time));
    for run in &decision.cancel {
        cancel_replaced(
            ctx,
            &flow,
            &runs_api,
            run,
            replacement.as_deref().unwrap_or_default(),
        )
        .await?;
    }
    if let Some(time) = decision.start {
        start_scheduled_run(ctx, &flow, &runs_api, &runs, time, &mut decision).await?;
    }
    if let Some(time) = decision.missed {
        ctx.event(
            &*flow,
            EventType::Warning,
            MISSED_SCHEDULE,
            "Schedule",
            format!(
                "the run for the scheduled time {} did not start within startingDeadlineSeconds of its start and is skipped",
                to_time(time).0
            ),
        )
        .await;
    }
    if !decision.held_back_by.is_empty()
        && flow
            .status
            .as_ref()
            .and_then(|s| s.last_schedule_time.clone())
            == decision.status.last_schedule_time
    {
        tracing::debug!(flow = %name, active = ?decision.held_back_by, "scheduled run held back by concurrencyPolicy Forbid");
    }
    for run in &decision.delete {
        delete_old_run(&runs_api, &namespace, run).await?;
    }

    // update status
    update_status(&state, &flow, &decision.status).await?;
    ctx.reset_backoff(&ObjectRef::from_obj(&*flow));
    Ok(match decision.requeue {
        Some(delay) => Action::requeue(delay.max(Duration::from_millis(100))),
        None => Action::await_change(),
    })
}

/// The Events of a decision's changes: the Flow became invalid, was
/// deactivated or reactivated.
async fn announce(
    ctx: &Context,
    flow: &Flow,
    validated: &std::result::Result<Option<Timetable>, Invalid>,
    decision: &Decision,
) {
    if let Err(invalid) = validated
        && decision.became_invalid
    {
        ctx.event(
            flow,
            EventType::Warning,
            invalid.reason,
            "Validate",
            invalid.message.clone(),
        )
        .await;
    }
    match decision.deactivation_changed {
        Some(true) => {
            let message = find_condition(&decision.status.conditions, condition_type::DEACTIVATED)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            ctx.event(
                flow,
                EventType::Warning,
                TOO_MANY_FAILURES,
                "Deactivate",
                message,
            )
            .await;
        }
        Some(false) => {
            ctx.event(
                flow,
                EventType::Normal,
                REACTIVATED,
                "Reactivate",
                "the spec changed: scheduled runs start again".to_owned(),
            )
            .await;
        }
        None => {}
    }
}

/// A merge patch of an object's metadata.
#[derive(Debug, Serialize)]
struct MetadataPatch {
    /// The members to merge.
    metadata: ObjectMeta,
}

/// The annotation that cancels a run replaced by `replacement`
/// ([`super::REPLACED_BY_ANNOTATION`]): metadata, so that the controller
/// never writes a spec.
fn replaced_by(replacement: &str) -> MetadataPatch {
    MetadataPatch {
        metadata: ObjectMeta {
            annotations: Some(BTreeMap::from([(
                super::REPLACED_BY_ANNOTATION.to_owned(),
                replacement.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
    }
}

/// Cancels `run`, replaced by `replacement` (`concurrencyPolicy:
/// Replace`); a run already gone is not an error.
async fn cancel_replaced(
    ctx: &Context,
    flow: &Flow,
    runs_api: &Api<FlowRun>,
    run: &str,
    replacement: &str,
) -> Result<()> {
    let what = || {
        format!(
            "cancelling FlowRun {}/{run}",
            flow.namespace().unwrap_or_default()
        )
    };
    let patch = wire(&replaced_by(replacement)).map_err(|e| Error::apply(what())(e))?;
    match runs_api.patch(run, &manager(), &Patch::Merge(&patch)).await {
        Ok(_) => {
            ctx.event(
                flow,
                EventType::Normal,
                RUN_REPLACED,
                "Cancel",
                format!(
                    "run {run} cancelled: a scheduled run is due and concurrencyPolicy is Replace"
                ),
            )
            .await;
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::apply(what())(e)),
    }
}

/// Creates the run of the scheduled `time`; one created before (by this
/// controller before a restart, or a reconcile on a stale cache) is the
/// same run, not a second one.
async fn start_scheduled_run(
    ctx: &Context,
    flow: &Flow,
    runs_api: &Api<FlowRun>,
    runs: &[Arc<FlowRun>],
    time: DateTime<Utc>,
    decision: &mut Decision,
) -> Result<()> {
    let run_name = scheduled_run_name(&flow.name_any(), time);
    let run = scheduled_run(flow, &run_name, time);
    match runs_api.create(&PostParams::default(), &run).await {
        Ok(created) => {
            // The status lists the new run now, as the reconcile its
            // arrival in the cache wakes will: that one writes nothing.
            let mut runs = runs.to_vec();
            runs.push(Arc::new(created));
            record_runs(&mut decision.status, &runs);
            let skipped = if decision.skipped > 0 {
                format!(
                    "; {} earlier scheduled time(s) were missed and are not run (at most one run catches up)",
                    decision.skipped
                )
            } else {
                String::new()
            };
            ctx.event(
                flow,
                EventType::Normal,
                SCHEDULED,
                "Schedule",
                format!(
                    "started run {run_name} for the scheduled time {}{skipped}",
                    to_time(time).0
                ),
            )
            .await;
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(Error::apply(format!(
            "creating FlowRun {}/{run_name}",
            flow.namespace().unwrap_or_default()
        ))(e)),
    }
}

/// Deletes a run past the history limits (its Job goes with it); a run
/// already gone is not an error.
async fn delete_old_run(runs_api: &Api<FlowRun>, namespace: &str, run: &str) -> Result<()> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match runs_api.delete(run, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::apply(format!(
            "deleting old FlowRun {namespace}/{run}"
        ))(e)),
    }
}

/// Writes the Flow's status when it changed ([`status_patch`]), and
/// remembers what was written.
async fn update_status(state: &State, flow: &Flow, new: &FlowStatus) -> Result<()> {
    let previous = flow.status.clone().unwrap_or_default();
    if same_status(&previous, new) {
        return Ok(());
    }
    let namespace = flow.namespace().unwrap_or_default();
    let api: Api<Flow> = Api::namespaced(state.ctx.client.clone(), &namespace);
    let writer = StatusWriter::new(api, flow, manager());
    match writer.write(&status_patch(&previous, new)).await {
        Ok(patched) => {
            state.wrote(flow, patched.status);
            Ok(())
        }
        Err(error) => {
            state.wrote(flow, None);
            Err(error)
        }
    }
}

/// A JSON merge patch from `previous` to `new`: `new` with an explicit
/// `null` for every member `previous` has and `new` leaves out (a merge
/// patch keeps members it does not name, so an emptied list or a cleared
/// time would otherwise stay).
fn status_patch(previous: &FlowStatus, new: &FlowStatus) -> serde_json::Value {
    fn nulls(old: &serde_json::Value, new: &mut serde_json::Value) {
        if let (Some(old), Some(new)) = (old.as_object(), new.as_object_mut()) {
            for (key, value) in old {
                match new.get_mut(key) {
                    Some(member) => nulls(value, member),
                    None => {
                        new.insert(key.clone(), serde_json::Value::Null);
                    }
                }
            }
        }
    }
    let old = serde_json::to_value(previous).unwrap_or_default();
    let mut patch = serde_json::to_value(new).unwrap_or_default();
    nulls(&old, &mut patch);
    patch
}

fn manager() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// Statuses equal but for condition transition times the merge would keep.
fn same_status(a: &FlowStatus, b: &FlowStatus) -> bool {
    let strip = |s: &FlowStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(a) == strip(b)
}

/// The FlowRun of a scheduled time, owned by its Flow.
pub fn scheduled_run(flow: &Flow, name: &str, scheduled: DateTime<Utc>) -> FlowRun {
    let owner = controller_ref_to(flow);
    let labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
        (
            FLOW_LABEL.to_owned(),
            super::job::label_value(&flow.name_any()),
        ),
    ]);
    FlowRun {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: flow.namespace(),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: FlowRunSpec {
            flow_ref: crate::api::v1alpha1::common::LocalObjectReference {
                name: flow.name_any(),
            },
            cancel: false,
            overrides: None,
            scheduled_time: Some(to_time(scheduled)),
        },
        status: None,
    }
}

/// A condition of `status`, for tests and callers.
pub fn condition<'a>(status: &'a FlowStatus, type_: &str) -> Option<&'a Condition> {
    find_condition(&status.conditions, type_)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::v1alpha1::flow_run::FlowRunStatus;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn flow(extra: serde_json::Value) -> Flow {
        let mut spec = serde_json::json!({
            "source": {"connectorProfileRef": {"name": "files"}, "file": {"path": "in.csv", "format": "Csv"}},
            "destination": {"connectorProfileRef": {"name": "files"}, "file": {"path": "out", "format": "JsonLines"}},
        });
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let mut flow = Flow::new("orders", serde_json::from_value(spec).unwrap());
        flow.metadata.namespace = Some("team".into());
        flow.metadata.uid = Some("uid-1".into());
        flow.metadata.generation = Some(1);
        flow.metadata.creation_timestamp = Some(to_time(utc("2024-05-01T09:30:00Z")));
        flow
    }

    fn scheduled(expression: &str, extra: serde_json::Value) -> Flow {
        let mut schedule = serde_json::json!({"expression": expression});
        schedule
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        flow(serde_json::json!({"trigger": {"type": "Schedule", "schedule": schedule}}))
    }

    fn profiles(connector: serde_json::Value) -> BTreeMap<String, Arc<ConnectorProfile>> {
        let profile = ConnectorProfile::new("files", serde_json::from_value(connector).unwrap());
        BTreeMap::from([("files".to_owned(), Arc::new(profile))])
    }

    fn file_profiles() -> BTreeMap<String, Arc<ConnectorProfile>> {
        profiles(serde_json::json!({"file": {"root": "/data"}}))
    }

    fn run(name: &str, phase: Option<RunPhase>, created: &str, generation: i64) -> Arc<FlowRun> {
        let mut run = FlowRun::new(
            name,
            serde_json::from_value(serde_json::json!({"flowRef": {"name": "orders"}})).unwrap(),
        );
        run.metadata.namespace = Some("team".into());
        run.metadata.creation_timestamp = Some(to_time(utc(created)));
        let finished = matches!(
            phase,
            Some(RunPhase::Succeeded | RunPhase::Failed | RunPhase::Cancelled)
        );
        let pinned = serde_json::json!({"generation": generation, "uid": "uid-1", "spec": flow(serde_json::json!({})).spec});
        let mut status: FlowRunStatus =
            serde_json::from_value(serde_json::json!({"flow": pinned})).unwrap();
        status.phase = phase;
        if finished {
            status.completion_time = Some(to_time(utc(created) + chrono::TimeDelta::minutes(1)));
            status.conditions = vec![super::super::conditions::new(
                condition_type::RECONCILING,
                condition_status::FALSE,
                super::super::flow_run::FINISHED,
                "",
                Some(1),
            )];
        }
        run.status = Some(status);
        Arc::new(run)
    }

    fn decide(flow: &Flow, runs: &[Arc<FlowRun>], now: &str) -> Decision {
        let validated = validate(flow, &file_profiles());
        derive(flow, runs, &validated, utc(now))
    }

    #[test]
    fn a_scheduled_run_costs_the_flow_one_status_write_until_it_runs() {
        let mut f = scheduled("* * * * *", serde_json::json!({}));
        let now = "2024-05-01T10:00:00Z";
        let d = decide(&f, &[], now);
        let time = d.start.expect("a run is due");
        // The status written with the run's creation lists it already ...
        let mut created = scheduled_run(&f, &scheduled_run_name("orders", time), time);
        created.metadata.creation_timestamp = Some(to_time(utc(now)));
        let mut written = d.status.clone();
        record_runs(&mut written, &[Arc::new(created.clone())]);
        assert_eq!(written.active_runs, vec![created.name_any()]);
        assert_eq!(
            written.last_run.as_ref().and_then(|r| r.phase),
            Some(RunPhase::Pending)
        );
        f.status = Some(written.clone());
        // ... so the reconciles its arrival and its pinning wake write nothing.
        let seen = decide(&f, &[Arc::new(created.clone())], now);
        assert_eq!(seen.start, None);
        assert!(same_status(&written, &seen.status), "{seen:#?}");
        let mut pinned = created;
        pinned.status = run("x", Some(RunPhase::Pending), now, 1).status.clone();
        let after_pin = decide(&f, &[Arc::new(pinned.clone())], now);
        assert!(same_status(&written, &after_pin.status), "{after_pin:#?}");
        // Running is news.
        pinned.status.as_mut().unwrap().phase = Some(RunPhase::Running);
        let running = decide(&f, &[Arc::new(pinned)], now);
        assert!(!same_status(&written, &running.status));
    }

    #[test]
    fn a_missing_or_mismatched_profile_is_named() {
        let f = flow(serde_json::json!({}));
        let err = validate(&f, &BTreeMap::new()).unwrap_err();
        assert_eq!(err.reason, PROFILE_NOT_FOUND);
        assert!(
            err.message.starts_with("spec.source.connectorProfileRef"),
            "{}",
            err.message
        );
        assert!(err.message.contains("\"team\""));
        let err = validate(
            &f,
            &profiles(serde_json::json!({"s3": {"region": "eu-west-1"}})),
        )
        .unwrap_err();
        assert_eq!(err.reason, PROFILE_MISMATCH);
        assert!(err.message.contains("configures s3"), "{}", err.message);
        let d = derive(&f, &[], &Err(err), utc("2024-05-01T10:00:00Z"));
        let ready = condition(&d.status, "Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", PROFILE_MISMATCH)
        );
        assert_eq!(condition(&d.status, "Stalled").unwrap().status, "True");
        assert!(d.became_invalid);
        assert_eq!(d.start, None);
    }

    #[test]
    fn an_unknown_time_zone_is_refused_naming_the_field() {
        let f = scheduled(
            "0 0 * * *",
            serde_json::json!({"timeZone": "Europe/Atlantis"}),
        );
        let err = validate(&f, &file_profiles()).unwrap_err();
        assert_eq!(err.reason, INVALID_SCHEDULE);
        assert!(
            err.message.starts_with("spec.trigger.schedule.timeZone"),
            "{}",
            err.message
        );
        let d = derive(&f, &[], &Err(err), utc("2024-05-02T00:00:01Z"));
        assert_eq!(d.start, None, "an invalid Flow starts nothing");
        assert_eq!(condition(&d.status, "Scheduled").unwrap().status, "False");
    }

    #[test]
    fn a_due_time_starts_one_run_named_after_it() {
        let f = scheduled("0 * * * *", serde_json::json!({}));
        let d = decide(&f, &[], "2024-05-01T10:00:02Z");
        assert_eq!(d.start, Some(utc("2024-05-01T10:00:00Z")));
        assert_eq!(
            d.status.last_schedule_time,
            Some(to_time(utc("2024-05-01T10:00:00Z")))
        );
        assert_eq!(
            d.status.next_schedule_time,
            Some(to_time(utc("2024-05-01T11:00:00Z")))
        );
        assert_eq!(condition(&d.status, "Scheduled").unwrap().status, "True");
        assert_eq!(condition(&d.status, "Ready").unwrap().status, "True");
        assert_eq!(
            scheduled_run_name("orders", utc("2024-05-01T10:00:00Z")),
            "orders-28575960"
        );
        let r = scheduled_run(&f, "orders-28575960", utc("2024-05-01T10:00:00Z"));
        assert_eq!(r.owner_references()[0].uid, "uid-1");
        assert_eq!(r.owner_references()[0].controller, Some(true));
        // The requeue is at the next start.
        assert_eq!(d.requeue, Some(Duration::from_secs(3598)));
    }

    #[test]
    fn forbid_holds_back_and_replace_cancels() {
        let active = run(
            "orders-manual",
            Some(RunPhase::Running),
            "2024-05-01T09:59:00Z",
            1,
        );
        let f = scheduled("0 * * * *", serde_json::json!({}));
        let d = decide(&f, std::slice::from_ref(&active), "2024-05-01T10:00:02Z");
        assert_eq!(d.start, None);
        assert_eq!(d.held_back_by, ["orders-manual"]);
        assert_eq!(
            d.status.last_schedule_time, None,
            "tried again once the run ends"
        );
        let f = scheduled(
            "0 * * * *",
            serde_json::json!({"concurrencyPolicy": "Replace"}),
        );
        let d = decide(&f, std::slice::from_ref(&active), "2024-05-01T10:00:02Z");
        assert_eq!(d.start, Some(utc("2024-05-01T10:00:00Z")));
        assert_eq!(d.cancel, ["orders-manual"]);
        let f = scheduled(
            "0 * * * *",
            serde_json::json!({"concurrencyPolicy": "Allow"}),
        );
        let d = decide(&f, &[active], "2024-05-01T10:00:02Z");
        assert_eq!(d.start, Some(utc("2024-05-01T10:00:00Z")));
        assert!(d.cancel.is_empty());
    }

    #[test]
    fn suspended_flows_schedule_nothing() {
        let mut f = scheduled("0 * * * *", serde_json::json!({}));
        f.spec.suspend = true;
        let d = decide(&f, &[], "2024-05-01T10:00:02Z");
        assert_eq!(d.start, None);
        assert_eq!(d.status.next_schedule_time, None);
        assert_eq!(condition(&d.status, "Suspended").unwrap().status, "True");
        assert_eq!(condition(&d.status, "Scheduled").unwrap().reason, SUSPENDED);
    }

    #[test]
    fn failures_in_a_row_deactivate_until_the_spec_changes() {
        let f = scheduled(
            "0 * * * *",
            serde_json::json!({"deactivateAfterFailures": 2}),
        );
        let runs = [
            run("a", Some(RunPhase::Succeeded), "2024-05-01T07:00:00Z", 1),
            run("b", Some(RunPhase::Failed), "2024-05-01T08:00:00Z", 1),
            run("c", Some(RunPhase::Cancelled), "2024-05-01T08:30:00Z", 1),
            run("d", Some(RunPhase::Failed), "2024-05-01T09:00:00Z", 1),
        ];
        let mut f1 = f.clone();
        f1.status = Some(FlowStatus {
            last_schedule_time: Some(to_time(utc("2024-05-01T09:00:00Z"))),
            ..FlowStatus::default()
        });
        let d = decide(&f1, &runs, "2024-05-01T10:00:02Z");
        assert_eq!(d.status.consecutive_failures, 2);
        assert_eq!(condition(&d.status, "Deactivated").unwrap().status, "True");
        assert_eq!(d.deactivation_changed, Some(true));
        assert_eq!(d.start, None);
        assert_eq!(
            condition(&d.status, "Scheduled").unwrap().reason,
            TOO_MANY_FAILURES
        );
        // A spec change (generation 2) reactivates.
        let mut f2 = f1.clone();
        f2.metadata.generation = Some(2);
        f2.status = Some(d.status.clone());
        let d2 = decide(&f2, &runs, "2024-05-01T10:00:03Z");
        assert_eq!(
            condition(&d2.status, "Deactivated").unwrap().status,
            "False"
        );
        assert_eq!(
            condition(&d2.status, "Deactivated").unwrap().reason,
            REACTIVATED
        );
        assert_eq!(d2.deactivation_changed, Some(false));
        assert_eq!(d2.start, Some(utc("2024-05-01T10:00:00Z")));
        assert_eq!(
            d2.status.consecutive_failures, 2,
            "the count itself is of all runs"
        );
    }

    #[test]
    fn the_watermark_moves_only_forward_with_successful_runs() {
        let f =
            flow(serde_json::json!({"sync": {"mode": "Incremental", "cursorField": "updated_at"}}));
        let mut ok = (*run("ok", Some(RunPhase::Succeeded), "2024-05-01T08:00:00Z", 1)).clone();
        ok.status.as_mut().unwrap().watermark = Some(to_time(utc("2024-05-01T07:59:00Z")));
        let mut failed = (*run("bad", Some(RunPhase::Failed), "2024-05-01T09:00:00Z", 1)).clone();
        failed.status.as_mut().unwrap().watermark = Some(to_time(utc("2024-05-01T08:59:00Z")));
        let mut overridden = (*run(
            "window",
            Some(RunPhase::Succeeded),
            "2024-05-01T09:30:00Z",
            1,
        ))
        .clone();
        overridden.spec.overrides = Some(
            serde_json::from_value(serde_json::json!({"window": {"from": "2030-01-01T00:00:00Z"}}))
                .unwrap(),
        );
        overridden.status.as_mut().unwrap().watermark = Some(to_time(utc("2030-01-01T01:00:00Z")));
        let runs = [Arc::new(ok), Arc::new(failed), Arc::new(overridden)];
        let d = decide(&f, &runs, "2024-05-01T10:00:00Z");
        let inc = d.status.incremental.unwrap();
        assert_eq!(inc.watermark, Some(to_time(utc("2024-05-01T07:59:00Z"))));
        assert_eq!(inc.run.as_deref(), Some("ok"));
        assert_eq!(inc.cursor_field.as_deref(), Some("updated_at"));
        // Never backwards: a later status keeps a higher watermark.
        let mut f2 = f.clone();
        f2.status = Some(FlowStatus {
            incremental: Some(IncrementalState {
                watermark: Some(to_time(utc("2024-06-01T00:00:00Z"))),
                ..IncrementalState::default()
            }),
            ..FlowStatus::default()
        });
        let d = decide(&f2, &runs, "2024-05-01T10:00:00Z");
        assert_eq!(
            d.status.incremental.unwrap().watermark,
            Some(to_time(utc("2024-06-01T00:00:00Z")))
        );
    }

    #[test]
    fn the_status_patch_clears_what_is_gone() {
        let previous = FlowStatus {
            active_runs: vec!["a".into()],
            next_schedule_time: Some(to_time(utc("2024-05-01T10:00:00Z"))),
            incremental: Some(IncrementalState {
                run: Some("a".into()),
                ..IncrementalState::default()
            }),
            ..FlowStatus::default()
        };
        let new = FlowStatus {
            incremental: Some(IncrementalState::default()),
            ..FlowStatus::default()
        };
        let patch = status_patch(&previous, &new);
        assert_eq!(patch["activeRuns"], serde_json::Value::Null);
        assert!(patch.as_object().unwrap().contains_key("activeRuns"));
        assert!(patch.as_object().unwrap().contains_key("nextScheduleTime"));
        assert!(
            patch["incremental"]
                .as_object()
                .unwrap()
                .contains_key("run")
        );
    }

    #[test]
    fn old_runs_beyond_the_history_limits_are_deleted() {
        let f = flow(serde_json::json!({"history": {"successfulRuns": 1, "failedRuns": 1}}));
        let runs = [
            run("s1", Some(RunPhase::Succeeded), "2024-05-01T01:00:00Z", 1),
            run("s2", Some(RunPhase::Succeeded), "2024-05-01T02:00:00Z", 1),
            run("f1", Some(RunPhase::Failed), "2024-05-01T03:00:00Z", 1),
            run("c1", Some(RunPhase::Cancelled), "2024-05-01T04:00:00Z", 1),
            run("active", Some(RunPhase::Running), "2024-05-01T00:00:00Z", 1),
        ];
        let mut d = decide(&f, &runs, "2024-05-01T10:00:00Z");
        d.delete.sort();
        assert_eq!(d.delete, ["f1", "s1"]);
        assert_eq!(d.status.active_runs, ["active"]);
        assert_eq!(d.status.last_successful_run.unwrap().name, "s2");
        assert_eq!(d.status.last_run.unwrap().name, "c1");

        // A run the FlowRun reconciler has not settled yet (its metrics and
        // Event not recorded) is kept until it has.
        let mut unsettled = (*runs[0]).clone();
        unsettled.status.as_mut().unwrap().conditions.clear();
        let runs = [Arc::new(unsettled), runs[1].clone()];
        let d = decide(&f, &runs, "2024-05-01T10:00:00Z");
        assert!(d.delete.is_empty(), "{:?}", d.delete);
    }

    #[test]
    fn the_replacement_annotation_is_a_metadata_merge_patch() {
        assert_eq!(
            wire(&replaced_by("orders-28575960")).unwrap().to_string(),
            serde_json::json!({"metadata": {"annotations": {
                super::super::REPLACED_BY_ANNOTATION: "orders-28575960",
            }}})
            .to_string()
        );
    }
}
