//! `sluice local` and `sluice preview` as a user runs them: the binary, a
//! manifest file, a working directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use support::{Sluice, files_under, sluice, text, work_dir};

const PROFILE: &str = "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {}}
";

fn setup(flow_extra: &str) -> tempfile::TempDir {
    let dir = work_dir(&[(
        "in/people.csv",
        "id,name,score\n1,Ada,9.5\n2,Grace,7\n3,,8\n",
    )]);
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
fn local_says_when_the_profile_serves_another_connector() {
    let dir = setup("");
    let manifest = std::fs::read_to_string(dir.path().join("flow.yaml"))
        .unwrap()
        .replace(
            "file: {path: in/*.csv, format: Csv}",
            "salesforce: {object: Account}",
        );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml"]);
    assert!(!out.status.success());
    assert!(
        text(&out)
            .contains("spec.source.salesforce uses the salesforce connector but ConnectorProfile"),
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

#[test]
fn preview_locates_bad_records_at_the_line_they_were_read_from() {
    let dir =
        setup("  tasks:\n  - validate: {field: score, check: NotNegative, action: DropRecord}\n");
    std::fs::write(
        dir.path().join("in/people.csv"),
        "id,name,score\n1,Ada,9.5\n2,Grace\n\n3,Bob,-1\n",
    )
    .unwrap();
    let out = sluice(dir.path(), &["preview", "-f", "flow.yaml", "--limit", "10"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("in/people.csv:line 3: has 2 fields, the header has 3"),
        "{printed}"
    );
    assert!(
        printed.contains("in/people.csv:line 5: task validate[0]: field score:"),
        "{printed}"
    );
}

/// The README's first command, in a copy of the repository's demo folder.
#[test]
fn the_demo_keeps_big_deals_masks_contacts_and_quarantines_the_broken_records() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    std::fs::create_dir_all(dir.path().join("demo/data")).unwrap();
    for file in ["opportunities.yaml", "data/opportunities.jsonl"] {
        std::fs::copy(demo.join(file), dir.path().join("demo").join(file)).unwrap();
    }
    let out = sluice(
        dir.path(),
        &["local", "-f", "demo/opportunities.yaml", "--run-id", "demo"],
    );
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    for expected in [
        "Read         2,000 records",
        "Filtered     940",
        "Quarantined  3",
        "Written      1,057 records",
    ] {
        assert!(
            printed.contains(expected),
            "{expected:?} not in:\n{printed}"
        );
    }
    let folder = std::fs::read_dir(dir.path().join("out/opportunities")).unwrap();
    let mut parquet = Vec::new();
    for year in folder {
        for entry in files_under(&year.unwrap().path()) {
            if entry.extension().is_some_and(|e| e == "parquet") {
                parquet.push(entry);
            }
        }
    }
    assert_eq!(parquet.len(), 1, "{parquet:?}");
    let file = std::fs::File::open(&parquet[0]).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let column = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
        let amount = column("Amount");
        let amount = amount
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap();
        let email = column("ContactEmail");
        let email = email
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        let phone = column("ContactPhone");
        let phone = phone
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        let probability = column("Probability");
        let probability = probability
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        let expected = column("ExpectedRevenue");
        let expected = expected
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap();
        assert_eq!(
            column("CloseDate").data_type(),
            &arrow::datatypes::DataType::Date32
        );
        for i in 0..batch.num_rows() {
            assert!(amount.value(i) > 10_000.0);
            assert!(email.value(i).chars().all(|c| c == '*') && !email.value(i).is_empty());
            let (hidden, shown) = phone.value(i).split_at(11);
            assert_eq!(hidden, "***********");
            assert_eq!(shown.len(), 4);
            let want = amount.value(i) * probability.value(i) as f64 / 100.0;
            assert!((expected.value(i) - want).abs() < 1e-9);
        }
        rows += batch.num_rows();
    }
    assert_eq!(rows, 1057);
    let quarantine = files_under(&dir.path().join("out/_quarantine"));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&quarantine[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let locations: Vec<&str> = lines
        .iter()
        .map(|l| l["location"].as_str().unwrap())
        .collect();
    assert_eq!(
        locations,
        [
            "demo/data/opportunities.jsonl:line 1501",
            "demo/data/opportunities.jsonl:line 1734",
            "demo/data/opportunities.jsonl:line 1851"
        ]
    );
    assert_eq!(lines[0]["field"], "Amount");
}

/// A run killed with SIGKILL half-way and rerun under its id leaves exactly
/// one copy of each record, and nothing of the killed attempt.
#[test]
fn a_killed_run_rerun_under_its_id_leaves_one_copy_of_each_record() {
    let dir = tempfile::tempdir().unwrap();
    let records = 400_000;
    let padding = "p".repeat(100);
    let data: String = (0..records)
        .map(|i| format!("{{\"id\":{i},\"pad\":\"{padding}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("in.jsonl"), data).unwrap();
    let manifest = format!(
        "{PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: big}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in.jsonl, format: JsonLines}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}'}}
"
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let mut child =
        Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]).spawn_quiet();
    // Kill it once it has staged some files, before it publishes.
    let staging = dir.path().join("out/_sluice/staging/big/r1/r1");
    let started = std::time::Instant::now();
    let killed = loop {
        let staged = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
        if staged >= 3 {
            child.kill().unwrap();
            child.wait().unwrap();
            break true;
        }
        if child.try_wait().unwrap().is_some()
            || started.elapsed() > std::time::Duration::from_secs(60)
        {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(
        killed,
        "the run finished before it could be killed; make the input larger"
    );
    assert!(
        !dir.path().join("out/r1").exists(),
        "a killed run published files"
    );

    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut ids = Vec::with_capacity(records);
    for file in files_under(&dir.path().join("out/r1")) {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            ids.push(value["id"].as_u64().unwrap() as usize);
        }
    }
    ids.sort_unstable();
    assert_eq!(ids.len(), records, "records published");
    assert!(
        ids.iter().enumerate().all(|(i, id)| i == *id),
        "each record exactly once"
    );
    assert!(
        !dir.path().join("out/_sluice/staging").exists(),
        "staging left behind"
    );
}

#[test]
fn discover_lists_the_source_fields_and_those_after_the_tasks() {
    let dir = setup("  tasks: [{project: {fields: [name, id]}}]\n");
    let out = sluice(dir.path(), &["discover", "-f", "flow.yaml"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Source fields (3 fields):"), "{printed}");
    assert!(
        printed.contains("  score  yes         Float64"),
        "{printed}"
    );
    assert!(printed.contains("After the tasks (2 fields):"), "{printed}");
    let after = printed.split("After the tasks").nth(1).unwrap();
    assert!(
        after.find("name").unwrap() < after.find("id").unwrap(),
        "{printed}"
    );
    assert!(!dir.path().join("out/people").exists());
}

#[test]
fn runs_without_a_run_id_never_share_one_so_appends_keep_both_outputs() {
    let dir = setup("  sync: {writeMode: Append}\n");
    // Started together, in the same second: each must get its own id.
    let runs: Vec<_> = (0..3)
        .map(|_| {
            Sluice::new(dir.path(), &["local", "-f", "flow.yaml"])
                .into_command()
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let manifests = std::fs::read_dir(dir.path().join("out/_sluice/manifests/people"))
        .unwrap()
        .count();
    assert_eq!(manifests, 3, "one manifest per run");
    let written: usize = files_under(&dir.path().join("out"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(written, 9, "every run's three records are kept");
}
