//! The http connector's side of a run: the declarative JSON-API source
//! opened from the Flow's `http` block and the profile's base URL and auth.

use crate::api::v1alpha1::ConnectorKind;
use crate::api::v1alpha1::connector_profile::ConnectorProfileSpec;
use crate::api::v1alpha1::flow::HttpSource;
use crate::connectors::Entity;
use crate::connectors::catalog::Catalog;
use crate::connectors::secrets::Resolver;
use crate::connectors::{Context, Error, Opened, ProfileRef, Result};
use crate::pipeline::engine::Source;
use crate::pipeline::error::ConnectorError;

/// Opens `source.http`; its first page is fetched here, so refused
/// credentials fail the run before anything is written.
pub fn open_source(
    ctx: &Context<'_>,
    profile: ProfileRef<'_>,
    spec: &HttpSource,
) -> Result<Opened<Box<dyn Source>>> {
    if profile.spec.http.is_none() {
        return Err(profile.mismatch("spec.source", ConnectorKind::Http));
    }
    let field = "spec.source.http";
    let window = ctx.window.map(|w| super::Window {
        start: w.start,
        end: Some(w.end),
    });
    let config = super::HttpConfig::new(profile.name, profile.spec, spec, window, ctx.secrets)
        .map_err(|e| Error::at(field)(e.into()))?;
    let source = super::HttpRecordSource::open(config).map_err(|e| Error::at(field)(e.into()))?;
    let description = source.description().to_owned();
    Ok(Opened::new(Box::new(source), description))
}

/// The catalog of an `http` profile: a connection check only; a
/// declarative API's entities are the paths its Flows read.
struct HttpCatalog<'a> {
    name: String,
    spec: ConnectorProfileSpec,
    secrets: &'a Resolver,
}

impl Catalog for HttpCatalog<'_> {
    fn check(&self) -> Result<(), ConnectorError> {
        Ok(super::catalog::check(&self.name, &self.spec, self.secrets)?)
    }

    fn entities(&self) -> Result<Vec<Entity>, ConnectorError> {
        self.check()?;
        Ok(Vec::new())
    }

    fn describe(&self, _entity: &str) -> Result<Option<Entity>, ConnectorError> {
        Ok(None)
    }

    fn hint(&self) -> &'static str {
        "an http profile has no catalog: describe a Flow that reads it with `sluice discover -f FILE --flow NAME`"
    }
}

/// Opens the catalog of an `http` profile.
pub fn catalog_of<'a>(
    name: &str,
    spec: &ConnectorProfileSpec,
    secrets: &'a Resolver,
) -> Box<dyn Catalog + 'a> {
    Box::new(HttpCatalog {
        name: name.to_owned(),
        spec: spec.clone(),
        secrets,
    })
}
