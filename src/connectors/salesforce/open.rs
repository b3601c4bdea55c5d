//! The salesforce connector's side of a run: its source and destination
//! opened from the Flow's `salesforce` blocks and the profile's org and
//! credentials.

use crate::api::v1alpha1::ConnectorKind;
use crate::api::v1alpha1::connector_profile::ConnectorProfileSpec;
use crate::api::v1alpha1::flow::{SalesforceDestination, SalesforceSource, WriteMode};
use crate::connectors::catalog::{Catalog, CatalogOf};
use crate::connectors::secrets::Resolver;
use crate::connectors::{Context, Error, Opened, ProfileRef, Result};
use crate::pipeline::engine::{Destination, Quarantine, Source};
use crate::pipeline::error::ConnectorError;
use crate::pipeline::quarantine::SharedQuarantine;
use crate::pipeline::tasks;

/// The org settings of a `salesforce` profile with their secrets, or why
/// the profile cannot serve `field`.
fn config(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    field: &'static str,
) -> Result<super::SalesforceConfig> {
    if profile.spec.salesforce.is_none() {
        return Err(profile.mismatch(field, ConnectorKind::Salesforce));
    }
    super::SalesforceConfig::new(profile.name, profile.spec, ctx.secrets)
        .map_err(|e| Error::at(field)(e.into()))
}

/// Opens `source.salesforce`: REST pages or a Bulk 2.0 query job, with the
/// window written into the SOQL (cursor `SystemModstamp` by default).
pub fn open_source(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &SalesforceSource,
) -> Result<Opened<Box<dyn Source>>> {
    let field = "spec.source.salesforce";
    let config = config(ctx, profile, field)?;
    let settings = super::SourceSettings {
        object: spec.object.clone(),
        api: spec.api,
        include_deleted: spec.include_deleted_records,
        bulk_threshold: u64::try_from(spec.bulk_threshold).unwrap_or(1).max(1),
        window: ctx.cursor_window(Some("SystemModstamp"))?,
        tasks: ctx.flow.tasks.clone(),
        expected_fields: tasks::source_fields(&ctx.flow.tasks),
        drift: ctx.flow.schema_drift.policy,
    };
    let source = super::SalesforceRecordSource::open(config, settings)
        .map_err(|e| Error::at(field)(e.into()))?;
    let description = source.description().to_owned();
    Ok(Opened::new(Box::new(source), description))
}

/// Opens `destination.salesforce` with the Flow's write mode. Records
/// Salesforce refuses at commit go to the run's quarantine, which this
/// destination shares with the engine.
pub fn open_destination(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &SalesforceDestination,
    quarantine: &mut Option<Box<dyn Quarantine>>,
) -> Result<Opened<Box<dyn Destination>>> {
    let field = "spec.destination.salesforce";
    let config = config(ctx, profile, field)?;
    let operation = match ctx.flow.sync.write_mode {
        WriteMode::Append => super::Operation::Insert,
        WriteMode::Update => super::Operation::Update,
        WriteMode::Delete => super::Operation::Delete,
        WriteMode::Upsert => super::Operation::Upsert {
            external_id: ctx
                .flow
                .sync
                .id_fields
                .first()
                .map(|f| f.to_string())
                .ok_or_else(|| {
                    Error::Unsupported(
                        "spec.sync.idFields: salesforce Upsert needs the external id field"
                            .to_owned(),
                    )
                })?,
        },
        WriteMode::Overwrite => {
            return Err(Error::Unsupported(
                "spec.sync.writeMode: Overwrite is not supported by salesforce destinations; use Append, Upsert, Update or Delete".to_owned(),
            ));
        }
    };
    let shared = quarantine.take().map(SharedQuarantine::new);
    *quarantine = shared.clone().map(|q| Box::new(q) as Box<dyn Quarantine>);
    let settings = super::DestinationSettings {
        object: spec.object.clone(),
        api: spec.api,
        bulk_threshold: u64::try_from(spec.bulk_threshold).unwrap_or(1).max(1),
        operation,
        policy: ctx.flow.error_handling.policy,
        quarantine: shared,
    };
    let destination = super::SalesforceRecordDestination::open(config, settings)
        .map_err(|e| Error::at(field)(e.into()))?;
    let description = destination.description();
    Ok(Opened::new(Box::new(destination), description))
}

/// Resolves a `salesforce` profile and opens its catalog: the org's
/// sObjects.
pub fn catalog_of(
    name: &str,
    spec: &ConnectorProfileSpec,
    secrets: &Resolver,
) -> Result<Box<dyn Catalog>, ConnectorError> {
    Ok(Box::new(CatalogOf {
        connection: super::SalesforceConfig::new(name, spec, secrets)?,
        check: super::catalog::check,
        entities: super::catalog::entities,
        describe: super::catalog::describe,
        hint: "name an sObject by its API name (Opportunity, Invoice__c); `sluice discover --profile NAME` lists them",
    }))
}
