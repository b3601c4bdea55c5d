//! The committed CRDs match the code, and the schema keeps the conventions
//! users rely on: a description on every field (`kubectl explain`), no
//! nullable fields, no untyped JSON, printer columns, short names, the
//! `sluice` category and the status subresource.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

fn schema(crd: &CustomResourceDefinition) -> &JSONSchemaProps {
    crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("every version has a schema")
}

/// Calls `visit(path, schema)` on every node of a schema.
fn walk(path: &str, schema: &JSONSchemaProps, visit: &mut dyn FnMut(&str, &JSONSchemaProps)) {
    visit(path, schema);
    for (name, child) in schema.properties.iter().flatten() {
        walk(&format!("{path}.{name}"), child, visit);
    }
    match &schema.items {
        Some(JSONSchemaPropsOrArray::Schema(item)) => walk(&format!("{path}[]"), item, visit),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => {
            for item in items {
                walk(&format!("{path}[]"), item, visit);
            }
        }
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(values)) = &schema.additional_properties {
        walk(&format!("{path}{{}}"), values, visit);
    }
}

#[test]
fn committed_crds_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut stale = Vec::new();
    for crd in sluice::crd::all() {
        let file = dir.join(sluice::crd::file_name(&crd));
        let generated = sluice::crd::to_yaml(&crd).expect("CRDs render");
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        if generated != committed {
            stale.push(file.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "crds/ is out of date with src/api ({}): run `make crds` and commit the result",
        stale.join(", ")
    );
}

#[test]
fn crds_dir_holds_exactly_the_generated_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    committed.sort();
    let mut generated: Vec<String> = sluice::crd::all()
        .iter()
        .map(sluice::crd::file_name)
        .collect();
    generated.sort();
    assert_eq!(committed, generated);
}

#[test]
fn every_field_has_a_description() {
    for crd in sluice::crd::all() {
        let mut missing = Vec::new();
        walk("", schema(&crd), &mut |path, node| {
            // apiVersion, kind and metadata are documented by Kubernetes itself;
            // array items and map values are described by their field.
            let standard = matches!(path, "" | ".apiVersion" | ".kind" | ".metadata");
            let element = path.ends_with("[]") || path.ends_with('}');
            if !standard && !element && node.description.as_deref().unwrap_or("").trim().is_empty()
            {
                missing.push(path.to_owned());
            }
        });
        assert!(
            missing.is_empty(),
            "{} has fields without a description: {missing:?}",
            crd.spec.names.kind
        );
    }
}

/// A type's own doc comment, as schemars reads it.
fn doc_of<T: schemars::JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    schema
        .get("description")
        .and_then(|d| d.as_str())
        .unwrap_or_else(|| panic!("{} has a doc comment", std::any::type_name::<T>()))
        .to_owned()
}

/// The doc comments of an enum's variants.
fn variant_docs<T: schemars::JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(T);
    let variants = schema
        .get("oneOf")
        .and_then(|v| v.as_array())
        .unwrap_or_else(|| panic!("{} has documented variants", std::any::type_name::<T>()));
    variants
        .iter()
        .map(|v| v["description"].as_str().unwrap().to_owned())
        .collect()
}

/// Text with every run of white space as one space.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `kubectl explain flow.spec.tasks.<operation>` shows the CRD description:
/// it must hold the operation's whole doc comment (the rules a user writes
/// against), and an operation's enum fields the doc of every value, not
/// only the field's first line.
#[test]
fn every_task_description_holds_its_whole_doc_comment() {
    use sluice::api::v1alpha1::task::{
        Arithmetic, ArithmeticOperator, Compute, Convert, FieldType, Filter, FilterOperator, Map,
        MapAll, Mask, MaskMode, Merge, Project, Truncate, Validate, ValidationAction,
        ValidationCheck,
    };
    let operations: BTreeMap<&str, String> = [
        ("project", doc_of::<Project>()),
        ("map", doc_of::<Map>()),
        ("mapAll", doc_of::<MapAll>()),
        ("filter", doc_of::<Filter>()),
        ("validate", doc_of::<Validate>()),
        ("mask", doc_of::<Mask>()),
        ("truncate", doc_of::<Truncate>()),
        ("merge", doc_of::<Merge>()),
        ("arithmetic", doc_of::<Arithmetic>()),
        ("convert", doc_of::<Convert>()),
        ("compute", doc_of::<Compute>()),
    ]
    .into_iter()
    .collect();
    let values: [(&str, &str, Vec<String>); 7] = [
        ("filter", "operator", variant_docs::<FilterOperator>()),
        ("validate", "check", variant_docs::<ValidationCheck>()),
        ("validate", "action", variant_docs::<ValidationAction>()),
        ("mask", "mode", variant_docs::<MaskMode>()),
        (
            "arithmetic",
            "operator",
            variant_docs::<ArithmeticOperator>(),
        ),
        ("convert", "to", variant_docs::<FieldType>()),
        ("compute", "type", variant_docs::<FieldType>()),
    ];
    let mut seen = 0;
    for crd in sluice::crd::all() {
        walk("", schema(&crd), &mut |path, node| {
            if !path.ends_with(".tasks[]") {
                return;
            }
            seen += 1;
            let properties = node.properties.as_ref().unwrap();
            for (name, property) in properties {
                if name == "name" {
                    continue;
                }
                let doc = operations
                    .get(name.as_str())
                    .unwrap_or_else(|| panic!("{path}.{name}: add the operation to this test"));
                let description = property.description.as_deref().unwrap_or("");
                assert!(
                    words(description).contains(&words(doc)),
                    "{path}.{name}: the description lacks the doc comment of its type.\n\
                     description: {description}\ndoc comment: {doc}"
                );
            }
            for (operation, field, docs) in &values {
                let description = properties[*operation].properties.as_ref().unwrap()[*field]
                    .description
                    .as_deref()
                    .unwrap_or("");
                for doc in docs {
                    assert!(
                        words(description).contains(&words(doc)),
                        "{path}.{operation}.{field}: the description lacks {doc:?}\n\
                         description: {description}"
                    );
                }
            }
            // The number rules, where a user reads them.
            let filter = properties["filter"].description.as_deref().unwrap_or("");
            for sentence in ["NaN never satisfies a comparison", "compares as text"] {
                assert!(
                    words(filter).contains(sentence),
                    "{path}.filter lacks {sentence:?}"
                );
            }
        });
    }
    assert_eq!(
        seen, 2,
        "tasks are in the Flow and in the FlowRun's pinned spec"
    );
}

#[test]
fn the_schema_has_no_nullable_and_no_untyped_fields() {
    for crd in sluice::crd::all() {
        walk("", schema(&crd), &mut |path, node| {
            assert_ne!(node.nullable, Some(true), "{path} is nullable");
            assert_ne!(
                node.x_kubernetes_preserve_unknown_fields,
                Some(true),
                "{path} is an untyped JSON field"
            );
            assert!(
                node.type_.is_some() || node.x_kubernetes_int_or_string == Some(true),
                "{} {path} has no type",
                crd.spec.names.kind
            );
        });
    }
}

#[test]
fn every_kind_is_namespaced_categorised_and_has_a_status_subresource() {
    for crd in sluice::crd::all() {
        let names = &crd.spec.names;
        assert_eq!(crd.spec.group, "sluice.dev");
        assert_eq!(crd.spec.scope, "Namespaced", "{}", names.kind);
        assert_eq!(
            names.categories.as_deref(),
            Some(&["sluice".to_owned()][..])
        );
        assert!(
            !names.short_names.clone().unwrap_or_default().is_empty(),
            "{}",
            names.kind
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.served && version.storage);
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{} has no status subresource",
            names.kind
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        let wanted: &[&str] = match names.kind.as_str() {
            "Flow" => &[
                "Trigger",
                "Schedule",
                "Last Run",
                "Last Run Time",
                "Records",
                "Ready",
                "Age",
            ],
            "FlowRun" => &["Flow", "Phase", "Records", "Duration", "Age"],
            _ => &["Connector", "Ready", "Age"],
        };
        for column in wanted {
            assert!(
                columns.contains(column),
                "{} lacks printer column {column}",
                names.kind
            );
        }
    }
}

#[test]
fn conditions_are_a_map_list_keyed_by_type() {
    for crd in sluice::crd::all() {
        let status = &schema(&crd).properties.as_ref().expect("properties")["status"];
        let conditions = &status.properties.as_ref().expect("status properties")["conditions"];
        assert_eq!(conditions.x_kubernetes_list_type.as_deref(), Some("map"));
        assert_eq!(
            conditions.x_kubernetes_list_map_keys.as_deref(),
            Some(&["type".to_owned()][..])
        );
        let Some(JSONSchemaPropsOrArray::Schema(item)) = &conditions.items else {
            panic!("conditions items");
        };
        let fields = item.properties.as_ref().expect("condition properties");
        for field in [
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
            "observedGeneration",
        ] {
            assert!(fields.contains_key(field), "condition lacks {field}");
        }
    }
}
