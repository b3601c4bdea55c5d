//! The zendesk connector's side of a run: its source and ticket
//! destination opened from the Flow's `zendesk` blocks and the profile's
//! subdomain and credentials.

use crate::api::v1alpha1::ConnectorKind;
use crate::api::v1alpha1::connector_profile::ConnectorProfileSpec;
use crate::api::v1alpha1::flow::{ZendeskDestination, ZendeskSource};
use crate::connectors::catalog::{Catalog, CatalogOf};
use crate::connectors::secrets::Resolver;
use crate::connectors::{Context, Error, Opened, ProfileRef, Result};
use crate::pipeline::engine::{Destination, Source};
use crate::pipeline::error::ConnectorError;

/// A client of a `zendesk` profile, or why the profile cannot serve
/// `field`.
fn client(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    field: &'static str,
) -> Result<super::ZendeskClient> {
    if profile.spec.zendesk.is_none() {
        return Err(profile.mismatch(field, ConnectorKind::Zendesk));
    }
    super::ZendeskConfig::new(profile.name, profile.spec, ctx.secrets)
        .and_then(super::ZendeskClient::new)
        .map_err(|e| Error::at(field)(e.into()))
}

/// Opens `source.zendesk`: an incremental export or a list endpoint.
pub fn open_source(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &ZendeskSource,
) -> Result<Opened<Box<dyn Source>>> {
    let client = client(ctx, profile, "spec.source")?;
    let window = ctx.window.map(|w| crate::connectors::common::Window {
        start: w.start,
        end: Some(w.end),
    });
    let source = super::ZendeskRecordSource::open(client, &spec.object, &spec.include, window)
        .map_err(|e| Error::at("spec.source.zendesk")(e.into()))?;
    let description = source.description().to_owned();
    Ok(Opened::new(Box::new(source), description))
}

/// Opens `destination.zendesk`: tickets created or updated in jobs.
pub fn open_destination(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    _spec: &ZendeskDestination,
) -> Result<Opened<Box<dyn Destination>>> {
    let field = "spec.destination.zendesk";
    let id_fields: Vec<String> = ctx
        .flow
        .sync
        .id_fields
        .iter()
        .map(|f| f.to_string())
        .collect();
    let mode = super::destination::TicketWrite::of(ctx.flow.sync.write_mode, &id_fields)
        .map_err(|e| Error::at(field)(e.into()))?;
    let client = client(ctx, profile, "spec.destination")?;
    let destination = super::ZendeskTicketDestination::new(client, mode)
        .map_err(|e| Error::at(field)(e.into()))?;
    let description = destination.description();
    Ok(Opened::new(Box::new(destination), description))
}

/// Resolves a `zendesk` profile and opens its catalog: the objects Sluice
/// knows, with their declared schemas (listed once the check passes).
pub fn catalog_of(
    name: &str,
    spec: &ConnectorProfileSpec,
    secrets: &Resolver,
) -> Result<Box<dyn Catalog>, ConnectorError> {
    Ok(Box::new(CatalogOf {
        connection: super::ZendeskConfig::new(name, spec, secrets)?,
        check: |config: &super::ZendeskConfig| super::catalog::check(config.clone()),
        entities: |config: &super::ZendeskConfig| {
            super::catalog::check(config.clone()).map(|()| super::catalog::entities())
        },
        describe: |config: &super::ZendeskConfig, entity| {
            super::catalog::describe(config.clone(), entity)
        },
        hint: "name a Zendesk object such as tickets, users, organizations or groups; `sluice discover --profile NAME` lists them",
    }))
}
