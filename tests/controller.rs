//! `sluice controller` against a real control plane: kube-apiserver, etcd
//! and kube-controller-manager (Job controller, garbage collector), as
//! `make test` starts them (e2e/scripts/control-plane.sh).
//!
//! Each test runs the built `sluice controller` binary watching its own
//! temporary namespace. There is no scheduler and no kubelet, so the test
//! plays the node (`support::node`): for each pod the Job controller creates, it
//! runs the pod's `sluice run` or `sluice check` as a local process with
//! the pod's environment and the pod's Secret volumes reproduced as files,
//! then writes the pod's outcome (with its termination message) on its
//! status (pods/status) so the Job controller finishes the Job.
//!
//! Ignored by a plain `cargo test`; `make test` runs them. Set
//! `SLUICE_TEST_CONTROLLER_LOG=1` to see the controllers' logs of passing
//! tests too (failing tests always print them, with the namespace's
//! objects and Events).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use sluice::api::v1alpha1::{Flow, FlowRun};
use support::cluster::{
    DumpOnFailure, apply, client, enforce_restricted_pods, event_reasons, wait_event, wait_for,
    wait_list,
};
use support::controller::{Controller, IMAGE};
use support::node::{Mode, Node};
use support::{TempNamespace, free_port, kubectl_ok, postgres, repo, work_dir};

/// The run Jobs and pods (profiles' validation Jobs are the others).
const RUNNER_SELECTOR: &str = "app.kubernetes.io/component=runner";

fn condition<'a>(
    run: &'a FlowRun,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    run.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// The controller has seen the run finish.
fn finished(run: Option<&FlowRun>) -> bool {
    run.and_then(|r| condition(r, "Reconciling"))
        .is_some_and(|c| c.status == "False" && c.reason == "Finished")
}

const LOCAL_PROFILE: &str = "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {root: .}}
";

fn demo_manifests() -> String {
    let demo = std::fs::read_to_string(repo("demo/opportunities.yaml")).unwrap();
    assert!(demo.contains("name: opportunities"));
    demo
}

fn flow_run(name: &str, flow: &str) -> String {
    format!(
        "apiVersion: sluice.dev/v1alpha1\nkind: FlowRun\nmetadata: {{name: {name}}}\nspec: {{flowRef: {{name: {flow}}}}}\n"
    )
}

fn work_dir_with_demo() -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo("demo"), work.path().join("demo")).unwrap();
    work
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn an_on_demand_run_of_a_local_files_flow_succeeds() {
    let ns = TempNamespace::new("ctl-run");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_demo();
    let mut controller = Controller::start(&ns.name);
    let node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    apply(&ns.name, &demo_manifests());
    apply(&ns.name, &flow_run("manual-1", "opportunities"));

    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "manual-1", "the run to finish", finished).await;
    let run = runs.get("manual-1").await.unwrap();
    let status = run.status.clone().unwrap();
    assert_eq!(
        status.phase,
        Some(sluice::api::v1alpha1::flow_run::RunPhase::Succeeded),
        "{status:?}\n{:?}",
        node.outputs()
    );
    let p = &status.progress;
    assert_eq!(p.records_read, 2000);
    assert_eq!(p.records_quarantined, 3);
    assert!(p.records_written > 0 && p.records_filtered > 0);
    assert_eq!(
        p.records_written + p.records_filtered + p.records_quarantined,
        p.records_read
    );
    let output = status.output.clone().unwrap();
    assert_eq!(output.object_count, 1);
    let manifest = output.manifest.unwrap();
    assert!(
        Path::new(&manifest).starts_with(work.path()),
        "{manifest} is under the node's working directory"
    );
    assert!(Path::new(&manifest).exists());
    // Pinned: the Flow's generation, uid and spec.
    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);
    let flow = flows.get("opportunities").await.unwrap();
    let pinned = status.flow.unwrap();
    assert_eq!(Some(pinned.generation), flow.metadata.generation);
    assert_eq!(Some(pinned.uid.clone()), flow.uid());
    assert_eq!(pinned.spec, flow.spec);
    assert_eq!(status.observed_generation, run.metadata.generation);
    assert_eq!(
        condition(&run, "Succeeded").map(|c| c.status.as_str()),
        Some("True")
    );
    // Owners: Flow → FlowRun → Job.
    assert_eq!(status.job_name.as_deref(), Some("manual-1"));
    let owner = &run.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Flow", pinned.uid.as_str())
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let job = jobs.get("manual-1").await.unwrap();
    let owner = &job.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("FlowRun", run.uid().unwrap().as_str(), Some(true))
    );
    wait_for(&jobs, "manual-1", "the Job to complete", |job| {
        job.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Complete" && c.status == "True")
            })
    })
    .await;

    // Events a user sees.
    wait_event(&client, &ns.name, "manual-1", "Succeeded").await;
    let reasons = event_reasons(&client, &ns.name, "manual-1").await;
    assert!(reasons.contains(&"JobCreated".to_owned()), "{reasons:?}");

    // Metrics and health.
    let metrics = controller.metrics().await;
    assert!(
        metrics.contains("sluice_runs_started_total{connector=\"file\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_runs_succeeded_total{connector=\"file\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "sluice_records_read_total{{connector=\"file\"}} {}",
            p.records_read
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "sluice_run_duration_seconds_count{connector=\"file\",phase=\"Succeeded\"} 1"
        )
    );
    assert!(metrics.contains("sluice_reconciles_total{controller=\"flow_run\"}"));
    let (code, _) = Controller::get(controller.health, "/readyz").await.unwrap();
    assert_eq!(code, 200);
    let (code, _) = Controller::get(controller.health, "/healthz")
        .await
        .unwrap();
    assert_eq!(code, 200);
    // The runner's identity, applied by the controller.
    let role = kubectl_ok(
        &["get", "role", "sluice-runner", "-n", &ns.name, "-o", "json"],
        None,
    );
    assert!(role.contains("flowruns/status"), "{role}");
    assert!(!role.contains("secrets"), "{role}");
    kubectl_ok(
        &[
            "get",
            "serviceaccount,rolebinding",
            "sluice-runner",
            "-n",
            &ns.name,
        ],
        None,
    );
    // Logs are JSON lines.
    let log = controller.log();
    let line = log
        .lines()
        .find(|l| l.contains("created the run's Job"))
        .unwrap_or_else(|| panic!("{log}"));
    let json: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(json["level"], "INFO");
    // Graceful shutdown.
    assert!(controller.terminate().success(), "{}", controller.log());
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn deleting_a_flow_deletes_its_runs_and_their_jobs() {
    let ns = TempNamespace::new("ctl-cascade");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_demo();
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Hold, work.path());
    apply(&ns.name, &demo_manifests());
    apply(&ns.name, &flow_run("held", "opportunities"));
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&jobs, "held", "the run's Job", |job| job.is_some()).await;
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "held", "the FlowRun's owner", |run| {
        run.is_some_and(|r| r.owner_references().iter().any(|o| o.kind == "Flow"))
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    wait_list(&pods, "the Job's pod", |pods| !pods.is_empty()).await;

    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);
    flows
        .delete("opportunities", &DeleteParams::background())
        .await
        .unwrap();
    wait_for(&runs, "held", "the FlowRun to be collected", |run| {
        run.is_none()
    })
    .await;
    wait_for(&jobs, "held", "the Job to be collected", |job| {
        job.is_none()
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_failure_the_runner_reports_stays_as_reported() {
    let ns = TempNamespace::new("ctl-fail");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir(&[("in.jsonl", "{\"id\": 1}\n{\"id\": \"two\"}\nnot json\n")]);
    let _controller = Controller::start(&ns.name);
    let node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    apply(
        &ns.name,
        &format!(
            "{LOCAL_PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: strict}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in.jsonl, format: JsonLines}}}}
  destination: {{connectorProfileRef: {{name: local}}, file: {{path: out, format: JsonLines}}}}
  errorHandling: {{policy: Fail}}
  runTemplate: {{backoffLimit: 0}}
---
{}",
            flow_run("bad", "strict")
        ),
    );
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "bad", "the run to finish", finished).await;
    let status = runs.get("bad").await.unwrap().status.unwrap();
    let error = status.error.unwrap();
    assert_eq!(
        error.reason,
        sluice::api::v1alpha1::flow_run::ErrorReason::BadRecords,
        "{error:?}\n{:?}",
        node.outputs()
    );
    assert_eq!(
        status.phase,
        Some(sluice::api::v1alpha1::flow_run::RunPhase::Failed)
    );
    assert!(!work.path().join("out").join("bad").exists());
    wait_event(&client, &ns.name, "bad", "BadRecords").await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_pod_killed_for_memory_fails_the_run_as_out_of_memory() {
    let ns = TempNamespace::new("ctl-oom");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_demo();
    let controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::OomKill, work.path());
    let manifests = demo_manifests().replace(
        "  errorHandling:",
        "  runTemplate:\n    backoffLimit: 0\n    resources: {limits: {memory: 64Mi}}\n  errorHandling:",
    );
    assert!(manifests.contains("backoffLimit: 0"));
    apply(&ns.name, &manifests);
    apply(&ns.name, &flow_run("oom", "opportunities"));
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "oom", "the run to finish", finished).await;
    let run = runs.get("oom").await.unwrap();
    let status = run.status.clone().unwrap();
    let error = status.error.unwrap();
    assert_eq!(
        error.reason,
        sluice::api::v1alpha1::flow_run::ErrorReason::OutOfMemory
    );
    assert!(error.message.contains("64Mi"), "{}", error.message);
    assert_eq!(condition(&run, "Succeeded").unwrap().reason, "OutOfMemory");
    wait_event(&client, &ns.name, "oom", "OutOfMemory").await;
    let metrics = controller.metrics().await;
    assert!(
        metrics.contains("sluice_runs_failed_total{connector=\"file\",reason=\"OutOfMemory\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn cancel_deletes_the_job_and_marks_the_run_cancelled() {
    let ns = TempNamespace::new("ctl-cancel");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_demo();
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Hold, work.path());
    apply(&ns.name, &demo_manifests());
    apply(&ns.name, &flow_run("stop-me", "opportunities"));
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&jobs, "stop-me", "the run's Job", |job| job.is_some()).await;
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    runs.patch(
        "stop-me",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"cancel": true}})),
    )
    .await
    .unwrap();
    wait_for(&runs, "stop-me", "the run to finish", finished).await;
    let status = runs.get("stop-me").await.unwrap().status.unwrap();
    assert_eq!(
        status.phase,
        Some(sluice::api::v1alpha1::flow_run::RunPhase::Cancelled)
    );
    assert!(status.completion_time.is_some());
    wait_for(&jobs, "stop-me", "the Job to be deleted", |job| {
        job.is_none_or(|j| j.metadata.deletion_timestamp.is_some())
    })
    .await;
    wait_event(&client, &ns.name, "stop-me", "Cancelled").await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn cancel_leaves_a_job_of_the_same_name_that_another_owns() {
    // A user who may create FlowRuns names one after someone else's Job
    // and cancels it: the controller deletes only what the run owns.
    let ns = TempNamespace::new("ctl-stranger");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_demo();
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Hold, work.path());
    apply(&ns.name, &demo_manifests());
    apply(
        &ns.name,
        "apiVersion: batch/v1
kind: Job
metadata: {name: nightly-report}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: report, image: example.invalid/report:1, command: [report]}]
",
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let stranger = jobs.get("nightly-report").await.unwrap();
    apply(&ns.name, &flow_run("nightly-report", "opportunities"));
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    runs.patch(
        "nightly-report",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"cancel": true}})),
    )
    .await
    .unwrap();
    wait_for(&runs, "nightly-report", "the run to finish", finished).await;
    let status = runs.get("nightly-report").await.unwrap().status.unwrap();
    assert_eq!(
        status.phase,
        Some(sluice::api::v1alpha1::flow_run::RunPhase::Cancelled)
    );
    // The settled run is past any delete; the stranger's Job is intact.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = jobs.get("nightly-report").await.unwrap();
    assert_eq!(after.uid(), stranger.uid());
    assert!(after.metadata.deletion_timestamp.is_none());
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_failure_message_longer_than_an_event_note_still_makes_its_event() {
    // The API server refuses Event notes over 1,024 bytes: the note is cut
    // (on a character boundary), never the Event lost.
    let ns = TempNamespace::new("ctl-long");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let deep: String = (0..5)
        .map(|i| format!("{}{i}/", "très-long-répertoire-".repeat(9)))
        .collect();
    let path = format!("{deep}in.jsonl");
    let work = work_dir(&[(path.as_str(), "{\"id\": 1}\nnot json\n")]);
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    apply(
        &ns.name,
        &format!(
            "{LOCAL_PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: strict}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: '{path}', format: JsonLines}}}}
  destination: {{connectorProfileRef: {{name: local}}, file: {{path: out, format: JsonLines}}}}
  errorHandling: {{policy: Fail}}
  runTemplate: {{backoffLimit: 0}}
---
{}",
            flow_run("long", "strict")
        ),
    );
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "long", "the run to finish", finished).await;
    let message = runs
        .get("long")
        .await
        .unwrap()
        .status
        .unwrap()
        .error
        .unwrap()
        .message;
    assert!(message.len() > 1024, "{}: {message}", message.len());
    wait_event(&client, &ns.name, "long", "BadRecords").await;
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let all = events.list(&Default::default()).await.unwrap().items;
    let note = all
        .iter()
        .find(|e| e.reason.as_deref() == Some("BadRecords"))
        .and_then(|e| e.note.clone())
        .unwrap();
    assert!(note.len() <= 1024 && note.ends_with('…'), "{note}");
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn invalid_references_stall_the_run_without_a_job_until_fixed() {
    let ns = TempNamespace::new("ctl-invalid");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_demo();
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Hold, work.path());
    apply(&ns.name, &flow_run("early", "opportunities"));
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    let stalled_on = |needle: &'static str| {
        move |run: Option<&FlowRun>| {
            run.and_then(|r| condition(r, "Stalled"))
                .is_some_and(|c| c.status == "True" && c.message.contains(needle))
        }
    };
    wait_for(
        &runs,
        "early",
        "Stalled on the Flow",
        stalled_on("Flow \"opportunities\" does not exist"),
    )
    .await;
    let run = runs.get("early").await.unwrap();
    assert_eq!(
        condition(&run, "Stalled").unwrap().reason,
        "ReferenceNotFound"
    );
    assert_eq!(
        run.status.as_ref().unwrap().phase,
        Some(sluice::api::v1alpha1::flow_run::RunPhase::Pending)
    );
    wait_event(&client, &ns.name, "early", "ReferenceNotFound").await;

    // The Flow arrives, naming a profile that does not exist yet.
    let demo = demo_manifests();
    let flow_only = demo
        .split("---")
        .find(|d| d.contains("kind: Flow"))
        .unwrap();
    apply(&ns.name, flow_only);
    wait_for(
        &runs,
        "early",
        "Stalled on the profile",
        stalled_on("ConnectorProfile \"local\" does not exist"),
    )
    .await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    assert!(
        jobs.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // No hot loop: one Event per distinct problem.
    let reasons = event_reasons(&client, &ns.name, "early").await;
    assert!(reasons.len() <= 3, "{reasons:?}");

    // The profile arrives: the run starts.
    apply(&ns.name, &demo);
    wait_for(&jobs, "early", "the run's Job", |job| job.is_some()).await;
    wait_for(&runs, "early", "Stalled cleared", |run| {
        run.is_some_and(|r| condition(r, "Stalled").is_none())
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn the_runs_pod_is_hardened_and_mounts_only_the_referenced_secret_keys() {
    let ns = TempNamespace::new("ctl-pod");
    let _dump = DumpOnFailure(ns.name.clone());
    // The API server's Pod Security admission refuses a pod that breaks
    // the restricted profile: the Job's pod must pass it.
    enforce_restricted_pods(&ns.name);
    let client = client().await;
    let work = tempfile::tempdir().unwrap();
    let controller = Controller::start(&ns.name);
    let node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    apply(
        &ns.name,
        &format!(
            "apiVersion: v1
kind: Secret
metadata: {{name: pg, labels: {{sluice.dev/allowed: 'true'}}}}
stringData: {{user: app, pass: s3cr3t-pass, unused: not-for-runs}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: db}}
spec:
  postgres: {{host: 127.0.0.1, port: 1, database: app, sslMode: Disable}}
  credentials: {{secretRef: {{name: pg}}, basic: {{usernameKey: user, passwordKey: pass}}}}
---
{LOCAL_PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: export}}
spec:
  source: {{connectorProfileRef: {{name: db}}, postgres: {{table: orders}}}}
  destination: {{connectorProfileRef: {{name: local}}, file: {{path: out, format: JsonLines}}}}
  runTemplate: {{backoffLimit: 0}}
---
{}",
            flow_run("pg-1", "export")
        ),
    );
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "pg-1", "the run to finish", finished).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let pod = pods
        .list(&ListParams::default().labels(RUNNER_SELECTOR))
        .await
        .unwrap()
        .items
        .remove(0);
    let spec = pod.spec.unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some("sluice-runner"));
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    let pod_security = spec.security_context.unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(
        pod_security.seccomp_profile.unwrap().type_,
        "RuntimeDefault"
    );
    let container = &spec.containers[0];
    assert_eq!(container.image.as_deref(), Some(IMAGE));
    let security = container.security_context.clone().unwrap();
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.capabilities.unwrap().drop.unwrap(), ["ALL"]);
    let secret_volumes: Vec<_> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.secret.as_ref())
        .collect();
    assert_eq!(secret_volumes.len(), 1);
    let keys: Vec<_> = secret_volumes[0]
        .items
        .iter()
        .flatten()
        .map(|i| i.key.as_str())
        .collect();
    assert_eq!(keys, ["pass", "user"]);
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/var/run/secrets/sluice/pg")
        .unwrap();
    assert_eq!(mount.read_only, Some(true));

    // The runner read the reproduced files: the failure is the server, not
    // a missing secret; and no value leaks into the status.
    let run = runs.get("pg-1").await.unwrap();
    let error = run.status.clone().unwrap().error.unwrap();
    assert_eq!(
        error.reason,
        sluice::api::v1alpha1::flow_run::ErrorReason::Unreachable,
        "{error:?}\n{:?}",
        node.outputs()
    );
    // Nowhere else either: the run's status, the namespace's Events, the
    // runner's output and the controller's log.
    let everything = serde_json::to_string(&run).unwrap();
    assert!(!everything.contains("s3cr3t-pass"));
    let events = kubectl_ok(&["get", "events", "-n", &ns.name, "-o", "yaml"], None);
    assert!(!events.contains("s3cr3t-pass"));
    let outputs = node.outputs();
    assert!(!outputs.is_empty(), "the runner ran");
    for output in outputs {
        assert!(!output.contains("s3cr3t-pass"), "{output}");
    }
    let log = controller.log();
    assert!(log.contains("\"level\""), "the controller logged: {log}");
    assert!(!log.contains("s3cr3t-pass"), "{log}");
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn one_of_two_controllers_leads_through_the_lease() {
    let ns = TempNamespace::new("ctl-lease");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let mut first = Controller::start_with(&ns.name, &["--leader-elect", "--pod-name", "first"]);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), &ns.name);
    wait_for(
        &leases,
        "sluice-controller",
        "the Lease held by first",
        |lease| {
            lease
                .and_then(|l| l.spec.as_ref())
                .and_then(|s| s.holder_identity.as_deref())
                == Some("first")
        },
    )
    .await;
    let second = Controller::start_with(&ns.name, &["--leader-elect", "--pod-name", "second"]);
    // The second is ready but not leading.
    let mut ready = false;
    for _ in 0..200 {
        if let Some((200, _)) = Controller::get(second.health, "/readyz").await {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "{}", second.log());
    assert!(second.metrics().await.contains("sluice_leader 0"));
    assert!(first.metrics().await.contains("sluice_leader 1"));
    // The leader steps down on SIGTERM and the other takes over.
    assert!(first.terminate().success(), "{}", first.log());
    wait_for(
        &leases,
        "sluice-controller",
        "the Lease held by second",
        |lease| {
            lease
                .and_then(|l| l.spec.as_ref())
                .and_then(|s| s.holder_identity.as_deref())
                == Some("second")
        },
    )
    .await;
}

/// A scheduled Flow of local files: `rate(1 minute)` from `start`, reading
/// `in.csv` under the node's working directory.
fn scheduled_flow(name: &str, start: &str, schedule_extra: &str, extra: &str) -> String {
    format!(
        "{LOCAL_PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: {name}}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in.csv, format: Csv}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}'}}
  trigger:
    type: Schedule
    schedule: {{expression: 'rate(1 minute)', startTime: '{start}'{schedule_extra}}}
  runTemplate: {{backoffLimit: 0}}
{extra}"
    )
}

/// A time `seconds` from now (negative: in the past), whole seconds, RFC 3339.
fn from_now(seconds: i64) -> String {
    let now = k8s_openapi::jiff::Timestamp::now().as_second() + seconds;
    k8s_openapi::jiff::Timestamp::from_second(now)
        .unwrap()
        .to_string()
}

fn flow_condition<'a>(
    flow: &'a Flow,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    flow.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

fn work_dir_with_csv() -> tempfile::TempDir {
    work_dir(&[("in.csv", "id,name\n1,a\n2,b\n3,c\n")])
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_scheduled_flow_starts_one_run_per_time_even_across_a_controller_restart() {
    let ns = TempNamespace::new("ctl-sched");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_csv();
    let mut controller = Controller::start(&ns.name);
    let node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    // The first scheduled time is a few seconds away.
    let start = from_now(-56);
    apply(&ns.name, &scheduled_flow("every-minute", &start, "", ""));
    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);
    wait_for(
        &flows,
        "every-minute",
        "the Flow to be Ready and Scheduled",
        |f| {
            f.is_some_and(|f| {
                flow_condition(f, "Ready").is_some_and(|c| c.status == "True")
                    && flow_condition(f, "Scheduled").is_some_and(|c| c.status == "True")
                    && f.status
                        .as_ref()
                        .and_then(|s| s.next_schedule_time.as_ref())
                        .is_some()
            })
        },
    )
    .await;
    let next = flows
        .get("every-minute")
        .await
        .unwrap()
        .status
        .unwrap()
        .next_schedule_time
        .unwrap();
    let scheduled = start.parse::<k8s_openapi::jiff::Timestamp>().unwrap()
        + k8s_openapi::jiff::SignedDuration::from_secs(60);
    assert_eq!(
        next.0, scheduled,
        "the first run is one step after startTime"
    );
    let run_name = format!("every-minute-{}", scheduled.as_second() / 60);

    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, &run_name, "the scheduled run to finish", finished).await;
    let run = runs.get(&run_name).await.unwrap();
    assert_eq!(
        run.spec.scheduled_time.as_ref().map(|t| t.0),
        Some(scheduled)
    );
    assert_eq!(run.owner_references()[0].name, "every-minute");
    assert_eq!(
        run.status.as_ref().unwrap().phase,
        Some(sluice::api::v1alpha1::flow_run::RunPhase::Succeeded),
        "{:?}",
        node.outputs()
    );
    let expected = run_name.clone();
    wait_for(
        &flows,
        "every-minute",
        "the Flow to report the run",
        move |f| {
            f.and_then(|f| f.status.as_ref()).is_some_and(|s| {
                s.last_successful_run
                    .as_ref()
                    .is_some_and(|r| r.name == expected)
                    && s.active_runs.is_empty()
                    && s.last_schedule_time.as_ref().map(|t| t.0) == Some(scheduled)
            })
        },
    )
    .await;
    let status = flows.get("every-minute").await.unwrap().status.unwrap();
    assert_eq!(status.last_successful_run.unwrap().records_written, 3);
    assert_eq!(
        status.next_schedule_time.unwrap().0,
        scheduled + k8s_openapi::jiff::SignedDuration::from_secs(60)
    );
    wait_event(&client, &ns.name, "every-minute", "Scheduled").await;

    // A controller killed and restarted does not start the same time again.
    controller.child.kill().unwrap();
    controller.child.wait().unwrap();
    let _again = Controller::start(&ns.name);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let all = runs.list(&Default::default()).await.unwrap().items;
    let before_next: Vec<_> = all
        .iter()
        .filter(|r| {
            r.spec
                .scheduled_time
                .as_ref()
                .is_some_and(|t| t.0 <= scheduled)
        })
        .map(|r| r.name_any())
        .collect();
    assert_eq!(before_next, [run_name], "one run for the scheduled time");
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn after_downtime_one_run_catches_up_and_a_late_one_is_missed() {
    let ns = TempNamespace::new("ctl-catchup");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_csv();
    let _node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    // Two Flows whose schedules ran ten minutes ago, while no controller
    // ran: one may start late, the other only within 5 seconds.
    let start = from_now(-900);
    apply(&ns.name, &scheduled_flow("tolerant", &start, "", ""));
    apply(
        &ns.name,
        &scheduled_flow("strict", &start, ", startingDeadlineSeconds: 5", ""),
    );
    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);
    let last = from_now(-600);
    for name in ["tolerant", "strict"] {
        flows
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"status": {"lastScheduleTime": last}})),
            )
            .await
            .unwrap();
    }
    // The latest scheduled time at least 6 s ago, so the strict one is late.
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let start_s = start
        .parse::<k8s_openapi::jiff::Timestamp>()
        .unwrap()
        .as_second();
    if (now - start_s) % 60 < 6 {
        tokio::time::sleep(Duration::from_secs(7)).await;
    }
    let _controller = Controller::start(&ns.name);
    wait_event(&client, &ns.name, "tolerant", "Scheduled").await;
    wait_event(&client, &ns.name, "strict", "MissedSchedule").await;
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    let all = runs.list(&Default::default()).await.unwrap().items;
    let tolerant: Vec<_> = all
        .iter()
        .filter(|r| r.spec.flow_ref.name == "tolerant")
        .collect();
    assert_eq!(
        tolerant.len(),
        1,
        "one catch-up run, not one per missed minute"
    );
    let scheduled = tolerant[0]
        .spec
        .scheduled_time
        .clone()
        .unwrap()
        .0
        .as_second();
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    assert!(
        now - scheduled < 70,
        "the catch-up is for the latest scheduled time"
    );
    assert!(
        all.iter().all(|r| r.spec.flow_ref.name != "strict"),
        "the late run is not started"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let note = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("Scheduled"))
        .and_then(|e| e.note)
        .unwrap();
    assert!(note.contains("missed and are not run"), "{note}");
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_flow_naming_a_missing_profile_is_not_ready_until_it_exists() {
    let ns = TempNamespace::new("ctl-flow-refs");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let _controller = Controller::start(&ns.name);
    let manifests = scheduled_flow("orphan", &from_now(3600), "", "");
    let flow_only = manifests.split("---\n").nth(1).unwrap();
    apply(&ns.name, flow_only);
    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&flows, "orphan", "Ready=False ProfileNotFound", |f| {
        f.is_some_and(|f| {
            flow_condition(f, "Ready")
                .is_some_and(|c| c.status == "False" && c.reason == "ProfileNotFound")
                && flow_condition(f, "Stalled").is_some_and(|c| c.status == "True")
        })
    })
    .await;
    let flow = flows.get("orphan").await.unwrap();
    let message = &flow_condition(&flow, "Ready").unwrap().message;
    assert!(
        message.contains("spec.source.connectorProfileRef") && message.contains("\"local\""),
        "{message}"
    );
    assert_eq!(flow.status.as_ref().unwrap().next_schedule_time, None);
    wait_event(&client, &ns.name, "orphan", "ProfileNotFound").await;
    apply(&ns.name, LOCAL_PROFILE);
    wait_for(
        &flows,
        "orphan",
        "Ready=True once the profile exists",
        |f| {
            f.is_some_and(|f| {
                flow_condition(f, "Ready").is_some_and(|c| c.status == "True")
                    && flow_condition(f, "Stalled").is_none()
                    && f.status
                        .as_ref()
                        .and_then(|s| s.next_schedule_time.as_ref())
                        .is_some()
            })
        },
    )
    .await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn failed_runs_deactivate_the_schedule_until_the_spec_changes() {
    let ns = TempNamespace::new("ctl-deact");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    // No in.csv: every run fails.
    let work = tempfile::tempdir().unwrap();
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    apply(
        &ns.name,
        &scheduled_flow(
            "fragile",
            &from_now(-57),
            ", deactivateAfterFailures: 1",
            "",
        ),
    );
    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&flows, "fragile", "Deactivated=True", |f| {
        f.is_some_and(|f| flow_condition(f, "Deactivated").is_some_and(|c| c.status == "True"))
    })
    .await;
    let flow = flows.get("fragile").await.unwrap();
    let status = flow.status.clone().unwrap();
    assert_eq!(status.consecutive_failures, 1);
    assert_eq!(status.next_schedule_time, None);
    assert_eq!(
        flow_condition(&flow, "Deactivated").unwrap().reason,
        "TooManyFailures"
    );
    assert_eq!(flow_condition(&flow, "Scheduled").unwrap().status, "False");
    wait_event(&client, &ns.name, "fragile", "TooManyFailures").await;
    // Any spec change reactivates it.
    flows
        .patch(
            "fragile",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"history": {"failedRuns": 3}}})),
        )
        .await
        .unwrap();
    wait_for(
        &flows,
        "fragile",
        "Deactivated=False after the change",
        |f| {
            f.is_some_and(|f| {
                flow_condition(f, "Deactivated")
                    .is_some_and(|c| c.status == "False" && c.reason == "Reactivated")
                    && f.status
                        .as_ref()
                        .and_then(|s| s.next_schedule_time.as_ref())
                        .is_some()
            })
        },
    )
    .await;
    wait_event(&client, &ns.name, "fragile", "Reactivated").await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn concurrency_policies_hold_back_replace_or_allow_a_second_run() {
    let ns = TempNamespace::new("ctl-concurrency");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_csv();
    let _controller = Controller::start(&ns.name);
    // Pods stay pending: each Flow's first run is still active at its
    // second scheduled time, a minute later.
    let _node = Node::start(client.clone(), &ns.name, Mode::Hold, work.path());
    let start = from_now(-56);
    for (name, policy) in [
        ("forbid", "Forbid"),
        ("replace", "Replace"),
        ("allow", "Allow"),
    ] {
        apply(
            &ns.name,
            &scheduled_flow(name, &start, &format!(", concurrencyPolicy: {policy}"), ""),
        );
    }
    let first = start.parse::<k8s_openapi::jiff::Timestamp>().unwrap()
        + k8s_openapi::jiff::SignedDuration::from_secs(60);
    let second = first + k8s_openapi::jiff::SignedDuration::from_secs(60);
    let run_name =
        |flow: &str, t: k8s_openapi::jiff::Timestamp| format!("{flow}-{}", t.as_second() / 60);
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);

    // Replace: the second run starts and the first is cancelled.
    let replaced = run_name("replace", first);
    wait_for(
        &runs,
        &run_name("replace", second),
        "Replace's second run",
        |r| r.is_some(),
    )
    .await;
    wait_for(&runs, &replaced, "the replaced run to be cancelled", |r| {
        r.is_some_and(|r| {
            r.annotations().get("sluice.dev/replaced-by") == Some(&run_name("replace", second))
                && !r.spec.cancel
                && r.status.as_ref().and_then(|s| s.phase)
                    == Some(sluice::api::v1alpha1::flow_run::RunPhase::Cancelled)
        })
    })
    .await;
    wait_event(&client, &ns.name, "replace", "RunReplaced").await;

    // Allow: both runs are active together.
    wait_for(&flows, "allow", "Allow's two active runs", |f| {
        f.and_then(|f| f.status.as_ref())
            .is_some_and(|s| s.active_runs.len() == 2)
    })
    .await;

    // Forbid: the second time finds the first run active and starts nothing.
    let status = flows.get("forbid").await.unwrap().status.unwrap();
    assert_eq!(status.active_runs, [run_name("forbid", first)]);
    assert!(
        runs.get_opt(&run_name("forbid", second))
            .await
            .unwrap()
            .is_none(),
        "Forbid started a second run while the first was active"
    );
    assert_eq!(
        status.last_schedule_time.map(|t| t.0),
        Some(first),
        "the held-back time is not recorded as started"
    );
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_suspended_flow_schedules_nothing_and_old_runs_are_collected() {
    let ns = TempNamespace::new("ctl-history");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_csv();
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    apply(
        &ns.name,
        &scheduled_flow(
            "quiet",
            &from_now(-58),
            "",
            "  suspend: true\n  history: {successfulRuns: 1}\n",
        ),
    );
    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&flows, "quiet", "Suspended=True", |f| {
        f.is_some_and(|f| {
            flow_condition(f, "Suspended").is_some_and(|c| c.status == "True")
                && flow_condition(f, "Scheduled").is_some_and(|c| c.reason == "Suspended")
        })
    })
    .await;
    // Past the first scheduled time, still no run.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    assert!(
        runs.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "a suspended Flow starts no run"
    );
    // Unsuspended, on-demand runs go; only the newest success is kept.
    flows
        .patch("quiet", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"suspend": false, "trigger": {"type": "OnDemand", "schedule": null}}})))
        .await
        .unwrap();
    for name in ["one", "two", "three"] {
        apply(&ns.name, &flow_run(name, "quiet"));
        wait_for(&runs, name, "the run to finish", finished).await;
    }
    // Runs finishing within the same second may be kept in either order:
    // one is left, and it is the one the Flow reports.
    wait_list(&runs, "one successful run left", |all| all.len() == 1).await;
    let kept = runs.list(&Default::default()).await.unwrap().items[0].name_any();
    let expected = kept.clone();
    wait_for(
        &flows,
        "quiet",
        "the Flow to report the kept run",
        move |f| {
            f.and_then(|f| f.status.as_ref())
                .and_then(|s| s.last_successful_run.as_ref())
                .is_some_and(|r| r.name == expected)
        },
    )
    .await;
    let status = flows.get("quiet").await.unwrap().status.unwrap();
    assert_eq!(status.next_schedule_time, None);
}

fn lines_under(dir: &Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            count += lines_under(&path);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            count += std::fs::read_to_string(&path).unwrap().lines().count();
        }
    }
    count
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server, kube-controller-manager and PostgreSQL: run `make test`"]
async fn incremental_runs_read_the_pinned_window_and_report_the_watermark() {
    let ns = TempNamespace::new("ctl-incremental");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let table = ns.name.replace('-', "_");
    let pg = postgres::Postgres::from_env();
    postgres::execute(&format!(
        "CREATE TABLE {table} (id int, updated_at timestamptz);
         INSERT INTO {table} VALUES
           (1, '2024-01-01T00:00:00Z'), (2, '2024-06-01T00:00:00Z'),
           (3, '2025-01-01T00:00:00Z'), (4, '2099-01-01T00:00:00Z');"
    ))
    .await;
    let work = tempfile::tempdir().unwrap();
    let _controller = Controller::start(&ns.name);
    let node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    apply(
        &ns.name,
        &format!(
            "apiVersion: v1
kind: Secret
metadata: {{name: pg-login, labels: {{sluice.dev/allowed: 'true'}}}}
stringData: {{username: {user}, password: {password}}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: db}}
spec:
  postgres: {{host: '{host}', port: {port}, database: {database}, sslMode: Disable}}
  credentials: {{secretRef: {{name: pg-login}}, basic: {{}}}}
---
{LOCAL_PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: changes}}
spec:
  source: {{connectorProfileRef: {{name: db}}, postgres: {{table: {table}}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
  sync: {{mode: Incremental, cursorField: updated_at, firstRun: {{startTime: '2024-03-01T00:00:00Z'}}}}
  runTemplate: {{backoffLimit: 0}}
---
{}",
            flow_run("first", "changes"),
            user = pg.user,
            password = pg.password,
            host = pg.host,
            port = pg.port,
            database = pg.database,
        ),
    );
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "first", "the first run to finish", finished).await;
    let status = runs.get("first").await.unwrap().status.unwrap();
    assert_eq!(
        status.phase,
        Some(sluice::api::v1alpha1::flow_run::RunPhase::Succeeded),
        "{status:?}\n{:?}",
        node.outputs()
    );
    // The first run's window: sync.firstRun to the moment it was pinned.
    let window = status.window.clone().unwrap();
    assert_eq!(window.from.unwrap().0.to_string(), "2024-03-01T00:00:00Z");
    let to = window.to.clone().unwrap();
    assert!(to.0 <= k8s_openapi::jiff::Timestamp::now());
    assert_eq!(status.progress.records_read, 2, "rows 2 and 3 only");
    assert_eq!(lines_under(&work.path().join("out/first")), 2);
    // Its watermark is the window's end.
    assert_eq!(status.watermark, Some(to.clone()));

    // The Flow commits the successful run's watermark.
    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);
    let committed = to.clone();
    wait_for(
        &flows,
        "changes",
        "the Flow to commit the first run's watermark",
        move |f| {
            f.and_then(|f| f.status.as_ref())
                .and_then(|s| s.incremental.as_ref())
                .is_some_and(|i| {
                    i.watermark.as_ref() == Some(&committed) && i.run.as_deref() == Some("first")
                })
        },
    )
    .await;
    // The next run starts at the watermark: only the row changed since.
    postgres::execute(&format!(
        "INSERT INTO {table} VALUES (5, clock_timestamp());"
    ))
    .await;
    // Windows end on whole seconds (the time the run is pinned, truncated):
    // a run pinned within the row's second would end before it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    apply(&ns.name, &flow_run("second", "changes"));
    wait_for(&runs, "second", "the second run to finish", finished).await;
    let status = runs.get("second").await.unwrap().status.unwrap();
    assert_eq!(status.window.clone().unwrap().from, Some(to.clone()));
    assert_eq!(
        status.progress.records_read, 1,
        "row 5 only: {:?}",
        status.window
    );
    assert_eq!(lines_under(&work.path().join("out/second")), 1);
    let second_watermark = status.watermark.clone().unwrap();
    let expected = second_watermark.clone();
    wait_for(
        &flows,
        "changes",
        "the Flow to commit the second run's watermark",
        move |f| {
            f.and_then(|f| f.status.as_ref())
                .and_then(|s| s.incremental.as_ref())
                .is_some_and(|i| i.watermark.as_ref() == Some(&expected))
        },
    )
    .await;

    // A window override reads that window and moves no watermark.
    apply(
        &ns.name,
        "apiVersion: sluice.dev/v1alpha1
kind: FlowRun
metadata: {name: replay}
spec:
  flowRef: {name: changes}
  overrides: {window: {from: '2024-05-01T00:00:00Z', to: '2024-12-31T00:00:00Z'}}
",
    );
    wait_for(&runs, "replay", "the replay to finish", finished).await;
    let status = runs.get("replay").await.unwrap().status.unwrap();
    let window = status.window.unwrap();
    assert_eq!(
        (
            window.from.unwrap().0.to_string(),
            window.to.unwrap().0.to_string()
        ),
        (
            "2024-05-01T00:00:00Z".to_owned(),
            "2024-12-31T00:00:00Z".to_owned()
        )
    );
    assert_eq!(
        status.phase,
        Some(sluice::api::v1alpha1::flow_run::RunPhase::Succeeded)
    );
    assert_eq!(status.progress.records_read, 1, "row 2 only");
    assert_eq!(status.watermark, None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let flow = flows.get("changes").await.unwrap();
    let incremental = flow.status.unwrap().incremental.unwrap();
    assert_eq!(
        incremental.watermark,
        Some(second_watermark),
        "the replay moved no watermark"
    );
    assert_eq!(incremental.run.as_deref(), Some("second"));
    postgres::execute(&format!("DROP TABLE {table};")).await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn an_unpullable_image_fails_the_run_and_removes_its_job() {
    let ns = TempNamespace::new("ctl-pull");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_demo();
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::ImagePull, work.path());
    apply(&ns.name, &demo_manifests());
    apply(&ns.name, &flow_run("pull", "opportunities"));
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "pull", "the run to finish", finished).await;
    let error = runs
        .get("pull")
        .await
        .unwrap()
        .status
        .unwrap()
        .error
        .unwrap();
    assert_eq!(
        error.reason,
        sluice::api::v1alpha1::flow_run::ErrorReason::ImagePullFailed
    );
    assert!(error.message.contains(IMAGE), "{}", error.message);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&jobs, "pull", "the Job to be deleted", |job| {
        job.is_none_or(|j| j.metadata.deletion_timestamp.is_some())
    })
    .await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_run_past_its_deadline_fails_as_deadline_exceeded() {
    let ns = TempNamespace::new("ctl-deadline");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_demo();
    let _controller = Controller::start(&ns.name);
    // The pod never runs; the Job controller stops the Job at its deadline.
    let _node = Node::start(client.clone(), &ns.name, Mode::Hold, work.path());
    let manifests = demo_manifests().replace(
        "  errorHandling:",
        "  runTemplate: {activeDeadlineSeconds: 2}\n  errorHandling:",
    );
    apply(&ns.name, &manifests);
    apply(&ns.name, &flow_run("slow", "opportunities"));
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "slow", "the run to finish", finished).await;
    let status = runs.get("slow").await.unwrap().status.unwrap();
    let error = status.error.unwrap();
    assert_eq!(
        error.reason,
        sluice::api::v1alpha1::flow_run::ErrorReason::DeadlineExceeded
    );
    assert!(error.message.contains("2s"), "{}", error.message);
    assert!(error.retryable);
    wait_event(&client, &ns.name, "slow", "DeadlineExceeded").await;
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_restarted_controller_finds_the_runs_job_instead_of_starting_another() {
    let ns = TempNamespace::new("ctl-restart");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_demo();
    let first = Controller::start(&ns.name);
    let held = Node::start(client.clone(), &ns.name, Mode::Hold, work.path());
    apply(&ns.name, &demo_manifests());
    apply(&ns.name, &flow_run("survivor", "opportunities"));
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&jobs, "survivor", "the run's Job", |job| job.is_some()).await;
    let job_uid = jobs.get("survivor").await.unwrap().uid();
    // Killed without notice, then started again; the node now runs pods.
    drop(first);
    drop(held);
    let second = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "survivor", "the run to finish", finished).await;
    let status = runs.get("survivor").await.unwrap().status.unwrap();
    assert_eq!(
        status.phase,
        Some(sluice::api::v1alpha1::flow_run::RunPhase::Succeeded)
    );
    let all = jobs
        .list(&ListParams::default().labels(RUNNER_SELECTOR))
        .await
        .unwrap()
        .items;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].uid(), job_uid);
    // The second controller started no run of its own but saw this one end.
    let metrics = second.metrics().await;
    assert!(!metrics.contains("sluice_runs_started_total{"), "{metrics}");
    assert!(
        metrics.contains("sluice_runs_succeeded_total{connector=\"file\"} 1"),
        "{metrics}"
    );
}

// ConnectorProfile validation: a `sluice check` Job per profile generation
// and interval, its result on the profile's Ready condition.

fn a_profile_ready(
    profile: &sluice::api::v1alpha1::ConnectorProfile,
) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    profile
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The profile's check of its current generation is recorded with
/// `status` (`True` or `False`).
fn a_profile_checked(
    status: &'static str,
) -> impl Fn(Option<&sluice::api::v1alpha1::ConnectorProfile>) -> bool {
    move |profile| {
        profile.is_some_and(|p| {
            a_profile_ready(p).is_some_and(|c| {
                c.status == status && c.observed_generation == p.metadata.generation
            }) && p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
        })
    }
}

const A_PROFILE_VALIDATION_SELECTOR: &str = "app.kubernetes.io/component=validation";

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_profile_is_validated_and_checked_again_when_its_spec_changes() {
    let ns = TempNamespace::new("ctl-profile");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("data")).unwrap();
    let controller = Controller::start(&ns.name);
    let node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    apply(
        &ns.name,
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: files}
spec: {file: {root: data}}
",
    );
    let profiles: Api<sluice::api::v1alpha1::ConnectorProfile> =
        Api::namespaced(client.clone(), &ns.name);
    wait_for(
        &profiles,
        "files",
        "the profile to be validated",
        a_profile_checked("True"),
    )
    .await;
    let profile = profiles.get("files").await.unwrap();
    let ready = a_profile_ready(&profile).unwrap();
    assert_eq!(ready.reason, "Validated", "{ready:?}\n{:?}", node.outputs());
    assert_eq!(ready.observed_generation, Some(1));
    let status = profile.status.clone().unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert!(status.last_validation_time.is_some());
    assert_eq!(
        status.connector,
        Some(sluice::api::v1alpha1::connector_profile::ConnectorKind::File)
    );
    assert_eq!(status.auth_scheme.as_deref(), Some("none"));
    wait_event(&client, &ns.name, "files", "Validated").await;
    // The check ran as `sluice check` in the validation identity.
    assert!(
        node.outputs()
            .iter()
            .any(|o| o.contains("\"reason\":\"Validated\"")),
        "{:?}",
        node.outputs()
    );
    let role = kubectl_ok(
        &[
            "get",
            "role",
            "sluice-validation",
            "-n",
            &ns.name,
            "-o",
            "json",
        ],
        None,
    );
    assert!(role.contains("connectorprofiles"), "{role}");
    for absent in ["secrets", "flowruns", "patch"] {
        assert!(!role.contains(absent), "{role}");
    }
    // Its Job goes once the result is recorded.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    wait_list(&jobs, "the validation Job to be deleted", |jobs| {
        jobs.iter().all(|j| {
            j.labels()
                .get("app.kubernetes.io/component")
                .map(String::as_str)
                != Some("validation")
                || j.metadata.deletion_timestamp.is_some()
        })
    })
    .await;

    // A spec change checks the new generation.
    profiles
        .patch(
            "files",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"file": {"root": "missing"}}})),
        )
        .await
        .unwrap();
    wait_for(
        &profiles,
        "files",
        "the new generation to be checked",
        a_profile_checked("False"),
    )
    .await;
    let profile = profiles.get("files").await.unwrap();
    assert_eq!(profile.metadata.generation, Some(2));
    let ready = a_profile_ready(&profile).unwrap();
    assert_eq!(ready.reason, "ReferenceNotFound", "{ready:?}");
    assert!(ready.message.contains("missing"), "{}", ready.message);
    assert_eq!(ready.observed_generation, Some(2));
    wait_event(&client, &ns.name, "files", "ValidationFailed").await;
    let metrics = controller.metrics().await;
    assert!(
        metrics.contains("sluice_reconciles_total{controller=\"connector_profile\"}"),
        "{metrics}"
    );
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_secret_that_has_not_opted_in_is_mounted_nowhere_until_it_does() {
    // Whoever may write a profile cannot have another team's Secret sent
    // anywhere: without the label no validation or run pod mounts it.
    let ns = TempNamespace::new("ctl-optin");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_csv();
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    let closed = free_port();
    apply(
        &ns.name,
        &format!(
            "apiVersion: v1
kind: Secret
metadata: {{name: theirs}}
stringData: {{user: app, pass: n0t-y0urs-8841}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: sneaky}}
spec:
  postgres: {{host: 127.0.0.1, port: {closed}, database: app, sslMode: Disable}}
  credentials: {{secretRef: {{name: theirs}}, basic: {{usernameKey: user, passwordKey: pass}}}}
---
{LOCAL_PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: exfiltrate}}
spec:
  source: {{connectorProfileRef: {{name: sneaky}}, postgres: {{table: t}}}}
  destination: {{connectorProfileRef: {{name: local}}, file: {{path: out, format: JsonLines}}}}
---
{}",
            flow_run("try", "exfiltrate")
        ),
    );
    let profiles: Api<sluice::api::v1alpha1::ConnectorProfile> =
        Api::namespaced(client.clone(), &ns.name);
    wait_for(
        &profiles,
        "sneaky",
        "the refusal",
        a_profile_checked("False"),
    )
    .await;
    let ready = a_profile_ready(&profiles.get("sneaky").await.unwrap())
        .cloned()
        .unwrap();
    assert_eq!(ready.reason, "SecretNotAllowed", "{ready:?}");
    assert!(
        ready.message.contains(&format!(
            "kubectl -n {} label secret theirs sluice.dev/allowed=true",
            ns.name
        )),
        "{}",
        ready.message
    );
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(&runs, "try", "the run stalled on the Secret", |run| {
        run.and_then(|r| condition(r, "Stalled"))
            .is_some_and(|c| c.status == "True" && c.reason == "Forbidden")
    })
    .await;
    wait_event(&client, &ns.name, "sneaky", "ValidationFailed").await;
    // Nothing mounts it: no Job (the run's or a check's) names the Secret.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let mounting = |jobs: &[Job]| {
        jobs.iter()
            .filter(|job| {
                serde_json::to_string(&job.spec)
                    .unwrap()
                    .contains("\"theirs\"")
            })
            .count()
    };
    assert_eq!(
        mounting(&jobs.list(&Default::default()).await.unwrap().items),
        0
    );
    assert!(jobs.get_opt("try").await.unwrap().is_none());

    // Its owner opts in: the check runs (the port is closed) and so does
    // the run, without any change to the profile or the run.
    kubectl_ok(
        &[
            "label",
            "secret",
            "theirs",
            "-n",
            &ns.name,
            "sluice.dev/allowed=true",
        ],
        None,
    );
    wait_for(&profiles, "sneaky", "the check after the opt-in", |p| {
        p.and_then(a_profile_ready)
            .is_some_and(|c| c.reason == "Unreachable")
    })
    .await;
    wait_for(&jobs, "try", "the run's Job after the opt-in", |job| {
        job.is_some()
    })
    .await;
    let statuses = kubectl_ok(
        &[
            "get",
            "connectorprofiles,flowruns,events",
            "-n",
            &ns.name,
            "-o",
            "yaml",
        ],
        None,
    );
    assert!(!statuses.contains("n0t-y0urs-8841"), "{statuses}");
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_service_account_that_has_not_opted_in_runs_nothing_and_is_bound_to_nothing() {
    // A Flow cannot borrow another workload's identity: a service account
    // is used, and bound to the runner's Role, only once it opts in.
    let ns = TempNamespace::new("ctl-sa");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = work_dir_with_csv();
    let _controller = Controller::start(&ns.name);
    let _node = Node::start(client.clone(), &ns.name, Mode::Hold, work.path());
    apply(
        &ns.name,
        &format!(
            "apiVersion: v1
kind: ServiceAccount
metadata: {{name: deployer}}
---
{LOCAL_PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: borrow}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in.csv, format: Csv}}}}
  destination: {{connectorProfileRef: {{name: local}}, file: {{path: out, format: JsonLines}}}}
  runTemplate: {{serviceAccountName: deployer}}
---
{}",
            flow_run("as-deployer", "borrow")
        ),
    );
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), &ns.name);
    wait_for(
        &runs,
        "as-deployer",
        "the run stalled on the account",
        |run| {
            run.and_then(|r| condition(r, "Stalled"))
                .is_some_and(|c| c.status == "True" && c.reason == "Forbidden")
        },
    )
    .await;
    let run = runs.get("as-deployer").await.unwrap();
    let message = &condition(&run, "Stalled").unwrap().message;
    assert!(
        message.contains(&format!(
            "kubectl -n {} label serviceaccount deployer sluice.dev/allowed=true",
            ns.name
        )),
        "{message}"
    );
    wait_event(&client, &ns.name, "as-deployer", "Forbidden").await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    assert!(jobs.get_opt("as-deployer").await.unwrap().is_none());
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(client.clone(), &ns.name);
    assert!(
        bindings
            .get_opt("sluice-runner-deployer")
            .await
            .unwrap()
            .is_none()
    );

    // The account's owner opts in: the run starts as it, bound then.
    kubectl_ok(
        &[
            "label",
            "serviceaccount",
            "deployer",
            "-n",
            &ns.name,
            "sluice.dev/allowed=true",
        ],
        None,
    );
    wait_for(
        &jobs,
        "as-deployer",
        "the run's Job after the opt-in",
        |job| job.is_some(),
    )
    .await;
    let job = jobs.get("as-deployer").await.unwrap();
    let pod = job.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("deployer"));
    assert!(
        bindings
            .get_opt("sluice-runner-deployer")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_profile_that_fails_its_check_says_why_and_never_shows_its_secret() {
    let ns = TempNamespace::new("ctl-profile-fail");
    let _dump = DumpOnFailure(ns.name.clone());
    // The validation pod passes the restricted Pod Security profile.
    enforce_restricted_pods(&ns.name);
    let client = client().await;
    let work = tempfile::tempdir().unwrap();
    let controller = Controller::start(&ns.name);
    let node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    let closed = free_port();
    apply(
        &ns.name,
        &format!(
            "apiVersion: v1
kind: Secret
metadata: {{name: pg, labels: {{sluice.dev/allowed: 'true'}}}}
stringData: {{user: app, pass: s3cr3t-profile-pass}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: closed}}
spec:
  postgres: {{host: 127.0.0.1, port: {closed}, database: app, sslMode: Disable}}
  credentials: {{secretRef: {{name: pg}}, basic: {{usernameKey: user, passwordKey: pass}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: nokey}}
spec:
  postgres: {{host: 127.0.0.1, port: {closed}, database: app, sslMode: Disable}}
  credentials: {{secretRef: {{name: pg}}, basic: {{usernameKey: user, passwordKey: missing-key}}}}
"
        ),
    );
    let profiles: Api<sluice::api::v1alpha1::ConnectorProfile> =
        Api::namespaced(client.clone(), &ns.name);
    wait_for(
        &profiles,
        "closed",
        "the closed port's check",
        a_profile_checked("False"),
    )
    .await;
    wait_for(
        &profiles,
        "nokey",
        "the missing key's check",
        a_profile_checked("False"),
    )
    .await;
    let closed = profiles.get("closed").await.unwrap();
    let ready = a_profile_ready(&closed).unwrap();
    assert_eq!(
        ready.reason,
        "Unreachable",
        "{ready:?}\n{:?}",
        node.outputs()
    );
    assert!(ready.message.contains("\"closed\""), "{}", ready.message);
    let nokey = profiles.get("nokey").await.unwrap();
    let ready = a_profile_ready(&nokey).unwrap();
    assert_eq!(
        ready.reason,
        "SecretNotFound",
        "{ready:?}\n{:?}",
        node.outputs()
    );
    assert!(
        ready.message.contains("\"missing-key\""),
        "{}",
        ready.message
    );
    assert!(ready.message.contains("\"pg\""), "{}", ready.message);
    assert_eq!(
        nokey.status.as_ref().unwrap().auth_scheme.as_deref(),
        Some("basic")
    );
    wait_event(&client, &ns.name, "closed", "ValidationFailed").await;
    wait_event(&client, &ns.name, "nokey", "ValidationFailed").await;

    // The password is nowhere: the profiles' status, the Events, the
    // checks' output and the controller's log.
    let statuses = kubectl_ok(
        &["get", "connectorprofiles", "-n", &ns.name, "-o", "yaml"],
        None,
    );
    assert!(statuses.contains("Unreachable"), "{statuses}");
    assert!(!statuses.contains("s3cr3t-profile-pass"), "{statuses}");
    let events = kubectl_ok(&["get", "events", "-n", &ns.name, "-o", "yaml"], None);
    assert!(events.contains("ValidationFailed"), "{events}");
    assert!(!events.contains("s3cr3t-profile-pass"), "{events}");
    let outputs = node.outputs();
    assert!(outputs.len() >= 2, "both checks ran: {outputs:?}");
    for output in outputs {
        assert!(!output.contains("s3cr3t-profile-pass"), "{output}");
    }
    let log = controller.log();
    assert!(log.contains("recorded the connection check"), "{log}");
    assert!(!log.contains("s3cr3t-profile-pass"), "{log}");
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server and kube-controller-manager: run `make test`"]
async fn a_profile_is_checked_again_every_validation_interval() {
    let ns = TempNamespace::new("ctl-profile-interval");
    let _dump = DumpOnFailure(ns.name.clone());
    let client = client().await;
    let work = tempfile::tempdir().unwrap();
    let _controller = Controller::start(&ns.name);
    let node = Node::start(client.clone(), &ns.name, Mode::Run, work.path());
    apply(
        &ns.name,
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: often}
spec: {file: {root: .}, validationInterval: 2s}
",
    );
    let profiles: Api<sluice::api::v1alpha1::ConnectorProfile> =
        Api::namespaced(client.clone(), &ns.name);
    wait_for(
        &profiles,
        "often",
        "the first check",
        a_profile_checked("True"),
    )
    .await;
    let first = profiles
        .get("often")
        .await
        .unwrap()
        .status
        .unwrap()
        .last_validation_time
        .unwrap();
    wait_for(&profiles, "often", "a later check", |profile| {
        profile
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.last_validation_time.as_ref())
            .is_some_and(|t| t.0 > first.0)
    })
    .await;
    // Same generation, so the same result and no second Event (counting
    // a repeated Event's series too).
    let profile = profiles.get("often").await.unwrap();
    assert_eq!(a_profile_ready(&profile).unwrap().reason, "Validated");
    assert_eq!(profile.metadata.generation, Some(1));
    wait_event(&client, &ns.name, "often", "Validated").await;
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let validated: i32 = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| {
            e.reason.as_deref() == Some("Validated")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("often")
        })
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum();
    assert_eq!(validated, 1);
    let checks = node
        .outputs()
        .iter()
        .filter(|o| o.contains("\"reason\":\"Validated\""))
        .count();
    assert!(checks >= 2, "{:?}", node.outputs());
    // Each check's Job goes once its result is recorded: they do not pile up.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let kept: Vec<String> = jobs
        .list(&ListParams::default().labels(A_PROFILE_VALIDATION_SELECTOR))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| j.metadata.deletion_timestamp.is_none())
        .map(|j| j.name_any())
        .collect();
    assert!(kept.len() <= 1, "{kept:?}");
}
