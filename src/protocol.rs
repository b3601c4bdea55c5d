//! The protocol between the controller and the processes it starts in
//! pods: `sluice run` (a FlowRun's Job) and `sluice check` (a
//! ConnectorProfile's validation Job). Where Secret keys are mounted, what
//! a run's exit code means, and the one line of JSON a check leaves in its
//! termination message. Both sides import it from here, so neither imports
//! the other.

use serde::{Deserialize, Serialize};

use crate::api::v1alpha1::reason::VALIDATED;

/// The directory Secret keys are mounted under in run and validation pods,
/// unless `SLUICE_SECRETS_DIR` says otherwise: one directory per Secret,
/// one file per key (`{dir}/{secret}/{key}`).
pub const DEFAULT_SECRETS_DIR: &str = "/var/run/secrets/sluice";

/// The environment variable naming the directory of mounted Secrets.
pub const SECRETS_DIR_ENV: &str = "SLUICE_SECRETS_DIR";

/// The exit code of a run pod whose run failed in a way a retry cannot
/// mend (refused credentials, an invalid spec, bad records under policy
/// Fail): the Job's pod failure policy fails the Job at once on it instead
/// of spending its backoff limit.
pub const EXIT_NOT_RETRYABLE: u8 = 3;
// A run pod that SIGTERM interrupted (deleted, evicted, drained) exits 143,
// 128 + the signal's number, after reporting `Interrupted`: the Job counts
// a failed attempt and runs another.

/// The environment variable overriding where a check's result is written.
pub const TERMINATION_LOG_ENV: &str = "SLUICE_TERMINATION_LOG";
/// Where Kubernetes reads a container's termination message by default.
pub const DEFAULT_TERMINATION_LOG: &str = "/dev/termination-log";
/// The longest check message kept, in bytes: the kubelet keeps 4096 bytes
/// of a termination message, and the JSON around the message needs some.
pub const MAX_MESSAGE_BYTES: usize = 3072;

/// The longest Event note the API server accepts, in bytes: longer ones
/// are refused and the Event is lost.
pub const MAX_EVENT_NOTE_BYTES: usize = 1024;

/// The outcome of a check: what the profile's `Ready` condition says.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Whether the application was reached with the credentials.
    pub ready: bool,
    /// The condition reason: [`VALIDATED`], or why not (`SecretNotFound`,
    /// `AuthenticationFailed`, `Unreachable`, `ReferenceNotFound`, ...).
    pub reason: String,
    /// A sentence a user can act on. Never a secret value.
    pub message: String,
}

impl CheckResult {
    /// A passed check of `profile`.
    pub fn validated(profile: &str) -> Self {
        Self {
            ready: true,
            reason: VALIDATED.to_owned(),
            message: format!("ConnectorProfile {profile:?}: the connection check passed"),
        }
    }

    /// A failed check: `reason` and `message`, the message shortened to
    /// [`MAX_MESSAGE_BYTES`].
    pub fn failed(reason: &str, message: &str) -> Self {
        Self {
            ready: false,
            reason: reason.to_owned(),
            message: truncate(message, MAX_MESSAGE_BYTES),
        }
    }

    /// The one-line JSON form, as written to the termination message.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(
                "{{\"ready\":false,\"reason\":\"Internal\",\"message\":\"cannot encode the result of {}\"}}",
                self.reason
            )
        })
    }

    /// Reads a result from a termination message; `None` when it holds
    /// none (a crash whose message is the tail of the logs).
    pub fn parse(text: &str) -> Option<Self> {
        let result: Self = serde_json::from_str(text.trim()).ok()?;
        (!result.reason.is_empty()).then_some(result)
    }
}

/// `text` cut at a character boundary to at most `max` bytes, with `…`
/// when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
