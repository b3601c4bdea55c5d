//! JSON schema inference from sample records, and how the records read
//! afterwards are held to the inferred schema.
//!
//! Inference follows arrow-json's type rules (a field seen with different
//! scalar types is text, integers with floats are floats, a scalar with a
//! list is a list of the scalar), with three differences that keep every
//! record accounted for:
//!
//! - A record whose values do not fit the types of the records before it
//!   (an object where they had a number, a list of objects where they had
//!   a list of numbers) is left out of the inference instead of failing it.
//!   The reader reads it like any other record: it is a bad record, with
//!   the same reason and location as the same record after the sample.
//! - A value nested deeper than [`DEPTH`] levels is text: its JSON as it is
//!   in the record. Records read later get the same treatment, so nothing
//!   below that depth is lost.
//! - Fields come in the order their keys first appear in the records, at
//!   every nesting level, so a source's columns come out the same way on
//!   every run.
//!
//! A field that no sampled record has — at the top level or inside a known
//! object — is a *late field*: [`fit`] refuses a record that has one, so the
//! readers make it a bad record for the Flow's error policy, never a record
//! written without the field.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Levels of nesting below a record that inference turns into columns; an
/// object or list nested deeper is one text column holding its JSON. A
/// record's fields are at level 1, the fields of an object in one of them
/// at level 2, the elements of a list at one level below the list.
pub const DEPTH: usize = 32;

/// A schema inferred from the first records of a source.
#[derive(Debug, Clone)]
pub struct Inferred {
    /// The schema.
    pub schema: Schema,
    /// Records sampled: those the schema came from and those left out of
    /// it (not JSON objects, or not fitting the records before them).
    pub sampled: usize,
    /// Whether a sampled record held an object or list nested deeper than
    /// [`DEPTH`].
    pub deep: bool,
}

/// The schema JSON records are decoded to, and what a field outside it is.
#[derive(Debug, Clone)]
pub struct RecordSchema {
    /// The schema.
    pub schema: SchemaRef,
    /// For a schema inferred from a sample, the records sampled: a record
    /// with a field outside the schema is a bad record. `None` for a schema
    /// that is declared (by the application's API, a file's header or
    /// footer): fields outside it are not read.
    pub sampled: Option<usize>,
    /// Records hold objects or lists nested deeper than [`DEPTH`], which
    /// are turned into their JSON text before decoding.
    pub deep: bool,
}

impl RecordSchema {
    /// The schema of `inferred`, holding records to it.
    pub fn inferred(inferred: Inferred) -> Self {
        Self {
            schema: Arc::new(inferred.schema),
            sampled: Some(inferred.sampled),
            deep: inferred.deep,
        }
    }

    /// A declared schema: fields outside it are not read.
    pub fn declared(schema: SchemaRef) -> Self {
        Self {
            schema,
            sampled: None,
            deep: false,
        }
    }

    /// Whether a field outside the schema makes a record bad.
    pub fn strict(&self) -> bool {
        self.sampled.is_some()
    }
}

// ---------------------------------------------------------------- inference

/// What the sampled values of one field have been, as arrow-json infers it.
#[derive(Debug, Clone)]
enum Kind {
    /// Only nulls (or nothing) so far.
    Any,
    /// Scalars of these types.
    Scalar(Vec<DataType>),
    /// Lists of this element kind.
    List(Box<Kind>),
    /// Objects with these fields, in the order their keys first appeared.
    Object(Vec<(String, Kind)>),
}

/// Two kinds that cannot be merged: the record holding the second is left
/// out of the inference.
#[derive(Debug)]
struct Conflict;

/// The entry of `key` in `fields`, added as `Any` when missing. Records
/// usually give their keys in the same order: the key at `hint` is tried
/// first.
fn entry(fields: &mut Vec<(String, Kind)>, key: String, hint: usize) -> &mut Kind {
    let index = match fields.get(hint) {
        Some((k, _)) if *k == key => hint,
        _ => match fields.iter().position(|(k, _)| *k == key) {
            Some(index) => index,
            None => {
                fields.push((key, Kind::Any));
                fields.len() - 1
            }
        },
    };
    &mut fields[index].1
}

impl Kind {
    /// arrow-json's `InferredType::merge`.
    fn merge(&mut self, other: Kind) -> Result<(), Conflict> {
        match (self, other) {
            (Kind::List(mine), Kind::List(theirs)) => mine.merge(*theirs),
            (Kind::Scalar(mine), Kind::Scalar(theirs)) => {
                for t in theirs {
                    if !mine.contains(&t) {
                        mine.push(t);
                    }
                }
                Ok(())
            }
            (Kind::Object(mine), Kind::Object(theirs)) => {
                for (hint, (key, kind)) in theirs.into_iter().enumerate() {
                    entry(mine, key, hint).merge(kind)?;
                }
                Ok(())
            }
            (mine @ Kind::Any, theirs) => {
                *mine = theirs;
                Ok(())
            }
            (_, Kind::Any) => Ok(()),
            (Kind::List(item), scalar @ Kind::Scalar(_)) => item.merge(scalar),
            (mine @ Kind::Scalar(_), Kind::List(mut item)) => {
                item.merge(mine.clone())?;
                *mine = Kind::List(item);
                Ok(())
            }
            _ => Err(Conflict),
        }
    }

    /// arrow-json's `generate_datatype`.
    fn data_type(&self) -> DataType {
        match self {
            Kind::Any => DataType::Null,
            Kind::Scalar(types) => coerce(types),
            Kind::List(item) => list_of(item.data_type()),
            Kind::Object(fields) => DataType::Struct(fields_of(fields)),
        }
    }
}

fn list_of(data_type: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(data_type, true)))
}

fn fields_of(fields: &[(String, Kind)]) -> Fields {
    fields
        .iter()
        .map(|(name, kind)| Field::new(name, kind.data_type(), true))
        .collect()
}

/// arrow-json's `coerce_data_type`: one type for scalars seen together.
fn coerce(types: &[DataType]) -> DataType {
    let mut types = types.iter().cloned();
    let first = types.next().unwrap_or(DataType::Utf8);
    types.fold(first, |left, right| match (left, right) {
        (DataType::Null, other) | (other, DataType::Null) => other,
        (DataType::Boolean, DataType::Boolean) => DataType::Boolean,
        (DataType::Int64, DataType::Int64) => DataType::Int64,
        (DataType::Float64 | DataType::Int64, DataType::Float64)
        | (DataType::Float64, DataType::Int64) => DataType::Float64,
        (DataType::List(l), DataType::List(r)) => {
            list_of(coerce(&[l.data_type().clone(), r.data_type().clone()]))
        }
        (DataType::List(item), scalar) | (scalar, DataType::List(item)) => {
            list_of(coerce(&[item.data_type().clone(), scalar]))
        }
        _ => DataType::Utf8,
    })
}

/// The JSON type of a value, for arrow-json's list rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Null,
    Scalar,
    List,
    Object,
}

/// A sampled value: its kind and JSON type; `None` when its parts conflict
/// (a list mixing objects and numbers).
type Sampled = Option<(Kind, Shape)>;

fn scalar(data_type: DataType) -> Sampled {
    Some((Kind::Scalar(vec![data_type]), Shape::Scalar))
}

/// Reads one value at `depth` into its kind; an object or list at
/// [`DEPTH`] is text.
struct Sample<'a> {
    depth: usize,
    deep: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for Sample<'_> {
    type Value = Sampled;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Sampled, D::Error> {
        if self.depth < DEPTH {
            return deserializer.deserialize_any(self);
        }
        let raw = <&RawValue>::deserialize(deserializer)?;
        Ok(match raw.get().as_bytes().first() {
            Some(b'{' | b'[') => {
                *self.deep = true;
                scalar(DataType::Utf8)
            }
            _ => serde_json::from_str::<Alone>(raw.get())
                .ok()
                .and_then(|v| v.0),
        })
    }
}

/// A scalar below [`DEPTH`] (where lists and objects are text), read on
/// its own.
struct Alone(Sampled);

impl<'de> Deserialize<'de> for Alone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut deep = false;
        deserializer
            .deserialize_any(Sample {
                depth: 0,
                deep: &mut deep,
            })
            .map(Alone)
    }
}

impl<'de> Visitor<'de> for Sample<'_> {
    type Value = Sampled;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Sampled, E> {
        Ok(Some((Kind::Any, Shape::Null)))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Sampled, E> {
        Ok(scalar(DataType::Boolean))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Sampled, E> {
        Ok(scalar(DataType::Int64))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Sampled, E> {
        Ok(scalar(if i64::try_from(n).is_ok() {
            DataType::Int64
        } else {
            DataType::Float64
        }))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Sampled, E> {
        Ok(scalar(DataType::Float64))
    }

    fn visit_str<E>(self, _: &str) -> Result<Sampled, E> {
        Ok(scalar(DataType::Utf8))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sampled, A::Error> {
        let mut fields: Vec<(String, Kind)> = Vec::new();
        // Keys seen, for a key given twice (the decoder keeps the last).
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut fits = true;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value = map.next_value_seed(Sample {
                depth: self.depth + 1,
                deep: &mut *self.deep,
            })?;
            if !fits {
                continue;
            }
            // arrow-json: a null marks the field; anything else merges.
            match (value, index.get(key.as_ref())) {
                (Some((kind, _)), Some(&at)) => fits = fields[at].1.merge(kind).is_ok(),
                (Some((kind, _)), None) => {
                    index.insert(key.as_ref().to_owned(), fields.len());
                    fields.push((key.into_owned(), kind));
                }
                (None, _) => fits = false,
            }
        }
        Ok(fits.then_some((Kind::Object(fields), Shape::Object)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sampled, A::Error> {
        // arrow-json: the first element says what the list holds; a list of
        // lists or of objects holds nothing else, a list of scalars no
        // lists or objects.
        let mut first: Option<Shape> = None;
        let mut item = Kind::Any;
        let mut fits = true;
        while let Some(element) = seq.next_element_seed(Sample {
            depth: self.depth + 1,
            deep: &mut *self.deep,
        })? {
            if !fits {
                continue;
            }
            let Some((kind, shape)) = element else {
                fits = false;
                continue;
            };
            let expected = *first.get_or_insert(shape);
            fits = match (expected, shape) {
                (Shape::List | Shape::Object, s) if s != expected => false,
                (Shape::Null | Shape::Scalar, Shape::List | Shape::Object) => false,
                (_, Shape::Null) => true,
                _ => item.merge(kind).is_ok(),
            };
        }
        let item = match (first, item) {
            // Nulls only: an empty set of scalar types, which is text.
            (Some(Shape::Null | Shape::Scalar), Kind::Any) => Kind::Scalar(Vec::new()),
            (_, item) => item,
        };
        Ok(fits.then(|| (Kind::List(Box::new(item)), Shape::List)))
    }
}

/// Infers the schema of the first `max` records (byte slices holding one
/// JSON value each). Records that are not JSON objects, or whose values do
/// not fit the types of the records before them, are left out of the
/// inference (they are bad records when read). Fields come in the order
/// their keys first appear, nested ones too; objects and lists nested
/// deeper than [`DEPTH`] are text.
pub fn infer_json_records<'a>(records: impl Iterator<Item = &'a [u8]>, max: usize) -> Inferred {
    let mut fields: Kind = Kind::Object(Vec::new());
    let mut sampled = 0;
    let mut deep = false;
    for record in records.take(max) {
        sampled += 1;
        let mut seen_deep = false;
        let mut deserializer = serde_json::Deserializer::from_slice(record);
        let read = Sample {
            depth: 0,
            deep: &mut seen_deep,
        }
        .deserialize(&mut deserializer)
        .and_then(|sampled| deserializer.end().map(|()| sampled));
        let Ok(Some((kind @ Kind::Object(_), _))) = read else {
            continue;
        };
        let mut merged = fields.clone();
        if merged.merge(kind).is_ok() {
            fields = merged;
            deep |= seen_deep;
        }
    }
    let schema = match &fields {
        Kind::Object(fields) => Schema::new(fields_of(fields)),
        _ => Schema::empty(),
    };
    Inferred {
        schema,
        sampled,
        deep,
    }
}

// ------------------------------------------------------------ late fields

/// A record with a field the inferred schema lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateField {
    /// The field's path (`meta.source` for a key inside object `meta`).
    pub field: String,
    /// Why the record is bad, and what would read it.
    pub reason: String,
}

/// The reason a record with late field `field` is bad, when the schema was
/// inferred from `sampled` records.
pub fn late_field_reason(field: &str, sampled: usize) -> String {
    let records = if sampled == 1 { "record" } else { "records" };
    format!(
        "field {field:?} first appears after the {sampled} {records} the schema was inferred from; to read it, make sure one of those records has it"
    )
}

/// What a record holds that its schema does not say.
#[derive(Default)]
struct Found {
    /// Address of the record's first byte, to turn borrowed values into
    /// byte ranges.
    base: usize,
    /// Keys from the record to the value being read.
    path: Vec<String>,
    /// The first late field.
    late: Option<String>,
    /// Byte ranges of objects and lists at [`DEPTH`].
    deep: Vec<Range<usize>>,
}

/// What a value is expected to be.
#[derive(Clone, Copy)]
enum Expect<'s> {
    /// An object with these fields.
    Object(&'s Fields),
    /// A list with elements of this type.
    List(&'s DataType),
    /// Something whose keys are not checked.
    Other,
}

fn expect(data_type: &DataType) -> Expect<'_> {
    match data_type {
        DataType::Struct(fields) => Expect::Object(fields),
        DataType::List(item) | DataType::LargeList(item) => Expect::List(item.data_type()),
        _ => Expect::Other,
    }
}

/// Walks a value against the type the schema gives it.
struct Walk<'s, 'f> {
    expect: Expect<'s>,
    depth: usize,
    found: &'f mut Found,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.depth >= DEPTH {
            let raw = <&'de RawValue>::deserialize(deserializer)?;
            let text = raw.get();
            if matches!(text.as_bytes().first(), Some(b'{' | b'[')) {
                let start = (text.as_ptr() as usize).wrapping_sub(self.found.base);
                self.found.deep.push(start..start + text.len());
            }
            return Ok(());
        }
        match self.expect {
            Expect::Other => deserializer.deserialize_ignored_any(IgnoredAny).map(|_| ()),
            _ => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Expect::Object(fields) = self.expect else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        // Records usually give their keys in the schema's order: the field at
        // the key's position is tried first.
        let mut position = 0;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let field = match fields.get(position) {
                Some(field) if field.name() == key.as_ref() => Some(field),
                _ => fields.iter().find(|f| f.name() == key.as_ref()),
            };
            position += 1;
            match field {
                Some(field) if self.found.late.is_none() => {
                    self.found.path.push(key.into_owned());
                    map.next_value_seed(Walk {
                        expect: expect(field.data_type()),
                        depth: self.depth + 1,
                        found: &mut *self.found,
                    })?;
                    self.found.path.pop();
                }
                None if self.found.late.is_none() => {
                    let mut path = self.found.path.join(".");
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&key);
                    self.found.late = Some(path);
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Expect::List(item) = self.expect else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while seq
            .next_element_seed(Walk {
                expect: expect(item),
                depth: self.depth + 1,
                found: &mut *self.found,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Holds one record (a JSON object) to `schema` before it is decoded.
///
/// Under an inferred schema, a record with a late field is refused, naming
/// the first one; otherwise the record comes back with its objects and
/// lists nested deeper than [`DEPTH`] turned into JSON strings of their
/// text (borrowed unchanged when it has none). A declared schema takes the
/// record as it is. A record that is not JSON passes: decoding says why.
pub fn fit<'a>(record: &'a [u8], schema: &RecordSchema) -> Result<Cow<'a, [u8]>, LateField> {
    let Some(sampled) = schema.sampled else {
        return Ok(Cow::Borrowed(record));
    };
    let mut found = Found {
        base: record.as_ptr() as usize,
        ..Found::default()
    };
    let mut deserializer = serde_json::Deserializer::from_slice(record);
    let walked = Walk {
        expect: Expect::Object(schema.schema.fields()),
        depth: 0,
        found: &mut found,
    }
    .deserialize(&mut deserializer);
    if walked.is_err() {
        return Ok(Cow::Borrowed(record));
    }
    if let Some(field) = found.late {
        return Err(LateField {
            reason: late_field_reason(&field, sampled),
            field,
        });
    }
    if found.deep.is_empty() {
        return Ok(Cow::Borrowed(record));
    }
    let mut text = Vec::with_capacity(record.len() + 16 * found.deep.len());
    let mut at = 0;
    for range in found.deep {
        if range.start < at || range.end > record.len() {
            continue;
        }
        text.extend_from_slice(&record[at..range.start]);
        let value = String::from_utf8_lossy(&record[range.clone()]);
        // Writing a string to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut text, value.as_ref());
        at = range.end;
    }
    text.extend_from_slice(&record[at..]);
    Ok(Cow::Owned(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_the_order_of_first_appearance_at_every_level() {
        let records: [&[u8]; 2] = [
            br#"{"zeta":1,"alpha":{"y":true,"b":"x"},"mid":[{"q":1,"a":2}]}"#,
            br#"{"new":1.5,"zeta":2}"#,
        ];
        let schema = infer_json_records(records.into_iter(), 10).schema;
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "mid", "new"]);
        let DataType::Struct(inner) = schema.field(1).data_type() else {
            panic!("struct")
        };
        assert_eq!(
            inner.iter().map(|f| f.name().as_str()).collect::<Vec<_>>(),
            ["y", "b"]
        );
        let DataType::List(item) = schema.field(2).data_type() else {
            panic!("list")
        };
        let DataType::Struct(elements) = item.data_type() else {
            panic!("struct items")
        };
        assert_eq!(
            elements
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>(),
            ["q", "a"]
        );
    }

    #[test]
    fn types_follow_arrow_json_and_a_record_that_conflicts_is_left_out() {
        let records: [&[u8]; 6] = [
            br#"{"n":1,"mixed":1,"tags":[],"maybe":null,"list":[1]}"#,
            br#"{"n":2.5,"mixed":"a","tags":["x"],"list":2}"#,
            br#"{"n":{"oops":1}}"#,
            br#"[1,2]"#,
            br#"not json"#,
            br#"{"late_in_sample":[null]}"#,
        ];
        let inferred = infer_json_records(records.into_iter(), 10);
        assert_eq!(inferred.sampled, 6);
        let types: Vec<(&str, &DataType)> = inferred
            .schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect();
        assert_eq!(
            types,
            [
                ("n", &DataType::Float64),
                ("mixed", &DataType::Utf8),
                ("tags", &list_of(DataType::Utf8)),
                ("maybe", &DataType::Null),
                ("list", &list_of(DataType::Int64)),
                ("late_in_sample", &list_of(DataType::Utf8)),
            ]
        );
    }

    fn nested(levels: usize, leaf: &str) -> String {
        let mut text = leaf.to_owned();
        for _ in 0..levels {
            text = format!(r#"{{"a":{text}}}"#);
        }
        text
    }

    #[test]
    fn objects_deeper_than_the_depth_are_text_and_records_are_fitted_to_it() {
        // The record is level 0: "deep" at 1, its value's "a"s below.
        let record = format!(r#"{{"id":1,"deep":{}}}"#, nested(200, "7"));
        let inferred = infer_json_records(std::iter::once(record.as_bytes()), 10);
        assert!(inferred.deep);
        let mut data_type = inferred.schema.field(1).data_type().clone();
        let mut levels = 1;
        while let DataType::Struct(fields) = data_type {
            data_type = fields[0].data_type().clone();
            levels += 1;
        }
        assert_eq!((levels, data_type), (DEPTH, DataType::Utf8));
        let schema = RecordSchema::inferred(inferred);
        let fitted = fit(record.as_bytes(), &schema).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&fitted).unwrap();
        let mut at = &value["deep"];
        for _ in 1..DEPTH {
            at = &at["a"];
        }
        assert_eq!(at.as_str(), Some(nested(200 - (DEPTH - 1), "7").as_str()));
    }

    #[test]
    fn a_field_outside_an_inferred_schema_is_late_at_any_level() {
        let sample: [&[u8]; 1] = [br#"{"id":1,"meta":{"a":1},"items":[{"sku":"x"}]}"#];
        let schema = RecordSchema::inferred(infer_json_records(sample.into_iter(), 10));
        let late = |record: &[u8]| fit(record, &schema).err().map(|l| l.field);
        assert_eq!(late(br#"{"id":2,"meta":{"a":2}}"#), None);
        assert_eq!(late(br#"{"id":2,"x":1}"#).as_deref(), Some("x"));
        assert_eq!(
            late(br#"{"meta":{"a":2,"b":3}}"#).as_deref(),
            Some("meta.b")
        );
        assert_eq!(
            late(br#"{"items":[{"sku":"y"},{"qty":1}]}"#).as_deref(),
            Some("items.qty")
        );
        let reason = fit(br#"{"x":1}"#, &schema).unwrap_err().reason;
        assert_eq!(
            reason,
            r#"field "x" first appears after the 1 record the schema was inferred from; to read it, make sure one of those records has it"#
        );
        let declared = RecordSchema::declared(schema.schema.clone());
        assert!(fit(br#"{"x":1}"#, &declared).is_ok());
    }
}
