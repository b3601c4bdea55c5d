//! The API against a real Kubernetes API server (kube-apiserver and etcd
//! built from the pinned Kubernetes release, RBAC and the default admission
//! chain on): the CRDs install, samples are accepted, invalid manifests are
//! refused with their message, defaults are applied by the server, FlowRun
//! specs are immutable, status is a subresource feeding the printer columns,
//! and `kubectl explain` shows the field docs; `sluice run` executes a
//! FlowRun and reports on it, and exits so that the Job retries only what
//! may succeed on a retry.
//!
//! Run by `make test`, which starts the control plane; ignored by a plain
//! `cargo test`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "http/server.rs"]
#[allow(dead_code)]
mod server;

use std::path::PathBuf;

use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde::Deserialize;
use sluice::api::v1alpha1::{ConnectorProfile, Flow, FlowRun};
use support::{TempNamespace, kubectl, kubectl_ok, repo, sluice};

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn get_json(ns: &str, resource: &str) -> serde_json::Value {
    serde_json::from_str(&kubectl_ok(
        &["get", "-n", ns, resource, "-o", "json"],
        None,
    ))
    .expect("kubectl prints JSON")
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn crds_register_kinds_short_names_and_category() {
    let ns = TempNamespace::new("register");
    let resources = kubectl_ok(
        &["api-resources", "--api-group", "sluice.dev", "-o", "wide"],
        None,
    );
    for (plural, short, kind) in [
        ("connectorprofiles", "cp,cprof", "ConnectorProfile"),
        ("flows", "fl", "Flow"),
        ("flowruns", "fr,run", "FlowRun"),
    ] {
        let line = resources
            .lines()
            .find(|l| l.starts_with(plural))
            .unwrap_or_else(|| panic!("{plural} not served:\n{resources}"));
        for word in [short, "sluice.dev/v1alpha1", "true", kind, "sluice"] {
            assert!(line.contains(word), "{plural}: {word} missing in {line:?}");
        }
    }
    // The category answers even when empty.
    kubectl_ok(&["get", "sluice", "-n", &ns.name], None);
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn every_sample_is_accepted_and_reads_back_into_the_typed_api_unchanged() {
    let ns = TempNamespace::new("samples");
    let files = yaml_files("config/samples");
    assert!(files.len() >= 4, "samples: {files:?}");
    for file in &files {
        let out = kubectl_ok(
            &[
                "create",
                "-n",
                &ns.name,
                "-f",
                &file.to_string_lossy(),
                "-o",
                "name",
            ],
            None,
        );
        for name in out.lines() {
            let object = get_json(&ns.name, name);
            // What the server stored (with its defaults) must deserialise into
            // the Rust types and serialise back identically: the controller
            // sees everything and would never write a different spec.
            let back = match object["kind"].as_str() {
                Some("ConnectorProfile") => serde_json::to_value(
                    ConnectorProfile::deserialize(&object).expect("typed").spec,
                ),
                Some("Flow") => {
                    serde_json::to_value(Flow::deserialize(&object).expect("typed").spec)
                }
                Some("FlowRun") => {
                    serde_json::to_value(FlowRun::deserialize(&object).expect("typed").spec)
                }
                other => panic!("{name}: unexpected kind {other:?}"),
            }
            .expect("serialises");
            assert_eq!(back, object["spec"], "{name} from {}", file.display());
        }
    }
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn server_side_apply_of_a_sample_twice_changes_nothing() {
    let ns = TempNamespace::new("apply-twice");
    let file = repo("config/samples/salesforce-to-s3.yaml");
    let file = file.to_string_lossy();
    let apply = [
        "apply",
        "--server-side",
        "--field-manager",
        "gitops",
        "-n",
        &ns.name,
        "-f",
        &file,
    ];
    kubectl_ok(&apply, None);
    let first = get_json(&ns.name, "flow/opportunities-to-lake");
    kubectl_ok(&apply, None);
    let second = get_json(&ns.name, "flow/opportunities-to-lake");
    assert_eq!(first["metadata"]["generation"], 1);
    assert_eq!(
        second["metadata"]["generation"], 1,
        "a re-apply bumped the generation"
    );
    assert_eq!(
        first["metadata"]["resourceVersion"],
        second["metadata"]["resourceVersion"]
    );
    // What Argo CD and Flux ask: does the live object differ from Git?
    let diff = kubectl(
        &[
            "diff",
            "--server-side",
            "--field-manager",
            "gitops",
            "-n",
            &ns.name,
            "-f",
            &file,
        ],
        None,
    );
    assert!(
        diff.status.success(),
        "perpetual diff:\n{}{}",
        String::from_utf8_lossy(&diff.stdout),
        String::from_utf8_lossy(&diff.stderr)
    );
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn invalid_manifests_are_refused_with_their_message() {
    let ns = TempNamespace::new("invalid");
    let files = yaml_files("tests/manifests/invalid");
    assert!(
        files.len() >= 100,
        "invalid corpus has {} files",
        files.len()
    );
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks a '# expect: ' first line", file.display()));
        let out = kubectl(&["create", "-n", &ns.name, "-f", "-"], Some(&text));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if out.status.success() {
            wrong.push(format!(
                "{name}: accepted, expected refusal with {expect:?}"
            ));
            let _ = kubectl(&["delete", "-n", &ns.name, "-f", "-"], Some(&text));
        } else if !stderr.contains(expect) {
            wrong.push(format!(
                "{name}: expected {expect:?}, got {}",
                stderr.trim()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        files.len(),
        wrong.join("\n")
    );
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn valid_manifests_are_accepted() {
    // The same corpus local mode must accept (src/manifest.rs tests), so
    // the two cannot drift apart.
    let ns = TempNamespace::new("valid");
    let files = yaml_files("tests/manifests/valid");
    assert!(files.len() >= 2, "valid corpus has {} files", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        let out = kubectl(&["create", "-n", &ns.name, "-f", "-"], Some(&text));
        if !out.status.success() {
            wrong.push(format!(
                "{}: refused: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn the_server_fills_in_defaults() {
    let ns = TempNamespace::new("defaults");
    let minimal = r#"
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {name: minimal}
spec:
  source: {connectorProfileRef: {name: a}, file: {path: in.csv, format: Csv}}
  destination: {connectorProfileRef: {name: b}, s3: {bucket: acme-lake, format: Parquet}}
"#;
    kubectl_ok(&["create", "-n", &ns.name, "-f", "-"], Some(minimal));
    let spec = get_json(&ns.name, "flow/minimal")["spec"].clone();
    assert_eq!(spec["trigger"]["type"], "OnDemand");
    assert_eq!(spec["sync"]["mode"], "Full");
    assert_eq!(spec["sync"]["writeMode"], "Append");
    assert_eq!(spec["errorHandling"]["policy"], "Fail");
    assert_eq!(spec["schemaDrift"]["policy"], "PassThrough");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["history"]["successfulRuns"], 10);
    assert_eq!(spec["history"]["failedRuns"], 5);
    let s3 = &spec["destination"]["s3"];
    assert_eq!(s3["pathTemplate"], "{flow}/{year}/{month}/{day}/{runId}");
    assert_eq!(s3["fileNameTemplate"], "part-{sequence}");
    assert_eq!(s3["encryption"], "SseS3");
    assert_eq!(s3["aggregation"]["mode"], "None");
    assert_eq!(spec["source"]["file"]["compression"], "Auto");
    // No projection or map-all is needed: no tasks means every field.
    assert!(spec.get("tasks").is_none());
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn a_flow_run_spec_is_immutable_except_cancel() {
    let ns = TempNamespace::new("immutable");
    let run = r#"
apiVersion: sluice.dev/v1alpha1
kind: FlowRun
metadata: {name: once}
spec:
  flowRef: {name: orders}
  overrides: {fullRefresh: true}
"#;
    kubectl_ok(&["create", "-n", &ns.name, "-f", "-"], Some(run));
    let n = ns.name.as_str();
    let refused = |patch: &str, expect: &str| {
        let out = kubectl(
            &[
                "patch",
                "-n",
                n,
                "flowrun/once",
                "--type",
                "merge",
                "-p",
                patch,
            ],
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "patch {patch} was accepted");
        assert!(stderr.contains(expect), "patch {patch}: {stderr}");
    };
    let immutable = "a FlowRun's spec is immutable except cancel";
    refused(r#"{"spec":{"flowRef":{"name":"other"}}}"#, immutable);
    refused(r#"{"spec":{"overrides":{"fullRefresh":false}}}"#, immutable);
    refused(r#"{"spec":{"overrides":null}}"#, immutable);
    refused(
        r#"{"spec":{"scheduledTime":"2024-01-01T00:00:00Z"}}"#,
        immutable,
    );
    kubectl_ok(
        &[
            "patch",
            "-n",
            n,
            "flowrun/once",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"cancel":true}}"#,
        ],
        None,
    );
    refused(r#"{"spec":{"cancel":false}}"#, "cancel cannot be undone");
    assert_eq!(get_json(n, "flowrun/once")["spec"]["cancel"], true);
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn status_is_a_subresource_that_feeds_the_printer_columns() {
    let ns = TempNamespace::new("status");
    let n = ns.name.as_str();
    let run = "apiVersion: sluice.dev/v1alpha1\nkind: FlowRun\nmetadata: {name: r1}\nspec: {flowRef: {name: orders}}\n";
    kubectl_ok(&["create", "-n", n, "-f", "-"], Some(run));
    // Status written with the main resource is ignored...
    kubectl_ok(
        &[
            "patch",
            "-n",
            n,
            "flowrun/r1",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"phase":"Running"}}"#,
        ],
        None,
    );
    assert!(
        get_json(n, "flowrun/r1")
            .get("status")
            .is_none_or(|s| s.get("phase").is_none())
    );
    // ...and taken through the status subresource, validated by the schema.
    let bad = kubectl(
        &[
            "patch",
            "-n",
            n,
            "flowrun/r1",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"phase":"Done"}}"#,
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains(r#"status.phase: Unsupported value: "Done""#)
    );
    let status = r#"{"status":{"phase":"Succeeded","duration":"1m5s","progress":{"recordsRead":50,"recordsWritten":42},
      "conditions":[{"type":"Succeeded","status":"True","reason":"Completed","message":"42 records written","lastTransitionTime":"2024-05-01T00:00:00Z","observedGeneration":1}]}}"#;
    kubectl_ok(
        &[
            "patch",
            "-n",
            n,
            "flowrun/r1",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            status,
        ],
        None,
    );
    let table = kubectl_ok(&["get", "-n", n, "flowrun/r1"], None);
    let header = table.lines().next().unwrap_or_default();
    let row = table.lines().nth(1).unwrap_or_default();
    for column in ["FLOW", "PHASE", "RECORDS", "DURATION", "AGE"] {
        assert!(header.contains(column), "{header}");
    }
    for cell in ["r1", "orders", "Succeeded", "42", "1m5s"] {
        assert!(
            row.split_whitespace().any(|c| c == cell),
            "{cell} not in {row:?}"
        );
    }
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn kubectl_explain_shows_the_field_docs() {
    let _ns = TempNamespace::new("explain");
    for (path, text) in [
        (
            "flow.spec.tasks.filter",
            "Keep only records that match a condition",
        ),
        ("flow.spec.tasks.mask.mode", "Which characters are replaced"),
        (
            "flow.spec.trigger.schedule.concurrencyPolicy",
            "What to do when a run is due while another is going",
        ),
        ("flow.spec.sync.writeMode", "How records are written"),
        ("flowrun.spec.cancel", "Stop the run"),
        (
            "flowrun.status.progress.recordsQuarantined",
            "Bad records written to the error location",
        ),
        (
            "connectorprofile.spec.credentials.oauth2.grantType",
            "The grant used to obtain access tokens",
        ),
        ("connectorprofile", "How to reach one application or store"),
    ] {
        let out = kubectl_ok(&["explain", path], None);
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(text), "kubectl explain {path}:\n{out}");
    }
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn rbac_is_enforced() {
    let ns = TempNamespace::new("rbac");
    let n = ns.name.as_str();
    let stranger = "system:serviceaccount:default:stranger";
    let out = kubectl(
        &[
            "auth",
            "can-i",
            "create",
            "flows.sluice.dev",
            "-n",
            n,
            "--as",
            stranger,
        ],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let flow = "apiVersion: sluice.dev/v1alpha1\nkind: FlowRun\nmetadata: {name: r}\nspec: {flowRef: {name: f}}\n";
    let out = kubectl(
        &["create", "-n", n, "--as", stranger, "-f", "-"],
        Some(flow),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Forbidden"));
    // A Role granting FlowRun creation is honoured.
    kubectl_ok(
        &[
            "create",
            "role",
            "runner",
            "-n",
            n,
            "--verb",
            "create,get",
            "--resource",
            "flowruns.sluice.dev",
        ],
        None,
    );
    kubectl_ok(
        &[
            "create",
            "rolebinding",
            "runner",
            "-n",
            n,
            "--role",
            "runner",
            "--serviceaccount",
            "default:stranger",
        ],
        None,
    );
    kubectl_ok(
        &["create", "-n", n, "--as", stranger, "-f", "-"],
        Some(flow),
    );
}

/// The typed client path the controller uses: create from Rust values, read
/// back with server defaults, write status through the subresource.
#[tokio::test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
async fn the_typed_client_creates_reads_and_patches_status() {
    let ns = TempNamespace::new("typed");
    let client = support::cluster::client().await;
    let flows: Api<Flow> = Api::namespaced(client.clone(), &ns.name);
    let runs: Api<FlowRun> = Api::namespaced(client, &ns.name);

    let flow: Flow = serde_yaml_ng::from_str(
        r#"
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {name: typed}
spec:
  source: {connectorProfileRef: {name: a}, zendesk: {object: tickets}}
  destination: {connectorProfileRef: {name: b}, postgres: {table: tickets}}
  sync: {mode: Incremental, writeMode: Upsert, idFields: [id]}
  tasks: [{validate: {field: id, check: NotNull}}]
"#,
    )
    .expect("valid Flow");
    let created = flows
        .create(&PostParams::default(), &flow)
        .await
        .expect("created");
    assert_eq!(created.spec.sync.id_fields, vec!["id".into()]);
    assert_eq!(created.spec.history.successful_runs, 10);

    let run: FlowRun = serde_json::from_value(serde_json::json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "FlowRun",
        "metadata": {"name": "typed-1"},
        "spec": {"flowRef": {"name": "typed"}}
    }))
    .expect("valid FlowRun");
    runs.create(&PostParams::default(), &run)
        .await
        .expect("run created");
    let status = serde_json::json!({"status": {
        "phase": "Running",
        "flow": {"generation": 1, "uid": created.metadata.uid, "spec": created.spec},
        "progress": {"recordsRead": 7}
    }});
    let patched = runs
        .patch_status("typed-1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status patched");
    let pinned = patched.status.and_then(|s| s.flow).expect("pinned flow");
    assert_eq!(pinned.spec, flow_spec_with_defaults(&flows).await);
    flows
        .delete("typed", &DeleteParams::default())
        .await
        .expect("deleted");
}

async fn flow_spec_with_defaults(flows: &Api<Flow>) -> sluice::api::v1alpha1::FlowSpec {
    flows.get("typed").await.expect("flow").spec
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn valid_schedules_time_zones_and_durations_are_accepted() {
    let ns = TempNamespace::new("valid-values");
    let schedules = [
        "0 0 * * *",
        "*/15 * * * *",
        "0 9-17 * * MON-FRI",
        "30 2 1,15 * *",
        "0 12 * jan,Jul sun",
        "5 4 * * 0-7/2",
        "0 0 31 12 *",
        "@hourly",
        "@daily",
        "@yearly",
        "rate(1 minute)",
        "rate(15 minutes)",
        "rate(2 hours)",
        "rate(1 day)",
    ];
    let zones = [
        "UTC",
        "Europe/Paris",
        "America/Argentina/Buenos_Aires",
        "America/Port-au-Prince",
        "Etc/GMT+5",
    ];
    let durations = ["0s", "90s", "15m", "1h30m", "0.5h", "720h", "500ms"];
    let mut refused = Vec::new();
    let cases = schedules
        .iter()
        .map(|s| (format!("schedule {s:?}"), *s, "UTC", "10m"))
        .chain(
            zones
                .iter()
                .map(|z| (format!("zone {z:?}"), "@daily", *z, "10m")),
        )
        .chain(
            durations
                .iter()
                .map(|d| (format!("lookback {d:?}"), "@daily", "UTC", *d)),
        );
    for (what, expression, zone, lookback) in cases {
        let flow = format!(
            r#"
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: valid}}
spec:
  source: {{connectorProfileRef: {{name: a}}, salesforce: {{object: Account}}}}
  destination: {{connectorProfileRef: {{name: b}}, file: {{path: out, format: Csv}}}}
  trigger: {{type: Schedule, schedule: {{expression: "{expression}", timeZone: "{zone}"}}}}
  sync: {{mode: Incremental, lookback: "{lookback}"}}
"#
        );
        let out = kubectl(
            &["create", "--dry-run=server", "-n", &ns.name, "-f", "-"],
            Some(&flow),
        );
        if !out.status.success() {
            refused.push(format!(
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(
        refused.is_empty(),
        "valid values refused:\n{}",
        refused.join("\n")
    );
}

fn runner_setup(ns: &str, root: &std::path::Path, run_spec: &str) {
    std::fs::write(
        root.join("in.jsonl"),
        (0..250)
            .map(|i| format!("{{\"id\":{i},\"name\":\"n{i}\"}}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let manifests = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{root: {root}}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: ids}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in.jsonl, format: JsonLines}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: Csv, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: FlowRun
metadata: {{name: r1}}
spec: {run_spec}
",
        root = root.display()
    );
    kubectl_ok(&["create", "-n", ns, "-f", "-"], Some(&manifests));
}

/// `sluice run` of the FlowRun `r1`, as its pod runs it.
fn sluice_run(ns: &str, dir: &std::path::Path) -> std::process::Output {
    sluice(dir, &["run", "--namespace", ns, "--name", "r1"])
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn sluice_run_executes_a_flow_run_and_reports_on_its_status() {
    let ns = TempNamespace::new("runner");
    let dir = tempfile::tempdir().unwrap();
    runner_setup(&ns.name, dir.path(), "{flowRef: {name: ids}}");
    let out = sluice_run(&ns.name, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = get_json(&ns.name, "flowrun/r1");
    let status = &run["status"];
    assert_eq!(status["phase"], "Succeeded", "{status}");
    assert_eq!(status["progress"]["recordsRead"], 250);
    assert_eq!(status["progress"]["recordsWritten"], 250);
    assert_eq!(status["output"]["objectCount"], 1);
    assert!(
        status["output"]["manifest"]
            .as_str()
            .unwrap()
            .ends_with("out/_sluice/manifests/ids/r1.json")
    );
    assert_eq!(status["flow"]["generation"], 1);
    assert_eq!(status["flow"]["spec"]["source"]["file"]["path"], "in.jsonl");
    assert_eq!(status["conditions"][0]["type"], "Succeeded");
    assert_eq!(status["conditions"][0]["status"], "True");
    assert!(status["startTime"].is_string() && status["completionTime"].is_string());
    assert_eq!(status["attempts"], 1);
    let csv = std::fs::read_to_string(dir.path().join("out/r1/part-00000.csv")).unwrap();
    assert_eq!(csv.lines().count(), 251);
    // The table users see.
    let table = kubectl_ok(&["get", "-n", &ns.name, "flowrun/r1"], None);
    assert!(
        table.lines().nth(1).unwrap().contains("Succeeded"),
        "{table}"
    );
    // A retried pod of a finished run changes nothing.
    assert!(sluice_run(&ns.name, dir.path()).status.success());
    assert_eq!(get_json(&ns.name, "flowrun/r1")["status"]["attempts"], 1);
}

#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn sluice_run_reports_a_missing_flow_and_honours_cancel() {
    let ns = TempNamespace::new("runner-fail");
    let dir = tempfile::tempdir().unwrap();
    runner_setup(&ns.name, dir.path(), "{flowRef: {name: nowhere}}");
    let out = sluice_run(&ns.name, dir.path());
    assert!(!out.status.success());
    let status = get_json(&ns.name, "flowrun/r1")["status"].clone();
    assert_eq!(status["phase"], "Failed");
    assert_eq!(status["error"]["reason"], "ReferenceNotFound");
    assert_eq!(status["error"]["retryable"], false);
    assert!(
        status["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Flow \"nowhere\" does not exist")
    );
    assert_eq!(status["conditions"][0]["reason"], "ReferenceNotFound");

    kubectl_ok(&["delete", "-n", &ns.name, "flowrun/r1"], None);
    kubectl_ok(
        &["create", "-n", &ns.name, "-f", "-"],
        Some(
            "apiVersion: sluice.dev/v1alpha1\nkind: FlowRun\nmetadata: {name: r1}\nspec: {flowRef: {name: ids}, cancel: true}\n",
        ),
    );
    let out = sluice_run(&ns.name, dir.path());
    assert!(!out.status.success());
    assert_eq!(
        get_json(&ns.name, "flowrun/r1")["status"]["phase"],
        "Cancelled"
    );
    assert!(!dir.path().join("out/r1").exists());
}

/// A FlowRun whose credentials are refused mid-run (the API answered the
/// first page, then revoked the key) fails as AuthenticationFailed, not
/// retryable, and `sluice run` exits with `EXIT_NOT_RETRYABLE`, so the Job's
/// pod failure policy does not run it again.
#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn sluice_run_refused_credentials_mid_run_are_not_retried() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const KEY: &str = "runner-key-4d2c";
    let ns = TempNamespace::new("runner-auth");
    let dir = tempfile::tempdir().unwrap();
    let answered = AtomicUsize::new(0);
    let api = server::Server::start(move |seen| {
        // The key is revoked once the first page is out.
        if seen.header("x-api-key") != Some(KEY) || answered.fetch_add(1, Ordering::SeqCst) > 0 {
            return server::Reply::status(401, r#"{"error":"invalid api key"}"#);
        }
        server::Reply::json(r#"{"data": [{"id": 1}], "next": "/items?page=2"}"#)
    });
    // The Secret's key as the controller mounts it into the run's pod,
    // outside the file profile's root (a root holding it is refused).
    let mounted = tempfile::tempdir().unwrap();
    let secrets = mounted.path().join("secrets");
    std::fs::create_dir_all(secrets.join("api")).unwrap();
    std::fs::write(secrets.join("api/apiKey"), KEY).unwrap();
    let manifests = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: api}}
spec:
  http: {{baseUrl: '{base}'}}
  credentials:
    secretRef: {{name: api}}
    apiKey: {{in: Header, name: X-Api-Key}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{root: {root}}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: items}}
spec:
  source:
    connectorProfileRef: {{name: api}}
    http: {{path: /items, recordSelector: /data, pagination: {{type: NextUrl, nextUrl: {{pointer: /next}}}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}'}}
---
apiVersion: sluice.dev/v1alpha1
kind: FlowRun
metadata: {{name: r1}}
spec: {{flowRef: {{name: items}}}}
",
        base = api.base,
        root = dir.path().display()
    );
    kubectl_ok(&["create", "-n", &ns.name, "-f", "-"], Some(&manifests));
    let out = support::Sluice::new(
        dir.path(),
        &["run", "--namespace", &ns.name, "--name", "r1"],
    )
    .env(sluice::protocol::SECRETS_DIR_ENV, &secrets)
    .output();
    let printed = support::text(&out);
    assert_eq!(
        out.status.code(),
        Some(i32::from(sluice::runner::EXIT_NOT_RETRYABLE)),
        "{printed}"
    );
    assert!(!printed.contains(KEY), "{printed}");
    let status = get_json(&ns.name, "flowrun/r1")["status"].clone();
    assert_eq!(status["phase"], "Failed", "{status}");
    assert_eq!(
        status["error"]["reason"], "AuthenticationFailed",
        "{status}"
    );
    assert_eq!(status["error"]["retryable"], false, "{status}");
    assert!(!status.to_string().contains(KEY), "{status}");
    // The first page was answered; the next one was refused.
    let message = status["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("/items?page=2"), "{message}");
    assert!(!dir.path().join("out/r1").exists(), "nothing published");
}

/// Manifests of an http Flow `items` reading `api`'s `/items` (NextUrl
/// pages) into files under `root`, and its FlowRun `r1`.
fn http_run_manifests(base: &str, root: &std::path::Path) -> String {
    format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: api}}
spec:
  http: {{baseUrl: '{base}', requestTimeout: 10m}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{root: {root}}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: items}}
spec:
  source:
    connectorProfileRef: {{name: api}}
    http: {{path: /items, recordSelector: /data, pagination: {{type: NextUrl, nextUrl: {{pointer: /next}}}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: FlowRun
metadata: {{name: r1}}
spec: {{flowRef: {{name: items}}}}
",
        root = root.display()
    )
}

/// An API whose second page does not come until `answer` is set.
fn stalling_api(answer: std::sync::Arc<std::sync::atomic::AtomicBool>) -> server::Server {
    server::Server::start(move |seen| {
        if seen.param("page").is_none() {
            let data = server::records(1..=50);
            return server::Reply::json(format!(r#"{{"data":{data},"next":"/items?page=2"}}"#));
        }
        let last = server::Reply::json(format!(r#"{{"data":{}}}"#, server::records(51..=60)));
        if answer.load(std::sync::atomic::Ordering::SeqCst) {
            last
        } else {
            last.after(std::time::Duration::from_secs(3600))
        }
    })
}

/// Starts `sluice run` of `r1` and waits until it has staged the first
/// page and asked for the second, which does not come.
fn started_and_waiting(
    ns: &str,
    dir: &std::path::Path,
    api: &server::Server,
) -> std::process::Child {
    let mut child = support::Sluice::new(dir, &["run", "--namespace", ns, "--name", "r1"]).spawn();
    let started = std::time::Instant::now();
    loop {
        let staged = !support::files_under(&dir.join("out/_sluice/staging")).is_empty();
        if staged && api.requests().len() >= 2 {
            return child;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "sluice run ended early:\n{}",
            support::text(&support::wait_within(
                child,
                std::time::Duration::from_secs(5)
            ))
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the run did not get to its second page"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// SIGTERM (a pod deleted, evicted or drained) stops a run within the
/// grace period: nothing is published and no staging is left, the FlowRun
/// says Failed / Interrupted / retryable, the exit code is 143 (a failed
/// attempt, not the not-retryable 3); the next attempt starts clean and
/// succeeds, and its status keeps nothing of the interrupted one.
#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn sluice_run_interrupted_by_sigterm_reports_it_and_the_next_attempt_runs_clean() {
    let ns = TempNamespace::new("runner-sigterm");
    let dir = tempfile::tempdir().unwrap();
    let answer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let api = stalling_api(answer.clone());
    kubectl_ok(
        &["create", "-n", &ns.name, "-f", "-"],
        Some(&http_run_manifests(&api.base, dir.path())),
    );
    let child = started_and_waiting(&ns.name, dir.path(), &api);
    let signalled = std::time::Instant::now();
    support::send_signal(&child, "TERM");
    let out = support::wait_within(child, std::time::Duration::from_secs(30));
    let printed = support::text(&out);
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(10),
        "took {:?} to stop",
        signalled.elapsed()
    );
    assert_eq!(out.status.code(), Some(143), "{printed}");
    let status = get_json(&ns.name, "flowrun/r1")["status"].clone();
    assert_eq!(status["phase"], "Failed", "{status}");
    assert_eq!(status["error"]["reason"], "Interrupted", "{status}");
    assert_eq!(status["error"]["retryable"], true, "{status}");
    assert!(
        status["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SIGTERM"),
        "{status}"
    );
    assert_eq!(status["conditions"][0]["reason"], "Interrupted", "{status}");
    assert_eq!(status["progress"]["recordsRead"], 50, "{status}");
    assert!(
        support::files_under(&dir.path().join("out")).is_empty(),
        "{:?}",
        support::files_under(&dir.path().join("out"))
    );

    // The Job's next attempt.
    answer.store(true, std::sync::atomic::Ordering::SeqCst);
    let out = sluice_run(&ns.name, dir.path());
    assert!(out.status.success(), "{}", support::text(&out));
    let status = get_json(&ns.name, "flowrun/r1")["status"].clone();
    assert_eq!(status["phase"], "Succeeded", "{status}");
    assert_eq!(status["attempts"], 2, "{status}");
    assert!(status.get("error").is_none(), "{status}");
    assert_eq!(status["progress"]["recordsWritten"], 60, "{status}");
    let written = std::fs::read_to_string(dir.path().join("out/r1/part-00000.jsonl")).unwrap();
    assert_eq!(written.lines().count(), 60);
}

/// The controller cancels a run by marking it Cancelled and deleting its
/// Job, which sends the runner SIGTERM: the run stays Cancelled, not
/// Interrupted. A signal while the run is still being planned (its first
/// page not answered) ends it as Interrupted at once.
#[test]
#[ignore = "needs a Kubernetes API server: run `make test`"]
fn sluice_run_sigterm_after_a_cancel_keeps_it_cancelled_and_stops_planning_runs() {
    let ns = TempNamespace::new("runner-sigterm-cancel");
    let dir = tempfile::tempdir().unwrap();
    let api = stalling_api(std::sync::Arc::default());
    kubectl_ok(
        &["create", "-n", &ns.name, "-f", "-"],
        Some(&http_run_manifests(&api.base, dir.path())),
    );
    let child = started_and_waiting(&ns.name, dir.path(), &api);
    // What the controller does on spec.cancel, before the runner's next
    // look at the run.
    kubectl_ok(
        &[
            "patch",
            "-n",
            &ns.name,
            "flowrun/r1",
            "--type=merge",
            "-p",
            r#"{"spec":{"cancel":true}}"#,
        ],
        None,
    );
    kubectl_ok(
        &[
            "patch",
            "-n",
            &ns.name,
            "flowrun/r1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Cancelled"}}"#,
        ],
        None,
    );
    support::send_signal(&child, "TERM");
    let out = support::wait_within(child, std::time::Duration::from_secs(30));
    assert!(!out.status.success(), "{}", support::text(&out));
    assert_ne!(out.status.code(), Some(143), "{}", support::text(&out));
    let status = get_json(&ns.name, "flowrun/r1")["status"].clone();
    assert_eq!(status["phase"], "Cancelled", "{status}");
    assert!(status.get("error").is_none(), "{status}");
    assert!(support::files_under(&dir.path().join("out")).is_empty());

    // A run whose first page does not come is still being planned.
    let dir = tempfile::tempdir().unwrap();
    let silent = server::Server::start(|_| {
        server::Reply::json(r#"{"data":[]}"#).after(std::time::Duration::from_secs(3600))
    });
    kubectl_ok(
        &[
            "delete",
            "-n",
            &ns.name,
            "flowrun/r1",
            "flow/items",
            "connectorprofile/api",
            "connectorprofile/local",
        ],
        None,
    );
    kubectl_ok(
        &["create", "-n", &ns.name, "-f", "-"],
        Some(&http_run_manifests(&silent.base, dir.path())),
    );
    let child = support::Sluice::new(
        dir.path(),
        &["run", "--namespace", &ns.name, "--name", "r1"],
    )
    .spawn();
    let started = std::time::Instant::now();
    while silent.requests().is_empty() && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    support::send_signal(&child, "TERM");
    let out = support::wait_within(child, std::time::Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(143), "{}", support::text(&out));
    let status = get_json(&ns.name, "flowrun/r1")["status"].clone();
    assert_eq!(status["phase"], "Failed", "{status}");
    assert_eq!(status["error"]["reason"], "Interrupted", "{status}");
}
