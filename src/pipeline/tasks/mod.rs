//! The Flow's field-level tasks, compiled against the source schema and
//! applied to Arrow record batches.
//!
//! The semantics of every operation are the ones written in the API's doc
//! comments (`crate::api::v1alpha1::task`): this module implements them and
//! its tests check them against hand-computed results.
//!
//! `Tasks::compile` validates the task list against the input schema once per
//! run (unknown fields, wrong types, CEL compile errors, unreadable filter
//! values) and returns an error naming the task. `Tasks::apply` then runs the
//! compiled steps over each batch: rows removed by filters are counted, rows
//! that fail a task ("bad records") are returned as [`Rejection`]s with their
//! index in the input batch so the engine can quarantine the original record.

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::api::v1alpha1::Task;

/// Errors of compiling or applying tasks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The task list does not fit the input schema or is malformed: a
    /// validation error of the Flow, reported before any record moves.
    #[error("task {task}: {message}")]
    Invalid {
        /// The task's label (its name, or operation and index: `filter[2]`).
        task: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// A `validate` task with `action: FailRun` rejected a record.
    #[error("task {task} failed the run at record {row}: field {field}: {reason}")]
    FailRun {
        /// The task's label.
        task: String,
        /// The record's index in the batch given to `apply`.
        row: usize,
        /// The field checked.
        field: String,
        /// Why the record failed.
        reason: String,
    },
    /// An Arrow kernel failed in a way that is not about one record.
    #[error("task {task}: {source}")]
    Arrow {
        /// The task's label.
        task: String,
        /// The kernel's error.
        source: ArrowError,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A record that failed a task: handed to the Flow's error policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The record's index in the batch given to `apply`.
    pub row: usize,
    /// The label of the task that rejected it.
    pub task: String,
    /// The field concerned, when one is.
    pub field: Option<String>,
    /// Why, in words a user can act on (`value "abc" of field Amount is not a
    /// number`).
    pub reason: String,
}

/// What applying the tasks to one batch gave.
#[derive(Debug)]
pub struct Output {
    /// The records that passed every task, with the output schema.
    pub batch: RecordBatch,
    /// Records removed by filters (not bad records).
    pub filtered: usize,
    /// Records that failed a task, in input order.
    pub rejected: Vec<Rejection>,
}

/// The label of a task in errors and quarantine entries: its `name`, or its
/// operation and index (`filter[2]`).
pub fn label(index: usize, task: &Task) -> String {
    if let Some(name) = &task.name {
        return name.clone();
    }
    let operation = [
        (task.project.is_some(), "project"),
        (task.map.is_some(), "map"),
        (task.map_all.is_some(), "mapAll"),
        (task.filter.is_some(), "filter"),
        (task.validate.is_some(), "validate"),
        (task.mask.is_some(), "mask"),
        (task.truncate.is_some(), "truncate"),
        (task.merge.is_some(), "merge"),
        (task.arithmetic.is_some(), "arithmetic"),
        (task.convert.is_some(), "convert"),
        (task.compute.is_some(), "compute"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
    .unwrap_or("task");
    format!("{operation}[{index}]")
}

/// A task list compiled against an input schema. `Send + Sync`: one compiled
/// list serves every worker thread of a run.
pub struct Tasks {
    input: SchemaRef,
    output: SchemaRef,
}

impl Tasks {
    /// Compiles `tasks` (and an optional extra CEL filter from the run's
    /// overrides, applied last) against `input`.
    pub fn compile(tasks: &[Task], extra_filter: Option<&str>, input: &SchemaRef) -> Result<Self> {
        if let Some((index, task)) = tasks.iter().enumerate().next() {
            return Err(Error::Invalid {
                task: label(index, task),
                message: "task operations are not implemented yet".to_owned(),
            });
        }
        if extra_filter.is_some() {
            return Err(Error::Invalid {
                task: "overrides.filter".to_owned(),
                message: "CEL filters are not implemented yet".to_owned(),
            });
        }
        Ok(Self {
            input: input.clone(),
            output: input.clone(),
        })
    }

    /// The schema batches given to `apply` must have.
    pub fn input_schema(&self) -> &SchemaRef {
        &self.input
    }

    /// The schema of the batches `apply` returns.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output
    }

    /// Runs the compiled tasks over one batch.
    pub fn apply(&self, batch: &RecordBatch) -> Result<Output> {
        Ok(Output {
            batch: batch.clone(),
            filtered: 0,
            rejected: Vec::new(),
        })
    }
}
