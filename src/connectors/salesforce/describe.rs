//! Discovery: the global describe (`GET /sobjects`: which objects exist and
//! can be queried) and the sObject describe (`GET /sobjects/{name}/describe`:
//! each field's name, type, nillability, and whether it can be created,
//! updated, filtered on or used as an external id).
//!
//! Field types become Arrow types once, here, so that REST (JSON) and Bulk
//! API 2.0 (CSV) reads decode to the same schema:
//!
//! | Salesforce | Arrow |
//! |---|---|
//! | `boolean` | Boolean |
//! | `int`, `long` | Int64 |
//! | `double`, `currency`, `percent` | Float64 |
//! | `date` | Date32 |
//! | `datetime` | Timestamp(ms, UTC) |
//! | `id`, `reference`, `string`, `picklist`, `textarea`, `time`, ... | Utf8 |
//!
//! Compound fields (`address`, `location`) and `base64` fields are left
//! out: Bulk API 2.0 cannot query them, and their parts (`BillingCity`,
//! ...) are fields of their own.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use reqwest::Method;
use serde::Deserialize;

use super::client::{Client, Target};
use super::{Error, ErrorClass, Result};

/// One field of an sObject describe.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldInfo {
    /// API name.
    pub name: String,
    /// Salesforce type (`string`, `currency`, `datetime`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Can be null.
    #[serde(default)]
    pub nillable: bool,
    /// Can be set on insert.
    #[serde(default)]
    pub createable: bool,
    /// Can be set on update.
    #[serde(default)]
    pub updateable: bool,
    /// Can be used in a WHERE clause.
    #[serde(default)]
    pub filterable: bool,
    /// Is an external id.
    #[serde(default)]
    pub external_id: bool,
    /// Identifies a record uniquely (Id, external ids, some names).
    #[serde(default)]
    pub id_lookup: bool,
    /// Digits of a number (`double`, `currency`, `percent`).
    #[serde(default)]
    pub precision: u32,
    /// Digits after the point.
    #[serde(default)]
    pub scale: u32,
    /// Digits of an `int`.
    #[serde(default)]
    pub digits: u32,
}

impl FieldInfo {
    /// The Arrow type, or `None` for fields left out of reads.
    pub fn arrow_type(&self) -> Option<DataType> {
        Some(match self.kind.as_str() {
            "address" | "location" | "base64" => return None,
            "boolean" => DataType::Boolean,
            "int" | "long" => DataType::Int64,
            "double" | "currency" | "percent" => DataType::Float64,
            "date" => DataType::Date32,
            "datetime" => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            _ => DataType::Utf8,
        })
    }

    /// Whether comparisons on it can be written in SOQL with the same
    /// meaning as the pipeline's filters (numbers, dates, times, booleans;
    /// not text, which SOQL compares case-insensitively).
    pub fn exact_comparisons(&self) -> bool {
        self.filterable
            && matches!(
                self.kind.as_str(),
                "boolean"
                    | "int"
                    | "long"
                    | "double"
                    | "currency"
                    | "percent"
                    | "date"
                    | "datetime"
            )
    }
}

/// An sObject describe.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Describe {
    /// API name.
    pub name: String,
    /// Can be queried.
    #[serde(default)]
    pub queryable: bool,
    /// Its fields.
    pub fields: Vec<FieldInfo>,
}

impl Describe {
    /// A field by name (Salesforce names are case-insensitive).
    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The fields that are read, in describe order.
    pub fn readable(&self) -> Vec<&FieldInfo> {
        self.fields
            .iter()
            .filter(|f| f.arrow_type().is_some())
            .collect()
    }

    /// The Arrow schema of the readable fields.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.readable()
                .into_iter()
                .filter_map(|f| Some(Field::new(&f.name, f.arrow_type()?, f.nillable)))
                .collect::<Vec<_>>(),
        ))
    }
}

/// One entry of the global describe.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SObjectSummary {
    /// API name.
    pub name: String,
    /// Can be queried.
    #[serde(default)]
    pub queryable: bool,
    /// Can be created.
    #[serde(default)]
    pub createable: bool,
}

/// The global describe: every sObject of the org.
pub async fn global(client: &Client) -> Result<Vec<SObjectSummary>> {
    #[derive(Deserialize)]
    struct Answer {
        sobjects: Vec<SObjectSummary>,
    }
    let response = client
        .send(
            Method::GET,
            &Target::Data("sobjects".to_owned(), Vec::new()),
            None,
            &[],
        )
        .await?;
    Ok(response.json::<Answer>()?.sobjects)
}

/// The describe of `object`, checked against the global describe so that an
/// unknown name gets a clear message.
pub async fn object(client: &Client, object: &str) -> Result<Describe> {
    let objects = global(client).await?;
    let Some(found) = objects.iter().find(|o| o.name.eq_ignore_ascii_case(object)) else {
        let mut close: Vec<&str> = objects
            .iter()
            .map(|o| o.name.as_str())
            .filter(|n| {
                let (a, b) = (n.to_ascii_lowercase(), object.to_ascii_lowercase());
                let shared = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                a.contains(&b)
                    || b.contains(&a)
                    || shared >= a.len().min(b.len()).saturating_sub(3).max(4)
            })
            .take(5)
            .collect();
        close.sort_unstable();
        return Err(Error::Api {
            request: format!(
                "global describe of ConnectorProfile {:?}",
                client.config().profile
            ),
            status: 404,
            code: "NOT_FOUND".to_owned(),
            message: format!("the org has no sObject {object:?}"),
            note: if close.is_empty() {
                " (check the API name, with __c for custom objects)".to_owned()
            } else {
                format!(" (similar: {})", close.join(", "))
            },
            class: ErrorClass::Config,
        });
    };
    let response = client
        .send(
            Method::GET,
            &Target::Data(format!("sobjects/{}/describe", found.name), Vec::new()),
            None,
            &[],
        )
        .await?;
    response.json()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn types_map_to_arrow_and_compound_fields_are_left_out() {
        let describe: Describe = serde_json::from_value(serde_json::json!({
            "name": "Account", "queryable": true,
            "fields": [
                {"name": "Id", "type": "id", "nillable": false},
                {"name": "AnnualRevenue", "type": "currency", "nillable": true, "filterable": true, "precision": 18, "scale": 0},
                {"name": "BillingAddress", "type": "address", "nillable": true},
                {"name": "IsDeleted", "type": "boolean", "nillable": false},
                {"name": "SystemModstamp", "type": "datetime", "nillable": false},
                {"name": "Name", "type": "string", "nillable": false, "filterable": true}
            ]
        }))
        .unwrap();
        let schema = describe.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            ["Id", "AnnualRevenue", "IsDeleted", "SystemModstamp", "Name"]
        );
        assert_eq!(schema.field(1).data_type(), &DataType::Float64);
        assert!(schema.field(1).is_nullable());
        assert!(!schema.field(0).is_nullable());
        assert!(describe.field("annualrevenue").unwrap().exact_comparisons());
        assert!(!describe.field("Name").unwrap().exact_comparisons());
    }
}
