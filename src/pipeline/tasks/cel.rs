//! CEL filters (`filter.expression` and the run's extra filter) and
//! computed fields (`compute`), with the `cel` crate.
//!
//! Expressions are compiled once. Each record is bound as `record`, a map
//! of field name to value: text as string, signed integers as int, unsigned
//! as uint, floats and decimals as double, booleans as bool, timestamps as
//! timestamp, dates as the timestamp of their midnight UTC, durations as
//! duration, binary as bytes, lists as list, structs as map, null as null;
//! other types as their text. Only the fields the expression selects
//! (`record.Amount`, `has(record.Amount)`) are bound, unless it uses
//! `record` otherwise (`record['Amount']`, `'Amount' in record`), which
//! binds them all. Text and binary values are borrowed, not copied.
//!
//! A filter keeps the records for which the expression is `true` and drops
//! those for which it is `false`; any other result or an evaluation error
//! makes the record bad. A computed value is converted to the field's type
//! as `convert` would.
//!
//! Expressions are parsed and evaluated within the limits of
//! [`super::cel_limits`]: length, nesting and depth checked when compiled,
//! steps counted per record; parsing and evaluation run on threads with
//! large stacks.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Float64Array, Int64Array,
    LargeStringArray, ListArray, StringArray, StringBuilder, StringViewArray, StructArray,
    UInt64Array,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Fields, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelList, CelMap, CelMapKey, CelNull,
    CelString, CelTimestamp, CelUInt,
};
use cel::common::value::Val;
use cel::{Context, Env, Value};
use chrono::{DateTime, TimeDelta, Utc};

use super::cel_limits::{self, COMPILE_STACK, EVAL_STACK};
use super::convert::{Builder, Scalar};
use super::fields::{Place, Target};
use super::text::{date_of_days, instant, rfc3339};
use super::{Bad, Compile, Effect, Step, StepError};
use crate::api::v1alpha1::task::{Compute, FieldType};

/// The name records are bound to.
const RECORD: &str = "record";

/// The standard CEL environment, shared by every expression.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// Which fields an expression reads.
#[derive(Debug, PartialEq, Eq)]
enum Needs {
    /// Every field.
    All,
    /// Only these (names that are not fields read as missing keys).
    Fields(BTreeSet<String>),
}

/// Collects the fields `expr` selects on `record` into `fields`; false
/// when it uses `record` in another way.
fn selected(expr: &IdedExpr, fields: &mut BTreeSet<String>) -> bool {
    match &expr.expr {
        Expr::Select(select) => match &select.operand.expr {
            Expr::Ident(name) if name == RECORD => {
                fields.insert(select.field.clone());
                true
            }
            _ => selected(&select.operand, fields),
        },
        Expr::Ident(name) => name != RECORD,
        Expr::Call(call) => {
            call.target.as_ref().is_none_or(|t| selected(t, fields))
                && call.args.iter().all(|a| selected(a, fields))
        }
        Expr::Comprehension(c) => {
            let binds_record = c.iter_var == RECORD
                || c.accu_var == RECORD
                || c.iter_var2.as_deref() == Some(RECORD);
            !binds_record
                && [
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ]
                .into_iter()
                .all(|e| selected(e, fields))
        }
        Expr::List(list) => list.elements.iter().all(|e| selected(e, fields)),
        Expr::Map(map) => map.entries.iter().all(|e| entry(&e.expr, fields)),
        Expr::Struct(object) => object.entries.iter().all(|e| entry(&e.expr, fields)),
        Expr::Literal(_) | Expr::Unspecified => true,
    }
}

/// [`selected`] for a map or struct literal entry.
fn entry(entry: &EntryExpr, fields: &mut BTreeSet<String>) -> bool {
    match entry {
        EntryExpr::MapEntry(e) => selected(&e.key, fields) && selected(&e.value, fields),
        EntryExpr::StructField(f) => selected(&f.value, fields),
    }
}

/// A compiled CEL expression: the parsed tree with its comprehensions
/// metered ([`cel_limits::meter`]).
struct Expression {
    expr: IdedExpr,
    needs: Needs,
}

impl Expression {
    /// Compiles `source`, the value of the API field `field`, within the
    /// limits; the error names the field and quotes the parser or names
    /// the limit.
    fn compile(source: &str, field: &str) -> Result<Self, String> {
        Self::compile_within_limits(source).map_err(|message| format!("{field}: {message}"))
    }

    fn compile_within_limits(source: &str) -> Result<Self, String> {
        cel_limits::check_text(source)?;
        // The tree is built, measured and (when refused) dropped on the
        // large stack.
        cel_limits::on_stack(COMPILE_STACK, || {
            let program = ENV
                .compile(source)
                .map_err(|e| format!("CEL expression {source:?} does not compile: {e}"))?;
            cel_limits::check_depth(program.expression())?;
            let mut fields = BTreeSet::new();
            let needs = if selected(program.expression(), &mut fields) {
                Needs::Fields(fields)
            } else {
                Needs::All
            };
            let mut expr = program.expression().clone();
            cel_limits::meter(&mut expr);
            Ok(Self { expr, needs })
        })?
    }

    /// Evaluates the expression on every row of `batch`, handing each
    /// result (or the reason it has none) to `each` with its row. Runs on a
    /// thread with a large stack; each record has its budget of steps.
    fn evaluate(
        &self,
        batch: &RecordBatch,
        each: impl FnMut(usize, Result<Value, String>) + Send,
    ) -> Result<(), ArrowError> {
        cel_limits::on_stack(EVAL_STACK, || self.evaluate_here(batch, each))
            .map_err(ArrowError::ComputeError)?
    }

    fn evaluate_here(
        &self,
        batch: &RecordBatch,
        mut each: impl FnMut(usize, Result<Value, String>),
    ) -> Result<(), ArrowError> {
        let schema = batch.schema_ref();
        let mut columns = Vec::new();
        for (index, field) in schema.fields().iter().enumerate() {
            let wanted = match &self.needs {
                Needs::All => true,
                Needs::Fields(names) => names.contains(field.name()),
            };
            if wanted {
                columns.push((field.name().as_str(), CelColumn::new(batch.column(index))?));
            }
        }
        let mut context = Context::with_env(ENV.clone());
        cel_limits::add_meter(&mut context).map_err(ArrowError::ComputeError)?;
        for row in 0..batch.num_rows() {
            let mut record: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> =
                HashMap::with_capacity(columns.len());
            for (name, column) in &columns {
                record.insert(CelMapKey::from(*name), column.value(row));
            }
            context.add_variable_as_val(RECORD, Box::new(CelMap::from(record)));
            cel_limits::reset_budget();
            let result = Value::resolve(&self.expr, &context).map_err(|error| {
                if cel_limits::exhausted() {
                    cel_limits::exhausted_reason()
                } else {
                    format!("CEL evaluation failed: {error}")
                }
            });
            each(row, result);
        }
        Ok(())
    }
}

/// A CEL value as a rejection reason shows it.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{:?}", text.as_str()),
        Value::Int(v) => v.to_string(),
        Value::UInt(v) => format!("{v}u"),
        Value::Float(v) => v.to_string(),
        Value::Bool(v) => v.to_string(),
        Value::Null => "null".to_owned(),
        Value::Timestamp(t) => rfc3339(&t.to_utc()),
        other => format!("{other:?}"),
    }
}

/// A compiled CEL filter.
struct CelFilter {
    expression: Expression,
}

/// Compiles a CEL filter over records of `input`; `field` is where the
/// expression is in the API (`spec.tasks[2].filter.expression`).
pub(crate) fn compile_filter(
    source: &str,
    field: &str,
    _input: &SchemaRef,
) -> Result<Box<dyn Step>, String> {
    Ok(Box::new(CelFilter {
        expression: Expression::compile(source, field)?,
    }))
}

impl Step for CelFilter {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let mut keep = Vec::with_capacity(batch.num_rows());
        let mut bad = Vec::new();
        self.expression.evaluate(batch, |row, result| {
            let reason = match result {
                Ok(Value::Bool(matched)) => {
                    keep.push(matched);
                    return;
                }
                Ok(other) => format!(
                    "CEL filter gave {} ({}), not a bool",
                    shown(&other),
                    other.type_of()
                ),
                Err(reason) => reason,
            };
            keep.push(true);
            bad.push(Bad {
                row,
                field: None,
                reason,
            });
        })?;
        Ok(Effect {
            columns: None,
            keep: Some(BooleanArray::from(keep)),
            bad,
        })
    }
}

/// A compiled computed field.
struct Computation {
    expression: Expression,
    field: String,
    target: Target,
    place: Place,
}

/// Compiles a computed field; `field` is where the expression is in the
/// API (`spec.tasks[2].compute.expression`).
pub(crate) fn compile_compute(spec: &Compute, field: &str, input: &SchemaRef) -> Compile {
    let expression = Expression::compile(&spec.expression, field)?;
    if spec.kind == FieldType::Decimal {
        return Err(
            "type Decimal needs a precision and scale, which compute does not take: compute a Double (or String) and convert it to Decimal"
                .to_owned(),
        );
    }
    let target = Target::simple(spec.kind);
    let (schema, place) = Place::put(
        input,
        Field::new(spec.field.as_str(), target.data_type(), true),
    );
    let step = Computation {
        expression,
        field: spec.field.to_string(),
        target,
        place,
    };
    Ok((Box::new(step), schema))
}

/// A CEL result as a value to convert; `Err` with its type when it has no
/// such form (lists, maps, bytes, durations).
fn scalar(value: &Value) -> Result<Option<Scalar<'_>>, String> {
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::String(text) => Scalar::Text(text.as_str()),
        Value::Int(v) => Scalar::Int(*v),
        Value::UInt(v) => Scalar::UInt(*v),
        Value::Float(v) => Scalar::Float(*v),
        Value::Bool(v) => Scalar::Bool(*v),
        Value::Timestamp(t) => Scalar::Timestamp(t.to_utc()),
        other => return Err(other.type_of().to_string()),
    }))
}

impl Step for Computation {
    fn apply(&self, batch: &RecordBatch) -> Result<Effect, StepError> {
        let mut builder = Builder::new(&self.target, batch.num_rows());
        let mut bad = Vec::new();
        let field = &self.field;
        self.expression.evaluate(batch, |row, result| {
            let reason = match result {
                Err(reason) => {
                    builder.append_null();
                    reason
                }
                Ok(value) => match scalar(&value) {
                    Ok(None) => {
                        builder.append_null();
                        return;
                    }
                    // On failure the builder has appended a null.
                    Ok(Some(scalar)) => match builder.append(&scalar, &self.target, None) {
                        Ok(()) => return,
                        Err(why) => format!(
                            "field {field}: {}",
                            why.reason("CEL result", &scalar, &self.target)
                        ),
                    },
                    Err(kind) => {
                        builder.append_null();
                        format!(
                            "field {field}: CEL result {} ({kind}) cannot be converted to {}",
                            shown(&value),
                            self.target.name()
                        )
                    }
                },
            };
            bad.push(Bad {
                row,
                field: Some(field.clone()),
                reason,
            });
        })?;
        let computed = builder.finish(&self.target)?;
        Ok(Effect {
            columns: Some(self.place.columns(batch.columns(), computed)),
            keep: None,
            bad,
        })
    }
}

/// The type a column is cast to before it is read for CEL, or `None` when
/// it is read as text.
fn cel_type(data_type: &DataType) -> Option<DataType> {
    let list = |field: &Arc<Field>| {
        cel_type(field.data_type())
            .map(|t| DataType::List(Arc::new(Field::new(field.name(), t, true))))
    };
    Some(match data_type {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float64
        | DataType::Boolean
        | DataType::Date32
        | DataType::Timestamp(..)
        | DataType::Duration(_)
        | DataType::Binary
        | DataType::Null => data_type.clone(),
        DataType::Float16
        | DataType::Float32
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => DataType::Float64,
        DataType::Date64 => DataType::Date32,
        DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            DataType::Binary
        }
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => list(f)?,
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| cel_type(f.data_type()).map(|t| Field::new(f.name(), t, true)))
                .collect::<Option<Fields>>()?,
        ),
        DataType::Dictionary(_, values) => cel_type(values)?,
        _ => return None,
    })
}

/// A column read as CEL values.
enum CelColumn {
    Utf8(StringArray),
    LargeUtf8(LargeStringArray),
    Utf8View(StringViewArray),
    Int(Int64Array),
    UInt(UInt64Array),
    Float(Float64Array),
    Bool(BooleanArray),
    Date(arrow::array::Date32Array),
    Timestamp(Int64Array, TimeUnit),
    Duration(Int64Array, TimeUnit),
    Binary(BinaryArray),
    List(ListArray, Box<CelColumn>),
    Struct(StructArray, Vec<(String, CelColumn)>),
    Null,
}

/// Casts that cannot fail.
fn widen(array: &dyn Array, to: &DataType) -> Result<ArrayRef, ArrowError> {
    cast_with_options(array, to, &CastOptions::default())
}

/// `array` written as text, for types CEL has no value for.
fn as_text(array: &dyn Array) -> Result<StringArray, ArrowError> {
    let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
    let mut builder = StringBuilder::with_capacity(array.len(), array.len() * 8);
    for row in 0..array.len() {
        if array.is_null(row) {
            builder.append_null();
        } else {
            builder.append_value(formatter.value(row).to_string());
        }
    }
    Ok(builder.finish())
}

impl CelColumn {
    /// Reads `array`, casting it first where CEL needs another type.
    fn new(array: &ArrayRef) -> Result<Self, ArrowError> {
        match cel_type(array.data_type()) {
            Some(t) if &t == array.data_type() => Self::typed(array.as_ref()),
            Some(t) => match cast_with_options(array, &t, &CastOptions::default()) {
                Ok(cast) => Self::typed(cast.as_ref()),
                Err(_) => Ok(Self::Utf8(as_text(array.as_ref())?)),
            },
            None => Ok(Self::Utf8(as_text(array.as_ref())?)),
        }
    }

    /// Reads an array of a type [`cel_type`] keeps.
    fn typed(array: &dyn Array) -> Result<Self, ArrowError> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string::<i32>().clone()),
            DataType::LargeUtf8 => Self::LargeUtf8(array.as_string::<i64>().clone()),
            DataType::Utf8View => Self::Utf8View(array.as_string_view().clone()),
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                Self::UInt(widen(array, &DataType::UInt64)?.as_primitive().clone())
            }
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                Self::Int(widen(array, &DataType::Int64)?.as_primitive().clone())
            }
            DataType::Float64 => Self::Float(array.as_primitive().clone()),
            DataType::Boolean => Self::Bool(array.as_boolean().clone()),
            DataType::Date32 => Self::Date(array.as_primitive().clone()),
            DataType::Timestamp(unit, _) => Self::Timestamp(
                widen(array, &DataType::Int64)?.as_primitive().clone(),
                *unit,
            ),
            DataType::Duration(unit) => Self::Duration(
                widen(array, &DataType::Int64)?.as_primitive().clone(),
                *unit,
            ),
            DataType::Binary => Self::Binary(array.as_binary::<i32>().clone()),
            DataType::List(_) => {
                let list = array.as_list::<i32>().clone();
                let values = Self::new(list.values())?;
                Self::List(list, Box::new(values))
            }
            DataType::Struct(fields) => {
                let object = array.as_struct().clone();
                let children = fields
                    .iter()
                    .zip(object.columns())
                    .map(|(f, c)| Ok((f.name().clone(), Self::new(c)?)))
                    .collect::<Result<Vec<_>, ArrowError>>()?;
                Self::Struct(object, children)
            }
            DataType::Null => Self::Null,
            _ => Self::Utf8(as_text(array)?),
        })
    }

    /// The CEL value at `row`.
    fn value(&self, row: usize) -> Box<dyn Val + '_> {
        let null = |array: &dyn Array| array.is_null(row);
        match self {
            Self::Utf8(a) if !null(a) => Box::new(CelString::from(a.value(row))),
            Self::LargeUtf8(a) if !null(a) => Box::new(CelString::from(a.value(row))),
            Self::Utf8View(a) if !null(a) => Box::new(CelString::from(a.value(row))),
            Self::Int(a) if !null(a) => Box::new(CelInt::from(a.value(row))),
            Self::UInt(a) if !null(a) => Box::new(CelUInt::from(a.value(row))),
            Self::Float(a) if !null(a) => Box::new(CelDouble::from(a.value(row))),
            Self::Bool(a) if !null(a) => Box::new(CelBool::from(a.value(row))),
            Self::Date(a) if !null(a) => match date_of_days(a.value(row)) {
                Some(date) => timestamp(date.and_time(chrono::NaiveTime::MIN).and_utc()),
                None => Box::new(CelNull),
            },
            Self::Timestamp(a, unit) if !null(a) => match instant(a.value(row), *unit) {
                Some(at) => timestamp(at),
                None => Box::new(CelNull),
            },
            Self::Duration(a, unit) if !null(a) => {
                let v = a.value(row);
                let duration = match unit {
                    TimeUnit::Second => TimeDelta::try_seconds(v),
                    TimeUnit::Millisecond => TimeDelta::try_milliseconds(v),
                    TimeUnit::Microsecond => Some(TimeDelta::microseconds(v)),
                    TimeUnit::Nanosecond => Some(TimeDelta::nanoseconds(v)),
                };
                match duration {
                    Some(d) => Box::new(CelDuration::from(d)),
                    None => Box::new(CelNull),
                }
            }
            Self::Binary(a) if !null(a) => Box::new(CelBytes::from(a.value(row))),
            Self::List(a, values) if !null(a) => {
                let offsets = a.value_offsets();
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                let items: Vec<Box<dyn Val + '_>> = (start..end).map(|i| values.value(i)).collect();
                Box::new(CelList::from(items))
            }
            Self::Struct(a, children) if !null(a) => {
                let entries: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = children
                    .iter()
                    .map(|(name, column)| (CelMapKey::from(name.as_str()), column.value(row)))
                    .collect();
                Box::new(CelMap::from(entries))
            }
            _ => Box::new(CelNull),
        }
    }
}

/// A CEL timestamp of an instant.
fn timestamp(at: DateTime<Utc>) -> Box<dyn Val + 'static> {
    Box::new(CelTimestamp::from(at.fixed_offset()))
}

/// The fields an expression binds, for tests.
#[cfg(test)]
fn needs_of(source: &str) -> Needs {
    match Expression::compile(source, "expression") {
        Ok(expression) => expression.needs,
        Err(e) => panic!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BinaryArray, Int8Array, ListArray, RecordBatch, StringArray, StructArray,
        UInt64Array,
    };
    use arrow::buffer::NullBuffer;
    use arrow::datatypes::{DataType, Field as ArrowField, Int32Type};

    use super::{Needs, needs_of};
    use crate::api::v1alpha1::Task;
    use crate::api::v1alpha1::task::{Compute, FieldType, Filter};
    use crate::pipeline::tasks::Output;
    use crate::pipeline::tasks::testing::{Batch, compile_error, names, reasons, run};

    fn fields(names: &[&str]) -> Needs {
        Needs::Fields(
            names
                .iter()
                .map(|n| (*n).to_owned())
                .collect::<BTreeSet<_>>(),
        )
    }

    #[test]
    fn only_selected_fields_are_bound() {
        assert_eq!(
            needs_of("record.Amount > 10000.0 && record.StageName != 'Closed Lost'"),
            fields(&["Amount", "StageName"])
        );
        assert_eq!(needs_of("has(record.Email)"), fields(&["Email"]));
        assert_eq!(needs_of("[1, 2].exists(x, x == record.N)"), fields(&["N"]));
        assert_eq!(needs_of("1 == 1"), fields(&[]));
    }

    #[test]
    fn other_uses_of_record_bind_every_field() {
        assert_eq!(needs_of("record['Amount'] > 1"), Needs::All);
        assert_eq!(needs_of("'Amount' in record"), Needs::All);
        assert_eq!(needs_of("size(record) > 2"), Needs::All);
        assert_eq!(needs_of("[1].map(record, record)[0] == 1"), Needs::All);
    }

    fn filter(expression: &str) -> Task {
        Task {
            filter: Some(Filter {
                field: None,
                operator: None,
                value: None,
                lower: None,
                upper: None,
                expression: Some(expression.to_owned()),
            }),
            ..Task::default()
        }
    }

    fn compute(field: &str, expression: &str, kind: FieldType) -> Task {
        Task {
            compute: Some(Compute {
                field: field.into(),
                expression: expression.to_owned(),
                kind,
            }),
            ..Task::default()
        }
    }

    fn opportunities() -> RecordBatch {
        Batch::new()
            .int("Id", [Some(1), Some(2), Some(3), Some(4), Some(5)])
            .float(
                "Amount",
                [
                    Some(20000.0),
                    Some(500.0),
                    None,
                    Some(10000.0),
                    Some(15000.5),
                ],
            )
            .text(
                "StageName",
                [
                    Some("Prospecting"),
                    Some("Won"),
                    Some("Won"),
                    Some("Closed Lost"),
                    Some("日本語 🎉"),
                ],
            )
            .int("Count", [Some(1), Some(2), None, Some(i64::MAX), Some(-3)])
            .build()
    }

    fn ids(out: &Output) -> Vec<i64> {
        Batch::of(&out.batch)
            .ints("Id")
            .into_iter()
            .flatten()
            .collect()
    }

    #[test]
    fn filter_keeps_records_where_the_expression_is_true() {
        let out = run(
            &[filter(
                "record.Amount > 10000.0 && record.StageName != 'Closed Lost'",
            )],
            &opportunities(),
        );
        assert_eq!(ids(&out), [1, 5]);
        assert_eq!(out.filtered, 2);
        // Amount is null in record 3: `null > 10000.0` has no overload.
        assert_eq!(
            reasons(&out),
            [(
                2,
                "CEL evaluation failed: found no matching overload for '_>_' applied to '(null_type, double)'"
                    .to_owned()
            )]
        );
        assert_eq!(out.rejected[0].task, "filter[0]");
        assert_eq!(out.rejected[0].field, None);
    }

    #[test]
    fn null_fields_are_cel_null() {
        let out = run(&[filter("record.Amount == null")], &opportunities());
        assert_eq!(ids(&out), [3]);
        let out = run(
            &[filter("record.Amount != null && record.Amount < 1000.0")],
            &opportunities(),
        );
        assert_eq!(ids(&out), [2]);
        assert!(out.rejected.is_empty());
    }

    #[test]
    fn int_and_double_compare_numerically() {
        // cel 0.15 compares int with double (and uint) by numeric value.
        let out = run(
            &[filter("record.Amount != null && record.Amount >= 10000")],
            &opportunities(),
        );
        assert_eq!(ids(&out), [1, 4, 5]);
        let out = run(
            &[filter("record.Count == 1.0 || record.Count == 2u")],
            &opportunities(),
        );
        assert_eq!(ids(&out), [1, 2]);
        assert_eq!(reasons(&out).len(), 0);
    }

    #[test]
    fn unicode_text_counts_code_points() {
        let out = run(
            &[filter(
                "size(record.StageName) == 5 && record.StageName.startsWith('日本')",
            )],
            &opportunities(),
        );
        assert_eq!(ids(&out), [5]);
        let out = run(
            &[filter("record.StageName.contains('🎉')")],
            &opportunities(),
        );
        assert_eq!(ids(&out), [5]);
    }

    #[test]
    fn non_bool_results_and_missing_fields_are_bad_records() {
        let out = run(&[filter("record.Id")], &opportunities());
        assert_eq!(out.batch.num_rows(), 0);
        assert_eq!(out.filtered, 0);
        assert_eq!(
            reasons(&out)[0],
            (0, "CEL filter gave 1 (int), not a bool".to_owned())
        );
        let out = run(&[filter("record.Amont > 1.0")], &opportunities());
        assert_eq!(out.rejected.len(), 5);
        assert_eq!(
            reasons(&out)[4],
            (4, "CEL evaluation failed: No such key: Amont".to_owned())
        );
        let out = run(&[filter("has(record.Amont)")], &opportunities());
        assert_eq!(out.filtered, 5);
        assert!(out.rejected.is_empty());
    }

    #[test]
    fn index_and_in_bind_every_field() {
        let out = run(
            &[filter("record['StageName'] == 'Won' && 'Count' in record")],
            &opportunities(),
        );
        assert_eq!(ids(&out), [2, 3]);
    }

    #[test]
    fn compile_errors_name_the_task_and_quote_the_parser() {
        let message = compile_error(&[filter("record.Amount >")], &opportunities());
        assert!(
            message.starts_with(
                "task filter[0]: spec.tasks[0].filter.expression: CEL expression \"record.Amount >\" does not compile: ERROR: <input>:1:16: Syntax error: mismatched input '<EOF>'"
            ),
            "{message}"
        );
        let mut task = compute("X", "1 +* 2", FieldType::Integer);
        task.name = Some("total".to_owned());
        let message = compile_error(&[task], &opportunities());
        assert!(
            message.starts_with("task total: spec.tasks[0].compute.expression: CEL expression \"1 +* 2\" does not compile: ERROR: <input>:1:4: Syntax error: extraneous input '*'"),
            "{message}"
        );
    }

    /// `((…(1)…)) == 1` nested `n` deep.
    fn parenthesized(n: usize) -> String {
        format!("{}1{} == 1", "(".repeat(n), ")".repeat(n))
    }

    /// `1 + 1 + … + 1 == n` with `n` terms: `n + 1` levels deep.
    fn chain(n: usize) -> String {
        format!("{} == {n}", vec!["1"; n].join(" + "))
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing_naming_the_field_and_the_limit() {
        // 60 parentheses used to overflow the parser's stack and abort.
        let message = compile_error(&[filter(&parenthesized(60))], &opportunities());
        assert_eq!(
            message,
            "task filter[0]: spec.tasks[0].filter.expression: the CEL expression nests parentheses, brackets and braces 60 deep; at most 32 levels are allowed: simplify it or split it into several tasks"
        );
        let nested_lists = format!("size({}1{}) == 1", "[".repeat(40), "]".repeat(40));
        let mut task = compute("X", &nested_lists, FieldType::Boolean);
        task.name = Some("deep".to_owned());
        let message = compile_error(&[filter("true"), task], &opportunities());
        assert!(
            message.starts_with(
                "task deep: spec.tasks[1].compute.expression: the CEL expression nests parentheses, brackets and braces 41 deep"
            ),
            "{message}"
        );
        let long = format!("record.StageName == '{}'", "x".repeat(9000));
        let message = compile_error(&[filter(&long)], &opportunities());
        assert!(
            message.ends_with("the CEL expression is 9022 bytes long; at most 8192 are allowed"),
            "{message}"
        );
    }

    #[test]
    fn long_chains_are_refused_by_their_depth() {
        // A 300-term chain used to overflow the stack while parsing.
        let message = compile_error(&[filter(&chain(300))], &opportunities());
        assert_eq!(
            message,
            "task filter[0]: spec.tasks[0].filter.expression: the CEL expression nests operations 301 deep; at most 64 levels are allowed: a chain such as a + b + c + d nests one level per operator, so group it with parentheses ((a + b) + (c + d)) or split it into several tasks"
        );
        // The deepest text the length and nesting limits allow parses on
        // the compiler's stack, and is refused.
        let terms = (8192 - 64 - 8) / 2;
        let worst = format!(
            "{}{}{} == 1",
            "(".repeat(32),
            vec!["1"; terms].join("+"),
            ")".repeat(32)
        );
        assert!(worst.len() <= 8192);
        let message = compile_error(&[filter(&worst)], &opportunities());
        assert!(message.contains("nests operations 4061 deep"), "{message}");
        // && and || chains are balanced: a long one is shallow.
        let conditions = vec!["record.Amount != null"; 200].join(" && ");
        let out = run(&[filter(&conditions)], &opportunities());
        assert_eq!(ids(&out), [1, 2, 4, 5]);
    }

    #[test]
    fn expressions_at_the_limits_compile_and_evaluate() {
        let out = run(&[filter(&parenthesized(32))], &opportunities());
        assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
        let out = run(&[filter(&chain(63))], &opportunities());
        assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
        let lists = format!("size({}1{}) == 1", "[".repeat(31), "]".repeat(31));
        let out = run(&[filter(&lists)], &opportunities());
        assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
        let message = compile_error(&[filter(&chain(64))], &opportunities());
        assert!(message.contains("nests operations 65 deep"), "{message}");
    }

    #[test]
    fn nested_comprehensions_are_stopped_by_the_step_budget() {
        // 50⁴ iterations a record: about a minute for five records before.
        let list = format!(
            "[{}]",
            (0..50)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let expression = format!(
            "{list}.all(a, {list}.all(b, {list}.all(c, {list}.all(d, a + b + c + d >= 0))))"
        );
        let started = std::time::Instant::now();
        let out = run(&[filter(&expression)], &opportunities());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
        assert!(ids(&out).is_empty());
        let reason = "CEL evaluation needs more than 100000 steps for this record (each iteration of all, exists, exists_one, map or filter is a step); the expression is refused for it";
        assert_eq!(
            reasons(&out),
            (0..5)
                .map(|row| (row, reason.to_owned()))
                .collect::<Vec<_>>()
        );
        // A map that would build a list of lists too large is stopped too:
        // 400 steps, but 400 × 400 elements.
        let list = format!(
            "[{}]",
            (0..400)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let out = run(
            &[filter(&format!("size({list}.map(a, {list})) == 400"))],
            &opportunities(),
        );
        assert_eq!(reasons(&out).len(), 5);
        assert_eq!(reasons(&out)[0].1, reason);
    }

    #[test]
    fn metered_comprehensions_keep_their_meaning() {
        let out = run(
            &[filter(
                "[1, 2, 3].map(x, x * 2) == [2, 4, 6] && [1, 2, 3].filter(x, x > 1) == [2, 3] \
                 && [1, 2, 3].map(x, x > 1, x * 10) == [20, 30] && [1, 2, 3].exists_one(x, x == 2) \
                 && [1, 2, 3].all(x, x > 0) && !([1, 2, 3].exists(x, x > 5)) \
                 && {'a': 1, 'b': 2}.all(k, k != 'c') && [0, 1].exists(x, 1 / x == 1)",
            )],
            &opportunities(),
        );
        assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
        assert!(out.rejected.is_empty(), "{:?}", reasons(&out));
        // An error a later element overrides stays overridden.
        let out = run(&[filter("[0, 1].all(x, 1 / x == 1)")], &opportunities());
        assert_eq!(reasons(&out).len(), 5);
        // 11,110 iterations a record are within the budget.
        let out = run(
            &[filter(
                "[0,1,2,3,4,5,6,7,8,9].all(a, [0,1,2,3,4,5,6,7,8,9].all(b, [0,1,2,3,4,5,6,7,8,9].all(c, [0,1,2,3,4,5,6,7,8,9].all(d, true))))",
            )],
            &opportunities(),
        );
        assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn every_type_is_bound() {
        let tags = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]);
        let city = Arc::new(StringArray::from(vec![Some("Paris"), None])) as ArrayRef;
        let address = StructArray::new(
            vec![ArrowField::new("City", DataType::Utf8, true)].into(),
            vec![city],
            Some(NullBuffer::from(vec![true, false])),
        );
        let batch = Batch::new()
            .text("Name", [Some("héllo wörld"), None])
            .column(
                "Small",
                Arc::new(Int8Array::from(vec![Some(-1), None])) as ArrayRef,
            )
            .column(
                "Big",
                Arc::new(UInt64Array::from(vec![Some(u64::MAX), None])) as ArrayRef,
            )
            .decimal("Price", 10, 2, [Some(1250), None])
            .bool("Vip", [Some(true), None])
            .date("Day", [Some("2024-05-01"), None])
            .timestamp("At", [Some("2024-05-01T10:30:00Z"), None])
            .column("Tags", Arc::new(tags) as ArrayRef)
            .column("Address", Arc::new(address) as ArrayRef)
            .column(
                "Bytes",
                Arc::new(BinaryArray::from(vec![Some(b"ab".as_slice()), None])) as ArrayRef,
            )
            .build();
        let expression = "record.Name == 'héllo wörld' && record.Small == -1 \
            && record.Big == 18446744073709551615u && record.Price == 12.5 && record.Vip \
            && record.Day == timestamp('2024-05-01T00:00:00Z') \
            && record.At > timestamp('2024-05-01T10:00:00Z') \
            && record.Tags == [1, 2] && record.Address.City == 'Paris' && record.Bytes == b'ab'";
        let out = run(&[filter(expression)], &batch);
        assert_eq!(out.rejected, [], "{expression}");
        assert_eq!(
            Batch::of(&out.batch).texts("Name"),
            [Some("héllo wörld".to_owned())]
        );
        assert_eq!(out.filtered, 1);
        let nulls = "[record.Name, record.Small, record.Big, record.Price, record.Vip, record.Day, \
            record.At, record.Tags, record.Address, record.Bytes].all(v, v == null)";
        let out = run(&[filter(nulls)], &batch);
        assert_eq!(Batch::of(&out.batch).texts("Name"), [None]);
        assert_eq!(out.filtered, 1);
    }

    #[test]
    fn compute_appends_or_replaces_the_field() {
        let out = run(
            &[
                compute(
                    "Label",
                    "record.StageName + ' #' + string(record.Id)",
                    FieldType::String,
                ),
                compute("Amount", "record.Amount * 2.0", FieldType::Double),
            ],
            &opportunities(),
        );
        assert_eq!(
            names(&out.batch),
            ["Id", "Amount", "StageName", "Count", "Label"]
        );
        assert_eq!(
            Batch::of(&out.batch).texts("Label"),
            [
                Some("Prospecting #1".to_owned()),
                Some("Won #2".to_owned()),
                Some("Closed Lost #4".to_owned()),
                Some("日本語 🎉 #5".to_owned()),
            ]
        );
        assert_eq!(
            Batch::of(&out.batch).floats("Amount")[..2],
            [Some(40000.0), Some(1000.0)]
        );
        // null * 2.0 has no overload: record 3 is bad.
        assert_eq!(
            reasons(&out),
            [(
                2,
                "CEL evaluation failed: Unsupported binary operator 'mul': Null, Float(2.0)"
                    .to_owned()
            )]
        );
        assert_eq!(out.rejected[0].task, "compute[1]");
        assert_eq!(out.rejected[0].field.as_deref(), Some("Amount"));
    }

    #[test]
    fn compute_converts_results_like_convert() {
        let out = run(
            &[compute(
                "N",
                "record.Amount != null ? record.Amount / 1000.0 : null",
                FieldType::Integer,
            )],
            &opportunities(),
        );
        assert_eq!(Batch::of(&out.batch).ints("N"), [Some(20), None, Some(10)]);
        assert_eq!(
            reasons(&out),
            [
                (
                    1,
                    "field N: CEL result 0.5 (float) cannot be converted to Integer".to_owned()
                ),
                (
                    4,
                    "field N: CEL result 15.0005 (float) cannot be converted to Integer".to_owned()
                ),
            ]
        );
        let out = run(
            &[compute("N", "string(record.Id) + '0'", FieldType::Integer)],
            &opportunities(),
        );
        assert_eq!(
            Batch::of(&out.batch).ints("N"),
            [Some(10), Some(20), Some(30), Some(40), Some(50)]
        );
        let out = run(
            &[compute("L", "[record.Id]", FieldType::String)],
            &opportunities(),
        );
        assert_eq!(out.rejected.len(), 5);
        assert_eq!(
            reasons(&out)[0],
            (
                0,
                "field L: CEL result List([Int(1)]) (list) cannot be converted to String"
                    .to_owned()
            )
        );
    }

    #[test]
    fn compute_overflow_and_division_by_zero_are_bad_records() {
        let out = run(
            &[compute("C", "record.Count + 1", FieldType::Integer)],
            &opportunities(),
        );
        assert_eq!(
            Batch::of(&out.batch).ints("C"),
            [Some(2), Some(3), Some(-2)]
        );
        assert_eq!(
            reasons(&out),
            [
                (2, "CEL evaluation failed: Unsupported binary operator 'add': Null, Int(1)".to_owned()),
                (
                    3,
                    "CEL evaluation failed: Overflow from binary operator 'add': Int(9223372036854775807), Int(1)"
                        .to_owned()
                ),
            ]
        );
        let out = run(
            &[compute("C", "record.Id / 0", FieldType::Integer)],
            &opportunities(),
        );
        assert_eq!(
            reasons(&out)[0],
            (
                0,
                "CEL evaluation failed: Division by zero of Int(1)".to_owned()
            )
        );
    }

    #[test]
    fn compute_dates_timestamps_and_booleans() {
        let batch = Batch::new()
            .timestamp("At", [Some("2024-05-01T23:30:00Z"), None])
            .build();
        let out = run(
            &[
                compute("Later", "record.At + duration('1h')", FieldType::Timestamp),
                compute("Day", "record.At + duration('1h')", FieldType::Date),
                compute(
                    "Late",
                    "record.At != null && record.At.getHours() >= 23",
                    FieldType::Boolean,
                ),
                compute("Text", "'2024-05-02T00:00:00Z'", FieldType::Timestamp),
            ],
            &batch,
        );
        let read = Batch::of(&out.batch);
        assert_eq!(
            read.timestamps("Later"),
            [Some("2024-05-02T00:30:00Z".to_owned())]
        );
        assert_eq!(read.dates("Day"), [Some("2024-05-02".to_owned())]);
        assert_eq!(read.bools("Late"), [Some(true)]);
        assert_eq!(
            read.timestamps("Text"),
            [Some("2024-05-02T00:00:00Z".to_owned())]
        );
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(out.rejected[0].row, 1);
    }

    #[test]
    fn compute_of_decimal_is_invalid() {
        assert_eq!(
            compile_error(&[compute("D", "1.5", FieldType::Decimal)], &opportunities()),
            "task compute[0]: type Decimal needs a precision and scale, which compute does not take: compute a Double (or String) and convert it to Decimal"
        );
    }
}
