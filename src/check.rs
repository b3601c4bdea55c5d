//! `sluice check`: the entry point of a ConnectorProfile's validation Job.
//!
//! Reads the profile from the API, resolves its credentials as a run pod
//! does (Secret keys mounted as files under `$SLUICE_SECRETS_DIR`, or AWS
//! Secrets Manager with the pod's identity), runs the connector's connection
//! check ([`crate::connectors::catalog::Profile::check`]) and writes the outcome as one
//! line of JSON, a [`CheckResult`], to standard output and to the
//! container's termination message file (`$SLUICE_TERMINATION_LOG`, else
//! `/dev/termination-log` when it exists). The controller reads it from the
//! finished pod's `state.terminated.message` and reports it on the
//! profile's `Ready` condition.
//!
//! A failed check is a result, not a crash: the process exits 0 either way
//! and fails only when it could not check at all (the API cannot be asked,
//! the message file cannot be written). Messages are the catalog's and the
//! secret resolver's, which name profiles, Secrets and keys but never hold
//! a value.

use std::path::{Path, PathBuf};

use kube::api::Api;

use crate::api::v1alpha1::ConnectorProfile;
use crate::api::v1alpha1::flow_run::ErrorReason;
use crate::connectors::catalog;
use crate::connectors::secrets::Resolver;
use crate::pipeline::error::Classify;
pub use crate::protocol::{
    CheckResult, DEFAULT_TERMINATION_LOG, MAX_MESSAGE_BYTES, TERMINATION_LOG_ENV, truncate,
};

/// The `Ready` reason of a profile whose check passed.
pub use crate::api::v1alpha1::reason::VALIDATED;

/// Errors that keep the check from producing a result.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or could not answer.
    #[error("reading ConnectorProfile {namespace}/{name}: {source}")]
    ReadProfile {
        /// The profile's namespace.
        namespace: String,
        /// The profile's name.
        name: String,
        /// The client's error.
        source: kube::Error,
    },
    /// The check's thread failed.
    #[error("the connection check did not finish: {0}")]
    Task(String),
    /// The result could not be written.
    #[error("cannot write the result to {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks `profile` (named `name`) with the credentials `secrets` resolves,
/// `file` roots relative to `working_dir`. Blocking: connectors run their
/// own runtimes.
pub fn check_profile(
    name: &str,
    profile: &ConnectorProfile,
    secrets: &Resolver,
    working_dir: &Path,
) -> CheckResult {
    let profile = catalog::Profile {
        name,
        profile,
        secrets,
        working_dir,
    };
    match profile.check() {
        Ok(()) => CheckResult::validated(name),
        Err(error) => CheckResult::failed(
            error.condition_reason(),
            &crate::connectors::secrets::redact(&error.to_string()),
        ),
    }
}

/// Which profile to check.
#[derive(Debug, Clone)]
pub struct Request {
    /// The profile's namespace.
    pub namespace: String,
    /// The profile's name.
    pub name: String,
    /// Directory relative `file` roots resolve against.
    pub working_dir: PathBuf,
}

/// Reads the profile from the API and checks it with the mounted
/// credentials. A profile that no longer exists is a failed result.
pub async fn check(client: kube::Client, request: Request) -> Result<CheckResult> {
    let api: Api<ConnectorProfile> = Api::namespaced(client, &request.namespace);
    let profile = api
        .get_opt(&request.name)
        .await
        .map_err(|source| Error::ReadProfile {
            namespace: request.namespace.clone(),
            name: request.name.clone(),
            source,
        })?;
    let Some(profile) = profile else {
        return Ok(CheckResult::failed(
            ErrorReason::ReferenceNotFound.as_str(),
            &format!(
                "ConnectorProfile {:?} does not exist in namespace {}",
                request.name, request.namespace
            ),
        ));
    };
    let secrets = Resolver::mounted_from_env();
    tokio::task::spawn_blocking(move || {
        check_profile(&request.name, &profile, &secrets, &request.working_dir)
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))
}

/// Where the result is written: `$SLUICE_TERMINATION_LOG`, else
/// [`DEFAULT_TERMINATION_LOG`] when it exists (the kubelet provides it in
/// every container); `None` outside a pod, where standard output is enough.
pub fn termination_log() -> Option<PathBuf> {
    match std::env::var_os(TERMINATION_LOG_ENV).filter(|p| !p.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            let default = PathBuf::from(DEFAULT_TERMINATION_LOG);
            default.exists().then_some(default)
        }
    }
}

/// Writes `result` as one JSON line to `path`.
pub fn write_result(result: &CheckResult, path: &Path) -> Result<()> {
    let line = crate::connectors::secrets::redact(&result.to_line());
    std::fs::write(path, format!("{line}\n")).map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn profile(spec: serde_json::Value) -> ConnectorProfile {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "sluice.dev/v1alpha1",
            "kind": "ConnectorProfile",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[test]
    fn a_reachable_file_root_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let result = check_profile(
            "local",
            &profile(serde_json::json!({"file": {"root": "data"}})),
            &Resolver::mounted(dir.path().join("secrets")),
            dir.path(),
        );
        assert!(result.ready, "{result:?}");
        assert_eq!(result.reason, VALIDATED);
        let missing = check_profile(
            "local",
            &profile(serde_json::json!({"file": {"root": "nowhere"}})),
            &Resolver::mounted(dir.path().join("secrets")),
            dir.path(),
        );
        assert!(!missing.ready);
        assert_eq!(missing.reason, "ReferenceNotFound");
        assert!(missing.message.contains("nowhere"), "{}", missing.message);
    }

    #[test]
    fn failures_are_classified_and_never_hold_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pg")).unwrap();
        std::fs::write(dir.path().join("pg/user"), "app").unwrap();
        std::fs::write(dir.path().join("pg/pass"), "s3cr3t-check-pass").unwrap();
        let secrets = Resolver::mounted(dir.path());
        let spec = |port: u16, password_key: &str| {
            profile(serde_json::json!({
                "postgres": {"host": "127.0.0.1", "port": port, "database": "app", "sslMode": "Disable"},
                "credentials": {"secretRef": {"name": "pg"}, "basic": {"usernameKey": "user", "passwordKey": password_key}},
            }))
        };
        let unreachable = check_profile("db", &spec(closed_port(), "pass"), &secrets, dir.path());
        assert!(!unreachable.ready);
        assert_eq!(unreachable.reason, "Unreachable", "{unreachable:?}");
        assert!(
            unreachable.message.contains("ConnectorProfile \"db\""),
            "{}",
            unreachable.message
        );
        let missing = check_profile("db", &spec(closed_port(), "nokey"), &secrets, dir.path());
        assert_eq!(missing.reason, "SecretNotFound", "{missing:?}");
        assert!(missing.message.contains("\"nokey\""), "{}", missing.message);
        for result in [&unreachable, &missing] {
            assert!(
                !result.to_line().contains("s3cr3t-check-pass"),
                "{result:?}"
            );
        }
    }

    #[test]
    fn results_round_trip_through_one_json_line() {
        let result = CheckResult::failed("Unreachable", "no route\nto host");
        let line = result.to_line();
        assert!(!line.contains('\n'));
        assert_eq!(CheckResult::parse(&format!("{line}\n")), Some(result));
        assert_eq!(
            CheckResult::parse("error: cannot reach the API server"),
            None
        );
        assert_eq!(CheckResult::parse(""), None);
        let validated = CheckResult::validated("p");
        assert!(validated.ready);
        assert_eq!(CheckResult::parse(&validated.to_line()), Some(validated));
    }

    #[test]
    fn long_messages_fit_a_termination_message() {
        let result = CheckResult::failed("Internal", &"é".repeat(5000));
        assert!(result.message.len() <= MAX_MESSAGE_BYTES);
        assert!(result.message.ends_with('…'));
        assert!(result.to_line().len() < 4096);
        assert_eq!(truncate("short", 10), "short");
    }

    #[test]
    fn the_result_is_written_where_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("termination-log");
        let result = CheckResult::validated("p");
        write_result(&result, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(CheckResult::parse(&text), Some(result));
        let error = write_result(
            &CheckResult::validated("p"),
            &dir.path().join("no/such/file"),
        );
        assert!(matches!(error, Err(Error::Write { .. })));
    }
}
