//! Field-level tasks of a Flow: AppFlow's vocabulary (projection, map,
//! map-all, filter, validate, mask, truncate, merge, arithmetic, type
//! conversion) plus CEL filters and computed fields.
//!
//! A task is a one-of union: exactly one operation block per list entry.
//! Tasks run in list order; each sees the fields the previous one left. The
//! semantics written here are the contract the pipeline implements and tests.
//!
//! Common rules:
//! - Field names are exact and case-sensitive. A task naming a field that is
//!   not in the record schema is a validation error of the Flow, naming the
//!   task's index.
//! - "Bad record" means the record is handed to the Flow's `errorHandling`
//!   policy (fail the run, skip, or quarantine with the task and reason).
//! - Lengths and positions count Unicode scalar values (characters), never
//!   bytes.
//! - Text is read as a number by one rule (`crate::pipeline::number`): an
//!   optional sign, digits with an optional point, an optional exponent;
//!   no spaces, no `NaN`, no `inf`. A float NaN satisfies no comparison.
//!   The rules users need are written on the types below, which the CRD
//!   descriptions carry whole (`kubectl explain flow.spec.tasks.filter`).

use kube::KubeSchema;
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::FieldName;

/// Completes a field's description (its doc comment) with the doc comment
/// of its type `T`: an operation's rules, or the meaning of each value of
/// an enum. schemars keeps only the field's own doc comment, so without
/// this `kubectl explain flow.spec.tasks.filter` would show one line of the
/// rules written on `Filter`.
fn whole_doc<T: JsonSchema>(schema: &mut Schema) {
    let own = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let mut parts: Vec<String> = Vec::new();
    if let Some(field) = schema.get("description").and_then(Value::as_str) {
        parts.push(field.to_owned());
    }
    let values: Vec<String> = own
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|value| {
            let name = value
                .get("const")
                .or_else(|| value.get("enum").and_then(|e| e.get(0)))?
                .as_str()?;
            // One line per value: `kubectl explain` wraps it.
            let doc = value.get("description")?.as_str()?.split_whitespace();
            Some(format!("- `{name}`: {}", doc.collect::<Vec<_>>().join(" ")))
        })
        .collect();
    if values.is_empty() {
        if let Some(doc) = own.get("description").and_then(Value::as_str) {
            parts.push(doc.to_owned());
        }
    } else {
        // An enum's own doc only names it; its values say what they do.
        parts.push(values.join("\n"));
    }
    let description = Value::String(parts.join("\n\n"));
    // An optional enum is an `anyOf` whose first member kube later hoists
    // over the field, its description included.
    if let Some(members) = schema.get_mut("anyOf").and_then(Value::as_array_mut) {
        for member in members.iter_mut().filter_map(Value::as_object_mut) {
            if member.contains_key("description") {
                member.insert("description".to_owned(), description.clone());
            }
        }
    }
    schema.insert("description".to_owned(), description);
}

/// One step. Exactly one operation block is set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.project), has(self.map), has(self.mapAll), has(self.filter), has(self.validate), has(self.mask), has(self.truncate), has(self.merge), has(self.arithmetic), has(self.convert), has(self.compute)].filter(x, x).size() == 1"
).message("each task sets exactly one operation: project, map, mapAll, filter, validate, mask, truncate, merge, arithmetic, convert or compute"))]
pub struct Task {
    /// Optional name shown in errors, quarantine entries and previews;
    /// defaults to the operation and index (`filter[2]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub name: Option<String>,
    /// Keep only these fields, in this order (projection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Project>)]
    pub project: Option<Project>,
    /// Rename one field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Map>)]
    pub map: Option<Map>,
    /// Keep every field except the excluded ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<MapAll>)]
    pub map_all: Option<MapAll>,
    /// Keep only records that match a condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Filter>)]
    pub filter: Option<Filter>,
    /// Check a field and drop the record or fail the run when the check fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Validate>)]
    pub validate: Option<Validate>,
    /// Replace characters of a field with a mask character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Mask>)]
    pub mask: Option<Mask>,
    /// Cut a text field to a length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Truncate>)]
    pub truncate: Option<Truncate>,
    /// Concatenate fields into a new text field with a format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Merge>)]
    pub merge: Option<Merge>,
    /// Add, subtract, multiply or divide two fields into a new field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Arithmetic>)]
    pub arithmetic: Option<Arithmetic>,
    /// Change the type of a field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Convert>)]
    pub convert: Option<Convert>,
    /// Set a field to the value of a CEL expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<Compute>)]
    pub compute: Option<Compute>,
}

/// A task's operation block, as an enum: the one-of union computed once.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    /// `project`
    Project(&'a Project),
    /// `map`
    Map(&'a Map),
    /// `mapAll`
    MapAll(&'a MapAll),
    /// `filter`
    Filter(&'a Filter),
    /// `validate`
    Validate(&'a Validate),
    /// `mask`
    Mask(&'a Mask),
    /// `truncate`
    Truncate(&'a Truncate),
    /// `merge`
    Merge(&'a Merge),
    /// `arithmetic`
    Arithmetic(&'a Arithmetic),
    /// `convert`
    Convert(&'a Convert),
    /// `compute`
    Compute(&'a Compute),
}

impl<'a> Operation<'a> {
    /// The block's name in the API (`filter`, `mapAll`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Project(_) => "project",
            Self::Map(_) => "map",
            Self::MapAll(_) => "mapAll",
            Self::Filter(_) => "filter",
            Self::Validate(_) => "validate",
            Self::Mask(_) => "mask",
            Self::Truncate(_) => "truncate",
            Self::Merge(_) => "merge",
            Self::Arithmetic(_) => "arithmetic",
            Self::Convert(_) => "convert",
            Self::Compute(_) => "compute",
        }
    }

    /// The fields the operation reads by name (`merge` and `compute` read
    /// fields through their template or expression, not listed here).
    pub fn reads(self) -> Vec<&'a FieldName> {
        match self {
            Self::Project(p) => p.fields.iter().collect(),
            Self::Map(m) => vec![&m.from],
            Self::Filter(f) => f.field.iter().collect(),
            Self::Validate(v) => vec![&v.field],
            Self::Mask(m) => vec![&m.field],
            Self::Truncate(t) => vec![&t.field],
            Self::Arithmetic(a) => vec![&a.left, &a.right],
            Self::Convert(c) => vec![&c.field],
            Self::MapAll(_) | Self::Merge(_) | Self::Compute(_) => Vec::new(),
        }
    }

    /// The field the operation adds to the record, if it adds one.
    pub fn produces(self) -> Option<&'a FieldName> {
        match self {
            Self::Map(m) => Some(&m.to),
            Self::Merge(m) => Some(&m.into),
            Self::Arithmetic(a) => Some(&a.into),
            Self::Compute(c) => Some(&c.field),
            _ => None,
        }
    }
}

impl Task {
    /// Every operation block the task sets, in the API's order (the
    /// schema allows exactly one).
    pub fn operations(&self) -> Vec<Operation<'_>> {
        [
            self.project.as_ref().map(Operation::Project),
            self.map.as_ref().map(Operation::Map),
            self.map_all.as_ref().map(Operation::MapAll),
            self.filter.as_ref().map(Operation::Filter),
            self.validate.as_ref().map(Operation::Validate),
            self.mask.as_ref().map(Operation::Mask),
            self.truncate.as_ref().map(Operation::Truncate),
            self.merge.as_ref().map(Operation::Merge),
            self.arithmetic.as_ref().map(Operation::Arithmetic),
            self.convert.as_ref().map(Operation::Convert),
            self.compute.as_ref().map(Operation::Compute),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The task's operation: the first block set, `None` when none is.
    pub fn operation(&self) -> Option<Operation<'_>> {
        self.operations().into_iter().next()
    }
}

/// Projection: the output has exactly these fields, in this order; every
/// other field is dropped. A listed field missing from the schema is a
/// validation error.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Fields to keep, in output order. Each at most once.
    #[schemars(length(min = 1, max = 2000), extend("x-kubernetes-list-type" = "set"))]
    pub fields: Vec<FieldName>,
}

/// Rename: field `from` becomes field `to`, keeping its position, type and
/// values. `to` must not already exist. With `keepSource`, `from` stays and
/// `to` is a copy added at the end.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.from != self.to").message("map.from and map.to must differ"))]
pub struct Map {
    /// Source field.
    pub from: FieldName,
    /// Destination field name.
    pub to: FieldName,
    /// Keep `from` as well, making `to` a copy.
    #[serde(default)]
    pub keep_source: bool,
}

/// Map-all: every field passes under its own name except `exclude`.
/// Excluding a field that does not exist is not an error (the field may be
/// gone after schema drift).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MapAll {
    /// Fields to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2000))]
    pub exclude: Vec<FieldName>,
}

/// Comparison operators of a filter.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum FilterOperator {
    /// `field < value`.
    LessThan,
    /// `field <= value`.
    LessThanOrEqual,
    /// `field > value`.
    GreaterThan,
    /// `field >= value`.
    GreaterThanOrEqual,
    /// `field == value`.
    Equal,
    /// `field != value`. A null field does not match (use `IsNull`), nor
    /// does a float NaN.
    NotEqual,
    /// Text field contains `value` as a substring (case-sensitive; an empty
    /// `value` matches every non-null text).
    Contains,
    /// `lower <= field <= upper` (both ends inclusive).
    Between,
    /// The field is null (absent). An empty string is not null.
    IsNull,
    /// The field is not null.
    IsNotNull,
}

/// Filter: keeps the records for which the condition holds and drops the
/// others (counted in `recordsFiltered`, not bad records).
///
/// Either a comparison (`field`, `operator`, and `value` or
/// `lower`/`upper`) or a CEL `expression`, not both.
///
/// Comparisons: `value`, `lower` and `upper` are written as text and read
/// as the field's type: numbers as decimal numbers (an optional sign,
/// digits with an optional point, an optional exponent: `10000`, `-2.5`,
/// `1e3`; no spaces, no thousands separators, not `NaN` or `inf`; a whole
/// number for an integer field, no more decimals than a decimal field's
/// scale), booleans as `true`/`false`, dates as `2024-05-01`, timestamps as
/// RFC 3339 (`2024-05-01T00:00:00Z`). A value that cannot be read as the
/// field's type is a validation error of the Flow. A null field matches
/// only `IsNull`; every other operator drops it. On booleans only `Equal`,
/// `NotEqual`, `IsNull` and `IsNotNull` apply; `Contains` applies only to
/// text.
///
/// Numbers (integers, floats, decimals) compare by value, and a float's -0
/// equals 0. NaN never satisfies a comparison: `LessThan`, `GreaterThan`,
/// `Equal`, `Between` and the others drop a float NaN, and so does
/// `NotEqual` (NaN is no number, so it is neither equal nor unequal to
/// one); `IsNotNull` keeps it. The infinities are the largest and smallest
/// numbers.
///
/// A text field compares as text, by Unicode code point: `"9000"` is
/// greater than `"50000"`, and `Equal` is exact (`"50000"` is not
/// `"50000.00"`). So ordering a text field (`LessThan`, `LessThanOrEqual`,
/// `GreaterThan`, `GreaterThanOrEqual`, `Between`) against a number (a
/// `value`, `lower` or `upper` that is one, spaces aside) is a validation
/// error of the Flow naming the field: `convert` the field to `Decimal` or
/// `Double` first, or compare in a CEL expression. Numbers arrive as text
/// where a source has no number type for them (a JSON or CSV field that
/// mixes numbers and words in the records the schema is inferred from);
/// `sluice discover` shows each field's type.
///
/// CEL: `expression` must evaluate to a bool for each record; the record is
/// bound as `record` (`record.Amount > 10000 && record.StageName !=
/// 'Closed Lost'`); ints, uints, doubles and decimals (as doubles) compare
/// by value. Null fields are CEL `null`, and comparing null with a number
/// is an evaluation error: guard with `record.Amount != null && ...` where
/// a field may be null. A NaN follows CEL: `==` is false, `!=` is true, and
/// `<`, `<=`, `>`, `>=` are evaluation errors. A compile error is a
/// validation error naming the task; an evaluation error (a missing field,
/// a type mismatch, a NaN ordered, a non-bool result) makes the record a
/// bad record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.expression) != has(self.field)").message("set either expression (CEL) or field with operator, not both"))]
#[x_kube(validation = Rule::new("has(self.field) == has(self.operator)").message("field and operator go together"))]
#[x_kube(validation = Rule::new(
    "!has(self.operator) || (self.operator in ['IsNull', 'IsNotNull'] ? !has(self.value) && !has(self.lower) && !has(self.upper) : self.operator == 'Between' ? has(self.lower) && has(self.upper) && !has(self.value) : has(self.value) && !has(self.lower) && !has(self.upper))"
).message("operators IsNull and IsNotNull take no value, Between takes lower and upper, every other operator takes value"))]
pub struct Filter {
    /// Field compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<FieldName>,
    /// Comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = whole_doc::<FilterOperator>)]
    pub operator: Option<FilterOperator>,
    /// Operand of the comparison, read as the field's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub value: Option<String>,
    /// Lower bound of `Between`, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub lower: Option<String>,
    /// Upper bound of `Between`, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub upper: Option<String>,
    /// CEL expression over `record` that yields a bool.
    /// Limits: at most 8192 bytes, 32 levels of parentheses, brackets and
    /// braces, and 64 levels of operations (checked before the run; a
    /// chain such as `a + b + c` nests one level per operator); one
    /// record's evaluation takes at most 100,000 steps (each iteration of
    /// `all`, `exists`, `exists_one`, `map` or `filter`, and the size of
    /// what a `map` builds), beyond which the record is a bad record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8192))]
    pub expression: Option<String>,
}

/// Checks of a validate task.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ValidationCheck {
    /// The field is not null. An empty string passes.
    NotNull,
    /// The numeric field is not zero (null passes; combine with `NotNull`);
    /// a float NaN fails. On a field that is not a number (text included:
    /// convert it first): a validation error of the Flow.
    NotZero,
    /// The numeric field is zero or more (null passes; -0 passes); a float
    /// NaN fails. On a field that is not a number (text included: convert
    /// it first): a validation error of the Flow.
    NotNegative,
    /// The field is a number, or text that is one: an optional sign, digits
    /// with an optional point, an optional exponent (`12`, `-3.5`, `1e3`;
    /// not `NaN`, `inf`, empty, or with spaces around it). A float NaN or
    /// infinity fails. Null passes. On a field that is neither text nor a
    /// number: a validation error of the Flow.
    Numeric,
}

/// What happens to a record that fails a validation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ValidationAction {
    /// The record is a bad record: it goes to the Flow's `errorHandling`
    /// policy with the check as its reason (quarantined, skipped, or — with
    /// policy `Fail` — failing the run).
    #[default]
    DropRecord,
    /// The run fails at once, whatever the error policy.
    FailRun,
}

/// Validate: checks one field of every record. A float NaN fails every
/// check but `NotNull`: it is no number, so it satisfies no comparison.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validate {
    /// Field checked.
    pub field: FieldName,
    /// The check.
    #[schemars(transform = whole_doc::<ValidationCheck>)]
    pub check: ValidationCheck,
    /// What happens when the check fails.
    #[serde(default)]
    #[schemars(transform = whole_doc::<ValidationAction>)]
    pub action: ValidationAction,
}

/// Which characters a mask replaces.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MaskMode {
    /// Every character.
    All,
    /// The first `count` characters (all of a shorter value).
    FirstN,
    /// The last `count` characters (all of a shorter value).
    LastN,
}

/// Mask: replaces characters of a field with `character`, keeping the
/// length. Non-text fields are converted to text first (the output field is
/// text). Null stays null; an empty string stays empty.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(self.mode == 'All') != has(self.count)").message("count is required for modes FirstN and LastN and not allowed for All").field_path(".count"))]
pub struct Mask {
    /// Field masked.
    pub field: FieldName,
    /// Which characters are replaced.
    #[schemars(transform = whole_doc::<MaskMode>)]
    pub mode: MaskMode,
    /// How many characters, for `FirstN` and `LastN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub count: Option<i32>,
    /// The replacement character: exactly one Unicode character (code
    /// point), such as `*`, `•` or `é`; a line break is not one.
    #[serde(default = "default_mask_character")]
    #[x_kube(validation = Rule::new("self.matches('^.$')").message("must be exactly one character"))]
    #[schemars(length(min = 1, max = 4))]
    pub character: String,
}

fn default_mask_character() -> String {
    "*".to_owned()
}

/// Truncate: keeps the first `length` characters of a text field. Values
/// no longer than `length`, empty strings and null are unchanged. Naming a
/// field that is not text is a validation error of the Flow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Truncate {
    /// Text field truncated.
    pub field: FieldName,
    /// Characters kept.
    #[schemars(range(min = 0, max = 100000000))]
    pub length: i64,
}

/// Merge: writes `format` to the text field `into`, with each `{Field}`
/// replaced by that field's value as text (integers as written, floats in
/// their shortest round-trip form (`2.5`, `2`), decimals with their scale
/// (`12.30`), dates as `2024-05-01`, timestamps in RFC 3339 in UTC
/// (`2024-05-01T00:00:00Z`), booleans as `true`/`false`, null as the empty
/// string). `{{` and `}}` stand for literal braces. A `{Field}` naming
/// no field is a validation error. `into` is added at the end, or replaced
/// in place if it exists. The source fields stay.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Merge {
    /// Output text field.
    pub into: FieldName,
    /// Template such as `{FirstName} {LastName}`.
    #[x_kube(validation = Rule::new("self.matches('\\\\{[^{}]+\\\\}')").message("must reference at least one field as {FieldName}"))]
    #[schemars(length(min = 1, max = 4096))]
    pub format: String,
}

/// Arithmetic operators.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ArithmeticOperator {
    /// `left + right`.
    Add,
    /// `left - right`.
    Subtract,
    /// `left * right`.
    Multiply,
    /// `left / right`, always a float.
    Divide,
}

/// Arithmetic: `into = left (operator) right` on two numeric fields.
/// Two integers give an integer (64-bit; an overflow makes the record a bad
/// record); otherwise, and always for `Divide`, a 64-bit float. Division by
/// zero, an unsigned value above 2^63-1 and a float result that overflows
/// to infinity make the record a bad record. If either operand is null the result
/// is null. Text operands are a validation error (convert them first).
/// `into` is added at the end, or replaced in place if it exists.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Arithmetic {
    /// Left operand field.
    pub left: FieldName,
    /// The operator.
    #[schemars(transform = whole_doc::<ArithmeticOperator>)]
    pub operator: ArithmeticOperator,
    /// Right operand field.
    pub right: FieldName,
    /// Output field.
    pub into: FieldName,
}

/// Types a field can be converted to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer. From text: an optional sign and digits (no
    /// spaces); from a float or decimal: only whole values in range (`2.0`,
    /// not `2.5`; not NaN or an infinity); from a boolean: 1 or 0.
    Integer,
    /// 64-bit float. From text: a number in decimal or exponent notation
    /// (an optional sign, digits with an optional point, an optional
    /// exponent: `12`, `-3.5`, `1e3`; no spaces, not `NaN` or `inf`) whose
    /// value is finite; from a boolean: 1 or 0.
    Double,
    /// Decimal with `precision` and `scale`. From text: a number as for
    /// `Double`; rounding half away from zero when the source has more
    /// decimals than `scale`; a float NaN or infinity does not convert.
    Decimal,
    /// From text: `true`/`false` (case-insensitive), `1`/`0`; from an
    /// integer: 1 or 0 only.
    Boolean,
    /// Calendar date. From text: `format` or `2024-05-01`; from a timestamp:
    /// its date in UTC.
    Date,
    /// Instant with microsecond precision, in UTC. From text: `format` (read
    /// as UTC when it has no offset; a date-only format gives midnight UTC)
    /// or RFC 3339; from an integer: seconds since the Unix epoch; from a
    /// date: its midnight UTC.
    Timestamp,
}

/// Convert: changes a field's type in place. A value that cannot be
/// converted makes the record a bad record, naming the field, the value's
/// type and the target type. Null stays null. To `String`, values are
/// written as `merge` writes them (timestamps in UTC); `format` then applies
/// only when the field is a date or timestamp.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.to == 'Decimal' ? has(self.precision) : !has(self.precision) && !has(self.scale)").message("precision (and optionally scale) are required for Decimal and allowed only for it").field_path(".precision"))]
#[x_kube(validation = Rule::new("!has(self.format) || self.to in ['Date', 'Timestamp', 'String']").message("format applies only to conversions to or from Date and Timestamp").field_path(".format"))]
#[x_kube(validation = Rule::new("!has(self.scale) || !has(self.precision) || self.scale <= self.precision").message("scale must not exceed precision").field_path(".scale"))]
pub struct Convert {
    /// Field converted.
    pub field: FieldName,
    /// Target type.
    #[schemars(transform = whole_doc::<FieldType>)]
    pub to: FieldType,
    /// strftime-style format (`%d/%m/%Y %H:%M`) for text dates and
    /// timestamps, read (to Date/Timestamp) or written (to String).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub format: Option<String>,
    /// Total digits of a Decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 38))]
    pub precision: Option<i32>,
    /// Digits after the point of a Decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 38))]
    pub scale: Option<i32>,
}

/// Compute: sets `field` to the value of a CEL expression over `record`
/// (`record.Amount * 1.2`, `record.FirstName + ' ' + record.LastName`).
/// The field is added at the end, or replaced in place if it exists. Its
/// type is `type` (not `Decimal`: compute a `Double` and `convert` it); a
/// result of another type is converted as `convert` would, or makes the
/// record a bad record. Compiled once per run; a compile error
/// is a validation error naming the task; an evaluation error makes the
/// record a bad record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'Decimal'").message("compute cannot produce a Decimal (it has no precision or scale): compute a Double and convert it").field_path(".type"))]
pub struct Compute {
    /// Output field.
    pub field: FieldName,
    /// CEL expression over `record`.
    /// Limits: at most 8192 bytes, 32 levels of parentheses, brackets and
    /// braces, and 64 levels of operations (checked before the run; a
    /// chain such as `a + b + c` nests one level per operator); one
    /// record's evaluation takes at most 100,000 steps (each iteration of
    /// `all`, `exists`, `exists_one`, `map` or `filter`, and the size of
    /// what a `map` builds), beyond which the record is a bad record.
    #[schemars(length(min = 1, max = 8192))]
    pub expression: String,
    /// Type of the output field.
    #[serde(rename = "type")]
    #[schemars(transform = whole_doc::<FieldType>)]
    pub kind: FieldType,
}
