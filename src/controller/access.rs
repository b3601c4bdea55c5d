//! Which Secrets and service accounts a tenant's objects may use: only
//! those whose owners opted in with the label [`ALLOW_LABEL`]`=true`.
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
//!
//! Service accounts likewise: a Flow's `runTemplate.serviceAccountName`
//! would run the pod with that account's token, and so its API and cloud
//! identity. Unless `--require-service-account-opt-in=false`, an account
//! other than the runner's own (`sluice-runner`, which the controller
//! creates) is used, and bound to the runner's Role, only when it carries
//! the label; otherwise the run stalls with `Forbidden` and nothing is
//! bound.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::Api;

use super::job::SecretMounts;
use super::{Context, Error, Result};
pub use crate::api::v1alpha1::common::ALLOW_LABEL;
use crate::api::v1alpha1::flow_run::ErrorReason;

/// How often a run or profile stopped on a Secret looks again.
pub const RECHECK: Duration = Duration::from_secs(30);

/// What the controller found of a Secret a profile names, or of a service
/// account a Flow names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptIn {
    /// It exists and carries `sluice.dev/allowed=true`.
    Allowed,
    /// It exists without the label.
    NotAllowed,
    /// It does not exist.
    Missing,
}

impl OptIn {
    /// The reason of a run stopped on it: `Forbidden` for an object that
    /// has not opted in, `ReferenceNotFound` for one that does not exist.
    pub fn run_reason(self) -> ErrorReason {
        match self {
            Self::NotAllowed => ErrorReason::Forbidden,
            Self::Allowed | Self::Missing => ErrorReason::ReferenceNotFound,
        }
    }
}

/// The access of each Secret of `mounts`, read as metadata only; `None`
/// when the controller does not require the opt-in.
pub async fn secret_access(
    ctx: &Context,
    namespace: &str,
    mounts: &SecretMounts,
) -> Result<Option<BTreeMap<String, OptIn>>> {
    if !ctx.config.require_secret_opt_in {
        return Ok(None);
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut out = BTreeMap::new();
    for name in mounts.keys() {
        out.insert(name.clone(), opt_in(&api, namespace, name).await?);
    }
    Ok(Some(out))
}

/// Whether the object `name` opted in, read as metadata only.
async fn opt_in<K>(api: &Api<K>, namespace: &str, name: &str) -> Result<OptIn>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let meta = api
        .get_metadata_opt(name)
        .await
        .map_err(Error::dereference(format!(
            "reading the metadata of {} {namespace}/{name}",
            K::kind(&())
        )))?;
    Ok(match meta {
        None => OptIn::Missing,
        Some(meta) if allowed(meta.metadata.labels.as_ref()) => OptIn::Allowed,
        Some(_) => OptIn::NotAllowed,
    })
}

/// Whether the service account `name` opted in; `None` when the
/// controller does not require it or `name` is the runner's own account.
pub async fn service_account_access(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Option<OptIn>> {
    if !ctx.config.require_service_account_opt_in || name == super::RUNNER_SERVICE_ACCOUNT {
        return Ok(None);
    }
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), namespace);
    opt_in(&api, namespace, name).await.map(Some)
}

/// Why a Flow may not run as `account`, for a condition message.
pub fn account_refusal(
    access: Option<OptIn>,
    namespace: &str,
    account: &str,
    who: &str,
) -> Option<(OptIn, String)> {
    match access? {
        OptIn::Allowed => None,
        OptIn::NotAllowed => Some((
            OptIn::NotAllowed,
            format!(
                "{who} names ServiceAccount {account:?}, which has not opted in to running Sluice runs; its owner opts in with: kubectl -n {namespace} label serviceaccount {account} {ALLOW_LABEL}=true"
            ),
        )),
        OptIn::Missing => Some((
            OptIn::Missing,
            format!(
                "{who} names ServiceAccount {account:?}, which does not exist in namespace {namespace}; create it (labelled {ALLOW_LABEL}=true) or remove runTemplate.serviceAccountName to run as {}",
                super::RUNNER_SERVICE_ACCOUNT
            ),
        )),
    }
}

/// Whether labels opt a Secret or a service account in.
pub fn allowed(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels.and_then(|l| l.get(ALLOW_LABEL)).map(String::as_str) == Some("true")
}

/// Why a Secret may not be used, for a condition message: `None` when it
/// may. `who` says who names it (`ConnectorProfile "crm"`).
pub fn refusal(
    access: Option<&BTreeMap<String, OptIn>>,
    namespace: &str,
    secret: &str,
    who: &str,
) -> Option<(OptIn, String)> {
    let state = access?.get(secret).copied().unwrap_or(OptIn::Missing);
    match state {
        OptIn::Allowed => None,
        OptIn::NotAllowed => Some((
            state,
            format!(
                "{who} names Secret {secret:?}, which has not opted in to being used by Sluice; its owner opts in with: kubectl -n {namespace} label secret {secret} {ALLOW_LABEL}=true"
            ),
        )),
        OptIn::Missing => Some((
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
            ("ok".to_owned(), OptIn::Allowed),
            ("theirs".to_owned(), OptIn::NotAllowed),
        ]);
        assert_eq!(refusal(Some(&access), "acme", "ok", "p"), None);
        assert_eq!(refusal(None, "acme", "theirs", "p"), None);
        let (state, message) = refusal(Some(&access), "acme", "theirs", "p").unwrap();
        assert_eq!(state, OptIn::NotAllowed);
        assert!(
            message.contains("kubectl -n acme label secret theirs sluice.dev/allowed=true"),
            "{message}"
        );
        let (state, message) = refusal(Some(&access), "acme", "gone", "p").unwrap();
        assert_eq!(state, OptIn::Missing);
        assert!(message.contains("does not exist"), "{message}");
    }
}
