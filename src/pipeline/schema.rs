//! Schema inference from sample records.
//!
//! arrow-json infers types well but returns fields in an arbitrary order;
//! here the inferred fields are put in the order their keys first appear in
//! the records, at every nesting level, so a source's columns come out the
//! same way on every run.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef, Fields, Schema};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The order in which object keys first appear, at every level.
#[derive(Debug, Default)]
struct KeyOrder {
    keys: Vec<(String, KeyOrder)>,
}

impl KeyOrder {
    fn child(&mut self, key: &str) -> &mut KeyOrder {
        let index = match self.keys.iter().position(|(k, _)| k == key) {
            Some(index) => index,
            None => {
                self.keys.push((key.to_owned(), KeyOrder::default()));
                self.keys.len() - 1
            }
        };
        &mut self.keys[index].1
    }

    fn position(&self, key: &str) -> usize {
        self.keys
            .iter()
            .position(|(k, _)| k == key)
            .unwrap_or(usize::MAX)
    }

    fn get(&self, key: &str) -> Option<&KeyOrder> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, o)| o)
    }
}

impl<'de> DeserializeSeed<'de> for &mut KeyOrder {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut KeyOrder {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            map.next_value_seed(self.child(&key))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // The elements of a list share one order.
        while seq.next_element_seed(&mut *self)?.is_some() {}
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

fn reorder_type(data_type: &DataType, order: Option<&KeyOrder>) -> DataType {
    match (data_type, order) {
        (DataType::Struct(fields), Some(order)) => DataType::Struct(reorder(fields, order)),
        (DataType::List(item), order) => DataType::List(Arc::new(
            item.as_ref()
                .clone()
                .with_data_type(reorder_type(item.data_type(), order)),
        )),
        (other, _) => other.clone(),
    }
}

/// `fields` in the order their keys first appeared, nested ones too.
fn reorder(fields: &Fields, order: &KeyOrder) -> Fields {
    let mut sorted: Vec<&FieldRef> = fields.iter().collect();
    sorted.sort_by_key(|f| order.position(f.name()));
    sorted
        .into_iter()
        .map(|f| {
            let data_type = reorder_type(f.data_type(), order.get(f.name()));
            Arc::new(f.as_ref().clone().with_data_type(data_type))
        })
        .collect()
}

/// Infers the schema of the first `max` object records (byte slices holding
/// one JSON value each; non-objects are skipped). Fields come in the order
/// their keys first appear in the records, nested ones too: arrow-json's
/// inference alone gives an arbitrary order, which would change output
/// column order from run to run.
pub fn infer_json_records<'a>(
    records: impl Iterator<Item = &'a [u8]>,
    max: usize,
) -> Result<Schema, arrow::error::ArrowError> {
    let sample: Vec<&[u8]> = records
        .filter(|r| r.first() == Some(&b'{'))
        .take(max)
        .collect();
    let values = sample
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(r).ok())
        .map(Ok);
    let schema = arrow::json::reader::infer_json_schema_from_iterator(values)?;
    let mut order = KeyOrder::default();
    for record in &sample {
        let mut deserializer = serde_json::Deserializer::from_slice(record);
        // Records that are not JSON are skipped by the inference too.
        let _ = (&mut order).deserialize(&mut deserializer);
    }
    Ok(Schema::new(reorder(schema.fields(), &order)))
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
        let schema = infer_json_records(records.into_iter(), 10).unwrap();
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
}
