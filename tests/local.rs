//! `sluice local` and `sluice preview` as a user runs them: the binary, a
//! manifest file, a working directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "http/server.rs"]
#[allow(dead_code)]
mod server;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{Sluice, files_under, send_signal, sluice, text, wait_within, work_dir};

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

/// A CEL expression nested too deep is refused before the run, naming the
/// field and the limit, instead of overflowing the parser's stack and
/// aborting the process.
#[test]
fn local_refuses_a_cel_expression_over_the_limits_before_the_run() {
    let deep = format!("{}record.score{} > 1.0", "(".repeat(60), ")".repeat(60));
    let dir = setup(&format!("  tasks:\n  - filter: {{expression: '{deep}'}}\n"));
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains(
            "task filter[0]: spec.tasks[0].filter.expression: the CEL expression nests parentheses, brackets and braces 60 deep; at most 32 levels are allowed"
        ),
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

/// Waits until `dir` holds at least `count` files; false if the child
/// exited first or a minute passed.
fn files_appear(child: &mut std::process::Child, dir: &Path, count: usize) -> bool {
    let started = Instant::now();
    loop {
        if files_under(dir).len() >= count {
            return true;
        }
        if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(60) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Ctrl-C (SIGINT) in the middle of a run stops it cleanly: the staged
/// output and quarantine files are removed, nothing is published, the
/// summary says Cancelled, and the exit code is 130.
#[test]
fn ctrl_c_cancels_a_run_removes_its_staging_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let padding = "p".repeat(100);
    // The schema comes from the first 1,000 records; every 1,000th after
    // them is bad and quarantined.
    let data: String = (0..400_000)
        .map(|i| {
            if i > 1000 && i % 1000 == 0 {
                format!("{{\"id\":\"bad {i}\",\"pad\":\"{padding}\"}}\n")
            } else {
                format!("{{\"id\":{i},\"pad\":\"{padding}\"}}\n")
            }
        })
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
  errorHandling:
    policy: Quarantine
    errorLocation: {{connectorProfileRef: {{name: local}}, file: {{path: bad}}}}
"
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let mut child =
        Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]).spawn();
    let staged = files_appear(&mut child, &dir.path().join("out/_sluice/staging"), 3)
        && files_appear(&mut child, &dir.path().join("bad"), 1);
    assert!(
        staged,
        "the run ended before it staged output and quarantine files; make the input larger"
    );
    send_signal(&child, "INT");
    let out = wait_within(child, Duration::from_secs(30));
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(130), "{printed}");
    assert!(
        printed.contains("Status       Cancelled by SIGINT after"),
        "{printed}"
    );
    assert!(
        printed.contains("Output       nothing published; staged files removed"),
        "{printed}"
    );
    assert!(
        files_under(&dir.path().join("out")).is_empty(),
        "output left behind: {:?}",
        files_under(&dir.path().join("out"))
    );
    assert!(
        files_under(&dir.path().join("bad")).is_empty(),
        "quarantine left behind: {:?}",
        files_under(&dir.path().join("bad"))
    );
}

/// SIGTERM while the source waits for a page that does not come stops the
/// run at once, without waiting for the page: staging removed, nothing
/// published, exit code 143.
#[test]
fn sigterm_cancels_a_run_whose_source_is_waiting_and_exits_143() {
    let api = server::Server::start(|seen| {
        if seen.param("page").is_none() {
            let data = server::records(1..=50);
            server::Reply::json(format!(r#"{{"data":{data},"next":"/items?page=2"}}"#))
        } else {
            // The API stops answering.
            server::Reply::json(r#"{"data":[]}"#).after(Duration::from_secs(3600))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "{PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: api}}
spec:
  http: {{baseUrl: '{base}', requestTimeout: 10m}}
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
",
        base = api.base
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let mut child =
        Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]).spawn();
    let waiting = files_appear(&mut child, &dir.path().join("out/_sluice/staging"), 1);
    assert!(waiting, "the run did not stage the first page");
    // The second page has been asked for and is not coming.
    let started = Instant::now();
    while api.requests().len() < 2 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    send_signal(&child, "TERM");
    let out = wait_within(child, Duration::from_secs(20));
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(143), "{printed}");
    assert!(
        printed.contains("Status       Cancelled by SIGTERM after"),
        "{printed}"
    );
    assert!(
        files_under(&dir.path().join("out")).is_empty(),
        "output left behind: {:?}",
        files_under(&dir.path().join("out"))
    );
}

/// A partition value too long for a folder name (over 255 bytes with its
/// `field=`) used to fail the run with "File name too long"; the record is
/// now a bad record the error policy takes, and the others are published.
#[test]
fn a_partition_value_too_long_for_a_folder_name_is_quarantined() {
    let long = "x".repeat(300);
    let dir = work_dir(&[(
        "in/people.csv",
        &format!("id,name,score\n1,Ada,9.5\n2,{long},7\n3,Grace,8\n"),
    )]);
    let manifest = format!(
        "{PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: people}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in/*.csv, format: Csv}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', partitionBy: [name]}}
  errorHandling:
    policy: Quarantine
    errorLocation: {{connectorProfileRef: {{name: local}}, file: {{path: bad}}}}
"
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Written      2 records"), "{printed}");
    assert!(printed.contains("Quarantined  1"), "{printed}");
    assert!(dir.path().join("out/r1/name=Ada").is_dir());
    assert!(dir.path().join("out/r1/name=Grace").is_dir());
    let bad = files_under(&dir.path().join("bad"));
    assert_eq!(bad.len(), 1, "{bad:?}");
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&bad[0]).unwrap().trim()).unwrap();
    assert_eq!(line["field"], "name");
    assert_eq!(line["record"]["id"], 2);
    assert!(
        line["reason"]
            .as_str()
            .unwrap()
            .contains("a folder name holds at most 255 bytes"),
        "{line}"
    );
}

#[test]
fn a_file_profile_cannot_reach_where_pods_keep_credentials() {
    // The service account token and mounted Secret keys live under
    // /var/run/secrets (and the Secrets Sluice mounts under its own
    // directory); /proc holds other processes' environments. A root that
    // contains or lies inside them is refused, symbolic links followed,
    // before anything is read.
    let dir = setup("");
    let secrets = dir.path().join("mounted-secrets");
    std::fs::create_dir_all(secrets.join("pg")).unwrap();
    std::fs::write(secrets.join("pg/password"), "t0ken-n0t-for-files\n").unwrap();
    std::os::unix::fs::symlink("/proc/self", dir.path().join("innocent")).unwrap();
    let manifest = std::fs::read_to_string(dir.path().join("flow.yaml")).unwrap();
    for (root, path, protected) in [
        (
            "/",
            "var/run/secrets/**/*.csv",
            "/var/run/secrets".to_owned(),
        ),
        (
            "/var/run/secrets/kubernetes.io",
            "*.csv",
            "/var/run/secrets".to_owned(),
        ),
        ("innocent", "*.csv", "/proc".to_owned()),
        ("mounted-secrets", "pg/*", secrets.display().to_string()),
    ] {
        let changed = manifest
            .replace(
                "spec: {file: {}}",
                &format!("spec: {{file: {{root: '{root}'}}}}"),
            )
            .replace("path: in/*.csv", &format!("path: '{path}'"));
        std::fs::write(dir.path().join("flow.yaml"), changed).unwrap();
        let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r"])
            .env("SLUICE_SECRETS_DIR", secrets.to_str().unwrap())
            .output();
        let printed = text(&out);
        assert!(!out.status.success(), "{root}: {printed}");
        assert!(
            printed.contains("where a pod keeps its credentials") && printed.contains(&protected),
            "{root}: {printed}"
        );
        assert!(!printed.contains("t0ken-n0t-for-files"), "{printed}");
    }
}

/// Nested values are written to CSV as JSON text, re-read with serde_json
/// on the way: its default float parser landed one unit in the last place
/// off (3.788495328522359e267 came out as 3.7884953285223594e267) until
/// its `float_roundtrip` was turned on.
#[test]
fn nested_floats_keep_every_digit_in_csv() {
    let dir = work_dir(&[(
        "in/nested.jsonl",
        "{\"id\":1,\"d\":{\"x\":3.788495328522359e267,\"y\":0.1}}\n",
    )]);
    let manifest = format!(
        "{PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: nested}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in/nested.jsonl, format: JsonLines}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: Csv, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
"
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(dir.path().join("out/r1/part-00000.csv")).unwrap();
    assert_eq!(
        written,
        "id,d\n1,\"{\"\"x\"\":3.788495328522359e+267,\"\"y\"\":0.1}\"\n"
    );
}
