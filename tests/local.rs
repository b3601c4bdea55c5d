//! `sluice local` and `sluice preview` as a user runs them: the binary, a
//! manifest file, a working directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const PROFILE: &str = "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {}}
";

fn sluice(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn setup(flow_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    std::fs::write(
        dir.path().join("in/people.csv"),
        "id,name,score\n1,Ada,9.5\n2,Grace,7\n3,,8\n",
    )
    .unwrap();
    let flow = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: people}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in/*.csv, format: Csv}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
{flow_extra}"
    );
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!("{PROFILE}---\n{flow}"),
    )
    .unwrap();
    dir
}

#[test]
fn local_runs_a_flow_and_prints_a_summary_with_the_output_paths() {
    let dir = setup("");
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    for expected in [
        "Flow         people",
        "Run          r1",
        "Status       Succeeded",
        "Written      3 records",
    ] {
        assert!(
            printed.contains(expected),
            "{expected:?} not in:\n{printed}"
        );
    }
    let output = std::fs::read_to_string(dir.path().join("out/r1/part-00000.jsonl")).unwrap();
    assert_eq!(
        output,
        "{\"id\":1,\"name\":\"Ada\",\"score\":9.5}\n{\"id\":2,\"name\":\"Grace\",\"score\":7.0}\n{\"id\":3,\"score\":8.0}\n"
    );
    assert!(
        printed.contains("out/_sluice/manifests/people/r1.json"),
        "{printed}"
    );
    // Rerunning the id replaces its output.
    let again = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    assert!(again.status.success());
    let files: Vec<_> = std::fs::read_dir(dir.path().join("out/r1"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn local_refuses_an_invalid_manifest_naming_the_field() {
    let dir = setup("  errorHandling: {policy: Quarantine}\n");
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml"]);
    assert!(!out.status.success());
    let printed = text(&out);
    assert!(printed.contains("document 2 (Flow people)"), "{printed}");
    assert!(
        printed.contains("errorHandling.policy Quarantine needs errorHandling.errorLocation"),
        "{printed}"
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn local_says_which_connector_cannot_run_yet() {
    let dir = setup("");
    let manifest = std::fs::read_to_string(dir.path().join("flow.yaml"))
        .unwrap()
        .replace(
            "file: {path: in/*.csv, format: Csv}",
            "s3: {bucket: acme-lake, format: Csv}",
        );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("spec.source: the s3 connector cannot run in this build yet"),
        "{}",
        text(&out)
    );
}

#[test]
fn preview_shows_records_before_and_after_the_tasks() {
    let dir = setup("");
    let out = sluice(dir.path(), &["preview", "-f", "flow.yaml", "--limit", "2"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Before tasks (2 records):"), "{printed}");
    assert!(printed.contains("| 2  | Grace | 7.0   |"), "{printed}");
    assert!(!printed.contains("| 3  |"), "{printed}");
    assert!(
        printed.contains("After tasks (2 records, 0 filtered, 0 bad):"),
        "{printed}"
    );
    assert!(
        !dir.path().join("out/_sluice/manifests").exists(),
        "preview publishes nothing"
    );
}
