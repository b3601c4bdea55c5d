//! `sluice controller`: the operator's runtime and its reconcilers.
//!
//! The runtime ([`run`]) serves `/metrics`, `/healthz` and `/readyz`, takes
//! the leader Lease when asked to, and runs the reconcilers of the three
//! kinds until SIGTERM: [`flow_run`] (a FlowRun → one Job), [`flow`]
//! (schedules, watermark, history) and [`profile`] (validation Jobs).
//!
//! Every reconciler goes through the same phases — dereference, validate,
//! build, apply, update status — and fails with one [`Error`] variant per
//! phase, whose fixed [`category`](Error::category) labels metrics and
//! names Events. An invalid spec is not an error: it is reported on the
//! object's conditions and the reconciler waits for a change. The
//! controller reads and writes Kubernetes objects only; it never reads a
//! Secret's values and never writes a spec.
//!
//! A reconciler reads what it needs into one value, decides from it with
//! a pure function (a [`flow_run::Step`], a [`flow::Decision`]) and then
//! makes the requests the decision names. What they share sits beside
//! them: [`cached_watch`] (how a kind is watched and cached),
//! [`status`] (the status writer and typed patches), [`children`] (owner
//! references, deleting a Job, listing pods) and [`conditions`].

pub mod access;
pub mod children;
pub mod conditions;
pub mod flow;
pub mod flow_run;
pub mod job;
pub mod metrics;
pub mod profile;
pub mod rbac;
pub mod schedule;
pub mod server;
pub mod status;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;

pub use metrics::Metrics;

/// The label every object the controller creates carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "sluice";
/// The label naming the Flow of a FlowRun's Job and pod (a label value: long
/// names are shortened with a hash, see [`job::label_value`]).
pub const FLOW_LABEL: &str = "sluice.dev/flow";
/// The label naming the FlowRun of a Job and its pod (shortened like
/// [`FLOW_LABEL`]).
pub const FLOW_RUN_LABEL: &str = "sluice.dev/flow-run";
/// The annotation holding the full FlowRun name on a run's Job and pod.
pub const FLOW_RUN_ANNOTATION: &str = "sluice.dev/flow-run";
/// Set by the Flow reconciler on a run that `concurrencyPolicy: Replace`
/// cancels, naming the run that replaces it: metadata, so that the
/// controller never writes a spec.
pub use crate::api::v1alpha1::REPLACED_BY_ANNOTATION;
/// The label naming the ConnectorProfile of a validation Job.
pub const PROFILE_LABEL: &str = "sluice.dev/connector-profile";
/// The label saying what a Job does: [`COMPONENT_RUNNER`] or
/// [`COMPONENT_VALIDATION`].
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// [`COMPONENT_LABEL`] of a FlowRun's Job.
pub const COMPONENT_RUNNER: &str = "runner";
/// [`COMPONENT_LABEL`] of a ConnectorProfile's validation Job.
pub const COMPONENT_VALIDATION: &str = "validation";
/// The field manager of every server-side apply and patch the controller makes.
pub const FIELD_MANAGER: &str = "sluice-controller";
/// The controller's name in Events (`reportingController`).
pub const REPORTING_CONTROLLER: &str = "sluice.dev/controller";
/// The Lease the controllers' leader holds.
pub const LEASE_NAME: &str = "sluice-controller";
/// The service account, Role and RoleBinding the controller creates in
/// each namespace where runs start.
pub const RUNNER_SERVICE_ACCOUNT: &str = "sluice-runner";
/// The environment variable holding the runner image.
pub const RUNNER_IMAGE_ENV: &str = "SLUICE_RUNNER_IMAGE";

/// Failures of a reconcile, one variant per phase. Invalid specs are not
/// errors (they become conditions); these are API failures, retried with
/// backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the object's references failed.
    #[error("dereference: {what}: {source}")]
    Dereference {
        /// What was being read.
        what: String,
        /// The client's error.
        source: kube::Error,
    },
    /// Validation could not be completed (not an invalid spec: those are
    /// reported on the object).
    #[error("validate: {0}")]
    Validate(String),
    /// A child object could not be built.
    #[error("build: {0}")]
    Build(String),
    /// Creating, patching or deleting a child object failed.
    #[error("apply: {what}: {source}")]
    Apply {
        /// What was being applied.
        what: String,
        /// The client's error.
        source: kube::Error,
    },
    /// Writing the object's status failed.
    #[error("update status: {what}: {source}")]
    UpdateStatus {
        /// Whose status.
        what: String,
        /// The client's error.
        source: kube::Error,
    },
    /// The runtime could not start (API server, Lease, listeners).
    #[error("start-up: {0}")]
    Startup(String),
}

impl Error {
    /// The fixed category of the error: a metric label and the Event reason.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Dereference { .. } => "DereferenceFailed",
            Self::Validate(_) => "ValidateFailed",
            Self::Build(_) => "BuildFailed",
            Self::Apply { .. } => "ApplyFailed",
            Self::UpdateStatus { .. } => "UpdateStatusFailed",
            Self::Startup(_) => "StartupFailed",
        }
    }

    /// An error of the dereference phase.
    pub fn dereference(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Dereference { what, source }
    }

    /// An error of the apply phase.
    pub fn apply(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::Apply { what, source }
    }

    /// An error of the update-status phase.
    pub fn update_status(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Self::UpdateStatus { what, source }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the reconcilers.
#[derive(Debug, Clone)]
pub struct Config {
    /// The image of run and validation Jobs (`sluice run`).
    pub runner_image: String,
    /// Watch only this namespace; all namespaces when unset.
    pub namespace: Option<String>,
    /// Mount only Secrets labelled `sluice.dev/allowed=true`
    /// ([`access`]); off only in single-tenant clusters.
    pub require_secret_opt_in: bool,
    /// Run as a Flow's `runTemplate.serviceAccountName` only when that
    /// account is labelled `sluice.dev/allowed=true` ([`access`]).
    pub require_service_account_opt_in: bool,
}

/// What every reconciler shares: the client, the Event recorder, the
/// metrics and the settings.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes Events (events.k8s.io/v1) as [`REPORTING_CONTROLLER`].
    pub recorder: Recorder,
    /// The controller's metrics.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: Config,
    /// `(namespace, service account)` pairs whose runner RBAC was applied
    /// by this process.
    rbac_applied: Mutex<HashSet<(String, String)>>,
    /// Consecutive failed reconciles per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context for the reconcilers.
    pub fn new(client: Client, config: Config, metrics: Arc<Metrics>) -> Self {
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            config,
            rbac_applied: Mutex::new(HashSet::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes an Event about `object` in the background, so that no
    /// reconcile waits for it. Events are best effort: a failure is logged,
    /// never returned.
    pub async fn event<K>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) where
        K: kube::Resource<DynamicType = ()>,
    {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(event_note(&note)),
            action: action.to_owned(),
            secondary: None,
        };
        let recorder = self.recorder.clone();
        let reference = object.object_ref(&());
        tokio::spawn(async move {
            if let Err(error) = recorder.publish(&event, &reference).await {
                tracing::warn!(%error, reason = %event.reason, "cannot publish an Event");
            }
        });
    }

    /// The delay before the next attempt after a failed reconcile of
    /// `object`: 1 s doubling up to 5 min.
    pub fn backoff<K: kube::Resource<DynamicType = ()>>(&self, object: &ObjectRef<K>) -> Duration {
        let key = object.to_string();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures.entry(key).or_insert(0);
        *count = count.saturating_add(1);
        backoff_delay(*count)
    }

    /// Forgets the failures of `object` after a successful reconcile.
    pub fn reset_backoff<K: kube::Resource<DynamicType = ()>>(&self, object: &ObjectRef<K>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&object.to_string());
    }
}

/// `note` cut on a character boundary to what the API server accepts in an
/// Event (a longer note makes it refuse the whole Event).
pub fn event_note(note: &str) -> String {
    crate::protocol::truncate(note, crate::protocol::MAX_EVENT_NOTE_BYTES)
}

/// 1 s after the first failure, doubling, at most 5 minutes.
pub fn backoff_delay(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(9);
    Duration::from_secs((1u64 << exponent).min(300))
}

/// How `sluice controller` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `/metrics` is served.
    pub metrics_addr: SocketAddr,
    /// Where `/healthz` and `/readyz` are served.
    pub health_addr: SocketAddr,
    /// Take the [`LEASE_NAME`] Lease before reconciling.
    pub leader_elect: bool,
    /// The Lease's namespace (`POD_NAMESPACE`).
    pub lease_namespace: String,
    /// This instance's identity in the Lease (`POD_NAME`).
    pub identity: String,
    /// Reconciler settings.
    pub config: Config,
}

/// A future that resolves once shutdown was asked for.
pub type Shutdown = watch::Receiver<bool>;

/// Waits until `shutdown` is set (or its sender is gone).
pub async fn shutdown_requested(mut shutdown: Shutdown) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn termination_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the controller until SIGTERM (or until leadership is lost, which is
/// an error: the pod restarts and campaigns again).
pub async fn run(client: Client, options: Options) -> Result<()> {
    let metrics = Arc::new(Metrics::new());
    let (shutdown_tx, shutdown) = watch::channel(false);
    let health = server::Health::default();
    let servers = server::serve(
        options.metrics_addr,
        options.health_addr,
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
    )
    .await?;
    tokio::spawn(async move {
        termination_signal().await;
        tracing::info!("shutdown requested");
        let _ = shutdown_tx.send(true);
    });

    // The API server must answer before the controller is ready.
    client
        .apiserver_version()
        .await
        .map_err(|e| Error::Startup(format!("cannot reach the API server: {e}")))?;
    health.set_ready(true);

    let ctx = Arc::new(Context::new(
        client.clone(),
        options.config.clone(),
        metrics.clone(),
    ));
    let result = if options.leader_elect {
        run_as_leader(client, &options, ctx, shutdown.clone()).await
    } else {
        metrics.leader.set(1);
        run_controllers(ctx, shutdown.clone()).await;
        Ok(())
    };
    health.set_ready(false);
    servers.abort();
    result
}

async fn run_as_leader(
    client: Client,
    options: &Options,
    ctx: Arc<Context>,
    shutdown: Shutdown,
) -> Result<()> {
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client, LEASE_NAME)
        .with_namespace(&options.lease_namespace)
        .with_identity(&options.identity)
        .with_field_manager(FIELD_MANAGER)
        .with_duration(15)
        .with_grace(5)
        .build()
        .await
        .map_err(|e| Error::Startup(format!("cannot set up the leader Lease: {e}")))?;
    let (mut leading, lease_task) = manager.watch().await;
    tracing::info!(lease = LEASE_NAME, namespace = %options.lease_namespace, identity = %options.identity, "waiting to become the leader");
    // Wait for leadership or shutdown.
    loop {
        if *leading.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = leading.changed() => {
                if changed.is_err() {
                    return Err(Error::Startup("the Lease manager stopped".to_owned()));
                }
            }
            () = shutdown_requested(shutdown.clone()) => {
                drop(leading);
                let _ = lease_task.await;
                return Ok(());
            }
        }
    }
    tracing::info!("became the leader");
    ctx.metrics.leader.set(1);
    // Run until shutdown or until leadership is lost.
    let (stop_tx, stop) = watch::channel(false);
    let controllers = tokio::spawn(run_controllers(ctx.clone(), stop));
    let lost = loop {
        tokio::select! {
            changed = leading.changed() => {
                if changed.is_err() || !*leading.borrow_and_update() {
                    break true;
                }
            }
            () = shutdown_requested(shutdown.clone()) => break false,
        }
    };
    let _ = stop_tx.send(true);
    let _ = controllers.await;
    ctx.metrics.leader.set(0);
    // Dropping the receiver stops the Lease task, which releases the Lease.
    drop(leading);
    match lease_task.await {
        Ok(Ok(manager)) => {
            if let Err(error) = manager.release().await {
                tracing::warn!(%error, "cannot release the Lease");
            }
        }
        Ok(Err(error)) => tracing::warn!(%error, "the Lease manager failed"),
        Err(error) => tracing::warn!(%error, "the Lease task failed"),
    }
    if lost {
        Err(Error::Startup(
            "lost the leader Lease; restarting to campaign again".to_owned(),
        ))
    } else {
        Ok(())
    }
}

/// The error policy of every reconciler: counts the error by category, logs
/// it and retries the object after its backoff.
pub fn retry_after_error<K>(
    controller: &'static str,
    object: &K,
    error: &Error,
    ctx: &Context,
) -> Action
where
    K: kube::Resource<DynamicType = ()>,
{
    ctx.metrics.reconcile_error(controller, error.category());
    let object = ObjectRef::from_obj(object);
    let delay = ctx.backoff(&object);
    tracing::warn!(
        controller,
        object = %object,
        category = error.category(),
        error = %error,
        retry_in_seconds = delay.as_secs(),
        "{} reconcile failed",
        K::kind(&())
    );
    Action::requeue(delay)
}

/// How long running reconciles may take to finish after shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs the reconcilers of the three kinds until `shutdown`.
pub async fn run_controllers(ctx: Arc<Context>, shutdown: Shutdown) {
    tracing::info!(namespace = ?ctx.config.namespace, "starting the controllers");
    let controllers = async {
        tokio::join!(
            flow_run::run(ctx.clone(), shutdown.clone()),
            flow::run(ctx.clone(), shutdown.clone()),
            profile::run(ctx.clone(), shutdown.clone()),
        )
    };
    // A kube-runtime controller asked to stop before its cache was first
    // filled waits for that cache forever (its watch has stopped): running
    // reconciles get a grace period, then the process stops anyway.
    let grace = async {
        shutdown_requested(shutdown.clone()).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        _ = controllers => tracing::info!("controllers stopped"),
        () = grace => tracing::warn!(
            grace = ?SHUTDOWN_GRACE,
            "a controller had not stopped within the grace period after shutdown; stopping anyway"
        ),
    }
}

/// An API for `K` in the watched namespace, or in all namespaces.
pub fn watched_api<K>(ctx: &Context) -> kube::Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match &ctx.config.namespace {
        Some(ns) => kube::Api::namespaced(ctx.client.clone(), ns),
        None => kube::Api::all(ctx.client.clone()),
    }
}

/// A watch of the `K`s of the watched namespace matching `config`,
/// reflected into a cache: the one way the reconcilers watch a kind. Each
/// object is stored without its managed fields (about half of it, never
/// read) and as `trim` leaves it. The store is the reconciler's cache;
/// the stream of events drives its controller or its triggers
/// (`applied_objects`, `touched_objects`), so cache and triggers share one
/// watch.
///
/// Reconcilers do not share watches with each other: kube-runtime's
/// shared reflectors (`reflect_shared`) pass on applied objects only, not
/// deletions, which wake the Flow reconciler (a deleted profile makes a
/// Flow invalid), and one slow subscriber holds back the others.
pub fn cached_watch<K>(
    ctx: &Context,
    config: watcher::Config,
    mut trim: impl FnMut(&mut K) + Send + 'static,
) -> (
    Store<K>,
    impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let events = watcher(watched_api::<K>(ctx), config)
        .default_backoff()
        .modify(move |object: &mut K| {
            object.managed_fields_mut().clear();
            trim(object);
        })
        .reflect(writer);
    (store, events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_notes_fit_what_the_api_server_accepts_and_cut_on_a_character() {
        // 3-byte characters: 1,024 is not a boundary after the ellipsis.
        let long = "é漢".repeat(400);
        let note = event_note(&long);
        assert!(note.len() <= 1024, "{}", note.len());
        assert!(note.ends_with('…'));
        assert!(long.starts_with(note.trim_end_matches('…')));
        assert_eq!(event_note("short"), "short");
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff_delay(1), Duration::from_secs(1));
        assert_eq!(backoff_delay(2), Duration::from_secs(2));
        assert_eq!(backoff_delay(5), Duration::from_secs(16));
        assert_eq!(backoff_delay(9), Duration::from_secs(256));
        assert_eq!(backoff_delay(10), Duration::from_secs(300));
        assert_eq!(backoff_delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn categories_are_fixed_per_phase() {
        assert_eq!(Error::Validate("x".into()).category(), "ValidateFailed");
        assert_eq!(Error::Build("y".into()).category(), "BuildFailed");
        assert_eq!(Error::Startup("z".into()).category(), "StartupFailed");
    }
}
