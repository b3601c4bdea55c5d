//! Characters arrive exactly as the source wrote them, on every entry path:
//! JSON Lines files, S3 objects, http pages, Salesforce REST pages and
//! Bulk API 2.0 results, Zendesk pages of declared and inferred objects.
//!
//! The records hold the same texts twice: once with every non-ASCII
//! character written as a JSON `\u` escape (UTF-16: a surrogate pair above
//! U+FFFF, such as `"\ud842\udfb7"` for 𠮷 U+20BB7), once as raw UTF-8.
//! The code points sit at the edges where arrow-json 60.1 lost the carry
//! into bit 16 (every escape at or above U+20000 decoded 0x10000 too low;
//! vendor/README.md), with escapes below U+10000 as controls, and a text
//! of combining sequences. Each path runs `sluice local` twice, into CSV
//! and into Parquet, with one record rejected by a `validate` task and
//! quarantined; the texts of every written row and of the quarantined
//! record (re-encoded from the decoded batch) must equal the expected ones
//! character for character.
//!
//! Which decoder each path goes through:
//!
//! - JSON Lines files and S3 objects: arrow-json, line blocks
//!   (`pipeline::format::decode_json_lines`);
//! - http pages, Salesforce REST pages, Zendesk objects without a declared
//!   schema (`brands`): serde_json splits the page, arrow-json decodes each
//!   record's own bytes (`connectors::common::records::decode`);
//! - Zendesk objects with a declared schema (`tickets`): serde_json reads
//!   each record to fit it to the schema and writes it again, raw UTF-8,
//!   before arrow-json decodes it: the escapes never reach arrow-json, and
//!   the test guards that path as it is;
//! - Salesforce Bulk API 2.0 query results: CSV, not JSON: there are no
//!   escapes to decode (a `\u` in CSV is six characters of text); the raw
//!   characters must still arrive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "http/server.rs"]
#[allow(dead_code)]
mod http_server;
#[path = "salesforce/server.rs"]
mod sf;
#[path = "zendesk/server.rs"]
mod zendesk_server;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use support::{Sluice, files_under, indent, text, unique, work_dir};

// ------------------------------------------------------------------ texts

/// The code points of the texts: escapes below U+10000 (controls: they
/// always decoded right), then every range edge of the characters that need
/// a surrogate pair.
const CODE_POINTS: [u32; 14] = [
    0xE9, 0x4E2D, 0xFFFD, 0x1_0000, 0x1_F600, 0x1_FFFF, 0x2_0000, 0x2_0BB7, 0x2_FFFF, 0x3_0000,
    0xE_0001, 0xF_FFFF, 0x10_0000, 0x10_FFFF,
];

/// The texts of the written records: each code point between ASCII, and
/// combining sequences: an acute accent on `e`, a ZWJ emoji sequence, and
/// an astral variation selector (U+E0100) after 𠮷.
fn texts() -> Vec<String> {
    let mut texts: Vec<String> = CODE_POINTS
        .iter()
        .map(|&p| format!("a{}z", char::from_u32(p).unwrap()))
        .collect();
    texts.push("Ame\u{301}lie \u{1F469}\u{200D}\u{1F4BB} \u{20BB7}\u{E0100}, \"q\"".to_owned());
    texts
}

/// The text of the record a `validate` task rejects.
const REJECTED_TEXT: &str = "\u{20BB7}\u{10FFFF}\u{1F600}";

/// The keys whose text the sources write with escapes; their `raw` twins
/// (`raw`, `Description`, `description`) stay UTF-8.
const ESCAPED_KEYS: [&str; 3] = ["escaped", "Name", "subject"];

/// `json` with every non-ASCII character in the string values of `keys`
/// (and in arrays under them) written as `\u` escapes, UTF-16 code units,
/// as a JSON encoder that escapes non-ASCII would write it. Keys and other
/// values are left as they are.
fn escape_non_ascii(json: &str, keys: &[&str]) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut key = String::new();
    let mut rest = json;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        // The string's content, up to its closing quote.
        let body = &rest[start + 1..];
        let mut end = 0;
        let bytes = body.as_bytes();
        while bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let content = &body[..end];
        rest = &body[end + 1..];
        if rest.trim_start().starts_with(':') {
            key = content.to_owned();
            out.push('"');
            out.push_str(content);
            out.push('"');
        } else if keys.contains(&key.as_str()) {
            out.push('"');
            for c in content.chars() {
                if c.is_ascii() {
                    out.push(c);
                } else {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
            out.push('"');
        } else {
            out.push('"');
            out.push_str(content);
            out.push('"');
        }
    }
    out.push_str(rest);
    out
}

/// [`escape_non_ascii`] of [`ESCAPED_KEYS`], for the stand-ins' answers.
fn escape_answers(body: String) -> String {
    escape_non_ascii(&body, &ESCAPED_KEYS)
}

#[test]
fn the_escaping_writes_surrogate_pairs_only_where_asked() {
    let line =
        json!({"id": 1, "escaped": "a\u{20BB7}é", "raw": "a\u{20BB7}é", "list": ["é"]}).to_string();
    let escaped = escape_non_ascii(&line, &["escaped"]);
    assert_eq!(
        escaped,
        r#"{"escaped":"a\ud842\udfb7\u00e9","id":1,"list":["é"],"raw":"a𠮷é"}"#
    );
    assert_eq!(
        serde_json::from_str::<Value>(&escaped).unwrap(),
        serde_json::from_str::<Value>(&line).unwrap()
    );
    let quoted = json!({"Name": "x\"\\y\u{10FFFF}"}).to_string();
    assert_eq!(
        escape_non_ascii(&quoted, &["Name"]),
        r#"{"Name":"x\"\\y\udbff\udfff"}"#
    );
}

/// `text` as code points, for messages: `U+61 U+20BB7 U+7A`.
fn code_points(text: &str) -> String {
    text.chars()
        .map(|c| format!("U+{:X}", c as u32))
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_text(what: &str, got: Option<&str>, want: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: missing, expected {}", code_points(want)));
    assert!(
        got == want,
        "{what}: got {got:?} ({}), expected {want:?} ({})",
        code_points(got),
        code_points(want)
    );
}

// ------------------------------------------------------------------ runs and outputs

const LOCAL: &str = "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {}}
";

/// Two Flows from `source` (a YAML flow mapping), one into CSV and one into
/// Parquet, each with a `validate` task on `checked` (the rejected record
/// has it negative) and the quarantine under `bad/`.
fn flows(source: &str, checked: &str) -> String {
    ["Csv", "Parquet"]
        .iter()
        .map(|format| {
            let name = format.to_lowercase();
            format!(
                "apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: to-{name}}}
spec:
  source: {source}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out/{name}, format: {format}, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
  tasks:
    - validate: {{field: {checked}, check: NotNegative, action: DropRecord}}
  errorHandling:
    policy: Quarantine
    errorLocation: {{connectorProfileRef: {{name: local}}, file: {{path: bad}}}}
"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Runs both Flows of `dir/flow.yaml` with `env`.
fn run_both(dir: &Path, env: &[(&str, &str)]) {
    for flow in ["to-csv", "to-parquet"] {
        let out = Sluice::new(
            dir,
            &["local", "-f", "flow.yaml", "--flow", flow, "--run-id", "r1"],
        )
        .without_ambient_aws()
        .envs(env)
        .output();
        let printed = text(&out);
        assert!(out.status.success(), "{flow}: {printed}");
        assert!(printed.contains("Quarantined  1"), "{flow}: {printed}");
    }
}

/// The published files of one run with `extension`.
fn published(dir: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let files: Vec<_> = files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .filter(|p| !p.components().any(|c| c.as_os_str() == "_sluice"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files
}

/// Rows of a CSV file as column → text.
fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            header
                .iter()
                .zip(row.iter())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Rows of a Parquet file, the `columns` as text (cast by Arrow).
fn parquet_rows(path: &Path, columns: &[&str]) -> Vec<BTreeMap<String, String>> {
    use arrow::array::{Array, AsArray};
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let texts: Vec<_> = columns
            .iter()
            .map(|name| {
                let column = batch
                    .column_by_name(name)
                    .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema()));
                arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8).unwrap()
            })
            .collect();
        for i in 0..batch.num_rows() {
            rows.push(
                columns
                    .iter()
                    .zip(&texts)
                    .filter(|(_, t)| t.is_valid(i))
                    .map(|(name, t)| ((*name).to_owned(), t.as_string::<i32>().value(i).to_owned()))
                    .collect(),
            );
        }
    }
    rows
}

/// Every quarantine entry under `dir`.
fn quarantined(dir: &Path) -> Vec<Value> {
    files_under(dir)
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A JSON value as the text a CSV cell holds (`7`, `006…`).
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a path must deliver: the record id field, the escaped and raw text
/// fields, id → text of the written records, and the rejected record's id.
struct Expected<'a> {
    id: &'a str,
    escaped: &'a str,
    raw: &'a str,
    written: BTreeMap<String, String>,
    rejected: String,
}

/// Checks the CSV and Parquet outputs and the two quarantined records
/// against `expected`.
fn check_outputs(dir: &Path, expected: &Expected<'_>) {
    let Expected {
        id,
        escaped,
        raw,
        written,
        rejected,
    } = expected;
    let csv = csv_rows(&published(&dir.join("out/csv"), "csv")[0]);
    let parquet = parquet_rows(
        &published(&dir.join("out/parquet"), "parquet")[0],
        &[id, escaped, raw],
    );
    for (format, rows) in [("CSV", csv), ("Parquet", parquet)] {
        let mut ids: Vec<&String> = rows.iter().map(|r| &r[*id]).collect();
        ids.sort();
        assert_eq!(
            ids,
            written.keys().collect::<Vec<_>>(),
            "{format}: records written"
        );
        for row in &rows {
            let want = &written[&row[*id]];
            for field in [escaped, raw] {
                let what = format!("{format} {id} {} field {field}", row[*id]);
                assert_text(&what, row.get(*field).map(String::as_str), want);
            }
        }
    }
    let bad = quarantined(&dir.join("bad"));
    assert_eq!(bad.len(), 2, "one per run: {bad:?}");
    for entry in bad {
        let record = &entry["record"];
        assert_eq!(plain(&record[*id]), *rejected, "{entry}");
        for field in [escaped, raw] {
            assert_text(
                &format!("quarantined record, field {field}"),
                record[*field].as_str(),
                REJECTED_TEXT,
            );
        }
    }
}

/// JSON Lines of the generic records: `id`, `escaped` (written with
/// escapes), `raw` and `amount`; the last one is rejected (`amount` -1).
fn generic_records() -> (Vec<String>, Expected<'static>) {
    let texts = texts();
    let mut lines = Vec::new();
    let mut written = BTreeMap::new();
    for (i, text) in texts.iter().enumerate() {
        let id = i + 1;
        let record = json!({"id": id, "escaped": text, "raw": text, "amount": id});
        lines.push(escape_non_ascii(&record.to_string(), &ESCAPED_KEYS));
        written.insert(id.to_string(), text.clone());
    }
    let rejected = texts.len() + 1;
    let record =
        json!({"id": rejected, "escaped": REJECTED_TEXT, "raw": REJECTED_TEXT, "amount": -1});
    lines.push(escape_non_ascii(&record.to_string(), &ESCAPED_KEYS));
    (
        lines,
        Expected {
            id: "id",
            escaped: "escaped",
            raw: "raw",
            written,
            rejected: rejected.to_string(),
        },
    )
}

// ------------------------------------------------------------------ files

#[test]
fn json_lines_files_keep_every_character() {
    let (lines, expected) = generic_records();
    assert!(lines[7].contains(r"\ud842\udfb7"), "{}", lines[7]);
    let dir = work_dir(&[("in/records.jsonl", &(lines.join("\n") + "\n"))]);
    let manifest = format!(
        "{LOCAL}---\n{}",
        flows(
            "{connectorProfileRef: {name: local}, file: {path: in/*.jsonl, format: JsonLines}}",
            "amount"
        )
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    run_both(dir.path(), &[]);
    check_outputs(dir.path(), &expected);
}

// ------------------------------------------------------------------ S3

#[test]
#[ignore = "needs moto: run make test"]
fn s3_json_lines_objects_keep_every_character() {
    let aws = support::moto::aws("lake", "AKIDUNICODE", "unicode-secret");
    let bucket = unique("sluice-unicode-");
    support::moto::create_bucket(&aws, &bucket);
    let (lines, expected) = generic_records();
    aws.runtime()
        .block_on(
            aws.s3_client()
                .put_object()
                .bucket(&bucket)
                .key("in/records.jsonl")
                .body((lines.join("\n") + "\n").into_bytes().into())
                .send(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "{LOCAL}---
apiVersion: v1
kind: Secret
metadata: {{name: aws}}
stringData: {{accessKeyId: AKIDUNICODE, secretAccessKey: unicode-secret}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: lake}}
spec:
  s3: {{region: us-east-1, endpoint: '{}', forcePathStyle: true}}
  credentials: {{secretRef: {{name: aws}}, awsAccessKey: {{}}}}
---
{}",
        support::moto::endpoint(),
        flows(
            &format!(
                "{{connectorProfileRef: {{name: lake}}, s3: {{bucket: {bucket}, prefix: in/, format: JsonLines}}}}"
            ),
            "amount"
        )
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    run_both(dir.path(), &[]);
    check_outputs(dir.path(), &expected);
}

// ------------------------------------------------------------------ http

#[test]
fn http_pages_keep_every_character() {
    let (lines, expected) = generic_records();
    let page = format!(r#"{{"data":[{}]}}"#, lines.join(","));
    let server = http_server::Server::start(move |_| http_server::Reply::json(page.clone()));
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "{LOCAL}---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: api}}
spec:
  http: {{baseUrl: '{}/v1'}}
---
{}",
        server.base,
        flows(
            "{connectorProfileRef: {name: api}, http: {path: items, recordSelector: /data}}",
            "amount"
        )
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    run_both(dir.path(), &[]);
    check_outputs(dir.path(), &expected);
}

// ------------------------------------------------------------------ Salesforce

fn salesforce_key() -> &'static sf::KeyPair {
    static KEY: OnceLock<sf::KeyPair> = OnceLock::new();
    KEY.get_or_init(|| sf::generate_key(false))
}

/// A stand-in org whose Opportunities hold the texts in `Name` (escaped in
/// REST pages) and `Description` (raw); the last has a negative `Amount`.
fn salesforce_org() -> (sf::Org, Expected<'static>) {
    let mut records = Vec::new();
    let mut written = BTreeMap::new();
    let texts = texts();
    for (i, text) in texts.iter().chain([&REJECTED_TEXT.to_owned()]).enumerate() {
        let mut record: Map<String, Value> = sf::opportunity(i as u64 + 1);
        record.insert("Name".into(), json!(text));
        record.insert("Description".into(), json!(text));
        if i == texts.len() {
            record.insert("Amount".into(), json!(-1.0));
        } else {
            written.insert(plain(&record["Id"]), text.clone());
        }
        records.push(record);
    }
    let rejected = plain(&records[texts.len()]["Id"]);
    let org = sf::Org::start(
        sf::App {
            client_id: "3MVG9unicodeConsumerKey".to_owned(),
            username: "integration@acme.example".to_owned(),
            public_key: salesforce_key().public.clone(),
            client_secret: None,
            refresh_token: "unused".to_owned(),
        },
        BTreeMap::from([(
            "Opportunity".to_owned(),
            sf::SObject {
                fields: sf::opportunity_fields(),
                records,
                hidden: Vec::new(),
            },
        )]),
    );
    org.rewrite_query_pages(escape_answers);
    (
        org,
        Expected {
            id: "Id",
            escaped: "Name",
            raw: "Description",
            written,
            rejected,
        },
    )
}

/// The manifest reading `org`'s Opportunities through `api`.
fn salesforce_manifest(org: &sf::Org, api: &str) -> String {
    format!(
        "{LOCAL}---
apiVersion: v1
kind: Secret
metadata: {{name: salesforce-jwt}}
stringData:
  clientId: 3MVG9unicodeConsumerKey
  privateKey: |
{}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: salesforce-prod}}
spec:
  salesforce: {{loginUrl: '{}', apiVersion: '62.0'}}
  tls:
    caBundle: |
{}
  credentials:
    secretRef: {{name: salesforce-jwt}}
    oauth2: {{grantType: JwtBearer, subject: integration@acme.example, clientIdKey: clientId, privateKeyKey: privateKey}}
---
{}",
        indent(&salesforce_key().pem, 4),
        org.server.base,
        indent(http_server::test_ca(), 6),
        flows(
            &format!(
                "{{connectorProfileRef: {{name: salesforce-prod}}, salesforce: {{object: Opportunity, api: {api}}}}}"
            ),
            "Amount"
        )
    )
}

#[test]
fn salesforce_rest_pages_keep_every_character() {
    let (org, expected) = salesforce_org();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        salesforce_manifest(&org, "Rest"),
    )
    .unwrap();
    run_both(dir.path(), &[]);
    check_outputs(dir.path(), &expected);
    assert!(
        !org.server
            .requests_to("/services/data/v62.0/query")
            .is_empty(),
        "read through REST query pages"
    );
}

/// Bulk API 2.0 results are CSV: no escapes, the raw characters (and a
/// quoted comma) must arrive all the same.
#[test]
fn salesforce_bulk_results_keep_every_character() {
    let (org, expected) = salesforce_org();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        salesforce_manifest(&org, "Bulk"),
    )
    .unwrap();
    run_both(dir.path(), &[]);
    check_outputs(dir.path(), &expected);
    assert!(
        !org.server
            .requests_to("/services/data/v62.0/jobs/query")
            .is_empty(),
        "read through a Bulk API 2.0 query job"
    );
}

// ------------------------------------------------------------------ Zendesk

const ZENDESK_ENV: [(&str, &str); 2] = [
    ("SLUICE_SECRET_ZD_USERNAME", "agent@acme.example"),
    ("SLUICE_SECRET_ZD_PASSWORD", "zd-unicode-token"),
];

fn zendesk_manifest(server: &zendesk_server::Zendesk, object: &str, checked: &str) -> String {
    format!(
        "{LOCAL}---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: support}}
spec:
  zendesk: {{url: '{}'}}
  credentials:
    secretRef: {{name: zd}}
    basic: {{}}
---
{}",
        server.base,
        flows(
            &format!("{{connectorProfileRef: {{name: support}}, zendesk: {{object: {object}}}}}"),
            checked
        )
    )
}

/// Tickets have a declared schema: serde_json reads each record to fit it,
/// so the escapes are decoded by serde_json, not arrow-json.
#[test]
fn zendesk_tickets_keep_every_character() {
    let server = zendesk_server::Zendesk::start(ZENDESK_ENV[0].1, ZENDESK_ENV[1].1);
    let texts = texts();
    let mut written = BTreeMap::new();
    let mut tickets = Vec::new();
    for (i, text) in texts.iter().chain([&REJECTED_TEXT.to_owned()]).enumerate() {
        let id = i as i64 + 1;
        let mut ticket = zendesk_server::ticket(id, 1_714_521_600 + id * 10);
        ticket["subject"] = json!(text);
        ticket["description"] = json!(text);
        if i == texts.len() {
            ticket["group_id"] = json!(-1);
        } else {
            written.insert(id.to_string(), text.clone());
        }
        tickets.push(ticket);
    }
    server.with(|s| {
        s.tickets = tickets;
        s.rewrite_json = Some(escape_answers);
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        zendesk_manifest(&server, "tickets", "group_id"),
    )
    .unwrap();
    run_both(dir.path(), &ZENDESK_ENV);
    check_outputs(
        dir.path(),
        &Expected {
            id: "id",
            escaped: "subject",
            raw: "description",
            written,
            rejected: (texts.len() + 1).to_string(),
        },
    );
}

/// An object without a declared schema: its records' bytes go to
/// arrow-json as Zendesk wrote them.
#[test]
fn zendesk_objects_without_a_declared_schema_keep_every_character() {
    let server = zendesk_server::Zendesk::start(ZENDESK_ENV[0].1, ZENDESK_ENV[1].1);
    let (lines, expected) = generic_records();
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    server.with(|s| {
        s.lists.insert("brands".into(), records);
        s.rewrite_json = Some(escape_answers);
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        zendesk_manifest(&server, "brands", "amount"),
    )
    .unwrap();
    run_both(dir.path(), &ZENDESK_ENV);
    check_outputs(dir.path(), &expected);
    assert!(
        !server.requests_to("/api/v2/brands.json").is_empty(),
        "read from the list endpoint"
    );
}
