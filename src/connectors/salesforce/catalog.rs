//! What a `salesforce` profile exposes: the check opens a session (JWT
//! bearer or refresh token) and reads the global describe; the entities
//! are the org's queryable sObjects; an sObject's fields come from its
//! describe with the Arrow type the source reads them as, nillability, the
//! key (`Id`), whether an incremental read can use them as its cursor
//! (date-times and dates) and whether a destination can write them
//! (createable or updateable).

use super::client::Client;
use super::describe::{self, Describe};
use super::{Result, SalesforceConfig};
use crate::connectors::{Entity, EntityField};

fn connect(config: &SalesforceConfig) -> Result<(tokio::runtime::Runtime, Client)> {
    Ok((super::runtime()?, Client::new(config.clone())?))
}

/// Opens a session and reads the global describe.
pub fn check(config: &SalesforceConfig) -> Result<()> {
    let (runtime, client) = connect(config)?;
    runtime.block_on(describe::global(&client))?;
    Ok(())
}

/// The queryable sObjects.
pub fn entities(config: &SalesforceConfig) -> Result<Vec<Entity>> {
    let (runtime, client) = connect(config)?;
    let objects = runtime.block_on(describe::global(&client))?;
    Ok(objects
        .into_iter()
        .filter(|o| o.queryable)
        .map(|o| Entity {
            name: o.name,
            fields: Vec::new(),
        })
        .collect())
}

/// The fields of an sObject as the catalog shows them.
pub fn fields(describe: &Describe) -> Vec<EntityField> {
    describe
        .fields
        .iter()
        .filter_map(|f| {
            Some(EntityField {
                name: f.name.clone(),
                data_type: f.arrow_type()?,
                nullable: f.nillable,
                primary_key: f.kind == "id",
                incremental: matches!(f.kind.as_str(), "datetime" | "date"),
                writable: f.createable || f.updateable,
            })
        })
        .collect()
}

/// One sObject with its fields; `None` when the org has no such object.
pub fn describe(config: &SalesforceConfig, entity: &str) -> Result<Option<Entity>> {
    let (runtime, client) = connect(config)?;
    runtime.block_on(async {
        let objects = describe::global(&client).await?;
        if !objects.iter().any(|o| o.name.eq_ignore_ascii_case(entity)) {
            return Ok(None);
        }
        let described = describe::object(&client, entity).await?;
        Ok(Some(Entity {
            name: described.name.clone(),
            fields: fields(&described),
        }))
    })
}
