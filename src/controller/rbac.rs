//! The runner's identity and permissions in a namespace, created by the
//! controller where runs start: ServiceAccount `sluice-runner`, a Role
//! `sluice-runner` that may only `get` FlowRuns, Flows and
//! ConnectorProfiles and `patch` FlowRun status, and a RoleBinding of that
//! Role to the account (and to a Flow's own `runTemplate.serviceAccountName`
//! when it names one). Applied server-side, idempotently, owned by nothing:
//! they outlive any one Flow and are shared by all Flows of the namespace.
//! The runner never reads Secrets through the API: they are mounted.
//!
//! ConnectorProfile validation pods (`sluice check`) get an identity of
//! their own, narrower still: ServiceAccount `sluice-validation` and a Role
//! of the same name that may only `get` ConnectorProfiles.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::job::label_value;
use super::{
    Context, Error, FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL, RUNNER_SERVICE_ACCOUNT, Result,
};

/// The service account, Role and RoleBinding of ConnectorProfile
/// validation pods in each namespace with profiles.
pub const VALIDATION_SERVICE_ACCOUNT: &str = "sluice-validation";

fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some([(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned())].into()),
        ..ObjectMeta::default()
    }
}

/// The runner's ServiceAccount in `namespace`.
pub fn service_account(namespace: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(RUNNER_SERVICE_ACCOUNT, namespace),
        ..ServiceAccount::default()
    }
}

fn rule(resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![crate::api::GROUP.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// The runner's Role in `namespace`: read its FlowRun, Flow and profiles,
/// patch FlowRun status. Nothing else, and no Secrets.
pub fn role(namespace: &str) -> Role {
    Role {
        metadata: meta(RUNNER_SERVICE_ACCOUNT, namespace),
        rules: Some(vec![
            rule(&["flowruns", "flows", "connectorprofiles"], &["get"]),
            rule(&["flowruns/status"], &["patch"]),
        ]),
    }
}

/// The name of the RoleBinding granting the runner Role to `account`.
pub fn role_binding_name(account: &str) -> String {
    if account == RUNNER_SERVICE_ACCOUNT {
        RUNNER_SERVICE_ACCOUNT.to_owned()
    } else {
        label_value(&format!("{RUNNER_SERVICE_ACCOUNT}-{account}"))
    }
}

/// The RoleBinding of the runner Role to `account` in `namespace`.
pub fn role_binding(namespace: &str, account: &str) -> RoleBinding {
    RoleBinding {
        metadata: meta(&role_binding_name(account), namespace),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "Role".to_owned(),
            name: RUNNER_SERVICE_ACCOUNT.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: account.to_owned(),
            namespace: Some(namespace.to_owned()),
            api_group: None,
        }]),
    }
}

/// The validation pods' ServiceAccount in `namespace`.
pub fn validation_service_account(namespace: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(VALIDATION_SERVICE_ACCOUNT, namespace),
        ..ServiceAccount::default()
    }
}

/// The validation pods' Role in `namespace`: `get` ConnectorProfiles,
/// which is all `sluice check` asks of the API. No Secrets.
pub fn validation_role(namespace: &str) -> Role {
    Role {
        metadata: meta(VALIDATION_SERVICE_ACCOUNT, namespace),
        rules: Some(vec![rule(&["connectorprofiles"], &["get"])]),
    }
}

/// The RoleBinding of the validation Role to its ServiceAccount.
pub fn validation_role_binding(namespace: &str) -> RoleBinding {
    RoleBinding {
        metadata: meta(VALIDATION_SERVICE_ACCOUNT, namespace),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "Role".to_owned(),
            name: VALIDATION_SERVICE_ACCOUNT.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: VALIDATION_SERVICE_ACCOUNT.to_owned(),
            namespace: Some(namespace.to_owned()),
            api_group: None,
        }]),
    }
}

async fn apply<K>(api: Api<K>, object: &K, what: &str) -> Result<()>
where
    K: kube::Resource + serde::Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(object))
        .await
        .map_err(Error::apply(format!("applying {what} {name}")))?;
    Ok(())
}

/// Applies the runner's ServiceAccount (when `account` is the default one),
/// Role and RoleBinding in `namespace`, once per process.
pub async fn ensure_runner_rbac(ctx: &Context, namespace: &str, account: &str) -> Result<()> {
    let key = (namespace.to_owned(), account.to_owned());
    if ctx
        .rbac_applied
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key)
    {
        return Ok(());
    }
    let client = ctx.client.clone();
    if account == RUNNER_SERVICE_ACCOUNT {
        let api = Api::<ServiceAccount>::namespaced(client.clone(), namespace);
        apply(api, &service_account(namespace), "ServiceAccount").await?;
    }
    let api = Api::<Role>::namespaced(client.clone(), namespace);
    apply(api, &role(namespace), "Role").await?;
    let api = Api::<RoleBinding>::namespaced(client, namespace);
    apply(api, &role_binding(namespace, account), "RoleBinding").await?;
    ctx.rbac_applied
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key);
    Ok(())
}

/// Applies the validation pods' ServiceAccount, Role and RoleBinding in
/// `namespace`, once per process.
pub async fn ensure_validation_rbac(ctx: &Context, namespace: &str) -> Result<()> {
    // Keyed apart from the runner's accounts, which a Flow names freely.
    let key = (
        namespace.to_owned(),
        format!("{VALIDATION_SERVICE_ACCOUNT}/validation"),
    );
    if ctx
        .rbac_applied
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key)
    {
        return Ok(());
    }
    let client = ctx.client.clone();
    let api = Api::<ServiceAccount>::namespaced(client.clone(), namespace);
    apply(
        api,
        &validation_service_account(namespace),
        "ServiceAccount",
    )
    .await?;
    let api = Api::<Role>::namespaced(client.clone(), namespace);
    apply(api, &validation_role(namespace), "Role").await?;
    let api = Api::<RoleBinding>::namespaced(client, namespace);
    apply(api, &validation_role_binding(namespace), "RoleBinding").await?;
    ctx.rbac_applied
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_role_grants_reads_and_status_patches_only() {
        let role = role("team-a");
        let rules = role.rules.unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[0].resources.as_deref().unwrap(),
            ["flowruns", "flows", "connectorprofiles"]
        );
        assert_eq!(rules[0].verbs, ["get"]);
        assert_eq!(rules[1].resources.as_deref().unwrap(), ["flowruns/status"]);
        assert_eq!(rules[1].verbs, ["patch"]);
        for rule in &rules {
            assert_eq!(rule.api_groups.as_deref().unwrap(), ["sluice.dev"]);
        }
    }

    #[test]
    fn validation_pods_may_only_read_profiles() {
        let role = validation_role("team-a");
        let rules = role.rules.unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].api_groups.as_deref().unwrap(), ["sluice.dev"]);
        assert_eq!(
            rules[0].resources.as_deref().unwrap(),
            ["connectorprofiles"]
        );
        assert_eq!(rules[0].verbs, ["get"]);
        assert_eq!(role.metadata.name.as_deref(), Some("sluice-validation"));
        let binding = validation_role_binding("team-a");
        assert_eq!(binding.role_ref.name, "sluice-validation");
        let subject = &binding.subjects.unwrap()[0];
        assert_eq!(
            (subject.name.as_str(), subject.namespace.as_deref()),
            ("sluice-validation", Some("team-a"))
        );
        assert_eq!(
            validation_service_account("team-a")
                .metadata
                .name
                .as_deref(),
            Some("sluice-validation")
        );
    }

    #[test]
    fn bindings_name_their_account() {
        let default = role_binding("ns", RUNNER_SERVICE_ACCOUNT);
        assert_eq!(default.metadata.name.as_deref(), Some("sluice-runner"));
        let custom = role_binding("ns", "etl");
        assert_eq!(custom.metadata.name.as_deref(), Some("sluice-runner-etl"));
        let subject = &custom.subjects.unwrap()[0];
        assert_eq!(
            (subject.kind.as_str(), subject.name.as_str()),
            ("ServiceAccount", "etl")
        );
        assert_eq!(subject.namespace.as_deref(), Some("ns"));
        assert_eq!(custom.role_ref.name, "sluice-runner");
    }
}
