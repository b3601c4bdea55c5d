//! Tests of task lists as a whole: order, row indices of rejections after
//! earlier filters, the run's extra filter, labels, counts and threads.

use arrow::datatypes::DataType;

use super::testing::{Batch, compile_error, names, reasons, run};
use super::{EXTRA_FILTER_LABEL, Error, Tasks};
use crate::api::v1alpha1::Task;
use crate::api::v1alpha1::task::{
    Arithmetic, ArithmeticOperator, Convert, FieldType, Filter, FilterOperator, Map, MapAll, Merge,
    Project, Validate, ValidationAction, ValidationCheck,
};

/// Compile-time check: one compiled list serves several threads.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Tasks>();
};

fn filter(field: &str, operator: FilterOperator, value: &str) -> Task {
    Task {
        filter: Some(Filter {
            field: Some(field.into()),
            operator: Some(operator),
            value: Some(value.to_owned()),
            lower: None,
            upper: None,
            expression: None,
        }),
        ..Task::default()
    }
}

fn convert(field: &str, to: FieldType) -> Task {
    Task {
        convert: Some(Convert {
            field: field.into(),
            to,
            format: None,
            precision: None,
            scale: None,
        }),
        ..Task::default()
    }
}

fn rename(from: &str, to: &str) -> Task {
    Task {
        map: Some(Map {
            from: from.into(),
            to: to.into(),
            keep_source: false,
        }),
        ..Task::default()
    }
}

fn not_null(field: &str) -> Task {
    Task {
        validate: Some(Validate {
            field: field.into(),
            check: ValidationCheck::NotNull,
            action: ValidationAction::DropRecord,
        }),
        ..Task::default()
    }
}

/// Six raw records as a CSV source would give them: all text.
fn raw() -> Batch {
    Batch::new()
        .text(
            "id",
            [
                Some("1"),
                Some("2"),
                Some("3"),
                Some("4"),
                Some("5"),
                Some("6"),
            ],
        )
        .text(
            "amount",
            [
                Some("10"),
                Some("x"),
                Some("30"),
                Some("4o"),
                Some("50"),
                None,
            ],
        )
        .text(
            "region",
            [
                Some("EU"),
                Some("US"),
                Some("EU"),
                Some("EU"),
                Some("US"),
                Some("EU"),
            ],
        )
        .text(
            "name",
            [
                Some("Zoë"),
                Some("李"),
                Some("Ann"),
                Some("🎉"),
                Some("Bo"),
                Some("Al"),
            ],
        )
}

#[test]
fn tasks_run_in_order_on_the_fields_the_previous_left() {
    let tasks = [
        rename("amount", "Amount"),
        convert("Amount", FieldType::Integer),
        convert("id", FieldType::Integer),
        Task {
            arithmetic: Some(Arithmetic {
                left: "Amount".into(),
                operator: ArithmeticOperator::Multiply,
                right: "id".into(),
                into: "Weighted".into(),
            }),
            ..Task::default()
        },
        Task {
            merge: Some(Merge {
                into: "Label".into(),
                format: "{name}@{region}={Weighted}".into(),
            }),
            ..Task::default()
        },
        Task {
            project: Some(Project {
                fields: vec!["Label".into(), "id".into()],
            }),
            ..Task::default()
        },
    ];
    let out = run(&tasks, &raw().build());
    assert_eq!(names(&out.batch), ["Label", "id"]);
    let read = Batch::of(&out.batch);
    assert_eq!(read.ints("id"), [Some(1), Some(3), Some(5), Some(6)]);
    assert_eq!(
        read.texts("Label"),
        [
            Some("Zoë@EU=10".to_owned()),
            Some("Ann@EU=90".to_owned()),
            Some("Bo@US=250".to_owned()),
            Some("Al@EU=".to_owned()),
        ]
    );
    assert_eq!(
        reasons(&out),
        [
            (
                1,
                "field Amount: value \"x\" (text) cannot be converted to Integer".to_owned()
            ),
            (
                3,
                "field Amount: value \"4o\" (text) cannot be converted to Integer".to_owned()
            ),
        ]
    );
    assert!(out.rejected.iter().all(|r| r.task == "convert[1]"));
}

#[test]
fn rejections_name_rows_of_the_original_batch_after_filters() {
    let tasks = [
        filter("region", FilterOperator::Equal, "EU"),
        convert("amount", FieldType::Integer),
    ];
    let out = run(&tasks, &raw().build());
    assert_eq!(out.filtered, 2);
    // After the filter, "4o" is the third record; it is the fourth of the
    // batch given to apply.
    assert_eq!(
        reasons(&out),
        [(
            3,
            "field amount: value \"4o\" (text) cannot be converted to Integer".to_owned()
        )]
    );
    assert_eq!(
        Batch::of(&out.batch).ints("amount"),
        [Some(10), Some(30), None]
    );
}

#[test]
fn rejected_records_are_not_seen_by_later_tasks_and_come_in_input_order() {
    let tasks = [
        convert("amount", FieldType::Integer),
        not_null("amount"),
        filter("region", FilterOperator::NotEqual, "US"),
        convert("name", FieldType::Integer),
    ];
    let out = run(&tasks, &raw().build());
    // Row 5 (null amount) fails NotNull, rows 1 and 3 failed the first
    // convert (and are not checked again), row 4 is filtered, rows 0 and 2
    // fail the last convert.
    let rows: Vec<(usize, &str)> = out
        .rejected
        .iter()
        .map(|r| (r.row, r.task.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            (0, "convert[3]"),
            (1, "convert[0]"),
            (2, "convert[3]"),
            (3, "convert[0]"),
            (5, "validate[1]"),
        ]
    );
    assert_eq!(out.filtered, 1);
    assert_eq!(out.batch.num_rows(), 0);
    assert_eq!(
        Batch::of(&out.batch).data_type("name"),
        DataType::Int64,
        "an emptied batch still has the output schema"
    );
}

#[test]
fn filtered_counts_every_filter() {
    let tasks = [
        filter("region", FilterOperator::Equal, "EU"),
        filter("name", FilterOperator::NotEqual, "Ann"),
        filter("id", FilterOperator::Contains, "1"),
    ];
    let out = run(&tasks, &raw().build());
    assert_eq!(out.filtered, 5);
    assert_eq!(Batch::of(&out.batch).texts("id"), [Some("1".to_owned())]);
    assert!(out.rejected.is_empty());
}

#[test]
fn the_extra_filter_runs_last_on_the_output_fields() {
    let batch = raw().build();
    let tasks = [
        rename("amount", "Amount"),
        convert("Amount", FieldType::Integer),
    ];
    let compiled = Tasks::compile(&tasks, Some("record.Amount >= 30"), batch.schema_ref())
        .expect("tasks compile");
    let out = compiled.apply(&batch).expect("tasks apply");
    assert_eq!(Batch::of(&out.batch).ints("Amount"), [Some(30), Some(50)]);
    assert_eq!(out.filtered, 1);
    // Rows 1 and 3 failed convert; row 5 is null, which the extra filter
    // cannot compare.
    assert_eq!(
        out.rejected
            .iter()
            .map(|r| (r.row, r.task.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, "convert[1]"),
            (3, "convert[1]"),
            (5, EXTRA_FILTER_LABEL)
        ]
    );
    // The source's name is gone by then.
    let compiled = Tasks::compile(&tasks, Some("record.amount != ''"), batch.schema_ref())
        .expect("tasks compile");
    let out = compiled.apply(&batch).expect("tasks apply");
    assert_eq!(
        out.rejected[0].reason,
        "CEL evaluation failed: No such key: amount"
    );
}

#[test]
fn extra_filter_compile_errors_are_labelled() {
    let batch = raw().build();
    match Tasks::compile(&[], Some("record.amount =="), batch.schema_ref()) {
        Err(Error::Invalid { task, message }) => {
            assert_eq!(task, "overrides.filter");
            assert!(message.contains("does not compile"), "{message}");
        }
        Err(other) => panic!("unexpected {other}"),
        Ok(_) => panic!("compiled"),
    }
}

#[test]
fn compile_errors_name_the_task_label() {
    let batch = raw().build();
    let tasks = [
        rename("amount", "Amount"),
        Task {
            map_all: Some(MapAll {
                exclude: vec!["region".into()],
            }),
            ..Task::default()
        },
        filter("region", FilterOperator::Equal, "EU"),
    ];
    assert_eq!(
        compile_error(&tasks, &batch),
        "task filter[2]: field \"region\" is not in the records; fields are: id, Amount, name"
    );
    let mut named = filter("Amount", FilterOperator::Contains, "1");
    named.name = Some("small amounts".to_owned());
    let tasks = [
        rename("amount", "Amount"),
        convert("Amount", FieldType::Integer),
        named,
    ];
    assert_eq!(
        compile_error(&tasks, &batch),
        "task small amounts: operator Contains does not apply to the non-text field \"Amount\" (integer (Int64))"
    );
}

#[test]
fn a_task_with_two_operations_is_invalid() {
    let mut task = not_null("id");
    task.truncate = Some(crate::api::v1alpha1::task::Truncate {
        field: "id".into(),
        length: 1,
    });
    assert_eq!(
        compile_error(&[task], &raw().build()),
        "task validate[0]: a task sets exactly one operation (project, map, mapAll, filter, validate, mask, truncate, merge, arithmetic, convert or compute); this one sets 2"
    );
}

#[test]
fn long_field_lists_are_cut_in_errors() {
    let mut batch = Batch::new();
    for i in 0..25 {
        batch = batch.int(&format!("f{i}"), [Some(1)]);
    }
    let message = compile_error(&[not_null("g")], &batch.build());
    assert_eq!(
        message,
        "task validate[0]: field \"g\" is not in the records; fields are: f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, and 5 more"
    );
}

#[test]
fn no_tasks_pass_batches_through() {
    let batch = raw().build();
    let out = run(&[], &batch);
    assert_eq!(out.batch, batch);
    assert_eq!(out.filtered, 0);
    assert!(out.rejected.is_empty());
}

#[test]
fn empty_batches_give_empty_batches_of_the_output_schema() {
    let batch = raw().build().slice(0, 0);
    let tasks = [convert("id", FieldType::Integer)];
    let out = run(&tasks, &batch);
    assert_eq!(out.batch.num_rows(), 0);
    assert_eq!(Batch::of(&out.batch).data_type("id"), DataType::Int64);
}

#[test]
fn batches_of_another_schema_are_refused() {
    let batch = raw().build();
    let compiled = Tasks::compile(&[], None, batch.schema_ref()).expect("compiles");
    let other = Batch::new().int("id", [Some(1)]).build();
    match compiled.apply(&other) {
        Err(Error::Arrow { task, source }) => {
            assert_eq!(task, "input");
            assert!(
                source
                    .to_string()
                    .contains("the batch has fields (id: Int64)")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn one_compiled_list_serves_several_threads() {
    let batch = raw().build();
    let tasks = [
        filter("region", FilterOperator::Equal, "EU"),
        convert("amount", FieldType::Integer),
    ];
    let compiled =
        Tasks::compile(&tasks, Some("record.amount > 5"), batch.schema_ref()).expect("compiles");
    let outputs: Vec<(usize, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let out = compiled.apply(&batch).expect("applies");
                    (out.batch.num_rows(), out.rejected.len())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(outputs, [(2, 2); 4]);
}

/// A step that filters and rejects as told, to check the bookkeeping.
struct Scripted {
    keep: Vec<bool>,
    bad: Vec<usize>,
}

impl super::Step for Scripted {
    fn apply(&self, _batch: &arrow::array::RecordBatch) -> Result<super::Effect, super::StepError> {
        Ok(super::Effect {
            columns: None,
            keep: Some(arrow::array::BooleanArray::from(self.keep.clone())),
            bad: self
                .bad
                .iter()
                .map(|&row| super::Bad {
                    row,
                    field: None,
                    reason: format!("bad {row}"),
                })
                .collect(),
        })
    }
}

#[test]
fn a_record_both_filtered_and_bad_counts_once_as_bad() {
    let batch = Batch::new()
        .int("n", [Some(0), Some(1), Some(2), Some(3)])
        .build();
    let schema = batch.schema();
    let tasks = Tasks {
        input: schema.clone(),
        output: schema.clone(),
        steps: vec![super::Compiled {
            label: "scripted".to_owned(),
            output: schema,
            step: Box::new(Scripted {
                keep: vec![false, true, false, true],
                bad: vec![1, 0, 1],
            }),
        }],
    };
    let out = tasks.apply(&batch).expect("applies");
    assert_eq!(Batch::of(&out.batch).ints("n"), [Some(3)]);
    assert_eq!(out.filtered, 1);
    assert_eq!(
        reasons(&out),
        [(0, "bad 0".to_owned()), (1, "bad 1".to_owned())]
    );
}

#[test]
fn fail_run_names_the_row_of_the_original_batch() {
    let batch = raw().build();
    let mut check = not_null("amount");
    if let Some(v) = check.validate.as_mut() {
        v.check = ValidationCheck::Numeric;
        v.action = ValidationAction::FailRun;
    }
    let tasks = [filter("region", FilterOperator::Equal, "EU"), check];
    let compiled = Tasks::compile(&tasks, None, batch.schema_ref()).expect("compiles");
    match compiled.apply(&batch) {
        Err(error @ Error::FailRun { .. }) => assert_eq!(
            error.to_string(),
            "task validate[1] failed the run at record 3: field amount: value \"4o\" of field amount is not a number (check Numeric)"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn numbers_read_as_text_are_converted_before_they_are_ordered() {
    // Text that holds numbers: ordering it against a number is refused,
    // and after a convert the filter compares values, not digits.
    let batch = Batch::new()
        .int("Id", [Some(1), Some(2), Some(3)])
        .text("revenue", [Some("9000"), Some("50000.5"), Some("120000")])
        .build();
    let message = compile_error(
        &[filter("revenue", FilterOperator::GreaterThan, "50000")],
        &batch,
    );
    assert!(message.contains("field \"revenue\" is text"), "{message}");
    let out = run(
        &[
            convert("revenue", FieldType::Double),
            filter("revenue", FilterOperator::GreaterThan, "50000"),
        ],
        &batch,
    );
    assert_eq!(Batch::of(&out.batch).ints("Id"), [Some(2), Some(3)]);
}

#[test]
fn cel_orders_no_nan() {
    let batch = Batch::new()
        .int("Id", [Some(1), Some(2)])
        .float("Amount", [Some(f64::NAN), Some(20000.0)])
        .build();
    let cel = |expression: &str| Task {
        filter: Some(Filter {
            field: None,
            operator: None,
            value: None,
            lower: None,
            upper: None,
            expression: Some(expression.to_owned()),
        }),
        ..Task::default()
    };
    // Ordering a NaN is an evaluation error: the record is bad, not kept.
    let out = run(&[cel("record.Amount > 10000")], &batch);
    assert_eq!(Batch::of(&out.batch).ints("Id"), [Some(2)]);
    assert_eq!(out.rejected.iter().map(|r| r.row).collect::<Vec<_>>(), [0]);
    // == is false and != true, as CEL (and IEEE 754) say.
    let out = run(&[cel("record.Amount == record.Amount")], &batch);
    assert_eq!(Batch::of(&out.batch).ints("Id"), [Some(2)]);
    assert!(out.rejected.is_empty());
    let out = run(&[cel("record.Amount != 20000.0")], &batch);
    assert_eq!(Batch::of(&out.batch).ints("Id"), [Some(1)]);
}
