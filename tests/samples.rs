//! Every manifest under `config/samples/` parses into the typed API, so the
//! controller reads exactly what users write, and serialising it back loses
//! nothing the sample said.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde::Deserialize;
use sluice::api::v1alpha1::{ConnectorProfile, Flow, FlowRun};

fn sample_documents() -> Vec<(String, serde_json::Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
    let mut docs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("config/samples exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable sample");
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let value = serde_json::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} document {i}: {e}", file.display()));
            if !value.is_null() {
                docs.push((format!("{} document {i}", file.display()), value));
            }
        }
    }
    docs
}

/// True when every member of `written` is present with the same value in
/// `parsed` (which may hold more: defaults).
fn contains(parsed: &serde_json::Value, written: &serde_json::Value) -> bool {
    match (parsed, written) {
        (serde_json::Value::Object(p), serde_json::Value::Object(w)) => w
            .iter()
            .all(|(k, v)| p.get(k).is_some_and(|pv| contains(pv, v))),
        (serde_json::Value::Array(p), serde_json::Value::Array(w)) => {
            p.len() == w.len() && p.iter().zip(w).all(|(p, w)| contains(p, w))
        }
        _ => parsed == written,
    }
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(
    name: &str,
    doc: &serde_json::Value,
) {
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&typed).expect("serialises");
    assert!(
        contains(&back["spec"], &doc["spec"]),
        "{name}: the typed API drops or changes part of the spec\nwritten: {}\nparsed:  {}",
        doc["spec"],
        back["spec"]
    );
}

#[test]
fn samples_parse_into_the_typed_api_without_loss() {
    let docs = sample_documents();
    let mut kinds = std::collections::BTreeSet::new();
    for (name, doc) in &docs {
        assert_eq!(doc["apiVersion"], "sluice.dev/v1alpha1", "{name}");
        let kind = doc["kind"].as_str().unwrap_or_default();
        match kind {
            "ConnectorProfile" => round_trip::<ConnectorProfile>(name, doc),
            "Flow" => round_trip::<Flow>(name, doc),
            "FlowRun" => round_trip::<FlowRun>(name, doc),
            other => panic!("{name}: unexpected kind {other}"),
        }
        kinds.insert(kind.to_owned());
    }
    assert_eq!(kinds.len(), 3, "samples cover every kind: {kinds:?}");
}

#[test]
fn samples_use_every_connector_block() {
    let text: String = sample_documents()
        .iter()
        .map(|(_, d)| d.to_string())
        .collect();
    for connector in ["salesforce", "zendesk", "s3", "postgres", "http", "file"] {
        assert!(
            text.contains(&format!("\"{connector}\":")),
            "no sample uses {connector}"
        );
    }
}
