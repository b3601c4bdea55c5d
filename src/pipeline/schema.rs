//! JSON schema inference from sample records.
//!
//! Inference follows arrow-json's type rules (a field seen with different
//! scalar types is text, integers with floats are floats, a scalar with a
//! list is a list of the scalar), with two differences:
//!
//! - A record whose values do not fit the types of the records before it
//!   (an object where they had a number, a list of objects where they had
//!   a list of numbers) is left out of the inference instead of failing it.
//!   The reader reads it like any other record: it is a bad record, with
//!   the same reason and location as the same record after the sample.
//! - Fields come in the order their keys first appear in the records, at
//!   every nesting level, so a source's columns come out the same way on
//!   every run.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

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

/// Reads one value into its kind.
struct Sample;

impl<'de> DeserializeSeed<'de> for Sample {
    type Value = Sampled;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Sampled, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Sample {
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
            let value = map.next_value_seed(Sample)?;
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
        while let Some(element) = seq.next_element_seed(Sample)? {
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
/// their keys first appear, nested ones too.
pub fn infer_json_records<'a>(records: impl Iterator<Item = &'a [u8]>, max: usize) -> Schema {
    let mut fields: Kind = Kind::Object(Vec::new());
    for record in records.take(max) {
        let mut deserializer = serde_json::Deserializer::from_slice(record);
        let read = Sample
            .deserialize(&mut deserializer)
            .and_then(|sampled| deserializer.end().map(|()| sampled));
        let Ok(Some((kind @ Kind::Object(_), _))) = read else {
            continue;
        };
        let mut merged = fields.clone();
        if merged.merge(kind).is_ok() {
            fields = merged;
        }
    }
    match &fields {
        Kind::Object(fields) => Schema::new(fields_of(fields)),
        _ => Schema::empty(),
    }
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
        let schema = infer_json_records(records.into_iter(), 10);
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
        let schema = infer_json_records(records.into_iter(), 10);
        let types: Vec<(&str, &DataType)> = schema
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
}
