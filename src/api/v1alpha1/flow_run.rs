//! `FlowRun`: one execution of a Flow.
//!
//! Created by the controller for scheduled runs and by users for on-demand
//! runs. Its spec is immutable except `cancel`; its status pins the Flow
//! generation and spec it ran, and reports progress and the outcome.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    Condition, FINISHED, LocalObjectReference, REPLACED_BY_ANNOTATION, Time, condition_status,
    condition_type, find_condition,
};
use super::flow::FlowSpec;

/// One execution of a Flow.
///
/// `kubectl create` one for an on-demand run; the controller creates them
/// for scheduled runs. Set `spec.cancel: true` to stop it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sluice.dev",
    version = "v1alpha1",
    kind = "FlowRun",
    doc = "One execution of a Flow, pinned to the Flow generation and spec it ran, with its progress and outcome. Create one to run a Flow on demand; set spec.cancel to stop it.",
    namespaced,
    status = "FlowRunStatus",
    shortname = "fr",
    shortname = "run",
    category = "sluice",
    printcolumn = r#"{"name":"Flow","type":"string","jsonPath":".spec.flowRef.name","description":"The Flow this run executes"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Pending, Running, Succeeded, Failed or Cancelled"}"#,
    printcolumn = r#"{"name":"Records","type":"integer","jsonPath":".status.progress.recordsWritten","description":"Records written so far"}"#,
    printcolumn = r#"{"name":"Duration","type":"string","jsonPath":".status.duration","description":"How long the run took, or has taken so far"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.error.reason","priority":1,"description":"Why the run failed"}"#,
    printcolumn = r#"{"name":"Job","type":"string","jsonPath":".status.jobName","priority":1,"description":"The Job executing the run"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "self.flowRef == oldSelf.flowRef && has(self.overrides) == has(oldSelf.overrides) && (!has(self.overrides) || self.overrides == oldSelf.overrides) && has(self.scheduledTime) == has(oldSelf.scheduledTime) && (!has(self.scheduledTime) || self.scheduledTime == oldSelf.scheduledTime)"
).message("a FlowRun's spec is immutable except cancel: create a new FlowRun instead"))]
#[x_kube(validation = Rule::new("!oldSelf.cancel || self.cancel").message("cancel cannot be undone: create a new FlowRun instead"))]
pub struct FlowRunSpec {
    /// The Flow to run, in the same namespace.
    pub flow_ref: LocalObjectReference,
    /// Stop the run. Its Job is deleted, nothing it wrote is published, and
    /// the phase becomes `Cancelled`. Cannot be undone.
    #[serde(default)]
    pub cancel: bool,
    /// Settings for this run only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<RunOverrides>,
    /// The schedule time this run was started for; set by the controller on
    /// scheduled runs. Date placeholders in output paths use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<Time>,
}

/// Settings that apply to one run only (AppFlow's StartFlow takes none).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOverrides {
    /// Read this window instead of the one the watermark gives. The Flow's
    /// watermark does not move for a run with a window override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Read every record regardless of `sync.mode: Incremental`; the
    /// watermark does not move.
    #[serde(default)]
    pub full_refresh: bool,
    /// An extra CEL filter over `record`, applied after the Flow's tasks,
    /// within the limits of a filter task's expression (8192 bytes, 32
    /// levels of brackets, 64 levels of operations, 100,000 steps a record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8192))]
    pub filter: Option<String>,
}

/// A time window `[from, to)` on the Flow's cursor field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.from) || !has(self.to) || self.from < self.to").message("window.from must be before window.to").field_path(".to"))]
pub struct Window {
    /// Start, inclusive. Unset means the watermark (or the first-run start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Time>,
    /// End, exclusive. Unset means the run's start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Time>,
}

/// Phases of a run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RunPhase {
    /// Accepted, its Job not running yet.
    Pending,
    /// Its Job is moving data.
    Running,
    /// Finished and published.
    Succeeded,
    /// Finished without publishing; see `error`.
    Failed,
    /// Stopped by `spec.cancel` or a `Replace` concurrency policy; nothing
    /// published.
    Cancelled,
}

/// Classes of run errors. Retries are decided by class.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ErrorReason {
    /// The spec or a referenced object is invalid.
    InvalidSpec,
    /// A referenced Flow, ConnectorProfile or Secret does not exist.
    ReferenceNotFound,
    /// Credentials were refused.
    AuthenticationFailed,
    /// A permission is missing.
    Forbidden,
    /// The application's rate limit was exhausted beyond retries.
    RateLimited,
    /// Network or server errors persisted beyond retries.
    Unreachable,
    /// The source schema changed in a way the drift policy does not accept.
    SchemaDrift,
    /// A bad record under policy `Fail`, or `maxBadRecords` exceeded.
    BadRecords,
    /// The destination refused a write.
    WriteFailed,
    /// `activeDeadlineSeconds` passed.
    DeadlineExceeded,
    /// The run's pod ran out of memory.
    OutOfMemory,
    /// The Job gave up after `backoffLimit` pod failures.
    BackoffLimitExceeded,
    /// The runner image could not be pulled.
    ImagePullFailed,
    /// The run's pod was asked to stop (SIGTERM: the pod was deleted or
    /// evicted, or its node drained) before the run finished. Nothing was
    /// published; retryable: the Job's next attempt runs it again.
    Interrupted,
    /// Anything else; the message says what.
    Internal,
}

impl ErrorReason {
    /// The reason's name, as conditions, Events and metric labels show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSpec => "InvalidSpec",
            Self::ReferenceNotFound => "ReferenceNotFound",
            Self::AuthenticationFailed => "AuthenticationFailed",
            Self::Forbidden => "Forbidden",
            Self::RateLimited => "RateLimited",
            Self::Unreachable => "Unreachable",
            Self::SchemaDrift => "SchemaDrift",
            Self::BadRecords => "BadRecords",
            Self::WriteFailed => "WriteFailed",
            Self::DeadlineExceeded => "DeadlineExceeded",
            Self::OutOfMemory => "OutOfMemory",
            Self::BackoffLimitExceeded => "BackoffLimitExceeded",
            Self::ImagePullFailed => "ImagePullFailed",
            Self::Interrupted => "Interrupted",
            Self::Internal => "Internal",
        }
    }
}

impl FlowRun {
    /// Whether the run is to stop: `spec.cancel`, or replaced by a newer
    /// run of its Flow (`concurrencyPolicy: Replace` annotates it
    /// [`REPLACED_BY_ANNOTATION`]). The controller and the runner both ask
    /// this.
    pub fn cancel_requested(&self) -> bool {
        self.spec.cancel
            || self
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(REPLACED_BY_ANNOTATION))
    }
}

impl FlowRunStatus {
    /// Whether the controller is done with the run for good
    /// (`Reconciling=False`, reason [`FINISHED`]): outcome final, metrics
    /// and Event recorded.
    pub fn settled(&self) -> bool {
        find_condition(&self.conditions, condition_type::RECONCILING)
            .is_some_and(|c| c.status == condition_status::FALSE && c.reason == FINISHED)
    }
}

/// Why a run failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunError {
    /// The class of the error.
    pub reason: ErrorReason,
    /// What went wrong and what would fix it. Never holds secret values.
    pub message: String,
    /// Whether running again unchanged may succeed.
    pub retryable: bool,
}

/// Record, byte and request counts of a run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunCounts {
    /// Records read from the source.
    #[serde(default)]
    pub records_read: i64,
    /// Records dropped by filter tasks.
    #[serde(default)]
    pub records_filtered: i64,
    /// Bad records left out under policy `Skip`.
    #[serde(default)]
    pub records_skipped: i64,
    /// Bad records written to the error location under policy `Quarantine`.
    #[serde(default)]
    pub records_quarantined: i64,
    /// Records written to the destination.
    #[serde(default)]
    pub records_written: i64,
    /// Records the destination refused (application destinations).
    #[serde(default)]
    pub records_failed: i64,
    /// Bytes read from the source.
    #[serde(default)]
    pub bytes_read: i64,
    /// Bytes written to the destination.
    #[serde(default)]
    pub bytes_written: i64,
    /// Pages or batches fetched from the source.
    #[serde(default)]
    pub pages: i64,
    /// Requests made to applications.
    #[serde(default)]
    pub api_calls: i64,
}

/// What a run wrote.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOutput {
    /// Files or objects published.
    #[serde(default)]
    pub object_count: i64,
    /// Where they were published: `s3://bucket/prefix/...`, a directory, or
    /// `schema.table`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The manifest listing the files, row counts, schema and checksums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Where quarantined records were written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_location: Option<String>,
    /// The schema version of the written records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i32>,
}

/// The Flow a run executes, as it was when the run started.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PinnedFlow {
    /// The Flow's `metadata.generation`.
    pub generation: i64,
    /// The Flow's `metadata.uid`.
    pub uid: String,
    /// The Flow's spec at that generation: the run is reproducible and
    /// auditable after the Flow changes.
    pub spec: FlowSpec,
}

/// Observed state of a FlowRun.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowRunStatus {
    /// Pending, Running, Succeeded, Failed or Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// Latest observations: `Succeeded` (`True` succeeded, `False` failed or
    /// cancelled, `Unknown` not finished), `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The Flow generation and spec this run executes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<PinnedFlow>,
    /// The Job executing the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// When the run started moving data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Run time so far or in all, such as `1m23s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Live counts, updated while the run goes on.
    #[serde(default)]
    pub progress: RunCounts,
    /// When `progress` was last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_time: Option<Time>,
    /// The incremental window the run read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// The highest cursor value the run read; becomes the Flow's watermark
    /// if the run succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Time>,
    /// What the run wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<RunOutput>,
    /// Why the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    /// Pod attempts made so far.
    #[serde(default)]
    pub attempts: i32,
}
