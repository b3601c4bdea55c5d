//! The committed CRDs match the code, and the schema keeps the conventions
//! users rely on: a description on every field (`kubectl explain`), no
//! nullable fields, no untyped JSON, printer columns, short names, the
//! `sluice` category and the status subresource.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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
