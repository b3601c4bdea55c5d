//! The file connector's side of a run: its source, destination and error
//! location opened from the Flow's `file` blocks and the profile's root.

use std::path::{Component, Path, PathBuf};

use crate::api::v1alpha1::ConnectorKind;
use crate::api::v1alpha1::connector_profile::FileProfile;
use crate::api::v1alpha1::flow::{FileDestination, FileLocation, FileSource};
use crate::connectors::catalog::{Catalog, CatalogOf};
use crate::connectors::{Context, Error, Opened, ProfileRef, Result};
use crate::pipeline::engine::{Destination, Quarantine, Source};

/// The profile's root, resolved against the working directory, or why the
/// profile cannot serve `field`.
fn root(profile: ProfileRef<'_>, field: &'static str, working_dir: &Path) -> Result<PathBuf> {
    match &profile.spec.file {
        Some(file) => {
            let root: PathBuf = working_dir
                .join(&file.root)
                .components()
                .filter(|c| !matches!(c, Component::CurDir))
                .collect();
            super::guard_root(&root, &file.root).map_err(Error::connector)?;
            Ok(root)
        }
        None => Err(profile.mismatch(field, ConnectorKind::File)),
    }
}

/// Opens `source.file`.
pub fn open_source(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &FileSource,
) -> Result<Opened<Box<dyn Source>>> {
    let root = root(profile, "spec.source", ctx.working_dir)?;
    let source = super::FileRecordSource::open(&root, spec).map_err(Error::connector)?;
    let count = source.files().len();
    let description = format!(
        "{} ({count} file{})",
        root.join(&spec.path).display(),
        if count == 1 { "" } else { "s" }
    );
    Ok(Opened::new(Box::new(source), description))
}

/// Opens `destination.file`.
pub fn open_destination(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &FileDestination,
) -> Result<Opened<Box<dyn Destination>>> {
    let root = root(profile, "spec.destination", ctx.working_dir)?;
    let description = root.join(&spec.path).display().to_string();
    let overwrite = ctx.file_overwrite()?;
    let destination =
        super::destination(&root, spec, ctx.run_info(), overwrite).map_err(Error::connector)?;
    Ok(Opened::new(Box::new(destination), description))
}

/// Opens `errorHandling.errorLocation.file`.
pub fn open_quarantine(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    location: &FileLocation,
) -> Result<Box<dyn Quarantine>> {
    let root = root(profile, "spec.errorHandling.errorLocation", ctx.working_dir)?;
    let quarantine =
        super::quarantine(&root, location, ctx.flow_name, ctx.run_id).map_err(Error::connector)?;
    Ok(Box::new(quarantine))
}

/// Opens the catalog of a `file` profile: the data files under its root.
pub fn catalog_of(settings: &FileProfile, working_dir: &Path) -> Box<dyn Catalog> {
    let written = settings.root.clone();
    Box::new(CatalogOf {
        connection: (working_dir.join(&settings.root), written),
        check: |(root, written): &(PathBuf, String)| {
            super::guard_root(root, written)?;
            super::catalog::check(root)
        },
        entities: |(root, written): &(PathBuf, String)| {
            super::guard_root(root, written)?;
            super::catalog::entities(root)
        },
        describe: |(root, written): &(PathBuf, String), entity| {
            super::guard_root(root, written)?;
            super::catalog::describe(root, entity)
        },
        hint: "name a data file relative to the profile's root (.csv, .jsonl, .parquet); `sluice discover --profile NAME` lists them",
    })
}
