//! The engine end to end through the `file` connector: records arrive in
//! order across parallel workers, each error policy does what it says, and
//! failed or cancelled runs publish nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::TimeZone;
use sluice::api::v1alpha1::Task;
use sluice::api::v1alpha1::flow::{ErrorHandling, FileDestination, FileLocation, FileSource};
use sluice::connectors::file::{FileRecordSource, destination, quarantine};
use sluice::pipeline::engine::{self, Counts, Error, Options, Quarantine};
use sluice::pipeline::output::RunInfo;
use sluice::pipeline::tasks::Tasks;
use support::files_under;

fn run_info(id: &str) -> RunInfo {
    RunInfo {
        flow: "demo".into(),
        run_id: id.into(),
        time: chrono_tz::UTC
            .with_ymd_and_hms(2024, 5, 1, 0, 0, 0)
            .unwrap(),
        schema_version: 1,
    }
}

fn source_spec(path: &str, format: &str) -> FileSource {
    serde_json::from_value(serde_json::json!({"path": path, "format": format})).unwrap()
}

fn destination_spec(format: &str) -> FileDestination {
    serde_json::from_value(serde_json::json!({
        "path": "out", "format": format, "pathTemplate": "{runId}", "aggregation": {"mode": "SingleFile"}
    }))
    .unwrap()
}

fn policy(json: serde_json::Value) -> ErrorHandling {
    serde_json::from_value(json).unwrap()
}

struct Ran {
    result: Result<engine::Summary, Box<engine::Failure>>,
    updates: usize,
}

fn run(
    root: &Path,
    source: &str,
    format: &str,
    handling: ErrorHandling,
    workers: usize,
    cancel: bool,
) -> Ran {
    run_tasks(root, source, format, &[], handling, workers, cancel)
}

fn run_tasks(
    root: &Path,
    source: &str,
    format: &str,
    tasks: &[Task],
    handling: ErrorHandling,
    workers: usize,
    cancel: bool,
) -> Ran {
    let src = FileRecordSource::open(root, &source_spec(source, format)).unwrap();
    let tasks =
        Tasks::compile(tasks, None, &sluice::pipeline::engine::Source::schema(&src)).unwrap();
    let dest = destination(root, &destination_spec("JsonLines"), run_info("r1"), false).unwrap();
    let q: Option<Box<dyn Quarantine>> = Some(Box::new(
        quarantine(
            root,
            &FileLocation {
                path: "quarantine".into(),
            },
            "demo",
            "r1",
        )
        .unwrap(),
    ));
    let mut options = Options::new(handling);
    options.workers = workers;
    options.in_flight = workers * 2;
    if cancel {
        options.cancel = Arc::new(AtomicBool::new(true));
    }
    let mut updates = 0;
    let mut progress = |_: &Counts| updates += 1;
    let result = engine::run(
        Box::new(src),
        &tasks,
        Box::new(dest),
        q,
        &options,
        &mut progress,
    );
    Ran { result, updates }
}

fn write_lines(root: &Path, name: &str, lines: impl Iterator<Item = String>) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text: String = lines.map(|l| l + "\n").collect();
    std::fs::write(path, text).unwrap();
}

fn published(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in walk(&root.join("out")) {
        if !entry.contains("/_sluice/") {
            lines.extend(
                std::fs::read_to_string(&entry)
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
    lines
}

/// The files under `dir`, as text.
fn walk(dir: &Path) -> Vec<String> {
    files_under(dir)
        .iter()
        .map(|path| path.display().to_string())
        .collect()
}

#[test]
fn many_blocks_across_files_arrive_in_order_with_several_workers() {
    let dir = tempfile::tempdir().unwrap();
    // ~12 MB over two files: several 4 MiB blocks each.
    let padding = "x".repeat(200);
    for (file, range) in [("in/a.jsonl", 0..30_000), ("in/b.jsonl", 30_000..60_000)] {
        write_lines(
            dir.path(),
            file,
            range.map(|i| format!(r#"{{"id":{i},"pad":"{padding}"}}"#)),
        );
    }
    let ran = run(
        dir.path(),
        "in/*.jsonl",
        "JsonLines",
        ErrorHandling::default(),
        3,
        false,
    );
    let summary = ran.result.unwrap();
    assert_eq!(summary.counts.records_read, 60_000);
    assert_eq!(summary.counts.records_written, 60_000);
    assert!(summary.counts.bytes_read > 12_000_000);
    assert!(summary.counts.bytes_written > 12_000_000);
    assert!(
        ran.updates >= 4,
        "progress was reported {} times",
        ran.updates
    );
    let ids: Vec<i64> = published(dir.path())
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (0..60_000).collect::<Vec<_>>());
    assert_eq!(summary.outcome.objects, 1);
    assert!(
        summary
            .outcome
            .manifest
            .unwrap()
            .ends_with("_sluice/manifests/demo/r1.json")
    );
    assert_eq!(summary.quarantine, None);
}

/// The schema comes from the first 1,000 records (amount: a number); two
/// bad records follow: a wrong type and broken JSON.
fn with_bad_records(root: &Path) {
    let typed = (0..1000).map(|i| format!(r#"{{"id":{i},"amount":{i}.5}}"#));
    let tail = [
        r#"{"id":1000,"amount":10.5}"#,
        r#"{"id":1001,"amount":"ten"}"#,
        r#"{"id":1002,"amount":7}"#,
        r#"{"id":1003,"amount":1.0"#,
        r#"{"id":1004,"amount":2.5}"#,
    ]
    .into_iter()
    .map(str::to_owned);
    write_lines(root, "in/mixed.jsonl", typed.chain(tail));
}

#[test]
fn fail_policy_stops_at_the_first_bad_record_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    with_bad_records(dir.path());
    let failure = run(
        dir.path(),
        "in/*.jsonl",
        "JsonLines",
        ErrorHandling::default(),
        2,
        false,
    )
    .result
    .unwrap_err();
    let message = failure.error.to_string();
    assert!(matches!(failure.error, Error::BadRecord(_)), "{message}");
    assert!(message.contains("in/mixed.jsonl:line 1002"), "{message}");
    assert!(message.contains("amount"), "{message}");
    assert!(
        message.contains("errorHandling.policy is Fail"),
        "{message}"
    );
    assert!(published(dir.path()).is_empty());
    assert!(
        walk(&dir.path().join("out")).is_empty(),
        "{:?}",
        walk(&dir.path().join("out"))
    );
}

#[test]
fn quarantine_keeps_every_bad_record_with_its_reason_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    with_bad_records(dir.path());
    let handling = policy(serde_json::json!({
        "policy": "Quarantine",
        "errorLocation": {"connectorProfileRef": {"name": "local"}, "file": {"path": "quarantine"}}
    }));
    let summary = run(dir.path(), "in/*.jsonl", "JsonLines", handling, 2, false)
        .result
        .unwrap();
    assert_eq!(summary.counts.records_read, 1005);
    assert_eq!(summary.counts.records_written, 1003);
    assert_eq!(summary.counts.records_quarantined, 2);
    assert_eq!(published(dir.path()).len(), 1003);
    let location = summary.quarantine.unwrap();
    assert!(location.ends_with("quarantine/demo/r1"), "{location}");
    let text =
        std::fs::read_to_string(Path::new(&location).join("quarantine-00000.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["location"], "in/mixed.jsonl:line 1002");
    assert_eq!(entries[0]["raw"], r#"{"id":1001,"amount":"ten"}"#);
    assert!(entries[0]["reason"].as_str().unwrap().contains("amount"));
    assert_eq!(entries[1]["location"], "in/mixed.jsonl:line 1004");
    assert_eq!(entries[1]["raw"], r#"{"id":1003,"amount":1.0"#);
    assert_eq!(entries[0]["flow"], "demo");
    assert_eq!(entries[0]["runId"], "r1");
}

#[test]
fn skip_counts_bad_records_and_max_bad_records_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    with_bad_records(dir.path());
    let summary = run(
        dir.path(),
        "in/*.jsonl",
        "JsonLines",
        policy(serde_json::json!({"policy": "Skip"})),
        1,
        false,
    )
    .result
    .unwrap();
    assert_eq!(summary.counts.records_skipped, 2);
    assert_eq!(summary.counts.records_written, 1003);

    let dir = tempfile::tempdir().unwrap();
    with_bad_records(dir.path());
    let handling = policy(serde_json::json!({"policy": "Skip", "maxBadRecords": 1}));
    let failure = run(dir.path(), "in/*.jsonl", "JsonLines", handling, 1, false)
        .result
        .unwrap_err();
    assert!(
        matches!(failure.error, Error::TooManyBadRecords { count: 2, max: 1 }),
        "{}",
        failure.error
    );
    assert!(published(dir.path()).is_empty());
}

#[test]
fn a_cancelled_run_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    with_bad_records(dir.path());
    let handling = policy(serde_json::json!({
        "policy": "Quarantine",
        "errorLocation": {"connectorProfileRef": {"name": "local"}, "file": {"path": "quarantine"}}
    }));
    let failure = run(dir.path(), "in/*.jsonl", "JsonLines", handling, 2, true)
        .result
        .unwrap_err();
    assert!(matches!(failure.error, Error::Cancelled));
    assert!(walk(&dir.path().join("out")).is_empty());
    assert!(walk(&dir.path().join("quarantine")).is_empty());
    assert_eq!(failure.quarantine, None);
}

#[test]
fn csv_and_parquet_sources_read_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    write_lines(
        dir.path(),
        "in/a.csv",
        [
            "id,name".to_owned(),
            "1,\"a, b\"".to_owned(),
            "2,é".to_owned(),
        ]
        .into_iter(),
    );
    let summary = run(
        dir.path(),
        "in/a.csv",
        "Csv",
        ErrorHandling::default(),
        2,
        false,
    )
    .result
    .unwrap();
    assert_eq!(summary.counts.records_written, 2);
    let size = std::fs::metadata(dir.path().join("in/a.csv"))
        .unwrap()
        .len();
    assert_eq!(summary.counts.bytes_read, size, "the header counts too");
    assert_eq!(
        published(dir.path()),
        [r#"{"id":1,"name":"a, b"}"#, r#"{"id":2,"name":"é"}"#]
    );
    let missing = FileRecordSource::open(dir.path(), &source_spec("in/*.parquet", "Parquet"));
    let message = missing.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("matches no file"), "{message}");
    let escape = FileRecordSource::open(dir.path(), &source_spec("../etc/*", "Csv"));
    assert!(
        escape
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("must stay under")
    );
}

#[test]
fn json_surrogate_pair_escapes_decode_to_the_character_they_name() {
    // Every code point that needs a surrogate pair, at the edges of the
    // ranges where the decoder used to lose the carry into bit 16, written
    // as an escape, as raw UTF-8 beside it, and beside ASCII.
    let code_points: Vec<u32> = vec![
        0x1_0000, 0x1_F600, 0x1_FFFF, 0x2_0000, 0x2_0BB7, 0x2_FFFF, 0x3_0000, 0xE_0001, 0xF_FFFF,
        0x10_0000, 0x10_FFFF,
    ];
    let escape = |c: char| {
        let mut units = [0u16; 2];
        c.encode_utf16(&mut units)
            .iter()
            .map(|u| format!("\\u{u:04x}"))
            .collect::<String>()
    };
    let dir = tempfile::tempdir().unwrap();
    let chars: Vec<char> = code_points
        .iter()
        .map(|&p| char::from_u32(p).unwrap())
        .collect();
    write_lines(
        dir.path(),
        "in/names.jsonl",
        chars
            .iter()
            .enumerate()
            .map(|(i, &c)| format!(r#"{{"id":{i},"escaped":"a{}z","raw":"a{c}z"}}"#, escape(c))),
    );
    let ran = run(
        dir.path(),
        "in/*.jsonl",
        "JsonLines",
        policy(serde_json::json!({"policy": "Fail"})),
        2,
        false,
    );
    assert!(
        ran.result.is_ok(),
        "{:?}",
        ran.result.err().map(|f| f.error.to_string())
    );
    let lines = published(dir.path());
    assert_eq!(lines.len(), chars.len());
    for line in lines {
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        let id = usize::try_from(record["id"].as_u64().unwrap()).unwrap();
        let expected = format!("a{}z", chars[id]);
        assert_eq!(
            record["escaped"].as_str().unwrap(),
            expected,
            "U+{:X} written as an escape",
            code_points[id]
        );
        assert_eq!(record["raw"].as_str().unwrap(), expected);
    }
}

// ------------------------------------------------- every record accounted for

fn quarantine_policy() -> ErrorHandling {
    policy(serde_json::json!({
        "policy": "Quarantine",
        "errorLocation": {"connectorProfileRef": {"name": "local"}, "file": {"path": "quarantine"}}
    }))
}

/// The quarantined entries of run `r1`.
fn quarantined(summary: &engine::Summary) -> Vec<serde_json::Value> {
    let location = summary.quarantine.clone().unwrap_or_default();
    std::fs::read_to_string(Path::new(&location).join("quarantine-00000.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn located(entries: &[serde_json::Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["location"].as_str().unwrap_or_default())
        .collect()
}

const LATE: &str = "the 1000 records the schema was inferred from; to read it, make sure one of those records has it";

/// 1,000 records the schema comes from, then a record with a field none of
/// them has (line 1002), one with a new key inside a known object (line
/// 1003), and ordinary ones.
fn with_late_fields(root: &Path) {
    let sampled = (0..1000).map(|i| format!(r#"{{"id":{i},"meta":{{"a":{i}}}}}"#));
    let tail = [
        r#"{"id":1000,"meta":{"a":0}}"#,
        r#"{"id":1001,"extra":"x","meta":{"a":1}}"#,
        r#"{"id":1002,"meta":{"a":2,"b":3}}"#,
        r#"{"id":1003,"meta":{"a":3}}"#,
    ]
    .into_iter()
    .map(str::to_owned);
    write_lines(root, "in/late.jsonl", sampled.chain(tail));
}

#[test]
fn a_field_first_seen_after_the_sample_is_a_bad_record_with_its_line_and_remedy() {
    let dir = tempfile::tempdir().unwrap();
    with_late_fields(dir.path());
    let summary = run(
        dir.path(),
        "in/*.jsonl",
        "JsonLines",
        quarantine_policy(),
        2,
        false,
    )
    .result
    .unwrap();
    assert_eq!(summary.counts.records_read, 1004);
    assert_eq!(summary.counts.records_written, 1002);
    assert_eq!(summary.counts.records_quarantined, 2);
    assert_eq!(published(dir.path()).len(), 1002);
    let entries = quarantined(&summary);
    assert_eq!(
        located(&entries),
        ["in/late.jsonl:line 1002", "in/late.jsonl:line 1003"]
    );
    assert_eq!(entries[0]["field"], "extra");
    assert_eq!(
        entries[0]["reason"],
        format!(r#"field "extra" first appears after {LATE}"#)
    );
    assert_eq!(
        entries[0]["raw"],
        r#"{"id":1001,"extra":"x","meta":{"a":1}}"#
    );
    assert_eq!(entries[1]["field"], "meta.b");
    assert_eq!(
        entries[1]["reason"],
        format!(r#"field "meta.b" first appears after {LATE}"#)
    );

    let dir = tempfile::tempdir().unwrap();
    with_late_fields(dir.path());
    let failure = run(
        dir.path(),
        "in/*.jsonl",
        "JsonLines",
        ErrorHandling::default(),
        2,
        false,
    )
    .result
    .unwrap_err();
    let message = failure.error.to_string();
    assert!(matches!(failure.error, Error::BadRecord(_)), "{message}");
    assert!(
        message.contains(
            r#"at in/late.jsonl:line 1002: field extra: field "extra" first appears after"#
        ),
        "{message}"
    );
    assert!(published(dir.path()).is_empty());
}

/// `{"a":{"a":…leaf…}}`, `levels` objects deep.
fn nested(levels: usize, leaf: &str) -> String {
    let mut text = leaf.to_owned();
    for _ in 0..levels {
        text = format!(r#"{{"a":{text}}}"#);
    }
    text
}

#[test]
fn a_value_nested_deeper_than_the_inference_depth_is_kept_as_its_json_text() {
    let dir = tempfile::tempdir().unwrap();
    write_lines(
        dir.path(),
        "in/deep.jsonl",
        [
            format!(r#"{{"id":1,"deep":{}}}"#, nested(200, "7")),
            r#"{"id":2}"#.to_owned(),
        ]
        .into_iter(),
    );
    let summary = run(
        dir.path(),
        "in/*.jsonl",
        "JsonLines",
        ErrorHandling::default(),
        2,
        false,
    )
    .result
    .unwrap();
    assert_eq!(summary.counts.records_written, 2);
    let lines = published(dir.path());
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    // Levels 1 to 31 are objects (the record's fields are level 1); the
    // value at level 32 is its JSON text.
    let mut value = &first["deep"];
    for _ in 1..32 {
        value = &value["a"];
    }
    assert_eq!(
        value.as_str(),
        Some(nested(169, "7").as_str()),
        "{}",
        lines[0]
    );
}

#[test]
fn a_bad_record_in_the_json_sample_is_handled_like_the_same_record_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = r#"{"id":2,"amount":{"value":2}}"#;
    let records = (0..1500).map(|i| match i {
        2 | 1002 => bad.to_owned(),
        i => format!(r#"{{"id":{i},"amount":{i}}}"#),
    });
    write_lines(dir.path(), "in/sample.jsonl", records);
    let summary = run(
        dir.path(),
        "in/*.jsonl",
        "JsonLines",
        quarantine_policy(),
        2,
        false,
    )
    .result
    .unwrap();
    assert_eq!(summary.counts.records_read, 1500);
    assert_eq!(summary.counts.records_written, 1498);
    assert_eq!(summary.counts.records_quarantined, 2);
    let entries = quarantined(&summary);
    assert_eq!(
        located(&entries),
        ["in/sample.jsonl:line 3", "in/sample.jsonl:line 1003"]
    );
    assert_eq!(entries[0]["reason"], entries[1]["reason"]);
    assert_eq!(entries[0]["field"], "amount");
    assert_eq!(entries[0]["raw"], bad);
}

#[test]
fn a_ragged_row_in_the_csv_sample_is_handled_like_the_same_row_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let rows = (0..1500).map(|i| match i {
        1 | 1401 => "2,5,extra".to_owned(),
        0 => "id,amount".to_owned(),
        i => format!("{i},{i}"),
    });
    write_lines(dir.path(), "in/sample.csv", rows);
    let summary = run(
        dir.path(),
        "in/sample.csv",
        "Csv",
        quarantine_policy(),
        2,
        false,
    )
    .result
    .unwrap();
    assert_eq!(summary.counts.records_read, 1499);
    assert_eq!(summary.counts.records_written, 1497);
    assert_eq!(summary.counts.records_quarantined, 2);
    let entries = quarantined(&summary);
    assert_eq!(
        located(&entries),
        ["in/sample.csv:line 2", "in/sample.csv:line 1402"]
    );
    assert_eq!(entries[0]["reason"], "has 3 fields, the header has 2");
    assert_eq!(entries[0]["reason"], entries[1]["reason"]);
    assert_eq!(entries[0]["raw"], "2,5,extra");
}

#[test]
fn an_unterminated_quote_is_a_bad_record_at_its_line_not_one_long_field() {
    let dir = tempfile::tempdir().unwrap();
    write_lines(
        dir.path(),
        "in/quote.csv",
        ["id,name", "1,a", "2,\"b", "3,c", "4,d"]
            .into_iter()
            .map(str::to_owned),
    );
    let summary = run(
        dir.path(),
        "in/quote.csv",
        "Csv",
        quarantine_policy(),
        2,
        false,
    )
    .result
    .unwrap();
    assert_eq!(summary.counts.records_read, 2);
    assert_eq!(summary.counts.records_written, 1);
    assert_eq!(summary.counts.records_quarantined, 1);
    assert_eq!(published(dir.path()), [r#"{"id":1,"name":"a"}"#]);
    let entries = quarantined(&summary);
    assert_eq!(located(&entries), ["in/quote.csv:line 3"]);
    assert_eq!(
        entries[0]["reason"],
        "unterminated quoted field starting at line 3"
    );
    assert_eq!(entries[0]["raw"], "2,\"b\n3,c\n4,d");
}

fn not_negative(field: &str) -> Task {
    serde_json::from_value(serde_json::json!({
        "validate": {"field": field, "check": "NotNegative", "action": "DropRecord"}
    }))
    .unwrap()
}

#[test]
fn every_bad_record_is_located_at_the_line_it_was_read_from() {
    let dir = tempfile::tempdir().unwrap();
    write_lines(
        dir.path(),
        "in/lines.jsonl",
        [
            r#"{"id":1,"amount":1}"#,
            "not json",
            "",
            r#"{"id":2,"amount":-5}"#,
            r#"{"id":3,"amount":2}"#,
        ]
        .into_iter()
        .map(str::to_owned),
    );
    let ran = run_tasks(
        dir.path(),
        "in/lines.jsonl",
        "JsonLines",
        &[not_negative("amount")],
        quarantine_policy(),
        2,
        false,
    );
    let summary = ran.result.unwrap();
    assert_eq!(summary.counts.records_quarantined, 2);
    let entries = quarantined(&summary);
    assert_eq!(
        located(&entries),
        ["in/lines.jsonl:line 2", "in/lines.jsonl:line 4"]
    );
    assert_eq!(entries[1]["task"], "validate[0]");

    // A ragged row, a quoted field over two lines and a blank line come
    // before the record the task rejects.
    let dir = tempfile::tempdir().unwrap();
    write_lines(
        dir.path(),
        "in/lines.csv",
        [
            "id,amount,note",
            "1,5,a",
            "2,6",
            "3,7,\"two",
            "lines\"",
            "",
            "4,-1,b",
            "5,8,c",
        ]
        .into_iter()
        .map(str::to_owned),
    );
    let ran = run_tasks(
        dir.path(),
        "in/lines.csv",
        "Csv",
        &[not_negative("amount")],
        quarantine_policy(),
        2,
        false,
    );
    let summary = ran.result.unwrap();
    assert_eq!(summary.counts.records_read, 5);
    assert_eq!(summary.counts.records_written, 3);
    let entries = quarantined(&summary);
    assert_eq!(
        located(&entries),
        ["in/lines.csv:line 3", "in/lines.csv:line 7"]
    );
}

/// A source that gives its first file's units, then waits for a page that
/// never comes (an API that stopped answering).
struct Stalling {
    inner: FileRecordSource,
    /// Held so that `recv` on the other end blocks for ever.
    never: std::sync::mpsc::Receiver<()>,
}

impl engine::Source for Stalling {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        engine::Source::schema(&self.inner)
    }

    fn next_unit(
        &mut self,
    ) -> Result<Option<engine::Unit>, sluice::pipeline::error::ConnectorError> {
        match self.inner.next_unit()? {
            Some(unit) => Ok(Some(unit)),
            None => {
                let _ = self.never.recv();
                Ok(None)
            }
        }
    }
}

/// Cancelling a run whose source is blocked in I/O ends it at once: the
/// engine does not wait for the source, and nothing staged is left.
#[test]
fn a_run_cancelled_while_its_source_waits_ends_and_leaves_no_staging() {
    let dir = tempfile::tempdir().unwrap();
    write_lines(
        dir.path(),
        "in/a.jsonl",
        (0..100).map(|i| format!("{{\"id\":{i}}}")),
    );
    let root = dir.path().to_path_buf();
    let (keep, never) = std::sync::mpsc::channel::<()>();
    let mut options = Options::new(policy(serde_json::json!({})));
    options.workers = 2;
    options.in_flight = 4;
    let cancel = options.cancel.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let inner = FileRecordSource::open(&root, &source_spec("in/*.jsonl", "JsonLines")).unwrap();
        let tasks = Tasks::compile(&[], None, &engine::Source::schema(&inner)).unwrap();
        let dest =
            destination(&root, &destination_spec("JsonLines"), run_info("r1"), false).unwrap();
        let result = engine::run(
            Box::new(Stalling { inner, never }),
            &tasks,
            Box::new(dest),
            None,
            &options,
            &mut |c: &Counts| {
                // The first file is written: stop the run.
                if c.records_written == 100 {
                    options
                        .cancel
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            },
        );
        let _ = done_tx.send(result);
    });
    let result = done_rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the cancelled run did not end while its source waited");
    drop(keep);
    let failure = result.unwrap_err();
    assert!(
        matches!(failure.error, Error::Cancelled),
        "{}",
        failure.error
    );
    assert!(cancel.load(std::sync::atomic::Ordering::Relaxed));
    assert_eq!(failure.counts.records_written, 100);
    assert!(
        walk(&dir.path().join("out")).is_empty(),
        "{:?}",
        walk(&dir.path().join("out"))
    );
}
