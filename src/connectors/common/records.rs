//! Records out of a page: the JSON Pointer walk that finds them, and their
//! decoding into Arrow.
//!
//! [`split`] parses a page once with serde_json, following the record
//! selector (and, for `Cursor` and `NextUrl` pagination, the pointer to the
//! next cursor or URL) and skipping everything else without allocating. The
//! records come out as byte ranges of the body (borrowed `RawValue`s), so a
//! page is never copied: the ranges and the body travel to a worker, where
//! [`decode`] feeds each record's bytes to arrow-json's decoder. A record
//! that does not decode (not an object, a value of the wrong type, a field
//! an inferred schema lacks) becomes a [`Malformed`] located at
//! `{origin}:record {n}` (its 1-based index in the page as read), and the
//! page's other records are kept, each with its index.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use arrow::record_batch::RecordBatch;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::pipeline::format::Malformed;
use crate::pipeline::location::Positions;
use crate::pipeline::schema::{RecordSchema, fit};

/// A JSON Pointer (RFC 6901) as its reference tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pointer(Vec<String>);

impl Pointer {
    /// Parses `/a/b~1c` (empty for the whole document). The caller has
    /// checked that a non-empty pointer starts with `/`.
    pub fn parse(text: &str) -> Self {
        if text.is_empty() {
            return Self(Vec::new());
        }
        Self(
            text.trim_start_matches('/')
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect(),
        )
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for token in &self.0 {
            write!(f, "/{}", token.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

/// What the records selector found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// An array.
    Array,
    /// `null`: no records.
    Null,
    /// Nothing at the pointer.
    Missing,
    /// Something other than an array or null (its JSON type).
    Other(&'static str),
}

/// A page split into records.
#[derive(Debug, Clone)]
pub struct Split {
    /// Byte ranges of the records in the body.
    pub records: Vec<Range<usize>>,
    /// What the selector found.
    pub found: Found,
    /// The value at the extra pointer (cursor or next URL) as text: a
    /// string's content or a number; `None` when missing, null or empty.
    pub extra: Option<String>,
    /// The JSON type at the extra pointer when it is neither text, a number
    /// nor null.
    pub extra_other: Option<&'static str>,
}

/// Why a page could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotJson(pub String);

#[derive(Default)]
struct Out<'de> {
    records: Vec<&'de RawValue>,
    found: Option<Found>,
    extra: Option<&'de RawValue>,
}

/// Where a walk stands: which targets continue below this node.
struct Walk<'a, 'de> {
    depth: usize,
    records: Option<&'a [String]>,
    extra: Option<&'a [String]>,
    out: &'a mut Out<'de>,
}

fn json_type(first: u8) -> &'static str {
    match first {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// Collects the elements of the records array as raw values, in the same
/// pass that reads the page.
struct RecordsSeed<'a, 'de>(&'a mut Out<'de>);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).max(64));
        while let Some(record) = seq.next_element::<&'de RawValue>()? {
            records.push(record);
        }
        self.0.records = records;
        self.0.found = Some(Found::Array);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.0.found = Some(Found::Other("an object"));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.found = Some(Found::Null);
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.0.found = Some(Found::Other("a boolean"));
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.0.found = Some(Found::Other("a number"));
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.0.found = Some(Found::Other("a number"));
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.0.found = Some(Found::Other("a number"));
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.0.found = Some(Found::Other("a string"));
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let records_here = self.records.is_some_and(|p| p.len() == self.depth);
        let extra_here = self.extra.is_some_and(|p| p.len() == self.depth);
        if records_here {
            return RecordsSeed(self.out).deserialize(deserializer);
        }
        if extra_here {
            self.out.extra = Some(serde::Deserialize::deserialize(deserializer)?);
            return Ok(());
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Walk<'_, 'de> {
    /// The targets that continue through `token`.
    fn through(&self, token: &str) -> (bool, bool) {
        let next =
            |p: Option<&[String]>| p.is_some_and(|p| p.get(self.depth).is_some_and(|t| t == token));
        (next(self.records), next(self.extra))
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let (records, extra) = self.through(&key);
            if records || extra {
                map.next_value_seed(Walk {
                    depth: self.depth + 1,
                    records: self.records.filter(|_| records),
                    extra: self.extra.filter(|_| extra),
                    out: &mut *self.out,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let token = index.to_string();
            let (records, extra) = self.through(&token);
            let more = if records || extra {
                seq.next_element_seed(Walk {
                    depth: self.depth + 1,
                    records: self.records.filter(|_| records),
                    extra: self.extra.filter(|_| extra),
                    out: &mut *self.out,
                })?
                .is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
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

/// Splits `body` at `records` (the record selector), reading the value at
/// `extra` too when given.
pub fn split(body: &[u8], records: &Pointer, extra: Option<&Pointer>) -> Result<Split, NotJson> {
    let mut out = Out::default();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    Walk {
        depth: 0,
        records: Some(&records.0),
        extra: extra.map(|p| p.0.as_slice()),
        out: &mut out,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end())
    .map_err(|e| NotJson(e.to_string()))?;
    let base = body.as_ptr() as usize;
    let ranges = out
        .records
        .iter()
        .map(|raw| {
            let start = (raw.get().as_ptr() as usize).wrapping_sub(base);
            start..start + raw.get().len()
        })
        .filter(|r| r.end <= body.len())
        .collect();
    let (extra, extra_other) = match out.extra.map(RawValue::get) {
        None => (None, None),
        Some(text) => match text.as_bytes().first() {
            Some(b'"') => {
                let value: String = serde_json::from_str(text).unwrap_or_default();
                ((!value.is_empty()).then_some(value), None)
            }
            Some(b'-' | b'0'..=b'9') => (Some(text.to_owned()), None),
            Some(b'n') | None => (None, None),
            Some(first) => (None, Some(json_type(*first))),
        },
    };
    Ok(Split {
        records: ranges,
        found: out.found.unwrap_or(Found::Missing),
        extra,
        extra_other,
    })
}

/// The field an Arrow decoder error names (`whilst decoding field 'x'`).
fn field_of(reason: &str) -> Option<String> {
    let start = reason.find("field '")? + "field '".len();
    let end = reason[start..].find('\'')?;
    Some(reason[start..start + end].to_owned())
}

fn decoder(schema: &RecordSchema, rows: usize) -> Result<arrow::json::reader::Decoder, String> {
    crate::pipeline::format::json_decoder(schema, rows).map_err(|e| e.to_string())
}

fn decode_all<'a>(
    schema: &RecordSchema,
    records: impl ExactSizeIterator<Item = &'a [u8]>,
) -> Result<RecordBatch, String> {
    // Number fields are decoded as text, then read by the number rule.
    let mut decoder = decoder(schema, records.len())?;
    for record in records {
        decoder.decode(record).map_err(|e| e.to_string())?;
        // A separator, so that a bare number ends where the record ends.
        decoder.decode(b"\n").map_err(|e| e.to_string())?;
    }
    crate::pipeline::format::json_numbers(
        decoder.flush().map_err(|e| e.to_string())?,
        &schema.schema,
    )
    .map_err(|e| e.to_string())
}

/// Decodes the records of a page, the record at `records[i]` being at
/// position `positions.of(i)` of the page: the ones that decode in a batch
/// with their positions, the others as [`Malformed`] at
/// `{origin}:record {n}`. Under an inferred schema a record with a field
/// the schema lacks is one of the others (see
/// [`crate::pipeline::schema::fit`]).
pub fn decode(
    body: &[u8],
    records: &[Range<usize>],
    schema: &RecordSchema,
    origin: &str,
    positions: &Positions,
) -> Result<(RecordBatch, Vec<Malformed>, Positions), String> {
    let fitted: Vec<Cow<'_, [u8]>>;
    let whole = if schema.deep {
        // Values nested deeper than the inference depth become text.
        fitted = records
            .iter()
            .map(|r| fit(&body[r.clone()], schema).unwrap_or(Cow::Borrowed(&body[r.clone()])))
            .collect();
        decode_all(schema, fitted.iter().map(AsRef::as_ref))
    } else {
        decode_all(schema, records.iter().map(|r| &body[r.clone()]))
    };
    if let Ok(batch) = whole {
        return Ok((batch, Vec::new(), positions.clone()));
    }
    // Isolate the records that fail, then decode the others together.
    let mut good = Vec::with_capacity(records.len());
    let mut kept = Vec::with_capacity(records.len());
    let mut malformed = Vec::new();
    for (i, range) in records.iter().enumerate() {
        let record = &body[range.clone()];
        let result = if record.first() == Some(&b'{') {
            fit(record, schema)
                .map_err(|late| (late.reason, Some(late.field)))
                .and_then(|fitted| {
                    decode_all(schema, std::iter::once(fitted.as_ref()))
                        .map(|_| fitted)
                        .map_err(|reason| {
                            let field = field_of(&reason);
                            (
                                reason
                                    .replace("Json error: ", "")
                                    .replace("Parser error: ", ""),
                                field,
                            )
                        })
                })
        } else {
            Err((
                format!(
                    "not a JSON object but {}",
                    record.first().map_or("nothing", |b| json_type(*b))
                ),
                None,
            ))
        };
        match result {
            Ok(fitted) => {
                good.push(fitted);
                kept.push(i);
            }
            Err((reason, field)) => malformed.push(Malformed {
                location: positions.locate(origin, i),
                raw: String::from_utf8_lossy(record).into_owned(),
                field,
                reason,
            }),
        }
    }
    let batch = decode_all(schema, good.iter().map(AsRef::as_ref))?;
    Ok((batch, malformed, positions.select(kept)))
}

/// Infers the schema of the first `max` object records, fields in the order
/// their keys first appear (see [`crate::pipeline::schema`]).
pub use crate::pipeline::schema::infer_json_records as infer;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::pipeline::location::Unit;

    fn texts(body: &[u8], split: &Split) -> Vec<String> {
        split
            .records
            .iter()
            .map(|r| String::from_utf8_lossy(&body[r.clone()]).into_owned())
            .collect()
    }

    #[test]
    fn pointers_unescape() {
        assert_eq!(Pointer::parse("").0, Vec::<String>::new());
        assert_eq!(Pointer::parse("/a~1b/c~0d/0").0, vec!["a/b", "c~d", "0"]);
        assert_eq!(Pointer::parse("/a~1b").to_string(), "/a~1b");
    }

    #[test]
    fn records_and_cursor_in_one_pass() {
        let body = br#"{"meta":{"next":"abc","n":2},"data":{"items":[{"id":1}, {"id":2,"s":"x\"y"}]},"more":[1,2]}"#;
        let split = split(
            body,
            &Pointer::parse("/data/items"),
            Some(&Pointer::parse("/meta/next")),
        )
        .unwrap();
        assert_eq!(
            texts(body, &split),
            vec![r#"{"id":1}"#, r#"{"id":2,"s":"x\"y"}"#]
        );
        assert_eq!(split.found, Found::Array);
        assert_eq!(split.extra.as_deref(), Some("abc"));
    }

    #[test]
    fn whole_body_arrays_numbers_nulls_and_indexes() {
        let body = br#"[{"a":1},{"a":2}]"#;
        let s = split(body, &Pointer::parse(""), None).unwrap();
        assert_eq!(s.records.len(), 2);
        let body = br#"{"pages":[{"rows":[]},{"rows":[{"a":1}]}],"cursor":42}"#;
        let s = split(
            body,
            &Pointer::parse("/pages/1/rows"),
            Some(&Pointer::parse("/cursor")),
        )
        .unwrap();
        assert_eq!(texts(body, &s), vec![r#"{"a":1}"#]);
        assert_eq!(s.extra.as_deref(), Some("42"));
        let s = split(
            br#"{"data":null,"next":""}"#,
            &Pointer::parse("/data"),
            Some(&Pointer::parse("/next")),
        )
        .unwrap();
        assert_eq!((s.found, s.extra), (Found::Null, None));
        let s = split(br#"{"other":[]}"#, &Pointer::parse("/data"), None).unwrap();
        assert_eq!(s.found, Found::Missing);
        let s = split(br#"{"data":{"a":1}}"#, &Pointer::parse("/data"), None).unwrap();
        assert_eq!(s.found, Found::Other("an object"));
    }

    #[test]
    fn inferred_fields_keep_the_order_of_the_records() {
        let records: Vec<&[u8]> = vec![
            br#"{"zeta":1,"alpha":{"y":1,"b":2},"mid":[{"q":1,"c":2}]}"#,
            br#"{"zeta":2,"new":true,"alpha":{"y":1,"a":3}}"#,
        ];
        let schema = infer(records.into_iter(), 10).schema;
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["zeta", "alpha", "mid", "new"]);
        let DataType::Struct(alpha) = schema.field(1).data_type() else {
            panic!("{schema:?}")
        };
        let names: Vec<&str> = alpha.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["y", "b", "a"]);
        let DataType::List(item) = schema.field(2).data_type() else {
            panic!("{schema:?}")
        };
        let DataType::Struct(mid) = item.data_type() else {
            panic!("{schema:?}")
        };
        let names: Vec<&str> = mid.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["q", "c"]);
    }

    #[test]
    fn pages_that_are_not_json_are_refused() {
        assert!(split(b"<html>oops</html>", &Pointer::parse(""), None).is_err());
        assert!(split(br#"{"data":[{"a":1}"#, &Pointer::parse("/data"), None).is_err());
    }

    #[test]
    fn text_in_number_fields_follows_the_number_rule() {
        let body = br#"[{"id":1,"amount":"2.5"},{"id":2,"amount":"NaN"},{"id":3,"amount":" 20000"},{"id":4.5},{"id":5,"amount":"-1e3"}]"#;
        let s = split(body, &Pointer::parse(""), None).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("amount", DataType::Float64, true),
        ]));
        let schema = RecordSchema::declared(schema);
        let first = Positions::from(Unit::Record, 1);
        let (batch, malformed, _) =
            decode(body, &s.records, &schema, "GET http://h/x", &first).unwrap();
        let amounts: Vec<_> = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(amounts, [Some(2.5), Some(-1000.0)]);
        let refused: Vec<_> = malformed
            .iter()
            .map(|m| (m.location.as_str(), m.field.as_deref()))
            .collect();
        assert_eq!(
            refused,
            [
                ("GET http://h/x:record 2", Some("amount")),
                ("GET http://h/x:record 3", Some("amount")),
                ("GET http://h/x:record 4", Some("id")),
            ]
        );
    }

    #[test]
    fn records_that_do_not_decode_are_malformed_with_their_location() {
        let body = br#"[{"id":1,"name":"a"},{"id":"x"},7,{"id":3}]"#;
        let s = split(body, &Pointer::parse(""), None).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let schema = RecordSchema::declared(schema);
        let first = Positions::from(Unit::Record, 1);
        let (batch, malformed, positions) =
            decode(body, &s.records, &schema, "GET http://h/x", &first).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(positions, Positions::listed(Unit::Record, vec![1, 4]));
        assert_eq!(malformed.len(), 2);
        assert_eq!(malformed[0].location, "GET http://h/x:record 2");
        assert_eq!(malformed[0].raw, r#"{"id":"x"}"#);
        assert_eq!(malformed[1].location, "GET http://h/x:record 3");
        assert!(
            malformed[1].reason.contains("not a JSON object"),
            "{:?}",
            malformed[1]
        );
    }
}
