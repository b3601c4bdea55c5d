//! Reshaping tasks that only move columns: `project` (keep these fields in
//! this order), `map` (rename one field, or copy it with `keepSource`) and
//! `mapAll` (keep every field but the excluded ones). No value is touched.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::fields::index_of;
use super::{Compile, Effect, Step, StepError};
use crate::api::v1alpha1::task::{Map, MapAll, Project};

/// Builds output columns by picking input columns: `sources[i]` is the
/// input index of output column `i`.
struct Pick {
    sources: Vec<usize>,
}

impl Step for Pick {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let columns = batch.columns();
        Ok(Effect::columns(
            self.sources.iter().map(|&i| columns[i].clone()).collect(),
        ))
    }
}

/// The schema made of `fields`, keeping the input's metadata.
fn schema(input: &Schema, fields: Vec<FieldRef>) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()))
}

/// Compiles a projection: every listed field must exist, each once.
pub(crate) fn compile_project(spec: &Project, input: &SchemaRef) -> Compile {
    if spec.fields.is_empty() {
        return Err("project lists no field: list the fields to keep".to_owned());
    }
    let mut seen = HashSet::new();
    let mut sources = Vec::with_capacity(spec.fields.len());
    for name in &spec.fields {
        if !seen.insert(name.as_str()) {
            return Err(format!(
                "field {:?} is listed twice: list each field once",
                name.as_str()
            ));
        }
        sources.push(index_of(input, name.as_str())?);
    }
    let fields = sources.iter().map(|&i| input.fields()[i].clone()).collect();
    Ok((Box::new(Pick { sources }), schema(input, fields)))
}

/// Compiles a rename (or a copy with `keepSource`).
pub(crate) fn compile_map(spec: &Map, input: &SchemaRef) -> Compile {
    let from = index_of(input, spec.from.as_str())?;
    let to = spec.to.as_str();
    if spec.from.as_str() == to {
        if spec.keep_source {
            return Err(format!(
                "map.from and map.to are both {to:?}: a copy needs another name"
            ));
        }
        return Ok((
            Box::new(Pick {
                sources: (0..input.fields().len()).collect(),
            }),
            input.clone(),
        ));
    }
    if input.index_of(to).is_ok() {
        return Err(format!(
            "field {to:?} already exists: map to a new name, or drop {to:?} first (mapAll exclude or project)"
        ));
    }
    let renamed: FieldRef = Arc::new(Field::clone(&input.fields()[from]).with_name(to));
    let mut fields: Vec<FieldRef> = input.fields().iter().cloned().collect();
    let mut sources: Vec<usize> = (0..fields.len()).collect();
    if spec.keep_source {
        fields.push(renamed);
        sources.push(from);
    } else {
        fields[from] = renamed;
    }
    Ok((Box::new(Pick { sources }), schema(input, fields)))
}

/// Compiles a map-all: excluded fields that do not exist are ignored.
pub(crate) fn compile_map_all(spec: &MapAll, input: &SchemaRef) -> Compile {
    let excluded: HashSet<&str> = spec.exclude.iter().map(|name| name.as_str()).collect();
    let sources: Vec<usize> = input
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| !excluded.contains(field.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let fields = sources.iter().map(|&i| input.fields()[i].clone()).collect();
    Ok((Box::new(Pick { sources }), schema(input, fields)))
}

#[cfg(test)]
mod tests {
    use crate::api::v1alpha1::task::{Map, MapAll, Project};
    use crate::api::v1alpha1::{FieldName, Task};
    use crate::pipeline::tasks::testing::{Batch, compile_error, names, run};

    fn project(fields: &[&str]) -> Task {
        Task {
            project: Some(Project {
                fields: fields.iter().map(|f| FieldName::from(*f)).collect(),
            }),
            ..Task::default()
        }
    }

    fn map(from: &str, to: &str, keep_source: bool) -> Task {
        Task {
            map: Some(Map {
                from: from.into(),
                to: to.into(),
                keep_source,
            }),
            ..Task::default()
        }
    }

    fn sample() -> Batch {
        Batch::new()
            .int("Id", [Some(1), Some(2)])
            .text("Name", [Some("héllo wörld"), None])
            .float("Amount", [Some(2.5), Some(-1.0)])
    }

    #[test]
    fn project_keeps_listed_fields_in_order() {
        let out = run(&[project(&["Amount", "Id"])], &sample().build());
        assert_eq!(names(&out.batch), ["Amount", "Id"]);
        assert_eq!(out.batch.num_rows(), 2);
        assert_eq!(
            Batch::of(&out.batch).floats("Amount"),
            [Some(2.5), Some(-1.0)]
        );
        assert_eq!(Batch::of(&out.batch).ints("Id"), [Some(1), Some(2)]);
    }

    #[test]
    fn project_of_a_missing_field_is_invalid() {
        let message = compile_error(&[project(&["Id", "Amont"])], &sample().build());
        assert_eq!(
            message,
            "task project[0]: field \"Amont\" is not in the records; fields are: Id, Name, Amount"
        );
    }

    #[test]
    fn project_listing_a_field_twice_is_invalid() {
        let message = compile_error(&[project(&["Id", "Id"])], &sample().build());
        assert!(message.contains("\"Id\" is listed twice"), "{message}");
    }

    #[test]
    fn map_renames_in_place() {
        let out = run(&[map("Name", "FullName", false)], &sample().build());
        assert_eq!(names(&out.batch), ["Id", "FullName", "Amount"]);
        assert_eq!(
            Batch::of(&out.batch).texts("FullName"),
            [Some("héllo wörld".to_owned()), None]
        );
    }

    #[test]
    fn map_with_keep_source_appends_a_copy() {
        let out = run(&[map("Id", "Key", true)], &sample().build());
        assert_eq!(names(&out.batch), ["Id", "Name", "Amount", "Key"]);
        assert_eq!(Batch::of(&out.batch).ints("Key"), [Some(1), Some(2)]);
        assert_eq!(Batch::of(&out.batch).ints("Id"), [Some(1), Some(2)]);
    }

    #[test]
    fn map_onto_an_existing_field_is_invalid() {
        let message = compile_error(&[map("Id", "Amount", false)], &sample().build());
        assert!(
            message.starts_with("task map[0]: field \"Amount\" already exists"),
            "{message}"
        );
        let message = compile_error(&[map("Nope", "X", false)], &sample().build());
        assert!(
            message.contains("field \"Nope\" is not in the records"),
            "{message}"
        );
    }

    #[test]
    fn map_all_drops_excluded_fields_and_ignores_missing_ones() {
        let task = Task {
            map_all: Some(MapAll {
                exclude: vec!["Name".into(), "Gone".into()],
            }),
            ..Task::default()
        };
        let out = run(&[task], &sample().build());
        assert_eq!(names(&out.batch), ["Id", "Amount"]);
        assert_eq!(out.batch.num_rows(), 2);
    }

    #[test]
    fn map_all_without_exclusions_keeps_everything() {
        let task = Task {
            map_all: Some(MapAll::default()),
            ..Task::default()
        };
        let out = run(&[task], &sample().build());
        assert_eq!(names(&out.batch), ["Id", "Name", "Amount"]);
    }
}
