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
//!
//! Layout: this file holds the contract and the driver (`Step`, `Effect`,
//! row-index tracking); `fields` and `text` the shared schema and
//! value-as-text helpers; one file per operation (`project` for project,
//! map and mapAll; `filter`, `validate`, `mask`, `truncate`, `merge`,
//! `arithmetic`, `convert`; `cel` for CEL filters and compute, within the
//! limits of `cel_limits`); `testing`
//! and `tests` the test helpers and the tests of whole task lists.

mod arithmetic;
mod cel;
pub mod cel_limits;
mod convert;
mod fields;
mod filter;
mod mask;
mod merge;
mod project;
mod text;
mod truncate;
mod validate;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBufferBuilder, RecordBatchOptions, UInt32Array,
};
use arrow::buffer::BooleanBuffer;
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::api::v1alpha1::Task;
use crate::api::v1alpha1::task::Operation;

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
    let operation = task.operation().map_or("task", |o| o.name());
    format!("{operation}[{index}]")
}

/// A record a step found bad, by its index in the batch the step was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad {
    /// Index in the step's input batch.
    pub row: usize,
    /// The field concerned, when one is.
    pub field: Option<String>,
    /// Why.
    pub reason: String,
}

/// What one step did to a batch. Rows keep their positions: removing them
/// is left to [`Tasks::apply`], which also maps them to the original batch.
#[derive(Debug, Default)]
pub(crate) struct Effect {
    /// The step's output columns, matching its output schema; `None` when
    /// the columns are the input's.
    pub columns: Option<Vec<ArrayRef>>,
    /// Rows to keep (filters): false or null drops the row and counts it as
    /// filtered. `None` keeps every row.
    pub keep: Option<BooleanArray>,
    /// Bad records, in any order, each at most once.
    pub bad: Vec<Bad>,
}

impl Effect {
    /// New columns, every row kept.
    pub(crate) fn columns(columns: Vec<ArrayRef>) -> Self {
        Self {
            columns: Some(columns),
            ..Self::default()
        }
    }
}

/// Why a step stopped.
#[derive(Debug)]
pub(crate) enum StepError {
    /// A kernel failed.
    Arrow(ArrowError),
    /// A `validate` task with `action: FailRun` found a bad record.
    FailRun {
        /// Index in the step's input batch.
        row: usize,
        /// The field checked.
        field: String,
        /// Why the record failed.
        reason: String,
    },
}

impl From<ArrowError> for StepError {
    fn from(error: ArrowError) -> Self {
        Self::Arrow(error)
    }
}

/// One compiled operation. Steps are shared by worker threads.
pub(crate) trait Step: Send + Sync {
    /// Runs the step over `batch`, which has the step's input schema.
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError>;
}

/// A step with its label and output schema.
struct Compiled {
    label: String,
    output: SchemaRef,
    step: Box<dyn Step>,
}

/// The result of compiling one task: the step and its output schema, or
/// what is wrong with it.
pub(crate) type Compile = std::result::Result<(Box<dyn Step>, SchemaRef), String>;

/// Compiles one task against the schema the previous tasks leave; `at` is
/// where the task is in the API (`spec.tasks[2]`).
fn compile_task(task: &Task, input: &SchemaRef, at: &str) -> Compile {
    let operations = task.operations();
    let [operation] = operations.as_slice() else {
        return Err(format!(
            "a task sets exactly one operation (project, map, mapAll, filter, validate, mask, truncate, merge, arithmetic, convert or compute); this one sets {}",
            operations.len()
        ));
    };
    match *operation {
        Operation::Project(spec) => project::compile_project(spec, input),
        Operation::Map(spec) => project::compile_map(spec, input),
        Operation::MapAll(spec) => project::compile_map_all(spec, input),
        Operation::Filter(spec) => filter::compile(spec, input, at),
        Operation::Validate(spec) => validate::compile(spec, input),
        Operation::Mask(spec) => mask::compile(spec, input),
        Operation::Truncate(spec) => truncate::compile(spec, input),
        Operation::Merge(spec) => merge::compile(spec, input),
        Operation::Arithmetic(spec) => arithmetic::compile(spec, input),
        Operation::Convert(spec) => convert::compile(spec, input),
        Operation::Compute(spec) => {
            cel::compile_compute(spec, &format!("{at}.compute.expression"), input)
        }
    }
}

/// Source fields the tasks read before any task produces them: for a
/// source that knows its fields, a missing one is schema drift.
pub fn source_fields(tasks: &[Task]) -> Vec<String> {
    let mut produced: Vec<&str> = Vec::new();
    let mut expected: Vec<String> = Vec::new();
    for operation in tasks.iter().flat_map(Task::operation) {
        for name in operation.reads() {
            let name = name.as_str();
            if !produced.contains(&name) && !expected.iter().any(|e| e == name) {
                expected.push(name.to_owned());
            }
        }
        produced.extend(operation.produces().map(|f| f.as_str()));
    }
    expected
}

/// The label of the run's extra filter in errors and quarantine entries.
pub const EXTRA_FILTER_LABEL: &str = "overrides.filter";
/// Where the run's extra filter is in the API (the FlowRun's spec).
const EXTRA_FILTER_FIELD: &str = "spec.overrides.filter";

/// A task list compiled against an input schema. `Send + Sync`: one compiled
/// list serves every worker thread of a run.
pub struct Tasks {
    input: SchemaRef,
    output: SchemaRef,
    steps: Vec<Compiled>,
}

impl Tasks {
    /// Compiles `tasks` (and an optional extra CEL filter from the run's
    /// overrides, applied last) against `input`.
    pub fn compile(tasks: &[Task], extra_filter: Option<&str>, input: &SchemaRef) -> Result<Self> {
        let mut steps = Vec::with_capacity(tasks.len() + 1);
        let mut schema = input.clone();
        for (index, task) in tasks.iter().enumerate() {
            let label = label(index, task);
            let at = format!("spec.tasks[{index}]");
            let (step, output) =
                compile_task(task, &schema, &at).map_err(|message| Error::Invalid {
                    task: label.clone(),
                    message,
                })?;
            schema = output.clone();
            steps.push(Compiled {
                label,
                output,
                step,
            });
        }
        if let Some(expression) = extra_filter {
            let step = cel::compile_filter(expression, EXTRA_FILTER_FIELD, &schema).map_err(
                |message| Error::Invalid {
                    task: EXTRA_FILTER_LABEL.to_owned(),
                    message,
                },
            )?;
            steps.push(Compiled {
                label: EXTRA_FILTER_LABEL.to_owned(),
                output: schema.clone(),
                step,
            });
        }
        Ok(Self {
            input: input.clone(),
            output: schema,
            steps,
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
        self.check_input(batch)?;
        let mut current = batch.clone();
        // The original index of each row of `current`; `None` while no row
        // has been removed.
        let mut rows: Option<UInt32Array> = None;
        let mut filtered = 0;
        let mut rejected = Vec::new();
        for compiled in &self.steps {
            if current.num_rows() == 0 {
                break;
            }
            let arrow = |source| Error::Arrow {
                task: compiled.label.clone(),
                source,
            };
            let original = |row: usize| match &rows {
                Some(rows) => rows.value(row) as usize,
                None => row,
            };
            let effect = compiled.step.apply(&current).map_err(|error| match error {
                StepError::Arrow(source) => arrow(source),
                StepError::FailRun { row, field, reason } => Error::FailRun {
                    task: compiled.label.clone(),
                    row: original(row),
                    field,
                    reason,
                },
            })?;
            let count = current.num_rows();
            let next = match effect.columns {
                None if Arc::ptr_eq(current.schema_ref(), &compiled.output) => current,
                columns => RecordBatch::try_new_with_options(
                    compiled.output.clone(),
                    columns.unwrap_or_else(|| current.columns().to_vec()),
                    &RecordBatchOptions::new().with_row_count(Some(count)),
                )
                .map_err(arrow)?,
            };
            if effect.keep.is_none() && effect.bad.is_empty() {
                current = next;
                continue;
            }
            // Rows the filter keeps, then without the bad ones.
            let passed = match &effect.keep {
                Some(mask) => mask.values() & &validity(mask),
                None => BooleanBuffer::new_set(count),
            };
            let mut keep = BooleanBufferBuilder::new(count);
            keep.append_buffer(&passed);
            let mut bad_rows = 0;
            for bad in effect.bad {
                let row = bad.row;
                if row >= count || (!keep.get_bit(row) && passed.value(row)) {
                    // Out of the batch, or already bad in this step.
                    continue;
                }
                keep.set_bit(row, false);
                bad_rows += 1;
                rejected.push(Rejection {
                    row: original(row),
                    task: compiled.label.clone(),
                    field: bad.field,
                    reason: bad.reason,
                });
            }
            let keep = keep.finish();
            // A row both filtered and bad counts once, as bad.
            filtered += count - keep.count_set_bits() - bad_rows;
            let keep = BooleanArray::new(keep, None);
            if keep.true_count() == count {
                current = next;
                continue;
            }
            let indices = match rows.take() {
                Some(rows) => rows,
                None => identity_rows(count).map_err(arrow)?,
            };
            let kept = arrow::compute::filter(&indices, &keep).map_err(arrow)?;
            rows = Some(
                kept.as_any()
                    .downcast_ref::<UInt32Array>()
                    .cloned()
                    .ok_or_else(|| {
                        arrow(ArrowError::ComputeError(
                            "row indices lost their type".to_owned(),
                        ))
                    })?,
            );
            current = filter_record_batch(&next, &keep).map_err(arrow)?;
        }
        let batch = if current.num_rows() == 0 {
            RecordBatch::new_empty(self.output.clone())
        } else {
            current
        };
        rejected.sort_by_key(|rejection| rejection.row);
        Ok(Output {
            batch,
            filtered,
            rejected,
        })
    }

    /// Checks that `batch` has the fields (names and types) the tasks were
    /// compiled for.
    fn check_input(&self, batch: &RecordBatch) -> Result<()> {
        let expected = self.input.fields();
        let actual = batch.schema_ref().fields();
        let same = expected.len() == actual.len()
            && expected
                .iter()
                .zip(actual.iter())
                .all(|(e, a)| e.name() == a.name() && e.data_type() == a.data_type());
        if same {
            return Ok(());
        }
        let show = |fields: &arrow::datatypes::Fields| {
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(Error::Arrow {
            task: "input".to_owned(),
            source: ArrowError::SchemaError(format!(
                "the batch has fields ({}) but the tasks were compiled for ({})",
                show(actual),
                show(expected)
            )),
        })
    }
}

/// The valid bits of `array` (all set when it has no nulls).
fn validity(array: &BooleanArray) -> BooleanBuffer {
    match array.nulls() {
        Some(nulls) => nulls.inner().clone(),
        None => BooleanBuffer::new_set(array.len()),
    }
}

/// `0, 1, …, count - 1` as row indices.
fn identity_rows(count: usize) -> std::result::Result<UInt32Array, ArrowError> {
    let count = u32::try_from(count).map_err(|_| {
        ArrowError::ComputeError(format!("a batch of {count} records is too large"))
    })?;
    Ok(UInt32Array::from_iter_values(0..count))
}
