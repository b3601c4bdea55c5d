//! Connectors: one folder per application or store, each implementing the
//! source and/or destination side against the pipeline's traits.
//!
//! The set is closed and mirrors the API's one-of unions: adding a connector
//! is a variant in `api::v1alpha1` and a module here.

use arrow::datatypes::{DataType, SchemaRef};

pub mod common;
pub mod file;
pub mod format_guess;
pub mod http;
pub mod postgres;
pub mod s3;
pub mod salesforce;
pub mod zendesk;

/// Something a profile exposes to read from or write to: a table, a bucket,
/// a file, an object type.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// The name a Flow uses for it (`schema.table`, `bucket/prefix`, a path).
    pub name: String,
    /// Its fields; empty when only listed, not described.
    pub fields: Vec<EntityField>,
}

/// One field of an [`Entity`].
#[derive(Debug, Clone, PartialEq)]
pub struct EntityField {
    /// The field's name.
    pub name: String,
    /// The Arrow type records carry it as.
    pub data_type: DataType,
    /// Whether it may be null.
    pub nullable: bool,
    /// Whether it is (part of) the primary key.
    pub primary_key: bool,
    /// Whether an incremental read can use it as its cursor.
    pub incremental: bool,
    /// Whether a destination can write it.
    pub writable: bool,
}

impl EntityField {
    /// The fields of a schema inferred from data: nothing is a key, every
    /// field is writable, and timestamps and dates can serve as cursors.
    pub fn from_schema(schema: &SchemaRef) -> Vec<Self> {
        schema
            .fields()
            .iter()
            .map(|f| Self {
                name: f.name().clone(),
                data_type: f.data_type().clone(),
                nullable: f.is_nullable(),
                primary_key: false,
                incremental: matches!(
                    f.data_type(),
                    DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
                ),
                writable: true,
            })
            .collect()
    }
}
