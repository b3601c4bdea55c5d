//! The ConnectorProfile reconciler: checks each profile with a short
//! validation Job in its namespace and reports the result on the profile's
//! `Ready` condition.
//!
//! The controller cannot read Secrets, so the check runs where a run would:
//! a Job whose pod is built like a run's ([`super::job::pod_template`]:
//! non-root, read-only root file system, every capability dropped, only the
//! profile's referenced Secret keys mounted) runs `sluice check` (see
//! [`crate::protocol::CheckResult`]) as the ServiceAccount `sluice-validation`, which may
//! only `get` ConnectorProfiles. The pod writes its result as one JSON line
//! to its termination message; the reconciler reads it from the finished
//! pod's `state.terminated.message`.
//!
//! Phases:
//!
//! 1. **dereference** — the profile's validation Jobs (by label, owned by
//!    the profile) and the pods of the current one.
//! 2. **validate** ([`next_check_in`], pure) — whether a check is due: the
//!    current generation has no result yet, or `spec.validationInterval`
//!    (1h by default) passed since the last check.
//! 3. **build** ([`build_validation_job`], pure) — the Job, named after the
//!    profile, its generation and the last check's time
//!    ([`validation_job_name`]), so a spec change starts a new check and a
//!    restarted controller finds the running one instead of starting
//!    another.
//! 4. **apply** — the validation identity in the namespace, then the Job,
//!    created if absent; Jobs of older generations or already recorded
//!    checks are deleted.
//! 5. **update status** ([`check_outcome`], [`result_condition`], pure) —
//!    `Ready=Unknown` (reason `Validating`) while the first check of a
//!    generation runs; then `Ready=True` (reason `Validated`) or
//!    `Ready=False` with the check's reason (`SecretNotFound`,
//!    `AuthenticationFailed`, `Unreachable`, `ReferenceNotFound`, ...), or
//!    the Job's when it ended without a result (`DeadlineExceeded`,
//!    `OutOfMemory`, `ImagePullFailed`, `Internal`); `observedGeneration`,
//!    `lastValidationTime`, the connector and the auth scheme. A periodic
//!    re-check keeps the previous result until its own lands, so `Ready`
//!    does not flap every interval. Events `Validated` and
//!    `ValidationFailed` mark changes of the result.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::access::{self, OptIn, refusal, secret_access};
use super::children::{controlled_by, controller_ref, delete_job, list_pods};
use super::conditions::{find_condition, set_condition};
use super::job::{PodSettings, SecretMounts, label_value, pod_template, secret_mounts};
use super::rbac::{self, VALIDATION_SERVICE_ACCOUNT};
use super::status::{StatusWriter, WriteOutcome, stale};
use super::{
    COMPONENT_LABEL, COMPONENT_VALIDATION, Context, Error, MANAGED_BY, MANAGED_BY_LABEL,
    PROFILE_LABEL, Result, Shutdown, shutdown_requested, watched_api,
};
use crate::api::v1alpha1::common::{Condition, Time, condition_status, condition_type, reason};
use crate::api::v1alpha1::connector_profile::{ConnectorKind, Credentials};
use crate::api::v1alpha1::flow::RunTemplate;
use crate::api::v1alpha1::flow_run::ErrorReason;
use crate::api::v1alpha1::{ConnectorProfile, ConnectorProfileSpec, ConnectorProfileStatus};
use crate::protocol::CheckResult;

pub use crate::api::v1alpha1::reason::VALIDATED;

/// The controller label of this reconciler's metrics.
pub const CONTROLLER: &str = "connector_profile";
/// `Ready` reason while the first check of a generation runs.
pub const VALIDATING: &str = "Validating";
/// Event reason of a check that failed.
pub const VALIDATION_FAILED: &str = "ValidationFailed";
/// The annotation holding the full profile name on a validation Job and pod.
pub const PROFILE_ANNOTATION: &str = "sluice.dev/connector-profile";
/// The annotation holding the profile generation a validation Job checks.
pub const GENERATION_ANNOTATION: &str = "sluice.dev/profile-generation";
/// How long a check may take, pod start included, before its Job is
/// stopped (`activeDeadlineSeconds`).
pub const VALIDATION_DEADLINE_SECONDS: i64 = 300;
/// How long a finished validation Job is kept if the controller does not
/// delete it first (`ttlSecondsAfterFinished`).
pub const VALIDATION_TTL_SECONDS: i32 = 3600;
/// The interval between checks when `spec.validationInterval` cannot be
/// read.
pub const DEFAULT_VALIDATION_INTERVAL: Duration = Duration::from_secs(3600);
/// The shortest interval between checks.
pub const MIN_VALIDATION_INTERVAL: Duration = Duration::from_secs(1);

/// Runs the ConnectorProfile reconciler until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: Shutdown) {
    let selector =
        format!("{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={COMPONENT_VALIDATION}");
    Controller::new(
        watched_api::<ConnectorProfile>(&ctx),
        watcher::Config::default(),
    )
    .owns(
        watched_api::<Job>(&ctx),
        watcher::Config::default().labels(&selector),
    )
    // A pod that cannot pull its image changes no Job: watch the pods too.
    .watches(
        watched_api::<Pod>(&ctx),
        watcher::Config::default().labels(&selector),
        |pod: Pod| {
            let profile = pod.annotations().get(PROFILE_ANNOTATION)?.clone();
            Some(ObjectRef::<ConnectorProfile>::new(&profile).within(&pod.namespace()?))
        },
    )
    .with_config(kube::runtime::controller::Config::default().concurrency(8))
    .graceful_shutdown_on(shutdown_requested(shutdown))
    .run(reconcile, error_policy, ctx)
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "ConnectorProfile reconcile not done");
        }
    })
    .await;
}

fn error_policy(profile: Arc<ConnectorProfile>, error: &Error, ctx: Arc<Context>) -> Action {
    super::retry_after_error(CONTROLLER, &*profile, error, &ctx)
}

/// Reconciles one ConnectorProfile.
pub async fn reconcile(profile: Arc<ConnectorProfile>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    let action = reconcile_profile(&profile, &ctx).await?;
    ctx.reset_backoff(&ObjectRef::from_obj(&*profile));
    Ok(action)
}

/// How often a profile is checked: `spec.validationInterval`, at least
/// [`MIN_VALIDATION_INTERVAL`].
pub fn validation_interval(spec: &ConnectorProfileSpec) -> Duration {
    spec.validation_interval
        .to_std()
        .unwrap_or(DEFAULT_VALIDATION_INTERVAL)
        .max(MIN_VALIDATION_INTERVAL)
}

/// The auth scheme of a profile, as `kubectl get` shows it: `basic`,
/// `apiKey`, `oauth2/RefreshToken`, `awsIam`, `none`, ... (several joined
/// with `+`). No credentials mean the AWS credential chain for `s3` and no
/// authentication otherwise.
pub fn auth_scheme(spec: &ConnectorProfileSpec) -> String {
    let Some(c) = &spec.credentials else {
        return if spec.s3.is_some() { "awsIam" } else { "none" }.to_owned();
    };
    let Credentials {
        oauth2,
        api_key,
        basic,
        custom_headers,
        aws_access_key,
        aws_iam,
        none,
        ..
    } = c;
    let schemes: Vec<String> = [
        oauth2
            .as_ref()
            .map(|o| format!("oauth2/{:?}", o.grant_type)),
        api_key.as_ref().map(|_| "apiKey".to_owned()),
        basic.as_ref().map(|_| "basic".to_owned()),
        custom_headers.as_ref().map(|_| "customHeaders".to_owned()),
        aws_access_key.as_ref().map(|_| "awsAccessKey".to_owned()),
        aws_iam.as_ref().map(|_| "awsIam".to_owned()),
        none.as_ref().map(|_| "none".to_owned()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if schemes.is_empty() {
        "none".to_owned()
    } else {
        schemes.join("+")
    }
}

/// The name of the validation Job of a profile's `generation` after the
/// check recorded at `last_validation`: a DNS label of at most 63
/// characters, `{profile}-check-{generation}-{hash}`, the profile name
/// shortened to fit. Stable while the profile and its status stay as they
/// are, new when either changes.
pub fn validation_job_name(
    profile: &str,
    uid: &str,
    generation: i64,
    last_validation: Option<&Time>,
) -> String {
    let key = format!(
        "{uid}/{generation}/{}",
        last_validation.map(|t| t.0.to_string()).unwrap_or_default()
    );
    let hash = hex::encode(&Sha256::digest(key.as_bytes())[..4]);
    let suffix = format!("-check-{generation}-{hash}");
    let room = 63usize.saturating_sub(suffix.len());
    let prefix: String = profile
        .chars()
        .map(|c| if c == '.' { '-' } else { c })
        .take(room)
        .collect();
    format!("{}{suffix}", prefix.trim_end_matches('-'))
}

/// A profile's check, everything [`build_validation_job`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationJob {
    /// The profile's namespace.
    pub namespace: String,
    /// The profile's name.
    pub profile: String,
    /// The profile's uid (the Job's owner).
    pub profile_uid: String,
    /// The generation checked.
    pub generation: i64,
    /// The Job's name ([`validation_job_name`]).
    pub job_name: String,
    /// The Sluice image.
    pub image: String,
    /// The Secret keys the profile's credentials name.
    pub secrets: SecretMounts,
}

impl ValidationJob {
    /// The check of `profile`'s current generation after the last recorded
    /// check, with `image`.
    pub fn of(profile: &ConnectorProfile, image: &str) -> Self {
        let name = profile.name_any();
        let uid = profile.uid().unwrap_or_default();
        let generation = profile.metadata.generation.unwrap_or_default();
        let last = profile
            .status
            .as_ref()
            .and_then(|s| s.last_validation_time.as_ref());
        Self {
            namespace: profile.namespace().unwrap_or_default(),
            job_name: validation_job_name(&name, &uid, generation, last),
            profile: name,
            profile_uid: uid,
            generation,
            image: image.to_owned(),
            secrets: secret_mounts(profile.spec.credentials.as_ref()),
        }
    }
}

/// The labels of a profile's validation Job and pod.
pub fn validation_labels(profile: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
        (COMPONENT_LABEL.to_owned(), COMPONENT_VALIDATION.to_owned()),
        (PROFILE_LABEL.to_owned(), label_value(profile)),
    ])
}

/// The validation Job of a profile: `sluice check` in the hardened pod,
/// no retry, a short deadline, owned by the profile.
pub fn build_validation_job(check: &ValidationJob) -> Job {
    let labels = validation_labels(&check.profile);
    let annotations = BTreeMap::from([
        (PROFILE_ANNOTATION.to_owned(), check.profile.clone()),
        (
            GENERATION_ANNOTATION.to_owned(),
            check.generation.to_string(),
        ),
    ]);
    let quantity = |q: &str| Quantity(q.to_owned());
    let template = RunTemplate {
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), quantity("50m")),
                ("memory".to_owned(), quantity("64Mi")),
            ])),
            limits: Some(BTreeMap::from([("memory".to_owned(), quantity("256Mi"))])),
            ..ResourceRequirements::default()
        }),
        ..super::flow_run::default_run_template()
    };
    let settings = PodSettings {
        image: &check.image,
        command: [
            "sluice",
            "check",
            "--namespace",
            &check.namespace,
            "--profile",
            &check.profile,
        ]
        .map(str::to_owned)
        .to_vec(),
        env: Vec::new(),
        secrets: &check.secrets,
        // A missing Secret or key is what the check reports, by name: the
        // pod must start without it.
        optional_secrets: true,
        service_account: VALIDATION_SERVICE_ACCOUNT,
        template: &template,
        labels: labels.clone(),
        annotations: annotations.clone(),
    };
    Job {
        metadata: ObjectMeta {
            name: Some(check.job_name.clone()),
            namespace: Some(check.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref::<ConnectorProfile>(
                &check.profile,
                &check.profile_uid,
            )]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(VALIDATION_DEADLINE_SECONDS),
            ttl_seconds_after_finished: Some(VALIDATION_TTL_SECONDS),
            template: pod_template(&settings),
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// What a validation Job says.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The check has not finished.
    Active,
    /// The check's result, or the Job's classified failure.
    Done(CheckResult),
}

fn job_condition<'a>(job: &'a Job, type_: &str) -> Option<&'a str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == condition_status::TRUE)
        .map(|c| c.reason.as_deref().unwrap_or(""))
}

fn container_statuses(pod: &Pod) -> Vec<k8s_openapi::api::core::v1::ContainerStatus> {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()
}

/// Classifies a validation Job and its pods: the result the pod wrote to
/// its termination message, or why there is none.
pub fn check_outcome(job: &Job, pods: &[Pod]) -> Outcome {
    let terminated: Vec<_> = pods
        .iter()
        .flat_map(container_statuses)
        .filter_map(|c| c.state.and_then(|s| s.terminated))
        .collect();
    if let Some(result) = terminated
        .iter()
        .find_map(|t| t.message.as_deref().and_then(CheckResult::parse))
    {
        return Outcome::Done(result);
    }
    let job_name = job.name_any();
    let failed = |reason: ErrorReason, message: String| {
        Outcome::Done(CheckResult::failed(reason.as_str(), &message))
    };
    if job_condition(job, "Complete").is_some() {
        return failed(
            ErrorReason::Internal,
            format!(
                "the validation pod of Job {job_name} exited without writing a result; see its logs"
            ),
        );
    }
    if let Some(job_reason) = job_condition(job, "Failed") {
        if job_reason == "DeadlineExceeded" {
            let seconds = job
                .spec
                .as_ref()
                .and_then(|s| s.active_deadline_seconds)
                .unwrap_or(VALIDATION_DEADLINE_SECONDS);
            return failed(
                ErrorReason::DeadlineExceeded,
                format!(
                    "the connection check did not finish within {seconds}s (validation Job {job_name}); the application may be slow to answer, or the pod could not start: see its Events"
                ),
            );
        }
        if terminated
            .iter()
            .any(|t| t.reason.as_deref() == Some("OOMKilled"))
        {
            return failed(
                ErrorReason::OutOfMemory,
                format!("the validation pod of Job {job_name} ran out of memory"),
            );
        }
        if let Some(pod) = pods
            .iter()
            .find(|p| p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted"))
        {
            let why = pod
                .status
                .as_ref()
                .and_then(|s| s.message.clone())
                .unwrap_or_else(|| "no message".to_owned());
            return failed(
                ErrorReason::Internal,
                format!("the validation pod of Job {job_name} was evicted from its node: {why}"),
            );
        }
        // `sluice check` exits non-zero only when it could not check at all;
        // its last log lines are the termination message.
        let detail = terminated
            .iter()
            .find_map(|t| {
                let text = t.message.as_deref()?.trim();
                (!text.is_empty()).then(|| format!(": {}", crate::protocol::truncate(text, 1024)))
            })
            .or_else(|| {
                terminated
                    .first()
                    .map(|t| format!(" (exit code {})", t.exit_code))
            })
            .unwrap_or_default();
        return failed(
            ErrorReason::Internal,
            format!("the connection check could not run (validation Job {job_name}){detail}"),
        );
    }
    // A pod that cannot start fails the check instead of waiting for the
    // deadline.
    for container in pods.iter().flat_map(container_statuses) {
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
            return failed(
                ErrorReason::ImagePullFailed,
                format!(
                    "the image {:?} of validation Job {job_name} cannot be pulled ({waiting}); check the controller's --runner-image and the registry's credentials",
                    container.image
                ),
            );
        }
    }
    Outcome::Active
}

/// The `Ready` condition of a check's result at `generation`.
pub fn result_condition(result: &CheckResult, generation: Option<i64>) -> Condition {
    let status = if result.ready {
        condition_status::TRUE
    } else {
        condition_status::FALSE
    };
    super::conditions::new(
        condition_type::READY,
        status,
        &result.reason,
        &result.message,
        generation,
    )
}

/// Whether the status holds a check's result for `generation`.
pub fn has_result_for(status: &ConnectorProfileStatus, generation: Option<i64>) -> bool {
    find_condition(&status.conditions, condition_type::READY).is_some_and(|c| {
        c.status != condition_status::UNKNOWN && c.observed_generation == generation
    })
}

/// How long until the next check is due; `None` when it is due now: the
/// generation has no result yet, or `interval` passed since the last check.
pub fn next_check_in(
    status: &ConnectorProfileStatus,
    generation: Option<i64>,
    interval: Duration,
    now: Timestamp,
) -> Option<Duration> {
    if !has_result_for(status, generation) {
        return None;
    }
    let last = status.last_validation_time.as_ref()?;
    let span = SignedDuration::try_from(interval).unwrap_or(SignedDuration::MAX);
    let due = last.0.checked_add(span).unwrap_or(Timestamp::MAX);
    let left = now.duration_until(due);
    (left > SignedDuration::ZERO).then(|| Duration::try_from(left).unwrap_or(interval))
}

/// The Event a new `Ready` condition calls for: `Validated` when the
/// profile becomes ready, `ValidationFailed` when a check fails anew or
/// for another reason; none when nothing changed.
pub fn result_event(
    previous: Option<&Condition>,
    next: &Condition,
) -> Option<(EventType, &'static str)> {
    let same = previous.is_some_and(|p| {
        p.status == next.status && p.reason == next.reason && p.message == next.message
    });
    if same {
        return None;
    }
    match next.status.as_str() {
        condition_status::TRUE if previous.is_none_or(|p| p.status != condition_status::TRUE) => {
            Some((EventType::Normal, VALIDATED))
        }
        condition_status::FALSE => Some((EventType::Warning, VALIDATION_FAILED)),
        _ => None,
    }
}

/// A merge patch of a ConnectorProfile's status: the members a reconcile
/// writes. A member left `None` is not sent (the stored value stays); an
/// `Option<Option<_>>` member set to `Some(None)` is sent as `null` and
/// clears the stored value. Members are named as in
/// [`ConnectorProfileStatus`] (a test holds them to it) and declared in
/// alphabetical order, the order of the JSON the API server receives.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileStatusPatch {
    /// `authScheme`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_scheme: Option<String>,
    /// `conditions`, all of them (a merge patch replaces the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// `connector` (`null` for a profile that configures none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<Option<ConnectorKind>>,
    /// `lastValidationTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_validation_time: Option<Time>,
    /// `observedGeneration` (`null` for an object without a generation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<Option<i64>>,
}

/// The status of a profile whose check of its current generation runs:
/// `Ready=Unknown` (reason `Validating`), the connector and auth scheme.
pub fn validating_status(profile: &ConnectorProfile, job_name: &str) -> ProfileStatusPatch {
    let namespace = profile.namespace().unwrap_or_default();
    let generation = profile.metadata.generation;
    let conditions = profile
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let message = format!(
        "checking the connection with validation Job {job_name} (sluice check) in namespace {namespace}"
    );
    ProfileStatusPatch {
        conditions: Some(set_condition(
            conditions,
            super::conditions::new(
                condition_type::READY,
                condition_status::UNKNOWN,
                VALIDATING,
                &message,
                generation,
            ),
        )),
        observed_generation: Some(generation),
        connector: Some(profile.spec.connector()),
        auth_scheme: Some(auth_scheme(&profile.spec)),
        ..ProfileStatusPatch::default()
    }
}

/// Whether a profile's status already says its current generation's
/// first check runs.
fn is_validating(status: &ConnectorProfileStatus, generation: Option<i64>) -> bool {
    find_condition(&status.conditions, condition_type::READY)
        .is_some_and(|c| c.reason == VALIDATING && c.observed_generation == generation)
}

/// The label selector of a validation Job's pods.
pub fn validation_pod_selector(job: &str) -> String {
    format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={COMPONENT_VALIDATION},batch.kubernetes.io/job-name={job}"
    )
}

/// How long to wait for a running check: the Job's and pods' changes wake
/// the reconciler; the requeue covers a lost event.
fn check_requeue() -> Action {
    Action::requeue(Duration::from_secs(
        VALIDATION_DEADLINE_SECONDS.unsigned_abs() + 60,
    ))
}

async fn reconcile_profile(profile: &ConnectorProfile, ctx: &Context) -> Result<Action> {
    let Some(namespace) = profile.namespace() else {
        return Ok(Action::await_change());
    };
    if profile.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let generation = profile.metadata.generation;
    let status = profile.status.clone().unwrap_or_default();
    let interval = validation_interval(&profile.spec);
    let api: Api<ConnectorProfile> = Api::namespaced(ctx.client.clone(), &namespace);
    let writer = StatusWriter::new(api, profile, PatchParams::default());
    let check = ValidationJob::of(profile, &ctx.config.runner_image);
    let current = current_check(ctx, profile, &check).await?;
    if let Some(job) = current {
        return record_check(ctx, profile, &writer, &check, &job).await;
    }

    // Validate: may its Secret be mounted? Checked again every
    // access::RECHECK while it may not (Secrets are not watched).
    let access = secret_access(ctx, &namespace, &check.secrets).await?;
    let refused = check
        .secrets
        .keys()
        .find_map(|secret| refusal(access.as_ref(), &namespace, secret, REFUSAL_PREFIX));
    if let Some((state, message)) = refused {
        let reason = match state {
            OptIn::NotAllowed => reason::SECRET_NOT_ALLOWED,
            _ => reason::SECRET_NOT_FOUND,
        };
        let result = CheckResult::failed(reason, &message);
        return record_refusal(ctx, profile, &writer, &result).await;
    }
    let was_refused = find_condition(&status.conditions, condition_type::READY)
        .is_some_and(|c| c.message.starts_with(REFUSAL_PREFIX));

    // Validate: is a check due?
    if !was_refused
        && let Some(wait) = next_check_in(&status, generation, interval, Timestamp::now())
    {
        return Ok(Action::requeue(wait));
    }

    // Build and apply. The status write comes first and is conditional on
    // the resourceVersion read: a decision made on a stale cached profile
    // (its last result not seen yet) starts no second check.
    let status_patch =
        if !has_result_for(&status, generation) && !is_validating(&status, generation) {
            validating_status(profile, &check.job_name)
        } else {
            ProfileStatusPatch::default()
        };
    if writer.write_if_unchanged(&status_patch).await? == WriteOutcome::Stale {
        return Ok(stale());
    }
    rbac::ensure_validation_rbac(ctx, &namespace).await?;
    let job = build_validation_job(&check);
    let params = PostParams {
        field_manager: Some(super::FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    match jobs.create(&params, &job).await {
        Ok(_) => tracing::info!(
            connector_profile = %format!("{namespace}/{}", check.profile),
            job = %check.job_name,
            generation = check.generation,
            "started the validation Job"
        ),
        // Created meanwhile: the watch brings it.
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => {
            return Err(Error::apply(format!(
                "creating validation Job {namespace}/{}",
                check.job_name
            ))(e));
        }
    }
    Ok(check_requeue())
}

/// How the controller's own refusals to mount a Secret begin, so that the
/// check runs at once when the Secret becomes usable.
const REFUSAL_PREFIX: &str = "credentials.secretRef";

/// Records that the profile's Secret may not be mounted: `Ready=False`
/// with the reason, an Event when that changes, and another look after
/// [`access::RECHECK`].
async fn record_refusal(
    ctx: &Context,
    profile: &ConnectorProfile,
    writer: &StatusWriter<ConnectorProfile>,
    result: &CheckResult,
) -> Result<Action> {
    let status = profile.status.clone().unwrap_or_default();
    let condition = result_condition(result, profile.metadata.generation);
    let previous = find_condition(&status.conditions, condition_type::READY).cloned();
    if let Some((type_, reason)) = result_event(previous.as_ref(), &condition) {
        let patch = ProfileStatusPatch {
            conditions: Some(set_condition(&status.conditions, condition)),
            observed_generation: Some(profile.metadata.generation),
            last_validation_time: Some(Time(Timestamp::now())),
            connector: Some(profile.spec.connector()),
            auth_scheme: Some(auth_scheme(&profile.spec)),
        };
        if writer.write_if_unchanged(&patch).await? == WriteOutcome::Stale {
            return Ok(stale());
        }
        let note = format!("{}: {}", result.reason, result.message);
        ctx.event(profile, type_, reason, "Validate", note).await;
    }
    Ok(Action::requeue(access::RECHECK))
}

/// Dereference: the profile's validation Jobs. Those of older generations,
/// or of checks already recorded, are done with and deleted; returns the
/// current check's Job, if it exists.
async fn current_check(
    ctx: &Context,
    profile: &ConnectorProfile,
    check: &ValidationJob,
) -> Result<Option<Job>> {
    let (namespace, name) = (&check.namespace, &check.profile);
    let uid = profile.uid().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={COMPONENT_VALIDATION},{PROFILE_LABEL}={}",
        label_value(name)
    );
    let owned: Vec<Job> = jobs
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::dereference(format!(
            "listing the validation Jobs of ConnectorProfile {namespace}/{name}"
        )))?
        .items
        .into_iter()
        .filter(|job| controlled_by(job, &uid))
        .collect();
    for job in &owned {
        if job.name_any() != check.job_name && job.metadata.deletion_timestamp.is_none() {
            delete_job(ctx, namespace, &job.name_any(), &uid, Some(job)).await?;
        }
    }
    Ok(owned
        .into_iter()
        .find(|job| job.name_any() == check.job_name && job.metadata.deletion_timestamp.is_none()))
}

/// The current check's Job exists: while it runs, say so (once); once it
/// is done, record its result, tell the user if the result changed, and
/// delete the Job.
async fn record_check(
    ctx: &Context,
    profile: &ConnectorProfile,
    writer: &StatusWriter<ConnectorProfile>,
    check: &ValidationJob,
    job: &Job,
) -> Result<Action> {
    let namespace = &check.namespace;
    let generation = profile.metadata.generation;
    let status = profile.status.clone().unwrap_or_default();
    let selector = validation_pod_selector(&check.job_name);
    let pods = list_pods(ctx, namespace, &selector, || {
        format!("the pods of validation Job {namespace}/{}", check.job_name)
    })
    .await?;
    let result = match check_outcome(job, &pods) {
        Outcome::Active => {
            if !has_result_for(&status, generation)
                && !is_validating(&status, generation)
                && writer
                    .write_if_unchanged(&validating_status(profile, &check.job_name))
                    .await?
                    == WriteOutcome::Stale
            {
                return Ok(stale());
            }
            return Ok(check_requeue());
        }
        Outcome::Done(result) => result,
    };
    let checked = job
        .annotations()
        .get(GENERATION_ANNOTATION)
        .and_then(|g| g.parse::<i64>().ok())
        .or(generation);
    let condition = result_condition(&result, checked);
    let previous = find_condition(&status.conditions, condition_type::READY).cloned();
    let patch = ProfileStatusPatch {
        conditions: Some(set_condition(&status.conditions, condition.clone())),
        observed_generation: Some(checked),
        last_validation_time: Some(Time(Timestamp::now())),
        connector: Some(profile.spec.connector()),
        auth_scheme: Some(auth_scheme(&profile.spec)),
    };
    if writer.write_if_unchanged(&patch).await? == WriteOutcome::Stale {
        return Ok(stale());
    }
    tracing::info!(
        connector_profile = %format!("{namespace}/{}", check.profile),
        ready = result.ready,
        reason = %result.reason,
        "recorded the connection check"
    );
    if let Some((type_, reason)) = result_event(previous.as_ref(), &condition) {
        let note = if result.ready {
            result.message.clone()
        } else {
            format!("{}: {}", result.reason, result.message)
        };
        ctx.event(profile, type_, reason, "Validate", note).await;
    }
    delete_job(
        ctx,
        namespace,
        &check.job_name,
        &profile.uid().unwrap_or_default(),
        Some(job),
    )
    .await?;
    Ok(Action::requeue(validation_interval(&profile.spec)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, PodStatus,
    };

    fn profile(spec: serde_json::Value, status: serde_json::Value) -> ConnectorProfile {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "sluice.dev/v1alpha1",
            "kind": "ConnectorProfile",
            "metadata": {"name": "crm", "namespace": "team-a", "uid": "u-1", "generation": 4},
            "spec": spec,
            "status": status,
        }))
        .unwrap()
    }

    fn time(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    fn http_profile() -> ConnectorProfile {
        profile(
            serde_json::json!({
                "http": {"baseUrl": "https://api.example.com"},
                "credentials": {"secretRef": {"name": "crm-api"}, "apiKey": {"keyKey": "token"}},
            }),
            serde_json::json!(null),
        )
    }

    #[test]
    fn the_validation_job_runs_sluice_check_hardened_with_only_the_profiles_keys() {
        let check = ValidationJob::of(&http_profile(), "img:1");
        assert_eq!(check.generation, 4);
        let job = build_validation_job(&check);
        let meta = &job.metadata;
        assert_eq!(meta.namespace.as_deref(), Some("team-a"));
        assert_eq!(meta.name.as_deref(), Some(check.job_name.as_str()));
        let labels = meta.labels.as_ref().unwrap();
        assert_eq!(labels[COMPONENT_LABEL], COMPONENT_VALIDATION);
        assert_eq!(labels[PROFILE_LABEL], "crm");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY);
        let annotations = meta.annotations.as_ref().unwrap();
        assert_eq!(annotations[PROFILE_ANNOTATION], "crm");
        assert_eq!(annotations[GENERATION_ANNOTATION], "4");
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("ConnectorProfile", "crm", "u-1")
        );
        assert_eq!(owner.controller, Some(true));

        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(
            spec.active_deadline_seconds,
            Some(VALIDATION_DEADLINE_SECONDS)
        );
        assert_eq!(
            spec.ttl_seconds_after_finished,
            Some(VALIDATION_TTL_SECONDS)
        );
        let pod_meta = spec.template.metadata.as_ref().unwrap();
        assert_eq!(
            pod_meta.labels.as_ref().unwrap()[COMPONENT_LABEL],
            "validation"
        );
        assert_eq!(
            pod_meta.annotations.as_ref().unwrap()[PROFILE_ANNOTATION],
            "crm"
        );
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(
            pod.service_account_name.as_deref(),
            Some("sluice-validation")
        );
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let container = &pod.containers[0];
        assert_eq!(container.image.as_deref(), Some("img:1"));
        assert_eq!(
            container.command.as_deref().unwrap(),
            [
                "sluice",
                "check",
                "--namespace",
                "team-a",
                "--profile",
                "crm"
            ]
        );
        let security = container.security_context.as_ref().unwrap();
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert_eq!(security.run_as_non_root, Some(true));
        assert_eq!(
            security.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_owned()][..])
        );
        let limits = container
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .unwrap();
        assert_eq!(limits["memory"], Quantity("256Mi".to_owned()));
        // Only the key the credentials name, optional so that a missing
        // one is reported by the check instead of keeping the pod pending.
        let secrets: Vec<_> = pod
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.secret.as_ref())
            .collect();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].secret_name.as_deref(), Some("crm-api"));
        assert_eq!(secrets[0].optional, Some(true));
        let keys: Vec<_> = secrets[0]
            .items
            .iter()
            .flatten()
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(keys, ["token"]);
        let mount = container
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == "/var/run/secrets/sluice/crm-api")
            .unwrap();
        assert_eq!(mount.read_only, Some(true));
    }

    #[test]
    fn profiles_without_secrets_mount_none() {
        let file = profile(
            serde_json::json!({"file": {"root": "."}}),
            serde_json::json!(null),
        );
        let job = build_validation_job(&ValidationJob::of(&file, "img"));
        let pod = job.spec.unwrap().template.spec.unwrap();
        assert!(pod.volumes.iter().flatten().all(|v| v.secret.is_none()));
    }

    #[test]
    fn job_names_follow_the_generation_and_the_last_check() {
        let first = validation_job_name("crm", "u-1", 4, None);
        assert!(first.starts_with("crm-check-4-"), "{first}");
        assert_eq!(first, validation_job_name("crm", "u-1", 4, None));
        assert_ne!(first, validation_job_name("crm", "u-1", 5, None));
        assert_ne!(first, validation_job_name("crm", "u-2", 4, None));
        let after = validation_job_name("crm", "u-1", 4, Some(&time("2024-05-01T12:00:00Z")));
        assert_ne!(first, after);
        assert_eq!(
            after,
            validation_job_name("crm", "u-1", 4, Some(&time("2024-05-01T12:00:00Z")))
        );
        let long = format!("{}.example", "a".repeat(80));
        let name = validation_job_name(&long, "u", i64::MAX, None);
        assert!(name.len() <= 63, "{name}");
        assert!(!name.contains('.'), "{name}");
        assert!(name.starts_with("aaaa"));
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    fn job(conditions: &[(&str, &str)]) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some("crm-check-4-abcd".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(JobSpec {
                active_deadline_seconds: Some(300),
                ..JobSpec::default()
            }),
            status: Some(JobStatus {
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
        }
    }

    fn pod(state: ContainerState) -> Pod {
        Pod {
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: "runner".to_owned(),
                    image: "img:1".to_owned(),
                    state: Some(state),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    fn terminated(exit_code: i32, reason: &str, message: Option<&str>) -> Pod {
        pod(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code,
                reason: Some(reason.to_owned()),
                message: message.map(str::to_owned),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        })
    }

    fn done(outcome: Outcome) -> CheckResult {
        match outcome {
            Outcome::Done(result) => result,
            Outcome::Active => panic!("expected a result"),
        }
    }

    #[test]
    fn the_result_is_read_from_the_termination_message() {
        let written = CheckResult::failed("AuthenticationFailed", "the API refused the key");
        let result = done(check_outcome(
            &job(&[("Complete", "")]),
            &[terminated(0, "Completed", Some(&written.to_line()))],
        ));
        assert_eq!(result, written);
        // Read as soon as the pod has written it, before the Job completes.
        let ok = CheckResult::validated("crm");
        assert_eq!(
            done(check_outcome(
                &job(&[]),
                &[terminated(0, "Completed", Some(&ok.to_line()))]
            )),
            ok
        );
        assert_eq!(check_outcome(&job(&[]), &[]), Outcome::Active);
    }

    #[test]
    fn jobs_that_end_without_a_result_are_classified() {
        let deadline = done(check_outcome(&job(&[("Failed", "DeadlineExceeded")]), &[]));
        assert!(!deadline.ready);
        assert_eq!(deadline.reason, "DeadlineExceeded");
        assert!(deadline.message.contains("300s"), "{}", deadline.message);

        let oom = done(check_outcome(
            &job(&[("Failed", "BackoffLimitExceeded")]),
            &[terminated(137, "OOMKilled", None)],
        ));
        assert_eq!(oom.reason, "OutOfMemory");

        let crashed = done(check_outcome(
            &job(&[("Failed", "BackoffLimitExceeded")]),
            &[terminated(
                1,
                "Error",
                Some("error: reading ConnectorProfile team-a/crm: forbidden"),
            )],
        ));
        assert_eq!(crashed.reason, "Internal");
        assert!(crashed.message.contains("forbidden"), "{}", crashed.message);

        let silent = done(check_outcome(
            &job(&[("Failed", "BackoffLimitExceeded")]),
            &[terminated(2, "Error", None)],
        ));
        assert!(silent.message.contains("exit code 2"), "{}", silent.message);

        let empty = done(check_outcome(&job(&[("Complete", "")]), &[]));
        assert_eq!(empty.reason, "Internal");

        let pull = done(check_outcome(
            &job(&[]),
            &[pod(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("ImagePullBackOff".to_owned()),
                    message: None,
                }),
                ..ContainerState::default()
            })],
        ));
        assert_eq!(pull.reason, "ImagePullFailed");
        assert!(pull.message.contains("img:1"), "{}", pull.message);
        let creating = pod(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ContainerCreating".to_owned()),
                message: None,
            }),
            ..ContainerState::default()
        });
        assert_eq!(check_outcome(&job(&[]), &[creating]), Outcome::Active);
    }

    #[test]
    fn results_become_the_ready_condition() {
        let ready = result_condition(&CheckResult::validated("crm"), Some(4));
        assert_eq!(
            (
                ready.type_.as_str(),
                ready.status.as_str(),
                ready.reason.as_str()
            ),
            ("Ready", "True", "Validated")
        );
        assert_eq!(ready.observed_generation, Some(4));
        let failed = result_condition(
            &CheckResult::failed("Unreachable", "connection refused"),
            Some(4),
        );
        assert_eq!(
            (
                failed.status.as_str(),
                failed.reason.as_str(),
                failed.message.as_str()
            ),
            ("False", "Unreachable", "connection refused")
        );
    }

    #[test]
    fn events_mark_changes_of_the_result() {
        let validating =
            super::super::conditions::new("Ready", "Unknown", VALIDATING, "x", Some(1));
        let ready = result_condition(&CheckResult::validated("crm"), Some(1));
        let failed = result_condition(&CheckResult::failed("Unreachable", "refused"), Some(1));
        assert_eq!(
            result_event(Some(&validating), &ready),
            Some((EventType::Normal, VALIDATED))
        );
        assert_eq!(
            result_event(None, &ready),
            Some((EventType::Normal, VALIDATED))
        );
        assert_eq!(result_event(Some(&ready), &ready), None);
        assert_eq!(
            result_event(Some(&ready), &failed),
            Some((EventType::Warning, VALIDATION_FAILED))
        );
        assert_eq!(result_event(Some(&failed), &failed), None);
        let other = result_condition(&CheckResult::failed("AuthenticationFailed", "no"), Some(2));
        assert_eq!(
            result_event(Some(&failed), &other),
            Some((EventType::Warning, VALIDATION_FAILED))
        );
        assert_eq!(result_event(Some(&failed), &validating), None);
    }

    #[test]
    fn checks_are_due_for_a_new_generation_and_after_the_interval() {
        let hour = Duration::from_secs(3600);
        let now: Timestamp = "2024-05-01T12:30:00Z".parse().unwrap();
        let none = ConnectorProfileStatus::default();
        assert_eq!(next_check_in(&none, Some(4), hour, now), None);
        let checked: ConnectorProfileStatus = serde_json::from_value(serde_json::json!({
            "conditions": [{"type": "Ready", "status": "False", "reason": "Unreachable", "message": "m",
                            "lastTransitionTime": "2024-05-01T12:00:00Z", "observedGeneration": 4}],
            "observedGeneration": 4,
            "lastValidationTime": "2024-05-01T12:00:00Z",
        }))
        .unwrap();
        assert!(has_result_for(&checked, Some(4)));
        assert_eq!(
            next_check_in(&checked, Some(4), hour, now),
            Some(Duration::from_secs(1800))
        );
        // Past the interval, or for a new generation: now.
        let later: Timestamp = "2024-05-01T13:00:01Z".parse().unwrap();
        assert_eq!(next_check_in(&checked, Some(4), hour, later), None);
        assert_eq!(next_check_in(&checked, Some(5), hour, now), None);
        // A check in progress is no result.
        let mut validating = checked.clone();
        validating.conditions[0].status = "Unknown".to_owned();
        validating.conditions[0].reason = VALIDATING.to_owned();
        assert!(!has_result_for(&validating, Some(4)));
        assert_eq!(next_check_in(&validating, Some(4), hour, now), None);
    }

    #[test]
    fn the_interval_comes_from_the_spec() {
        let mut spec = http_profile().spec;
        assert_eq!(validation_interval(&spec), Duration::from_secs(3600));
        spec.validation_interval = "90s".into();
        assert_eq!(validation_interval(&spec), Duration::from_secs(90));
        spec.validation_interval = "1ms".into();
        assert_eq!(validation_interval(&spec), MIN_VALIDATION_INTERVAL);
    }

    #[test]
    fn connector_and_auth_scheme_are_named() {
        let spec = http_profile().spec;
        assert_eq!(spec.connector(), Some(ConnectorKind::Http));
        assert_eq!(auth_scheme(&spec), "apiKey");
        let s3 = profile(
            serde_json::json!({"s3": {"region": "eu-west-1"}}),
            serde_json::json!(null),
        );
        assert_eq!(auth_scheme(&s3.spec), "awsIam");
        assert_eq!(s3.spec.connector(), Some(ConnectorKind::S3));
        let sf = profile(
            serde_json::json!({
                "salesforce": {},
                "credentials": {"secretRef": {"name": "sf"}, "oauth2": {"grantType": "JwtBearer", "subject": "a@b.c", "privateKeyKey": "key"}},
            }),
            serde_json::json!(null),
        );
        assert_eq!(auth_scheme(&sf.spec), "oauth2/JwtBearer");
        let file = profile(
            serde_json::json!({"file": {"root": "."}}),
            serde_json::json!(null),
        );
        assert_eq!(auth_scheme(&file.spec), "none");
    }

    #[test]
    fn status_patches_keep_the_json_the_api_server_received() {
        let profile = http_profile();
        let patch = validating_status(&profile, "p-check-1-abc");
        let conditions = patch.conditions.clone().unwrap();
        assert_eq!(conditions[0].reason, VALIDATING);
        assert!(conditions[0].message.contains("p-check-1-abc"));
        assert_eq!(
            crate::controller::status::wire(&patch).unwrap().to_string(),
            serde_json::json!({
                "conditions": conditions,
                "observedGeneration": profile.metadata.generation,
                "connector": profile.spec.connector(),
                "authScheme": auth_scheme(&profile.spec),
            })
            .to_string()
        );
        // A profile without a generation or a connector clears them.
        let mut bare = profile.clone();
        bare.metadata.generation = None;
        bare.spec.http = None;
        let patch = validating_status(&bare, "j");
        let wire = serde_json::to_string(&patch).unwrap();
        assert!(wire.contains(r#""connector":null"#), "{wire}");
        assert!(wire.contains(r#""observedGeneration":null"#), "{wire}");
        // The conditional write that only checks the version sends no member.
        assert_eq!(
            serde_json::to_string(&ProfileStatusPatch::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn status_patch_members_are_profile_status_members() {
        let full = ProfileStatusPatch {
            auth_scheme: Some("basic".to_owned()),
            conditions: Some(vec![result_condition(
                &CheckResult::failed("Unreachable", "no"),
                Some(1),
            )]),
            connector: Some(Some(ConnectorKind::Http)),
            last_validation_time: Some(time("2024-05-01T12:00:00Z")),
            observed_generation: Some(Some(1)),
        };
        let patch = serde_json::to_value(&full).unwrap();
        let status: ConnectorProfileStatus = serde_json::from_value(patch.clone()).unwrap();
        let round_trip = serde_json::to_value(&status).unwrap();
        for key in patch.as_object().unwrap().keys() {
            assert!(
                round_trip.get(key).is_some(),
                "{key} is not a ConnectorProfileStatus member"
            );
        }
    }
}
