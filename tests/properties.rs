//! Properties of the pipeline, over generated records: whatever the
//! records, each output format holds exactly what the documented semantics
//! (docs/pipeline.md, the task docs in `src/api/v1alpha1/task.rs`) say it
//! holds. The reference here is written from those documents, not from the
//! code: the records' types are known to the generator, the expected rows
//! are computed from them, and the outputs are read back with the csv,
//! parquet and serde_json crates alone.
//!
//! Generated records mix raw and escaped astral characters (surrogate
//! pairs), combining sequences, control characters, quotes and line breaks
//! in text; nulls and missing fields; boundary integers and floats
//! (`i64::MIN`, 2^53 + 1, `-0.0`, subnormals, `f64::MAX`); nested objects
//! two levels deep; keys in a different order in every record, some
//! written as escapes.
//!
//! Runs go through the same path as `sluice local`: the manifest is parsed
//! and checked ([`sluice::manifest::Bundle`]), planned ([`sluice::plan`])
//! and run by the engine, in process.
//!
//! Case counts are small so that `make test` stays quick (24 cases a
//! property); `PROPTEST_CASES` raises them, and `PROPTEST_RNG_SEED` picks
//! another seed (the default is fixed, so a run is reproducible). A failure
//! is shrunk to a minimal case and printed; nothing is persisted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use chrono::Utc;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::Value;

use sluice::connectors::secrets::Resolver;
use sluice::manifest::Bundle;
use sluice::pipeline::engine;
use sluice::plan::{Plan, RunParams};

// ------------------------------------------------------------------ config

/// `cases` cases, or `PROPTEST_CASES`; a fixed seed unless
/// `PROPTEST_RNG_SEED` is set; no failure files.
fn config(cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x5_1u64 << 32 | 0x1CE);
    }
    config.failure_persistence = None;
    config.max_shrink_time = 120_000;
    config
}

// ------------------------------------------------------------------ the model

/// A field's type, as the generator knows it.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Int,
    Float,
    Bool,
    Text,
    /// A nested object with these fields.
    Object(Vec<(String, Kind)>),
}

/// How a text is written in JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    /// UTF-8, escaping only what JSON requires.
    Raw,
    /// Every non-ASCII character as `\u` escapes (surrogate pairs above
    /// U+FFFF).
    NonAscii,
    /// Every character as `\u` escapes.
    All,
}

/// A value of a field.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Int(i64),
    Float(Float),
    Bool(bool),
    Text(String, Style),
    Object(Vec<(String, Slot)>),
}

/// A float compared by its bits (so `-0.0` is not `0.0`).
#[derive(Clone, Copy)]
struct Float(f64);

impl PartialEq for Float {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl fmt::Debug for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A field of a record: absent, `null`, or a value.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Missing,
    Null,
    Value(Val),
}

/// A generated record: its fields in the order it writes them, and
/// whether its keys are written as escapes.
#[derive(Debug, Clone)]
struct Record {
    fields: Vec<(String, Slot)>,
    escaped_keys: bool,
}

/// A value as the outputs are compared: what a reader finds in a cell.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Int(i64),
    Float(Float),
    Bool(bool),
    Text(String),
    /// A struct: every field of its type, `None` when null.
    Object(BTreeMap<String, Option<Cell>>),
}

type Row = BTreeMap<String, Option<Cell>>;

/// The type of a column as inferred: `None` when no record gave it a
/// value (an all-null column).
type Column = (String, Option<Ty>);

#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Int,
    Float,
    Bool,
    Text,
    Object(Vec<Column>),
}

// ------------------------------------------------------------------ writing JSON

fn escape_all(text: &str, all: bool) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if (c.is_ascii() && !all) && c != '"' && c != '\\' && !c.is_ascii_control() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.push('"');
    out
}

fn json_text(text: &str, style: Style) -> String {
    match style {
        Style::Raw => serde_json::to_string(text).unwrap(),
        Style::NonAscii => escape_all(text, false),
        Style::All => escape_all(text, true),
    }
}

fn json_value(value: &Val, escaped_keys: bool) -> String {
    match value {
        Val::Int(i) => i.to_string(),
        Val::Float(f) => serde_json::to_string(&f.0).unwrap(),
        Val::Bool(b) => b.to_string(),
        Val::Text(text, style) => json_text(text, *style),
        Val::Object(fields) => json_object(fields, escaped_keys),
    }
}

fn json_object(fields: &[(String, Slot)], escaped_keys: bool) -> String {
    let members: Vec<String> = fields
        .iter()
        .filter_map(|(name, slot)| {
            let key = if escaped_keys {
                escape_all(name, true)
            } else {
                serde_json::to_string(name).unwrap()
            };
            match slot {
                Slot::Missing => None,
                Slot::Null => Some(format!("{key}:null")),
                Slot::Value(v) => Some(format!("{key}:{}", json_value(v, escaped_keys))),
            }
        })
        .collect();
    format!("{{{}}}", members.join(","))
}

fn json_line(record: &Record) -> String {
    json_object(&record.fields, record.escaped_keys)
}

// ------------------------------------------------------------------ the reference

/// Merges the keys of `fields` into `columns`, in order of first
/// appearance, typing a column when a value gives it a type.
fn merge_columns(columns: &mut Vec<Column>, fields: &[(String, Slot)], kinds: &[(String, Kind)]) {
    for (name, slot) in fields {
        if *slot == Slot::Missing {
            continue;
        }
        let index = match columns.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                columns.push((name.clone(), None));
                columns.len() - 1
            }
        };
        let Slot::Value(value) = slot else { continue };
        let kind = &kinds.iter().find(|(n, _)| n == name).unwrap().1;
        let ty = &mut columns[index].1;
        match (value, kind) {
            (Val::Object(inner), Kind::Object(inner_kinds)) => {
                let mut children = match ty.take() {
                    Some(Ty::Object(children)) => children,
                    _ => Vec::new(),
                };
                merge_columns(&mut children, inner, inner_kinds);
                *ty = Some(Ty::Object(children));
            }
            (_, Kind::Int) => *ty = Some(Ty::Int),
            (_, Kind::Float) => *ty = Some(Ty::Float),
            (_, Kind::Bool) => *ty = Some(Ty::Bool),
            (_, Kind::Text) => *ty = Some(Ty::Text),
            (other, kind) => panic!("generator made {other:?} for {kind:?}"),
        }
    }
}

/// The schema docs/pipeline.md describes: a column per key, in the order
/// keys first appear, typed by the values (nested objects keep their
/// structure).
fn reference_schema(records: &[Record], kinds: &[(String, Kind)]) -> Vec<Column> {
    let mut columns = Vec::new();
    for record in records {
        merge_columns(&mut columns, &record.fields, kinds);
    }
    columns
}

fn cell(value: &Val, ty: &Ty) -> Cell {
    match (value, ty) {
        (Val::Int(i), _) => Cell::Int(*i),
        (Val::Float(f), _) => Cell::Float(*f),
        (Val::Bool(b), _) => Cell::Bool(*b),
        (Val::Text(t, _), _) => Cell::Text(t.clone()),
        (Val::Object(fields), Ty::Object(columns)) => Cell::Object(row(fields, columns)),
        (value, ty) => panic!("{value:?} is not a {ty:?}"),
    }
}

/// A record as the row every output must hold: each column of the schema,
/// null where the record has null or lacks the field.
fn row(fields: &[(String, Slot)], columns: &[Column]) -> Row {
    columns
        .iter()
        .map(|(name, ty)| {
            let value = fields
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, s)| match (s, ty) {
                    (Slot::Value(v), Some(ty)) => Some(cell(v, ty)),
                    _ => None,
                });
            (name.clone(), value)
        })
        .collect()
}

// ------------------------------------------------------------------ reading outputs back

/// A JSON value read as a cell of type `ty`.
fn from_json(value: &Value, ty: &Option<Ty>) -> Result<Option<Cell>, String> {
    Ok(match (value, ty) {
        (Value::Null, _) => None,
        (v, None) => return Err(format!("{v} in an all-null column")),
        (Value::Number(n), Some(Ty::Int)) => {
            Some(Cell::Int(n.as_i64().ok_or(format!("{n} is not an i64"))?))
        }
        (Value::Number(n), Some(Ty::Float)) => Some(Cell::Float(Float(
            n.as_f64().ok_or(format!("{n} is not an f64"))?,
        ))),
        (Value::Bool(b), Some(Ty::Bool)) => Some(Cell::Bool(*b)),
        (Value::String(s), Some(Ty::Text)) => Some(Cell::Text(s.clone())),
        (Value::Object(map), Some(Ty::Object(columns))) => {
            for key in map.keys() {
                if !columns.iter().any(|(n, _)| n == key) {
                    return Err(format!("unexpected field {key:?} in {value}"));
                }
            }
            let mut out = BTreeMap::new();
            for (name, ty) in columns {
                out.insert(
                    name.clone(),
                    match map.get(name) {
                        None => None,
                        Some(v) => from_json(v, ty)?,
                    },
                );
            }
            Some(Cell::Object(out))
        }
        (v, ty) => return Err(format!("{v} is not a {ty:?}")),
    })
}

fn json_lines_rows(text: &str, columns: &[Column]) -> Result<Vec<Row>, String> {
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
            let object = value.as_object().ok_or(format!("not an object: {line}"))?;
            for key in object.keys() {
                if !columns.iter().any(|(n, _)| n == key) {
                    return Err(format!("unexpected field {key:?} in {line}"));
                }
            }
            let mut row = Row::new();
            for (name, ty) in columns {
                let cell = match object.get(name) {
                    None => None,
                    Some(v) => from_json(v, ty)?,
                };
                row.insert(name.clone(), cell);
            }
            Ok(row)
        })
        .collect()
}

/// A CSV cell read as type `ty`: empty is null (and the empty text, which
/// CSV cannot tell from null); nested values are JSON text.
fn from_csv(text: &str, ty: &Option<Ty>) -> Result<Option<Cell>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let bad = |e: &dyn fmt::Display| format!("{text:?}: {e}");
    Ok(Some(match ty {
        None => return Err(format!("{text:?} in an all-null column")),
        Some(Ty::Int) => Cell::Int(text.parse().map_err(|e| bad(&e))?),
        Some(Ty::Float) => Cell::Float(Float(text.parse().map_err(|e| bad(&e))?)),
        Some(Ty::Bool) => Cell::Bool(text.parse().map_err(|e| bad(&e))?),
        Some(Ty::Text) => Cell::Text(text.to_owned()),
        Some(Ty::Object(_)) => {
            let value: Value = serde_json::from_str(text).map_err(|e| bad(&e))?;
            return from_json(&value, ty);
        }
    }))
}

fn csv_rows(bytes: &[u8], columns: &[Column]) -> Result<Vec<Row>, String> {
    let mut reader = csv::Reader::from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(str::to_owned)
        .collect();
    let names: Vec<&String> = columns.iter().map(|(n, _)| n).collect();
    if header.iter().collect::<Vec<_>>() != names {
        return Err(format!("header {header:?}, expected {names:?}"));
    }
    reader
        .records()
        .map(|record| {
            let record = record.map_err(|e| e.to_string())?;
            columns
                .iter()
                .zip(record.iter())
                .map(|((name, ty), text)| Ok((name.clone(), from_csv(text, ty)?)))
                .collect()
        })
        .collect()
}

/// Row `i` of an Arrow array as a cell of type `ty`.
fn from_arrow(array: &ArrayRef, i: usize, ty: &Option<Ty>) -> Result<Option<Cell>, String> {
    // A column no record gave a value is of Arrow's Null type, whose
    // values are all null without a validity buffer.
    if array.is_null(i) || array.data_type() == &DataType::Null {
        return Ok(None);
    }
    Ok(Some(match (array.data_type(), ty) {
        (DataType::Int64, Some(Ty::Int)) => {
            Cell::Int(array.as_primitive::<arrow::datatypes::Int64Type>().value(i))
        }
        (DataType::Float64, Some(Ty::Float)) => Cell::Float(Float(
            array
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(i),
        )),
        (DataType::Boolean, Some(Ty::Bool)) => Cell::Bool(array.as_boolean().value(i)),
        (DataType::Utf8, Some(Ty::Text)) => Cell::Text(array.as_string::<i32>().value(i).into()),
        (DataType::LargeUtf8, Some(Ty::Text)) => {
            Cell::Text(array.as_string::<i64>().value(i).into())
        }
        (DataType::Utf8View, Some(Ty::Text)) => Cell::Text(array.as_string_view().value(i).into()),
        (DataType::Struct(_), Some(Ty::Object(columns))) => {
            let object = array.as_struct();
            let mut out = BTreeMap::new();
            for (name, ty) in columns {
                let child = object
                    .column_by_name(name)
                    .ok_or(format!("no field {name} in {:?}", array.data_type()))?;
                out.insert(name.clone(), from_arrow(child, i, ty)?);
            }
            if object.num_columns() != columns.len() {
                return Err(format!(
                    "{:?} has fields beyond {columns:?}",
                    array.data_type()
                ));
            }
            Cell::Object(out)
        }
        (data_type, ty) => return Err(format!("a {data_type} value for {ty:?}")),
    }))
}

fn parquet_rows(data: Vec<u8>, columns: &[Column]) -> Result<Vec<Row>, String> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(data),
    )
    .map_err(|e| e.to_string())?
    .build()
    .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let names: Vec<&String> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name())
            .collect();
        let expected: Vec<&String> = columns.iter().map(|(n, _)| n).collect();
        if names != expected {
            return Err(format!("columns {names:?}, expected {expected:?}"));
        }
        for i in 0..batch.num_rows() {
            let mut row = Row::new();
            for ((name, ty), array) in columns.iter().zip(batch.columns()) {
                row.insert(name.clone(), from_arrow(array, i, ty)?);
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

// ------------------------------------------------------------------ running

const PROFILE: &str = "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {}}
";

/// A Flow from `in/records.jsonl` into `out/{format}` with `tasks` (YAML
/// flow sequence items), run as local mode runs it, with the default error
/// policy (Fail).
fn run(dir: &Path, format: &str, tasks: &str) -> Result<engine::Summary, String> {
    run_with(dir, format, tasks, "{policy: Fail}")
}

/// [`run`] with `handling` as the Flow's `errorHandling`; the quarantine,
/// if any, under `bad/`.
fn run_with(
    dir: &Path,
    format: &str,
    tasks: &str,
    handling: &str,
) -> Result<engine::Summary, String> {
    let manifest = format!(
        "{PROFILE}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: generated}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in/records.jsonl, format: JsonLines}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out/{format}, format: {format}, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
  tasks: [{tasks}]
  errorHandling: {handling}
"
    );
    let bundle = Bundle::parse(&manifest, "generated.yaml").map_err(|e| e.to_string())?;
    let params = RunParams {
        run_id: "p1".to_owned(),
        time: Utc::now(),
        overrides: None,
        working_dir: dir.to_path_buf(),
        window_start: None,
        window_end: None,
        secrets: Resolver::manifest(BTreeMap::new()),
    };
    let Plan {
        source,
        tasks,
        destination,
        quarantine,
        options,
        ..
    } = sluice::plan::plan(&bundle.profiles, &bundle.flows[0], params)
        .map_err(|e| e.to_string())?;
    engine::run(
        source,
        &tasks,
        destination,
        quarantine,
        &options,
        &mut |_| {},
    )
    .map_err(|f| f.error.to_string())
}

/// The one published file of format `format`; nothing when the run wrote
/// no record (and so published no file).
fn output(dir: &Path, format: &str) -> Result<Vec<u8>, String> {
    let folder = dir.join(format!("out/{format}/p1"));
    if !folder.exists() {
        return Ok(Vec::new());
    }
    let files: Vec<_> = std::fs::read_dir(&folder)
        .map_err(|e| format!("{}: {e}", folder.display()))?
        .map(|e| e.unwrap().path())
        .collect();
    match files.as_slice() {
        [only] => std::fs::read(only).map_err(|e| e.to_string()),
        other => Err(format!("expected one file, found {other:?}")),
    }
}

fn write_input(dir: &Path, records: &[Record]) {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let text: String = records.iter().map(|r| json_line(r) + "\n").collect();
    std::fs::write(dir.join("in/records.jsonl"), text).unwrap();
}

// ------------------------------------------------------------------ generators

/// Texts: ASCII with JSON's and CSV's special characters, controls,
/// non-ASCII below U+10000, any astral character, the surrogate-pair range
/// edges, and combining sequences.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z0-9 ]{1,3}",
        1 => prop::sample::select(vec![
            "\"", "\\", ",", "\n", "\r", "\r\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "'", "{", "}",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec![
            "é", "中", "\u{FFFD}", "\u{FEFF}", "\u{2028}", "\u{D7FF}", "\u{E000}", "\u{FFFF}",
        ])
        .prop_map(str::to_owned),
        2 => (0x1_0000u32..=0x10_FFFF).prop_map(|p| char::from_u32(p).unwrap().to_string()),
        1 => prop::sample::select(vec![0x1_0000u32, 0x1_FFFF, 0x2_0000, 0x2_0BB7, 0xF_FFFF, 0x10_FFFF])
            .prop_map(|p| char::from_u32(p).unwrap().to_string()),
        1 => prop::sample::select(vec![
            "e\u{301}",
            "\u{1F469}\u{200D}\u{1F4BB}",
            "\u{20BB7}\u{E0100}",
            "\u{1F1EB}\u{1F1F7}",
            "\u{915}\u{94D}\u{937}",
            "a\u{308}\u{332}",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        1 => prop::sample::select(vec![
            i64::MIN, i64::MIN + 1, -(1 << 53) - 1, -1, 0, 1, 1 << 53, (1 << 53) + 1, i64::MAX - 1, i64::MAX,
        ]),
        2 => any::<i64>(),
        2 => -1000i64..1000,
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        1 => prop::sample::select(vec![
            0.0, -0.0, 0.1, 1.5, -2.5, 1e21, 1e22, 1e-7, 123_456_789.125, 9_007_199_254_740_993.0,
            f64::MAX, f64::MIN, f64::MIN_POSITIVE, 5e-324, -5e-324, f64::EPSILON,
        ]),
        2 => any::<f64>().prop_filter("finite", |f| f.is_finite()),
        1 => (-1000i32..1000).prop_map(|i| f64::from(i) / 8.0),
    ]
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![Just(Style::Raw), Just(Style::NonAscii), Just(Style::All)]
}

fn scalar_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Int),
        Just(Kind::Float),
        Just(Kind::Bool),
        Just(Kind::Text),
    ]
}

/// Field names: ASCII, non-ASCII and astral, distinct, never `id`.
fn names(count: usize) -> impl Strategy<Value = Vec<String>> {
    let pool: Vec<String> = [
        "name",
        "Amount",
        "x_1",
        "naïve",
        "名前",
        "\u{20BB7}field",
        "emoji\u{1F600}",
        "b",
        "c",
        "d",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    prop::sample::subsequence(pool, count).prop_shuffle()
}

fn kind(depth: u32) -> BoxedStrategy<Kind> {
    if depth == 0 {
        return scalar_kind().boxed();
    }
    prop_oneof![
        4 => scalar_kind(),
        1 => (1usize..4).prop_flat_map(move |n| {
            (names(n), prop::collection::vec(kind(depth - 1), n))
                .prop_map(|(names, kinds)| Kind::Object(names.into_iter().zip(kinds).collect()))
        }),
    ]
    .boxed()
}

fn value(kind: &Kind) -> BoxedStrategy<Val> {
    match kind {
        Kind::Int => int().prop_map(Val::Int).boxed(),
        Kind::Float => float().prop_map(|f| Val::Float(Float(f))).boxed(),
        Kind::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Kind::Text => (text(), style()).prop_map(|(t, s)| Val::Text(t, s)).boxed(),
        Kind::Object(fields) => fields_of(fields)
            .prop_map(|mut fields| {
                // Never `{}`: an object empty in every record is an empty
                // struct, which the Parquet writer refuses, failing the
                // run (a known defect, to be tested on its own when fixed).
                if fields.iter().all(|(_, s)| *s == Slot::Missing) {
                    fields[0].1 = Slot::Null;
                }
                Val::Object(fields)
            })
            .boxed(),
    }
}

/// A slot of `kind`: mostly values, sometimes null or missing.
fn slot(kind: &Kind) -> BoxedStrategy<Slot> {
    prop_oneof![
        6 => value(kind).prop_map(Slot::Value),
        1 => Just(Slot::Null),
        1 => Just(Slot::Missing),
    ]
    .boxed()
}

/// Values for `fields`, in a shuffled order.
fn fields_of(fields: &[(String, Kind)]) -> BoxedStrategy<Vec<(String, Slot)>> {
    let slots: Vec<BoxedStrategy<(String, Slot)>> = fields
        .iter()
        .map(|(name, kind)| {
            let name = name.clone();
            slot(kind).prop_map(move |s| (name.clone(), s)).boxed()
        })
        .collect();
    slots.prop_shuffle().boxed()
}

/// A shape (the fields besides `id` and their kinds) and 1 to 12 records of
/// it, ids 1, 2, ….
fn records() -> impl Strategy<Value = (Vec<(String, Kind)>, Vec<Record>)> {
    (1usize..5)
        .prop_flat_map(|n| (names(n), prop::collection::vec(kind(2), n)))
        .prop_flat_map(|(names, kinds)| {
            let shape: Vec<(String, Kind)> = names.into_iter().zip(kinds).collect();
            let record = (fields_of(&shape), 0usize..8, prop::bool::weighted(0.2));
            (Just(shape), prop::collection::vec(record, 1..12))
        })
        .prop_map(|(shape, generated)| {
            let records = generated
                .into_iter()
                .enumerate()
                .map(|(i, (mut fields, at, escaped_keys))| {
                    let id = ("id".to_owned(), Slot::Value(Val::Int(i as i64 + 1)));
                    fields.insert(at.min(fields.len()), id);
                    Record {
                        fields,
                        escaped_keys,
                    }
                })
                .collect();
            (shape, records)
        })
}

// ------------------------------------------------------------------ properties

/// Compares rows, naming the first that differs.
fn same_rows(format: &str, got: &[Row], want: &[Row]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{}: rows written", format);
    for (i, (got, want)) in got.iter().zip(want).enumerate() {
        prop_assert_eq!(got, want, "{}: row {} (id {})", format, i, i + 1);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(24))]

    /// Every record arrives in every format exactly as the documented
    /// semantics say: nulls and missing fields as null (left out of JSON
    /// Lines, empty in CSV), nested objects as structs (JSON text in CSV),
    /// numbers and text unchanged, rows in source order.
    #[test]
    fn every_record_arrives_in_every_format((shape, records) in records()) {
        let mut kinds = shape.clone();
        kinds.push(("id".to_owned(), Kind::Int));
        let columns = reference_schema(&records, &kinds);
        let expected: Vec<Row> = records.iter().map(|r| row(&r.fields, &columns)).collect();
        let dir = tempfile::tempdir().unwrap();
        write_input(dir.path(), &records);
        for format in ["JsonLines", "Csv", "Parquet"] {
            let summary = run(dir.path(), format, "").map_err(TestCaseError::fail)?;
            prop_assert_eq!(summary.counts.records_read, records.len() as u64);
            prop_assert_eq!(summary.counts.records_written, records.len() as u64);
            let bytes = output(dir.path(), format).map_err(TestCaseError::fail)?;
            let rows = match format {
                "JsonLines" => json_lines_rows(std::str::from_utf8(&bytes).unwrap(), &columns),
                "Csv" => csv_rows(&bytes, &columns),
                _ => parquet_rows(bytes, &columns),
            }
            .map_err(|e| TestCaseError::fail(format!("{format}: {e}")))?;
            let expected = if format == "Csv" {
                // CSV cannot tell the empty text from null.
                expected.iter().map(|row| {
                    row.iter().map(|(name, cell)| {
                        let cell = match cell {
                            Some(Cell::Text(t)) if t.is_empty() => None,
                            other => other.clone(),
                        };
                        (name.clone(), cell)
                    }).collect()
                }).collect()
            } else {
                expected.clone()
            };
            same_rows(format, &rows, &expected)?;
        }
    }
}

// ------------------------------------------------------------------ tasks

/// A record of the task property: `n` an integer, `t` a text.
#[derive(Debug, Clone)]
struct Small {
    n: Slot,
    t: Slot,
}

fn small() -> impl Strategy<Value = Small> {
    (slot(&Kind::Int), slot(&Kind::Text)).prop_map(|(n, t)| Small { n, t })
}

/// The tasks' parameters: the filter's threshold, the mask's count and
/// character, the truncation's length.
#[derive(Debug, Clone)]
struct Tasks {
    above: i64,
    count: usize,
    character: char,
    length: usize,
}

fn tasks() -> impl Strategy<Value = Tasks> {
    (
        -1000i64..1000,
        1usize..6,
        prop::sample::select(vec!['*', '\u{2022}', '\u{E9}', '\u{20BB7}', '\u{10FFFF}']),
        0usize..8,
    )
        .prop_map(|(above, count, character, length)| Tasks {
            above,
            count,
            character,
            length,
        })
}

/// What the task docs say the four tasks make of `t`: the first `count`
/// characters (Unicode scalar values) masked, all of a shorter value;
/// then the first `length` kept; null stays null.
fn masked_and_truncated(t: &str, tasks: &Tasks) -> String {
    t.chars()
        .enumerate()
        .map(|(i, c)| if i < tasks.count { tasks.character } else { c })
        .take(tasks.length)
        .collect()
}

proptest! {
    #![proptest_config(config(24))]

    /// filter (GreaterThan, nulls dropped), mask (FirstN), truncate and map
    /// (rename in place) do what their docs say, on astral characters and
    /// combining sequences too.
    #[test]
    fn filter_mask_truncate_and_rename_follow_their_docs(
        first in (int(), text(), style()),
        rest in prop::collection::vec(small(), 0..16),
        tasks in tasks(),
    ) {
        // The first record gives both fields a type.
        let (n, t, s) = first;
        let mut records = vec![Small {
            n: Slot::Value(Val::Int(n.clamp(-1000, 1000))),
            t: Slot::Value(Val::Text(t, s)),
        }];
        records.extend(rest.into_iter().map(|mut r| {
            if let Slot::Value(Val::Int(n)) = &mut r.n {
                *n = (*n).clamp(-1000, 1000);
            }
            r
        }));
        let records: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                fields: vec![
                    ("id".to_owned(), Slot::Value(Val::Int(i as i64 + 1))),
                    ("n".to_owned(), r.n.clone()),
                    ("t".to_owned(), r.t.clone()),
                ],
                escaped_keys: false,
            })
            .collect();
        let expected: Vec<Value> = records
            .iter()
            .filter_map(|r| {
                let Slot::Value(Val::Int(n)) = r.fields[1].1 else { return None };
                if n <= tasks.above {
                    return None;
                }
                let mut out = serde_json::Map::new();
                out.insert("id".into(), Value::from(r.fields[0].1.clone().int()));
                out.insert("n".into(), Value::from(n));
                if let Slot::Value(Val::Text(t, _)) = &r.fields[2].1 {
                    out.insert("masked".into(), Value::from(masked_and_truncated(t, &tasks)));
                }
                Some(Value::Object(out))
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        write_input(dir.path(), &records);
        let steps = format!(
            "{{filter: {{field: n, operator: GreaterThan, value: '{}'}}}}, \
             {{mask: {{field: t, mode: FirstN, count: {}, character: '{}'}}}}, \
             {{truncate: {{field: t, length: {}}}}}, \
             {{map: {{from: t, to: masked}}}}",
            tasks.above, tasks.count, tasks.character, tasks.length
        );
        let summary = run(dir.path(), "JsonLines", &steps).map_err(TestCaseError::fail)?;
        prop_assert_eq!(summary.counts.records_read, records.len() as u64);
        prop_assert_eq!(summary.counts.records_written, expected.len() as u64);
        prop_assert_eq!(
            summary.counts.records_filtered,
            (records.len() - expected.len()) as u64
        );
        let bytes = output(dir.path(), "JsonLines").map_err(TestCaseError::fail)?;
        let written: Vec<Value> = std::str::from_utf8(&bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        prop_assert_eq!(written, expected);
    }
}

impl Slot {
    /// The integer of an integer slot.
    fn int(self) -> i64 {
        match self {
            Slot::Value(Val::Int(i)) => i,
            other => panic!("{other:?} is not an integer"),
        }
    }
}

/// The inference sample: the first 1,000 records (docs/pipeline.md).
const SAMPLE: usize = 1000;

/// Late-field names: ASCII, non-ASCII and astral.
fn late_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["late", "naïve", "\u{20BB7}late"])
}

proptest! {
    #![proptest_config(config(12))]

    /// A field first seen after the inference sample is never dropped
    /// unseen: every record is written with every field it had, or is a bad
    /// record (quarantined) whose reason names the field.
    #[test]
    fn late_fields_are_never_dropped_unseen(
        tail in prop::collection::vec(
            (text(), style(), prop::option::weighted(0.5, (late_name(), text(), style()))),
            1..8,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("in")).unwrap();
        let mut lines: Vec<String> = (1..=SAMPLE)
            .map(|id| format!("{{\"id\":{id},\"t\":\"sample\"}}"))
            .collect();
        let mut late = BTreeMap::new();
        let mut kept = BTreeMap::new();
        for (k, (t, s, extra)) in tail.iter().enumerate() {
            let id = (SAMPLE + k + 1) as i64;
            let mut line = format!("{{\"id\":{id},\"t\":{}", json_text(t, *s));
            match extra {
                Some((name, value, style)) => {
                    line.push_str(&format!(
                        ",{}:{}",
                        serde_json::to_string(name).unwrap(),
                        json_text(value, *style)
                    ));
                    late.insert(id, (*name, value.clone()));
                }
                None => {
                    kept.insert(id, t.clone());
                }
            }
            line.push('}');
            lines.push(line);
        }
        std::fs::write(dir.path().join("in/records.jsonl"), lines.join("\n") + "\n").unwrap();
        let handling = "{policy: Quarantine, errorLocation: {connectorProfileRef: {name: local}, file: {path: bad}}}";
        let summary = run_with(dir.path(), "JsonLines", "", handling).map_err(TestCaseError::fail)?;
        let counts = &summary.counts;
        prop_assert_eq!(counts.records_read, lines.len() as u64);
        prop_assert_eq!(counts.records_written + counts.records_quarantined, counts.records_read);
        prop_assert_eq!(counts.records_quarantined, late.len() as u64);
        // Every written record of the tail holds its text; none had a late field.
        let bytes = output(dir.path(), "JsonLines").map_err(TestCaseError::fail)?;
        let mut written = BTreeMap::new();
        for line in std::str::from_utf8(&bytes).unwrap().lines() {
            let value: Value = serde_json::from_str(line).unwrap();
            let id = value["id"].as_i64().unwrap();
            if id > SAMPLE as i64 {
                written.insert(id, value["t"].as_str().unwrap_or_default().to_owned());
            }
        }
        prop_assert_eq!(written, kept);
        // Every record with a late field is quarantined, its reason naming
        // the field and its content kept.
        let mut quarantined = BTreeMap::new();
        for path in files(&dir.path().join("bad")) {
            let text = std::fs::read_to_string(path).unwrap();
            for line in text.lines() {
                let entry: Value = serde_json::from_str(line).unwrap();
                let content = entry.get("record").filter(|r| r.is_object()).cloned().unwrap_or_else(|| {
                    serde_json::from_str(entry["raw"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
                });
                let id = content["id"].as_i64().unwrap_or_default();
                quarantined.insert(id, (entry["reason"].as_str().unwrap_or("").to_owned(), content));
            }
        }
        prop_assert_eq!(quarantined.len(), late.len());
        for (id, (name, value)) in &late {
            let Some((reason, content)) = quarantined.get(id) else {
                return Err(TestCaseError::fail(format!("record {id} with late field {name:?} was not quarantined")));
            };
            prop_assert!(reason.contains(name), "record {}: reason {:?} does not name {:?}", id, reason, name);
            prop_assert_eq!(content[*name].as_str(), Some(value.as_str()));
        }
    }
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
