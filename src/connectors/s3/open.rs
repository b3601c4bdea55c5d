//! The s3 connector's side of a run: its source, destination and error
//! location opened from the Flow's `s3` blocks with the profile's AWS
//! connection.

use crate::api::v1alpha1::ConnectorKind;
use crate::api::v1alpha1::connector_profile::{ConnectorProfileSpec, S3Profile};
use crate::api::v1alpha1::flow::{S3Destination, S3Location, S3Source};
use crate::connectors::catalog::{Catalog, CatalogOf};
use crate::connectors::secrets::Resolver;
use crate::connectors::{Context, Error, Opened, ProfileRef, Result};
use crate::pipeline::engine::{Destination, Quarantine, Source};
use crate::pipeline::error::ConnectorError;

/// Connects to AWS with an `s3` profile, or says why the profile cannot
/// serve `field`.
fn connect(ctx: &Context<'_>, profile: ProfileRef<'_>, field: &'static str) -> Result<super::Aws> {
    let Some(settings) = &profile.spec.s3 else {
        return Err(profile.mismatch(field, ConnectorKind::S3));
    };
    super::Aws::connect(
        profile.name,
        settings,
        profile.spec.credentials.as_ref(),
        ctx.secrets,
    )
    .map_err(|e| Error::at(field)(e.into()))
}

/// Opens `source.s3`: the objects under the prefix (modified in the
/// window, for incremental reads).
pub fn open_source(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &S3Source,
) -> Result<Opened<Box<dyn Source>>> {
    let field = "spec.source.s3";
    let aws = connect(ctx, profile, field)?;
    let source = super::S3RecordSource::open(aws, spec, ctx.window)
        .map_err(|e| Error::at(field)(e.into()))?;
    let count = source.keys().len();
    let description = format!(
        "s3://{}/{} ({count} object{})",
        spec.bucket,
        spec.prefix,
        if count == 1 { "" } else { "s" }
    );
    Ok(Opened::new(Box::new(source), description))
}

/// Opens `destination.s3`.
pub fn open_destination(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &S3Destination,
) -> Result<Opened<Box<dyn Destination>>> {
    let field = "spec.destination.s3";
    let aws = connect(ctx, profile, field)?;
    let description = format!(
        "s3://{}/{}",
        spec.bucket,
        spec.prefix.trim_start_matches('/')
    );
    let overwrite = ctx.file_overwrite()?;
    let destination = super::destination(aws, spec, ctx.run_info(), overwrite)
        .map_err(|e| Error::at(field)(e.into()))?;
    Ok(Opened::new(Box::new(destination), description))
}

/// Opens `errorHandling.errorLocation.s3`.
pub fn open_quarantine(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    location: &S3Location,
) -> Result<Box<dyn Quarantine>> {
    let field = "spec.errorHandling.errorLocation.s3";
    let aws = connect(ctx, profile, field)?;
    let quarantine = super::quarantine(aws, location, ctx.flow_name, ctx.run_id)
        .map_err(|e| Error::at(field)(e.into()))?;
    Ok(Box::new(quarantine))
}

/// Connects to AWS with an `s3` profile and opens its catalog: its
/// buckets and their objects.
pub fn catalog_of(
    name: &str,
    settings: &S3Profile,
    spec: &ConnectorProfileSpec,
    secrets: &Resolver,
) -> Result<Box<dyn Catalog>, ConnectorError> {
    Ok(Box::new(CatalogOf {
        connection: super::Aws::connect(name, settings, spec.credentials.as_ref(), secrets)?,
        check: super::catalog::check,
        entities: super::catalog::entities,
        describe: super::catalog::describe,
        hint: "name a bucket or bucket/prefix holding .csv, .jsonl or .parquet objects; `sluice discover --profile NAME` lists the buckets",
    }))
}
