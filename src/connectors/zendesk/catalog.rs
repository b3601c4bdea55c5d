//! What a `zendesk` profile exposes: the check asks for the authenticated
//! user (`GET /api/v2/users/me.json`), so refused credentials fail it; the
//! entities are the objects a Flow can read ([`KNOWN_OBJECTS`]); an
//! object's fields are its declared schema (tickets, users, organizations,
//! groups) or, for other objects, the schema inferred from the first page
//! of its list endpoint. `id` is the key, `updated_at` the field incremental
//! reads window on, and only ticket fields that Zendesk does not set itself
//! are writable.

use arrow::datatypes::Schema;
use reqwest::Method;
use serde_json::Value;

use super::client::ZendeskClient;
use super::config::ZendeskConfig;
use super::destination::READ_ONLY;
use super::source::KNOWN_OBJECTS;
use super::{Error, Result, schema};
use crate::connectors::common::records;
use crate::connectors::{Entity, EntityField};

fn runtime() -> Result<tokio::runtime::Runtime> {
    crate::connectors::common::runtime::current_thread()
        .map_err(|e| Error::config("zendesk", format!("cannot start a runtime: {e}")))
}

/// Asks for the authenticated user.
pub fn check(config: ZendeskConfig) -> Result<()> {
    let client = ZendeskClient::new(config)?;
    let url = client.config().url("users/me.json")?;
    runtime()?.block_on(async {
        let response = client.get(&url, "the authenticated user").await?;
        let value = ZendeskClient::json(&response)?;
        if value.get("user").is_none() {
            return Err(Error::Page {
                page: client.describe(&Method::GET, &url),
                field: "user".to_owned(),
                message: "the answer has no user".to_owned(),
            });
        }
        Ok(())
    })
}

/// The objects a Flow can read, by name.
pub fn entities() -> Vec<Entity> {
    KNOWN_OBJECTS
        .iter()
        .map(|name| Entity {
            name: (*name).to_owned(),
            fields: Vec::new(),
        })
        .collect()
}

fn fields(object: &str, schema: &Schema) -> Vec<EntityField> {
    schema
        .fields()
        .iter()
        .map(|f| EntityField {
            name: f.name().clone(),
            data_type: f.data_type().clone(),
            nullable: f.is_nullable(),
            primary_key: f.name() == "id",
            incremental: f.name() == "updated_at",
            writable: object == "tickets" && !READ_ONLY.contains(&f.name().as_str()),
        })
        .collect()
}

/// The fields of `object`; `None` when Zendesk has no such object.
pub fn describe(config: ZendeskConfig, object: &str) -> Result<Option<Entity>> {
    if object.is_empty() || !object.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Ok(None);
    }
    if let Some(declared) = schema::declared(object) {
        return Ok(Some(Entity {
            name: object.to_owned(),
            fields: fields(object, &declared),
        }));
    }
    let client = ZendeskClient::new(config)?;
    let mut url = client.config().url(&format!("{object}.json"))?;
    url.query_pairs_mut().append_pair("page[size]", "100");
    runtime()?.block_on(async {
        let response = match client.get(&url, &format!("object {object:?}")).await {
            Ok(response) => response,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let value = ZendeskClient::json(&response)?;
        let Some(Value::Array(items)) = value.get(object) else {
            return Ok(None);
        };
        let texts: Vec<String> = items.iter().map(Value::to_string).collect();
        let inferred = records::infer(texts.iter().map(String::as_bytes), 1000).schema;
        Ok(Some(Entity {
            name: object.to_owned(),
            fields: fields(object, &inferred),
        }))
    })
}
