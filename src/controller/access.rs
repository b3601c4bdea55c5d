//! Which Secrets a tenant's objects may use: only those whose owners opted
//! in with the label [`ALLOW_LABEL`]`=true`.
//!
//! A ConnectorProfile names a Secret and keys of it; the controller mounts
//! those keys into the profile's validation pod and into run pods, which
//! send them to the profile's host. Without a check, whoever may write a
//! profile could have any Secret of the namespace sent to a host of their
//! choosing. So, unless the check is turned off (`--require-secret-opt-in
//! =false`, for single-tenant clusters), the controller reads each Secret's
//! metadata (never its data) before it mounts it, and mounts it only when
//! the Secret carries the label. A Secret without it stops the run or the
//! profile's check with `Forbidden` and a message saying how to opt in; a
//! Secret that does not exist stops it with `SecretNotFound` /
//! `ReferenceNotFound`. Both are checked again every [`RECHECK`], since
//! Secrets are not watched.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::job::SecretMounts;
use super::{Context, Error, Result};
pub use crate::api::v1alpha1::common::ALLOW_LABEL;

/// How often a run or profile stopped on a Secret looks again.
pub const RECHECK: Duration = Duration::from_secs(30);

/// What the controller found of a Secret a profile names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretAccess {
    /// It exists and carries `sluice.dev/allowed=true`.
    Allowed,
    /// It exists without the label.
    NotAllowed,
    /// It does not exist.
    Missing,
}

/// The access of each Secret of `mounts`, read as metadata only; `None`
/// when the controller does not require the opt-in.
pub async fn secret_access(
    ctx: &Context,
    namespace: &str,
    mounts: &SecretMounts,
) -> Result<Option<BTreeMap<String, SecretAccess>>> {
    if !ctx.config.require_secret_opt_in {
        return Ok(None);
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut out = BTreeMap::new();
    for name in mounts.keys() {
        let meta = api
            .get_metadata_opt(name)
            .await
            .map_err(Error::dereference(format!(
                "reading the metadata of Secret {namespace}/{name}"
            )))?;
        let access = match meta {
            None => SecretAccess::Missing,
            Some(meta) if allowed(meta.metadata.labels.as_ref()) => SecretAccess::Allowed,
            Some(_) => SecretAccess::NotAllowed,
        };
        out.insert(name.clone(), access);
    }
    Ok(Some(out))
}

/// Whether labels opt a Secret in.
pub fn allowed(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels.and_then(|l| l.get(ALLOW_LABEL)).map(String::as_str) == Some("true")
}

/// Why a Secret may not be used, for a condition message: `None` when it
/// may. `who` says who names it (`ConnectorProfile "crm"`).
pub fn refusal(
    access: Option<&BTreeMap<String, SecretAccess>>,
    namespace: &str,
    secret: &str,
    who: &str,
) -> Option<(SecretAccess, String)> {
    let state = access?
        .get(secret)
        .copied()
        .unwrap_or(SecretAccess::Missing);
    match state {
        SecretAccess::Allowed => None,
        SecretAccess::NotAllowed => Some((
            state,
            format!(
                "{who} names Secret {secret:?}, which has not opted in to being used by Sluice; its owner opts in with: kubectl -n {namespace} label secret {secret} {ALLOW_LABEL}=true"
            ),
        )),
        SecretAccess::Missing => Some((
            state,
            format!(
                "{who} names Secret {secret:?}, which does not exist in namespace {namespace}; create it (labelled {ALLOW_LABEL}=true) or correct credentials.secretRef"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn only_the_label_set_to_true_opts_a_secret_in() {
        let labels = |v: &str| BTreeMap::from([(ALLOW_LABEL.to_owned(), v.to_owned())]);
        assert!(allowed(Some(&labels("true"))));
        assert!(!allowed(Some(&labels("yes"))));
        assert!(!allowed(Some(&BTreeMap::new())));
        assert!(!allowed(None));
    }

    #[test]
    fn refusals_say_how_to_opt_in_or_what_is_missing() {
        let access = BTreeMap::from([
            ("ok".to_owned(), SecretAccess::Allowed),
            ("theirs".to_owned(), SecretAccess::NotAllowed),
        ]);
        assert_eq!(refusal(Some(&access), "acme", "ok", "p"), None);
        assert_eq!(refusal(None, "acme", "theirs", "p"), None);
        let (state, message) = refusal(Some(&access), "acme", "theirs", "p").unwrap();
        assert_eq!(state, SecretAccess::NotAllowed);
        assert!(
            message.contains("kubectl -n acme label secret theirs sluice.dev/allowed=true"),
            "{message}"
        );
        let (state, message) = refusal(Some(&access), "acme", "gone", "p").unwrap();
        assert_eq!(state, SecretAccess::Missing);
        assert!(message.contains("does not exist"), "{message}");
    }
}
