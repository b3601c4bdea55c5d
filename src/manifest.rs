//! Manifests outside a cluster: a multi-document YAML file holding
//! ConnectorProfiles, Flows, FlowRuns and Secrets exactly as they would be
//! applied to a cluster, checked the way the API server would check them.
//!
//! Each document is parsed into the typed API (unknown fields are refused,
//! as `kubectl apply` refuses them), the schema's defaults are filled in, and
//! the CRD's CEL rules are evaluated client-side. Errors name the document,
//! the object and the field.

use std::collections::BTreeMap;

use kube::CustomResourceExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api::v1alpha1::{ConnectorProfile, Flow, FlowRun};

/// Errors of reading manifests.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not YAML.
    #[error("{file}: document {index}: not valid YAML: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// The document's 1-based index.
        index: usize,
        /// The parser's message.
        message: String,
    },
    /// A document does not fit its kind's schema.
    #[error("{file}: document {index} ({kind} {name}): {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The document's 1-based index.
        index: usize,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A document is of a kind local mode does not take.
    #[error(
        "{file}: document {index}: kind {kind:?} (apiVersion {api_version:?}) is not a ConnectorProfile, Flow, FlowRun (sluice.dev/v1alpha1) or Secret (v1)"
    )]
    UnknownKind {
        /// The file.
        file: String,
        /// The document's 1-based index.
        index: usize,
        /// Its kind.
        kind: String,
        /// Its apiVersion.
        api_version: String,
    },
    /// Two documents have the same kind and name.
    #[error("{file}: {kind} {name:?} is defined twice")]
    Duplicate {
        /// The file.
        file: String,
        /// The kind.
        kind: &'static str,
        /// The name.
        name: String,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The objects of a manifest file.
#[derive(Debug, Default)]
pub struct Bundle {
    /// ConnectorProfiles by name.
    pub profiles: BTreeMap<String, ConnectorProfile>,
    /// Flows, in file order.
    pub flows: Vec<Flow>,
    /// FlowRuns, in file order.
    pub runs: Vec<FlowRun>,
    /// Secrets by name: key → value (decoded `data` and `stringData`).
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretDoc {
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    string_data: BTreeMap<String, String>,
}

/// Paths of members present in `written` but absent from `parsed`: fields the
/// typed API does not know.
fn unknown_fields(
    parsed: &serde_json::Value,
    written: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    match (parsed, written) {
        (serde_json::Value::Object(p), serde_json::Value::Object(w)) => {
            for (key, value) in w {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match p.get(key) {
                    Some(pv) => unknown_fields(pv, value, &here, out),
                    None if value.is_null() => {}
                    None => out.push(here),
                }
            }
        }
        (serde_json::Value::Array(p), serde_json::Value::Array(w)) => {
            for (i, (pv, wv)) in p.iter().zip(w).enumerate() {
                unknown_fields(pv, wv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Whether the member at `path` is an explicitly empty list or map (`[]`,
/// `{}`) of a field the schema has: the typed API leaves such a field out
/// when it writes the object back, and the API server stores it as absent,
/// so it is no unknown field.
fn known_empty(
    schema: Option<&serde_json::Value>,
    written: &serde_json::Value,
    path: &str,
) -> bool {
    let segments = path_segments(path);
    let mut value = written;
    let mut node = schema;
    for segment in &segments {
        match segment {
            Segment::Key(key) => {
                value = match value.get(key) {
                    Some(v) => v,
                    None => return false,
                };
                node = node
                    .and_then(|n| n.get("properties"))
                    .and_then(|p| p.get(key));
            }
            Segment::Index(i) => {
                value = match value.get(i) {
                    Some(v) => v,
                    None => return false,
                };
                node = node.and_then(|n| n.get("items"));
            }
        }
    }
    let empty = match value {
        serde_json::Value::Array(items) => items.is_empty(),
        serde_json::Value::Object(members) => members.is_empty(),
        _ => false,
    };
    empty && node.is_some()
}

/// One step of a member path such as `spec.tasks[0].mask`.
enum Segment {
    Key(String),
    Index(usize),
}

fn path_segments(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            segments.push(Segment::Key(rest[..open].to_owned()));
            rest = &rest[open..];
            while let Some(close) = rest.find(']') {
                if let Ok(index) = rest[1..close].parse() {
                    segments.push(Segment::Index(index));
                }
                rest = &rest[close + 1..];
            }
        } else {
            segments.push(Segment::Key(rest.to_owned()));
        }
    }
    segments
}

/// Members of the Kubernetes object envelope the typed API does not model.
const ENVELOPE: &[&str] = &["status"];

fn typed<T>(value: &serde_json::Value, invalid: &dyn Fn(String) -> Error) -> Result<T>
where
    T: DeserializeOwned + serde::Serialize + CustomResourceExt,
{
    let object: T = serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
    let back = serde_json::to_value(&object).map_err(|e| invalid(e.to_string()))?;
    let crd = T::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok());
    let mut unknown = Vec::new();
    unknown_fields(&back, value, "", &mut unknown);
    unknown.retain(|f| {
        !f.starts_with("metadata.")
            && !ENVELOPE
                .iter()
                .any(|e| f == e || f.starts_with(&format!("{e}.")))
            && !known_empty(schema.as_ref(), value, f)
    });
    if !unknown.is_empty() {
        return Err(invalid(format!("unknown field {}", unknown.join(", "))));
    }
    if let Some(schema) = schema {
        let mut problems = Vec::new();
        check_schema(&schema, &back, "", &mut problems);
        if !problems.is_empty() {
            return Err(invalid(problems.join("; ")));
        }
    }
    kube::core::cel::validate_cel(&object).map_err(|errors| invalid(errors.to_string()))?;
    Ok(object)
}

/// The OpenAPI value checks of a structural schema that serde does not make:
/// lengths, patterns, numeric ranges, item counts and set uniqueness. Messages
/// follow the API server's.
fn check_schema(
    schema: &serde_json::Value,
    value: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    match value {
        Value::String(text) => {
            let length = text.chars().count() as f64;
            if let Some(max) = number("maxLength").filter(|max| length > *max) {
                out.push(format!(
                    "{path}: Too long: may not be more than {max} bytes"
                ));
            }
            if let Some(min) = number("minLength").filter(|min| length < *min) {
                out.push(format!(
                    "{path}: Invalid value: {text:?}: should be at least {min} chars long"
                ));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(text))
            {
                out.push(format!(
                    "{path}: Invalid value: {text:?}: {path} in body should match '{pattern}'"
                ));
            }
        }
        Value::Number(n) => {
            if let Some(v) = n.as_f64() {
                if let Some(max) = number("maximum").filter(|max| v > *max) {
                    out.push(format!("{path}: Invalid value: {n}: {path} in body should be less than or equal to {max}"));
                }
                if let Some(min) = number("minimum").filter(|min| v < *min) {
                    out.push(format!("{path}: Invalid value: {n}: {path} in body should be greater than or equal to {min}"));
                }
            }
        }
        Value::Array(items) => {
            let count = items.len() as f64;
            if let Some(max) = number("maxItems").filter(|max| count > *max) {
                out.push(format!(
                    "{path}: Too many: {count}: must have at most {max} items"
                ));
            }
            if let Some(min) = number("minItems").filter(|min| count < *min) {
                out.push(format!("{path}: Invalid value: {count}: {path} in body should have at least {min} items"));
            }
            if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        out.push(format!("{path}[{i}]: Duplicate value: {item}"));
                    }
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_schema(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let child = schema
                    .get("properties")
                    .and_then(|p| p.get(key))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(child) = child
                    && !here.starts_with("metadata")
                {
                    check_schema(child, member, &here, out);
                }
            }
        }
        _ => {}
    }
}

fn base64_decode(text: &str) -> Option<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
    {
        let value = ALPHABET.iter().position(|a| *a == byte)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Bundle {
    /// Reads every document of `text` (from `file`, for messages).
    pub fn parse(text: &str, file: &str) -> Result<Self> {
        let mut bundle = Self::default();
        for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let index = i + 1;
            let value = serde_json::Value::deserialize(document).map_err(|e| Error::Yaml {
                file: file.to_owned(),
                index,
                message: e.to_string(),
            })?;
            if value.is_null() {
                continue;
            }
            let header: Header =
                serde_json::from_value(value.clone()).map_err(|e| Error::Yaml {
                    file: file.to_owned(),
                    index,
                    message: e.to_string(),
                })?;
            let name = header.metadata.name.clone();
            let kind = header.kind.clone();
            let invalid = |message: String| Error::Invalid {
                file: file.to_owned(),
                index,
                kind: kind.clone(),
                name: name.clone(),
                message,
            };
            if name.is_empty() && kind != "FlowRun" {
                return Err(invalid("metadata.name is required".to_owned()));
            }
            let duplicate = |kind: &'static str| Error::Duplicate {
                file: file.to_owned(),
                kind,
                name: name.clone(),
            };
            match (header.api_version.as_str(), kind.as_str()) {
                ("sluice.dev/v1alpha1", "ConnectorProfile") => {
                    let profile: ConnectorProfile = typed(&value, &invalid)?;
                    if bundle.profiles.insert(name.clone(), profile).is_some() {
                        return Err(duplicate("ConnectorProfile"));
                    }
                }
                ("sluice.dev/v1alpha1", "Flow") => {
                    let flow: Flow = typed(&value, &invalid)?;
                    if bundle
                        .flows
                        .iter()
                        .any(|f| f.metadata.name.as_deref() == Some(&name))
                    {
                        return Err(duplicate("Flow"));
                    }
                    bundle.flows.push(flow);
                }
                ("sluice.dev/v1alpha1", "FlowRun") => bundle.runs.push(typed(&value, &invalid)?),
                ("v1", "Secret") => {
                    let doc: SecretDoc = serde_json::from_value(value.clone())
                        .map_err(|e| invalid(e.to_string()))?;
                    let mut values = BTreeMap::new();
                    for (key, encoded) in doc.data {
                        let decoded = base64_decode(&encoded).ok_or_else(|| {
                            invalid(format!("data.{key} is not base64-encoded UTF-8"))
                        })?;
                        values.insert(key, decoded);
                    }
                    values.extend(doc.string_data);
                    if bundle.secrets.insert(name.clone(), values).is_some() {
                        return Err(duplicate("Secret"));
                    }
                }
                _ => {
                    return Err(Error::UnknownKind {
                        file: file.to_owned(),
                        index,
                        kind,
                        api_version: header.api_version,
                    });
                }
            }
        }
        Ok(bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "apiVersion: sluice.dev/v1alpha1\nkind: ConnectorProfile\nmetadata: {name: local}\nspec: {file: {}}\n";

    fn flow(extra: &str) -> String {
        format!(
            "apiVersion: sluice.dev/v1alpha1\nkind: Flow\nmetadata: {{name: f}}\nspec:\n  source: {{connectorProfileRef: {{name: local}}, file: {{path: in.csv, format: Csv}}}}\n  destination: {{connectorProfileRef: {{name: local}}, file: {{path: out, format: Parquet}}}}\n{extra}"
        )
    }

    #[test]
    fn documents_parse_with_schema_defaults() {
        let text = format!(
            "{PROFILE}---\n{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata: {{token: aGVsbG8gd29ybGQ=}}\nstringData: {{user: me}}\n",
            flow("")
        );
        let bundle = Bundle::parse(&text, "m.yaml").unwrap();
        assert_eq!(
            bundle.profiles["local"].spec.file.as_ref().unwrap().root,
            "."
        );
        let flow = &bundle.flows[0];
        assert_eq!(flow.spec.history.successful_runs, 10);
        assert_eq!(
            flow.spec
                .destination
                .file
                .as_ref()
                .unwrap()
                .output
                .path_template,
            "{flow}/{year}/{month}/{day}/{runId}"
        );
        assert_eq!(bundle.secrets["s"]["token"], "hello world");
        assert_eq!(bundle.secrets["s"]["user"], "me");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_path() {
        let text = flow("  errorHandling: {polcy: Skip}\n");
        let message = Bundle::parse(&text, "m.yaml").unwrap_err().to_string();
        assert_eq!(
            message,
            "m.yaml: document 1 (Flow f): unknown field spec.errorHandling.polcy"
        );
    }

    #[test]
    fn cel_rules_are_checked_as_the_api_server_would() {
        let text = flow("  trigger: {type: Schedule}\n");
        let message = Bundle::parse(&text, "m.yaml").unwrap_err().to_string();
        assert!(
            message.contains("trigger type Schedule needs trigger.schedule"),
            "{message}"
        );
        let text = flow("  trigger: {type: Schedule, schedule: {expression: '61 * * * *'}}\n");
        let message = Bundle::parse(&text, "m.yaml").unwrap_err().to_string();
        assert!(
            message.contains("must be a five-field cron expression"),
            "{message}"
        );
    }

    #[test]
    fn every_invalid_manifest_of_the_api_server_tests_is_refused_offline_too() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests/invalid");
        let mut accepted = Vec::new();
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            count += 1;
            if Bundle::parse(&text, "m.yaml").is_ok() {
                accepted.push(path.display().to_string());
            }
        }
        assert!(count >= 100);
        assert!(accepted.is_empty(), "accepted offline: {accepted:?}");
    }

    #[test]
    fn every_valid_manifest_of_the_api_server_tests_is_accepted_offline_too() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests/valid");
        let mut refused = Vec::new();
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            count += 1;
            if let Err(e) = Bundle::parse(&text, "m.yaml") {
                refused.push(format!("{}: {e}", path.display()));
            }
        }
        assert!(count >= 2);
        assert!(refused.is_empty(), "refused offline: {refused:#?}");
    }

    #[test]
    fn every_sample_is_accepted_offline() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = Bundle::parse(&text, &path.display().to_string()) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn ranges_lengths_and_patterns_are_checked() {
        let message = Bundle::parse(&flow("  history: {successfulRuns: -1}\n"), "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("spec.history.successfulRuns: Invalid value: -1"),
            "{message}"
        );
        let message = Bundle::parse(
            &flow("  tasks: [{project: {fields: [a, b, a]}}]\n"),
            "m.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("spec.tasks[0].project.fields[2]: Duplicate value"),
            "{message}"
        );
    }

    #[test]
    fn wrong_enum_values_and_kinds_are_named() {
        let message = Bundle::parse(&flow("  sync: {mode: Sometimes}\n"), "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(message.contains("unknown variant `Sometimes`"), "{message}");
        let message = Bundle::parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            "m.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(message.contains("kind \"ConfigMap\""), "{message}");
        let twice = format!("{PROFILE}---\n{PROFILE}");
        assert!(
            Bundle::parse(&twice, "m.yaml")
                .unwrap_err()
                .to_string()
                .contains("defined twice")
        );
    }
}
