//! The postgres connector's side of a run: its source and destination
//! opened from the Flow's `postgres` blocks and the profile's server.

use crate::api::v1alpha1::ConnectorKind;
use crate::api::v1alpha1::connector_profile::ConnectorProfileSpec;
use crate::api::v1alpha1::flow::{PostgresDestination, PostgresSource, WriteMode};
use crate::connectors::catalog::{Catalog, CatalogOf};
use crate::connectors::secrets::Resolver;
use crate::connectors::{Context, Error, Opened, ProfileRef, Result};
use crate::pipeline::engine::{Destination, Source};
use crate::pipeline::error::ConnectorError;

/// The profile's server settings with their secrets, or why the profile
/// cannot serve `field`.
fn config(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    field: &'static str,
) -> Result<super::PgConfig> {
    if profile.spec.postgres.is_none() {
        return Err(profile.mismatch(field, ConnectorKind::Postgres));
    }
    super::PgConfig::new(profile.name, profile.spec, ctx.secrets).map_err(Error::connector)
}

/// Opens `source.postgres`: a table or query read by a server-side cursor,
/// filtered on `sync.cursorField` for incremental reads.
pub fn open_source(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &PostgresSource,
) -> Result<Opened<Box<dyn Source>>> {
    let config = config(ctx, profile, "spec.source")?;
    let settings = super::source::SourceSettings {
        schema: spec.schema.clone(),
        table: spec.table.clone(),
        query: spec.query.clone(),
        fetch_size: u32::try_from(spec.fetch_size).unwrap_or(1).max(1),
        window: ctx.cursor_window(None)?,
    };
    let source = super::PostgresRecordSource::open(&config, &settings).map_err(Error::connector)?;
    let description = source.description().to_owned();
    Ok(Opened::new(Box::new(source), description))
}

/// Opens `destination.postgres` with the Flow's write mode.
pub fn open_destination(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &PostgresDestination,
) -> Result<Opened<Box<dyn Destination>>> {
    use super::destination::PgWriteMode;
    if profile.spec.postgres.is_none() {
        return Err(profile.mismatch("spec.destination", ConnectorKind::Postgres));
    }
    let write_mode = match ctx.flow.sync.write_mode {
        WriteMode::Append => PgWriteMode::Append,
        WriteMode::Overwrite => PgWriteMode::Overwrite,
        WriteMode::Upsert => PgWriteMode::Upsert,
        other => {
            return Err(Error::Unsupported(format!(
                "spec.sync.writeMode: {other:?} is not supported by postgres destinations; use Append, Overwrite or Upsert"
            )));
        }
    };
    let config = config(ctx, profile, "spec.destination")?;
    let settings = super::destination::DestinationSettings {
        schema: spec.schema.clone(),
        table: spec.table.clone(),
        create_table: spec.create_table,
        write_mode,
        id_fields: ctx
            .flow
            .sync
            .id_fields
            .iter()
            .map(|f| f.to_string())
            .collect(),
        run_id: ctx.run_id.to_owned(),
    };
    let destination =
        super::PostgresRecordDestination::open(&config, settings).map_err(Error::connector)?;
    let description = format!("postgres table {}", destination.description());
    Ok(Opened::new(Box::new(destination), description))
}

/// Resolves a `postgres` profile and opens its catalog: its tables and
/// their columns.
pub fn catalog_of(
    name: &str,
    spec: &ConnectorProfileSpec,
    secrets: &Resolver,
) -> Result<Box<dyn Catalog>, ConnectorError> {
    Ok(Box::new(CatalogOf {
        connection: super::PgConfig::new(name, spec, secrets)?,
        check: super::catalog::check,
        entities: super::catalog::entities,
        describe: super::catalog::describe,
        hint: "name a table as schema.table (or table, in public); `sluice discover --profile NAME` lists them",
    }))
}
