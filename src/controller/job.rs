//! The Job of a FlowRun, built by a pure function of validated data
//! ([`build_job`]), and the hardened pod spec it shares with the
//! ConnectorProfile validation Job ([`pod_template`]).
//!
//! The pod runs `sluice run` as a non-root user with a read-only root file
//! system (an emptyDir at `/tmp` is the only writable place), no privilege
//! escalation, every capability dropped and the RuntimeDefault seccomp
//! profile. The Secret keys its profiles' credentials name are mounted
//! read-only, and only those keys, at `$SLUICE_SECRETS_DIR/{secret}/{key}`
//! — the contract of [`crate::protocol`] and [`crate::connectors::secrets`]. The controller never reads them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, KeyToPath, PodSecurityContext, PodSpec,
    PodTemplateSpec, SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use super::children::controller_ref;
use super::{
    COMPONENT_LABEL, COMPONENT_RUNNER, FLOW_LABEL, FLOW_RUN_ANNOTATION, FLOW_RUN_LABEL, MANAGED_BY,
    MANAGED_BY_LABEL,
};
use crate::api::v1alpha1::FlowRun;
use crate::api::v1alpha1::connector_profile::Credentials;
use crate::api::v1alpha1::flow::RunTemplate;
use crate::protocol::{DEFAULT_SECRETS_DIR, SECRETS_DIR_ENV};

/// The user id and group of the runner container (the distroless
/// `nonroot` user).
pub const RUNNER_UID: i64 = 65532;
/// The runner container's name.
pub const RUNNER_CONTAINER: &str = "runner";
/// The environment variable holding the FlowRun's namespace.
pub const NAMESPACE_ENV: &str = "SLUICE_NAMESPACE";
/// The environment variable holding the FlowRun's name.
pub const FLOW_RUN_ENV: &str = "SLUICE_FLOW_RUN";
/// The writable scratch directory of the pod (an emptyDir), also its
/// working directory.
pub const SCRATCH_DIR: &str = "/tmp";
/// The name of the scratch volume.
pub const SCRATCH_VOLUME: &str = "tmp";

/// Keys of Kubernetes Secrets to mount: Secret name → key names.
pub type SecretMounts = BTreeMap<String, BTreeSet<String>>;

/// The Secret keys a profile's credentials read, when they are kept in a
/// Kubernetes Secret (`secretRef`): the Secret's name and the keys the auth
/// scheme names. `None` for AWS Secrets Manager, `awsIam`, `none` or no
/// credentials.
pub fn credential_keys(credentials: &Credentials) -> Option<(String, BTreeSet<String>)> {
    let secret = credentials.secret_ref.as_ref()?.name.clone();
    let mut keys = BTreeSet::new();
    if let Some(oauth2) = &credentials.oauth2 {
        keys.insert(oauth2.client_id_key.clone());
        keys.extend(oauth2.client_secret_key.iter().cloned());
        keys.extend(oauth2.refresh_token_key.iter().cloned());
        keys.extend(oauth2.private_key_key.iter().cloned());
    }
    if let Some(api_key) = &credentials.api_key {
        keys.insert(api_key.key_key.clone());
        keys.extend(api_key.secret_key_key.iter().cloned());
    }
    if let Some(basic) = &credentials.basic {
        keys.insert(basic.username_key.clone());
        keys.insert(basic.password_key.clone());
    }
    if let Some(headers) = &credentials.custom_headers {
        keys.extend(headers.headers.iter().map(|h| h.key.clone()));
    }
    if let Some(aws) = &credentials.aws_access_key {
        keys.insert(aws.access_key_id_key.clone());
        keys.insert(aws.secret_access_key_key.clone());
        keys.extend(aws.session_token_key.iter().cloned());
    }
    Some((secret, keys))
}

/// The Secret keys to mount for a set of profiles' credentials.
pub fn secret_mounts<'a>(credentials: impl IntoIterator<Item = &'a Credentials>) -> SecretMounts {
    let mut mounts = SecretMounts::new();
    for credentials in credentials {
        if let Some((secret, keys)) = credential_keys(credentials) {
            mounts.entry(secret).or_default().extend(keys);
        }
    }
    mounts
}

fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..4])
}

/// `name` as a label value: itself when it fits (63 characters), otherwise
/// a prefix and a hash of the whole name.
pub fn label_value(name: &str) -> String {
    if name.len() <= 63 {
        return name.to_owned();
    }
    let prefix: String = name.chars().take(54).collect();
    let prefix = prefix.trim_end_matches(['-', '.']);
    format!("{prefix}-{}", short_hash(name))
}

/// The name of a FlowRun's Job: the FlowRun's name when it is a DNS label
/// of at most 63 characters (the Job controller's `job-name` label needs
/// one), otherwise a DNS-label prefix of it and a hash of the whole name.
/// Stable, so a restarted controller finds the Job it created.
pub fn job_name(run_name: &str) -> String {
    if run_name.len() <= 63 && !run_name.contains('.') {
        return run_name.to_owned();
    }
    let prefix: String = run_name
        .chars()
        .map(|c| if c == '.' { '-' } else { c })
        .take(54)
        .collect();
    let prefix = prefix.trim_end_matches('-');
    format!("{prefix}-{}", short_hash(run_name))
}

/// What a Sluice pod runs and with which settings: the part of a run's
/// Job that a ConnectorProfile validation Job shares.
#[derive(Debug, Clone)]
pub struct PodSettings<'a> {
    /// The Sluice image.
    pub image: &'a str,
    /// The command line, starting with `sluice`.
    pub command: Vec<String>,
    /// Environment variables besides `SLUICE_SECRETS_DIR`.
    pub env: Vec<(String, String)>,
    /// The Secret keys to mount.
    pub secrets: &'a SecretMounts,
    /// Start the pod even when a Secret or key is missing (the key's file
    /// is then absent, and `sluice` reports it by name); otherwise the pod
    /// waits for them.
    pub optional_secrets: bool,
    /// The pod's service account.
    pub service_account: &'a str,
    /// Resources, node selector, tolerations, pod labels and annotations
    /// (the Job-level fields of the template are applied by the caller).
    pub template: &'a RunTemplate,
    /// Labels of the pod, added over the template's `podLabels`.
    pub labels: BTreeMap<String, String>,
    /// Annotations of the pod, added over the template's `podAnnotations`.
    pub annotations: BTreeMap<String, String>,
}

/// The hardened pod template of a Sluice Job.
pub fn pod_template(settings: &PodSettings<'_>) -> PodTemplateSpec {
    let mut env = vec![EnvVar {
        name: SECRETS_DIR_ENV.to_owned(),
        value: Some(DEFAULT_SECRETS_DIR.to_owned()),
        ..EnvVar::default()
    }];
    env.extend(settings.env.iter().map(|(name, value)| EnvVar {
        name: name.clone(),
        value: Some(value.clone()),
        ..EnvVar::default()
    }));
    env.push(EnvVar {
        name: "HOME".to_owned(),
        value: Some(SCRATCH_DIR.to_owned()),
        ..EnvVar::default()
    });

    let mut volumes = vec![Volume {
        name: SCRATCH_VOLUME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }];
    let mut mounts = vec![VolumeMount {
        name: SCRATCH_VOLUME.to_owned(),
        mount_path: SCRATCH_DIR.to_owned(),
        ..VolumeMount::default()
    }];
    for (index, (secret, keys)) in settings.secrets.iter().enumerate() {
        let name = format!("secret-{index}");
        volumes.push(Volume {
            name: name.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                items: Some(
                    keys.iter()
                        .map(|key| KeyToPath {
                            key: key.clone(),
                            path: key.clone(),
                            ..KeyToPath::default()
                        })
                        .collect(),
                ),
                // Readable by the runner's group only.
                default_mode: Some(0o440),
                optional: Some(settings.optional_secrets),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(VolumeMount {
            name,
            mount_path: format!("{DEFAULT_SECRETS_DIR}/{secret}"),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }

    let seccomp = || SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        localhost_profile: None,
    };
    let container = Container {
        name: RUNNER_CONTAINER.to_owned(),
        image: Some(settings.image.to_owned()),
        command: Some(settings.command.clone()),
        env: Some(env),
        working_dir: Some(SCRATCH_DIR.to_owned()),
        resources: settings.template.resources.clone(),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUNNER_UID),
            run_as_group: Some(RUNNER_UID),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            seccomp_profile: Some(seccomp()),
            ..SecurityContext::default()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    };

    let mut labels = settings.template.pod_labels.clone();
    labels.extend(settings.labels.clone());
    let mut annotations = settings.template.pod_annotations.clone();
    annotations.extend(settings.annotations.clone());
    let non_empty = |map: BTreeMap<String, String>| (!map.is_empty()).then_some(map);

    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: non_empty(labels),
            annotations: non_empty(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container],
            restart_policy: Some("Never".to_owned()),
            service_account_name: Some(settings.service_account.to_owned()),
            automount_service_account_token: Some(true),
            enable_service_links: Some(false),
            node_selector: non_empty(settings.template.node_selector.clone()),
            tolerations: (!settings.template.tolerations.is_empty())
                .then(|| settings.template.tolerations.clone()),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(RUNNER_UID),
                run_as_group: Some(RUNNER_UID),
                fs_group: Some(RUNNER_UID),
                seccomp_profile: Some(seccomp()),
                ..PodSecurityContext::default()
            }),
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    }
}

/// A validated run, everything [`build_job`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunJob {
    /// The FlowRun's namespace.
    pub namespace: String,
    /// The FlowRun's name.
    pub run_name: String,
    /// The FlowRun's uid (the Job's owner).
    pub run_uid: String,
    /// The Flow's name.
    pub flow_name: String,
    /// The Sluice image.
    pub image: String,
    /// The service account of the pod.
    pub service_account: String,
    /// The Secret keys the run's profiles read.
    pub secrets: SecretMounts,
    /// The pinned Flow's run template (defaults when the Flow has none).
    pub template: RunTemplate,
}

/// The labels of a run's Job and pod.
pub fn run_labels(flow_name: &str, run_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
        (COMPONENT_LABEL.to_owned(), COMPONENT_RUNNER.to_owned()),
        (FLOW_LABEL.to_owned(), label_value(flow_name)),
        (FLOW_RUN_LABEL.to_owned(), label_value(run_name)),
    ])
}

/// The Job that executes a FlowRun: `sluice run` with the run's identity in
/// the environment, owned by the FlowRun.
pub fn build_job(run: &RunJob) -> Job {
    let labels = run_labels(&run.flow_name, &run.run_name);
    let annotations = BTreeMap::from([(FLOW_RUN_ANNOTATION.to_owned(), run.run_name.clone())]);
    let settings = PodSettings {
        image: &run.image,
        command: vec!["sluice".to_owned(), "run".to_owned()],
        env: vec![
            (NAMESPACE_ENV.to_owned(), run.namespace.clone()),
            (FLOW_RUN_ENV.to_owned(), run.run_name.clone()),
        ],
        secrets: &run.secrets,
        optional_secrets: false,
        service_account: &run.service_account,
        template: &run.template,
        labels: labels.clone(),
        annotations: annotations.clone(),
    };
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&run.run_name)),
            namespace: Some(run.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref::<FlowRun>(&run.run_name, &run.run_uid)]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(run.template.backoff_limit),
            active_deadline_seconds: run.template.active_deadline_seconds,
            // A failure the runner calls not retryable (refused credentials,
            // an invalid spec) fails the Job at once: retrying would only
            // repeat it, and against an API, look like an attack.
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![PodFailurePolicyRule {
                    action: "FailJob".to_owned(),
                    on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                        container_name: Some(RUNNER_CONTAINER.to_owned()),
                        operator: "In".to_owned(),
                        values: vec![i32::from(crate::protocol::EXIT_NOT_RETRYABLE)],
                    }),
                    on_pod_conditions: None,
                }],
            }),
            template: pod_template(&settings),
            ..JobSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::v1alpha1::common::LocalObjectReference;
    use crate::api::v1alpha1::connector_profile::{ApiKey, Basic, Credentials};
    use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn credentials(secret: Option<&str>) -> Credentials {
        Credentials {
            secret_ref: secret.map(|name| LocalObjectReference {
                name: name.to_owned(),
            }),
            aws_secrets_manager: None,
            oauth2: None,
            api_key: None,
            basic: None,
            custom_headers: None,
            aws_access_key: None,
            aws_iam: None,
            none: None,
        }
    }

    fn basic(secret: &str) -> Credentials {
        Credentials {
            basic: Some(Basic {
                username_key: "user".to_owned(),
                password_key: "pass".to_owned(),
            }),
            ..credentials(Some(secret))
        }
    }

    fn run() -> RunJob {
        RunJob {
            namespace: "team-a".to_owned(),
            run_name: "orders-manual-1".to_owned(),
            run_uid: "uid-1".to_owned(),
            flow_name: "orders".to_owned(),
            image: "ghcr.io/example/sluice:1.0".to_owned(),
            service_account: "sluice-runner".to_owned(),
            secrets: secret_mounts([&basic("pg")]),
            template: RunTemplate {
                backoff_limit: 2,
                ..RunTemplate::default()
            },
        }
    }

    fn pod(job: &Job) -> &PodSpec {
        job.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
    }

    #[test]
    fn the_job_runs_sluice_run_with_the_runs_identity() {
        let job = build_job(&run());
        assert_eq!(job.metadata.name.as_deref(), Some("orders-manual-1"));
        assert_eq!(job.metadata.namespace.as_deref(), Some("team-a"));
        let container = &pod(&job).containers[0];
        assert_eq!(
            container.image.as_deref(),
            Some("ghcr.io/example/sluice:1.0")
        );
        assert_eq!(container.command.as_deref().unwrap(), ["sluice", "run"]);
        let env: BTreeMap<_, _> = container
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_deref().unwrap()))
            .collect();
        assert_eq!(env["SLUICE_NAMESPACE"], "team-a");
        assert_eq!(env["SLUICE_FLOW_RUN"], "orders-manual-1");
        assert_eq!(env["SLUICE_SECRETS_DIR"], "/var/run/secrets/sluice");
        assert_eq!(pod(&job).restart_policy.as_deref(), Some("Never"));
        assert_eq!(
            pod(&job).service_account_name.as_deref(),
            Some("sluice-runner")
        );
    }

    #[test]
    fn the_job_is_owned_by_its_flow_run_and_labelled() {
        let job = build_job(&run());
        let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("FlowRun", "orders-manual-1", "uid-1")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
        let labels = job.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[MANAGED_BY_LABEL], "sluice");
        assert_eq!(labels[FLOW_LABEL], "orders");
        assert_eq!(labels[FLOW_RUN_LABEL], "orders-manual-1");
        let pod_meta = job
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap();
        assert_eq!(
            pod_meta.labels.as_ref().unwrap()[FLOW_RUN_LABEL],
            "orders-manual-1"
        );
        assert_eq!(
            pod_meta.annotations.as_ref().unwrap()[FLOW_RUN_ANNOTATION],
            "orders-manual-1"
        );
    }

    #[test]
    fn the_pod_is_hardened() {
        let job = build_job(&run());
        let pod = pod(&job);
        let pod_security = pod.security_context.as_ref().unwrap();
        assert_eq!(pod_security.run_as_non_root, Some(true));
        assert_eq!(
            pod_security.seccomp_profile.as_ref().unwrap().type_,
            "RuntimeDefault"
        );
        let security = pod.containers[0].security_context.as_ref().unwrap();
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(security.run_as_non_root, Some(true));
        assert_eq!(
            security
                .capabilities
                .as_ref()
                .unwrap()
                .drop
                .as_deref()
                .unwrap(),
            ["ALL"]
        );
        assert_eq!(
            security.seccomp_profile.as_ref().unwrap().type_,
            "RuntimeDefault"
        );
        // The only writable place is the scratch emptyDir.
        let mounts = pod.containers[0].volume_mounts.as_ref().unwrap();
        let writable: Vec<_> = mounts
            .iter()
            .filter(|m| m.read_only != Some(true))
            .map(|m| m.mount_path.as_str())
            .collect();
        assert_eq!(writable, ["/tmp"]);
        let tmp = &pod.volumes.as_ref().unwrap()[0];
        assert!(tmp.empty_dir.is_some());
    }

    #[test]
    fn only_the_referenced_secret_keys_are_mounted_read_only() {
        let api = Credentials {
            api_key: Some(ApiKey {
                key_key: "token".to_owned(),
                secret_key_key: None,
                placement: Default::default(),
                name: "Authorization".to_owned(),
                prefix: None,
            }),
            ..credentials(Some("crm"))
        };
        let none = credentials(None);
        let mut job_run = run();
        job_run.secrets = secret_mounts([&basic("pg"), &api, &none, &basic("pg")]);
        let job = build_job(&job_run);
        let pod = pod(&job);
        let volumes: BTreeMap<_, _> = pod
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .filter_map(|v| v.secret.as_ref().map(|s| (v.name.as_str(), s)))
            .collect();
        assert_eq!(volumes.len(), 2);
        let by_secret: BTreeMap<_, Vec<_>> = volumes
            .values()
            .map(|s| {
                (
                    s.secret_name.as_deref().unwrap(),
                    s.items
                        .as_ref()
                        .unwrap()
                        .iter()
                        .map(|i| (i.key.as_str(), i.path.as_str()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(by_secret["crm"], [("token", "token")]);
        assert_eq!(by_secret["pg"], [("pass", "pass"), ("user", "user")]);
        let mounts: BTreeMap<_, _> = pod.containers[0]
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.mount_path.as_str(), m))
            .collect();
        for secret in ["crm", "pg"] {
            let mount = mounts[format!("/var/run/secrets/sluice/{secret}").as_str()];
            assert_eq!(mount.read_only, Some(true));
            assert_eq!(
                volumes[mount.name.as_str()].secret_name.as_deref(),
                Some(secret)
            );
        }
    }

    #[test]
    fn the_run_template_is_applied() {
        let mut job_run = run();
        job_run.template = RunTemplate {
            service_account_name: Some("etl".to_owned()),
            resources: Some(ResourceRequirements {
                limits: Some(BTreeMap::from([(
                    "memory".to_owned(),
                    Quantity("512Mi".to_owned()),
                )])),
                ..ResourceRequirements::default()
            }),
            node_selector: BTreeMap::from([("pool".to_owned(), "batch".to_owned())]),
            tolerations: vec![Toleration {
                key: Some("batch".to_owned()),
                operator: Some("Exists".to_owned()),
                ..Toleration::default()
            }],
            active_deadline_seconds: Some(600),
            backoff_limit: 4,
            pod_labels: BTreeMap::from([
                ("team".to_owned(), "data".to_owned()),
                // The controller's labels win.
                (FLOW_LABEL.to_owned(), "spoofed".to_owned()),
            ]),
            pod_annotations: BTreeMap::from([("note".to_owned(), "x".to_owned())]),
        };
        job_run.service_account = "etl".to_owned();
        let job = build_job(&job_run);
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.backoff_limit, Some(4));
        let rule = &spec.pod_failure_policy.as_ref().unwrap().rules[0];
        assert_eq!(rule.action, "FailJob");
        let codes = rule.on_exit_codes.as_ref().unwrap();
        assert_eq!(codes.values, vec![3]);
        assert_eq!(codes.container_name.as_deref(), Some(RUNNER_CONTAINER));
        assert_eq!(spec.active_deadline_seconds, Some(600));
        let pod = pod(&job);
        assert_eq!(pod.service_account_name.as_deref(), Some("etl"));
        assert_eq!(pod.node_selector.as_ref().unwrap()["pool"], "batch");
        assert_eq!(
            pod.tolerations.as_ref().unwrap()[0].key.as_deref(),
            Some("batch")
        );
        assert_eq!(
            pod.containers[0]
                .resources
                .as_ref()
                .unwrap()
                .limits
                .as_ref()
                .unwrap()["memory"],
            Quantity("512Mi".to_owned())
        );
        let meta = spec.template.metadata.as_ref().unwrap();
        assert_eq!(meta.labels.as_ref().unwrap()["team"], "data");
        assert_eq!(meta.labels.as_ref().unwrap()[FLOW_LABEL], "orders");
        assert_eq!(meta.annotations.as_ref().unwrap()["note"], "x");
    }

    #[test]
    fn long_names_are_shortened_stably() {
        let long = format!("{}.x", "a".repeat(100));
        let name = job_name(&long);
        assert!(name.len() <= 63, "{name}");
        assert!(!name.contains('.'));
        assert_eq!(name, job_name(&long));
        assert_ne!(name, job_name(&format!("{}.y", "a".repeat(100))));
        assert_eq!(job_name("short"), "short");
        assert_eq!(
            job_name("with.dot"),
            format!("with-dot-{}", short_hash("with.dot"))
        );
        let value = label_value(&long);
        assert!(value.len() <= 63);
        assert!(value.chars().last().unwrap().is_ascii_alphanumeric());
        assert_eq!(label_value("with.dot"), "with.dot");
    }
}
