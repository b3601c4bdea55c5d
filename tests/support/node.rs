//! The test plays the node. The control plane has no scheduler and no
//! kubelet, so for each pod the Job controller creates, [`Node`] runs the
//! pod's `sluice run` or `sluice check` as a local process with the pod's
//! environment and the pod's Secret volumes reproduced as files, then writes
//! the pod's outcome (with its termination message) on its status
//! (pods/status) so the Job controller finishes the Job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use super::bin::{Sluice, text};

/// What the test node does with a run's pod.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Run `sluice run` and report its exit code.
    Run,
    /// Leave the pod pending.
    Hold,
    /// Report the container OOMKilled.
    OomKill,
    /// Report the image unpullable, the pod staying pending.
    ImagePull,
}

/// Plays the kubelet for the pods of one namespace.
pub struct Node {
    task: tokio::task::JoinHandle<()>,
    outputs: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Starts playing the node for the pods of `ns`, doing `mode` with
    /// each, in the working directory `work`.
    pub fn start(client: Client, ns: &str, mode: Mode, work: &Path) -> Self {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let work = work.to_owned();
        let outputs = Arc::new(Mutex::new(Vec::new()));
        let log = outputs.clone();
        let ns = ns.to_owned();
        let task = tokio::spawn(async move {
            let mut seen = BTreeSet::new();
            let mut events = watcher(pods.clone(), watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                let Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event else {
                    continue;
                };
                let uid = pod.uid().unwrap_or_default();
                let pending = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .is_none_or(|p| p == "Pending");
                if !pending || !seen.insert(uid) || mode == Mode::Hold {
                    continue;
                }
                if mode == Mode::ImagePull {
                    let patch = status_patch(
                        &pod,
                        "Pending",
                        serde_json::json!({"waiting": {
                            "reason": "ImagePullBackOff",
                            "message": "Back-off pulling image",
                        }}),
                    );
                    pods.patch_status(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("patching pod {} status: {e}", pod.name_any()));
                    continue;
                }
                let (phase, exit, reason, output, message) = match mode {
                    Mode::OomKill => ("Failed", 137, "OOMKilled", String::new(), None),
                    _ => run_pod(&client, &ns, &pod, &work).await,
                };
                log.lock().unwrap().push(output);
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let patch = status_patch(
                    &pod,
                    phase,
                    serde_json::json!({"terminated": {
                        "exitCode": exit, "reason": reason, "message": message,
                        "startedAt": now, "finishedAt": now,
                    }}),
                );
                match pods
                    .patch_status(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    // Deleted meanwhile (its run collected or cancelled):
                    // a kubelet has nothing to report either.
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => panic!("patching pod {} status: {e}", pod.name_any()),
                }
            }
        });
        Self { task, outputs }
    }

    /// What each `sluice run` or `sluice check` printed, in order.
    pub fn outputs(&self) -> Vec<String> {
        self.outputs.lock().unwrap().clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for output in self.outputs() {
                eprintln!("--- sluice run:\n{output}");
            }
        }
        self.task.abort();
    }
}

/// A pods/status patch: the pod in `phase`, its one container in `state`.
fn status_patch(pod: &Pod, phase: &str, state: serde_json::Value) -> serde_json::Value {
    let container = &pod.spec.as_ref().unwrap().containers[0];
    serde_json::json!({"status": {
        "phase": phase,
        "containerStatuses": [{
            "name": container.name,
            "image": container.image,
            "imageID": "",
            "ready": false,
            "restartCount": 0,
            "state": state,
        }],
    }})
}

/// Runs a pod's container as a local `sluice run` or `sluice check`
/// process: its env, its Secret volumes as files under a temporary
/// `SLUICE_SECRETS_DIR` (an optional volume's missing Secret or keys left
/// out, as the kubelet does), its working directory mapped to `work`, its
/// termination message file redirected with `SLUICE_TERMINATION_LOG` and
/// returned as the kubelet reports it (`FallbackToLogsOnError`: the
/// output's tail when a failed container wrote none).
async fn run_pod(
    client: &Client,
    ns: &str,
    pod: &Pod,
    work: &Path,
) -> (&'static str, i32, &'static str, String, Option<String>) {
    let spec = pod.spec.as_ref().unwrap();
    let container = &spec.containers[0];
    let command = container.command.as_deref().unwrap();
    match command.get(1).map(String::as_str) {
        Some("run") => assert_eq!(command, ["sluice", "run"], "the runner's command"),
        Some("check") => {
            assert_eq!(command.len(), 6, "{command:?}");
            assert_eq!(
                command[..4],
                ["sluice", "check", "--namespace", ns],
                "the validation command"
            );
            assert_eq!(command[4], "--profile");
        }
        _ => panic!("unexpected command {command:?}"),
    }
    let secrets_dir = tempfile::tempdir().unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let volumes: BTreeMap<_, _> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| (v.name.clone(), v))
        .collect();
    for mount in container.volume_mounts.iter().flatten() {
        let Some(source) = volumes[&mount.name].secret.as_ref() else {
            continue;
        };
        let optional = source.optional == Some(true);
        let name = source.secret_name.as_deref().unwrap();
        let secret = match secrets.get_opt(name).await.unwrap() {
            Some(secret) => secret,
            None if optional => continue,
            None => panic!("the pod mounts Secret {name:?}, which does not exist"),
        };
        let data = secret.data.unwrap_or_default();
        let dir = secrets_dir
            .path()
            .join(Path::new(&mount.mount_path).file_name().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        for item in source.items.iter().flatten() {
            match data.get(&item.key) {
                Some(value) => std::fs::write(dir.join(&item.path), &value.0).unwrap(),
                None if optional => {}
                None => panic!(
                    "the pod mounts key {:?} of Secret {name:?}, which it lacks",
                    item.key
                ),
            }
        }
    }
    let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    let mut command = tokio::process::Command::from(Sluice::new(work, &args).into_command());
    for env in container.env.iter().flatten() {
        command.env(&env.name, env.value.as_deref().unwrap_or_default());
    }
    let termination_log = tempfile::NamedTempFile::new().unwrap();
    command
        .env("SLUICE_SECRETS_DIR", secrets_dir.path())
        .env("SLUICE_TERMINATION_LOG", termination_log.path())
        .env("HOME", work);
    let out = command.output().await.unwrap();
    let text = text(&out);
    let message = std::fs::read_to_string(termination_log.path()).unwrap_or_default();
    if out.status.success() {
        let message = (!message.is_empty()).then_some(message);
        ("Succeeded", 0, "Completed", text, message)
    } else {
        let message = if message.is_empty() {
            let start = text.len().saturating_sub(2048);
            let start = (start..text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            text[start..].to_owned()
        } else {
            message
        };
        let code = out.status.code().unwrap_or(1);
        ("Failed", code, "Error", text, Some(message))
    }
}
