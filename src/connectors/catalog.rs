//! A profile's catalog, whatever its connector: the connection check, the
//! entities it exposes and their fields. `sluice discover` prints it, the
//! profile validation runs the check, and the connector conformance suite
//! holds every connector to it.
//!
//! Each connector folder opens its own [`Catalog`] (`catalog()` in its
//! `open.rs`); [`Profile::connect`] is the one match over connectors.

use std::path::Path;

use super::{Entity, file, http, postgres, s3, salesforce, zendesk};
use crate::api::v1alpha1::{ConnectorProfile, ProfileKind};
use crate::connectors::secrets::Resolver;
use crate::pipeline::error::{Classify, ConnectorError, ErrorClass};

/// Errors of the catalog. Messages name the profile and never hold a
/// secret value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile sets no connector block.
    #[error(
        "ConnectorProfile {profile:?}: the {connector} connector cannot be checked or discovered in this build"
    )]
    NotAvailable {
        /// The profile.
        profile: String,
        /// Its connector.
        connector: &'static str,
    },
    /// The entity asked for does not exist.
    #[error("ConnectorProfile {profile:?}: {entity:?} does not exist; {hint}")]
    EntityNotFound {
        /// The profile.
        profile: String,
        /// The entity.
        entity: String,
        /// What names look like, and how to list them.
        hint: &'static str,
    },
    /// The connector failed.
    #[error("ConnectorProfile {profile:?}: {source}")]
    Connector {
        /// The profile.
        profile: String,
        /// The connector's error, with its class.
        source: ConnectorError,
    },
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotAvailable { .. } => ErrorClass::Config,
            Self::EntityNotFound { .. } => ErrorClass::NotFound,
            Self::Connector { source, .. } => source.class(),
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::NotAvailable { .. } | Self::EntityNotFound { .. } => false,
            Self::Connector { source, .. } => source.retryable(),
        }
    }

    fn condition_reason(&self) -> &'static str {
        match self {
            Self::Connector { source, .. } => source.condition_reason(),
            other => other.reason().as_str(),
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a connector's catalog answers. Each connector folder implements
/// it for its connection.
pub trait Catalog {
    /// Checks that the application can be reached with the credentials.
    fn check(&self) -> Result<(), ConnectorError>;
    /// The entities the profile exposes, by name (fields not filled in).
    fn entities(&self) -> Result<Vec<Entity>, ConnectorError>;
    /// One entity with its fields; `None` when there is no such entity.
    fn describe(&self, entity: &str) -> Result<Option<Entity>, ConnectorError>;
    /// What entity names look like, and how to list them.
    fn hint(&self) -> &'static str;
}

/// A connector's catalog made of its connection and its three functions:
/// what each folder's `catalog_of` returns.
pub struct CatalogOf<C, E> {
    /// What the functions are given: a root, a client, settings.
    pub connection: C,
    /// The connection check.
    pub check: fn(&C) -> Result<(), E>,
    /// The entities, by name.
    pub entities: fn(&C) -> Result<Vec<Entity>, E>,
    /// One entity with its fields.
    pub describe: fn(&C, &str) -> Result<Option<Entity>, E>,
    /// What entity names look like, and how to list them.
    pub hint: &'static str,
}

impl<C, E: Classify> Catalog for CatalogOf<C, E> {
    fn check(&self) -> Result<(), ConnectorError> {
        Ok((self.check)(&self.connection)?)
    }

    fn entities(&self) -> Result<Vec<Entity>, ConnectorError> {
        Ok((self.entities)(&self.connection)?)
    }

    fn describe(&self, entity: &str) -> Result<Option<Entity>, ConnectorError> {
        Ok((self.describe)(&self.connection, entity)?)
    }

    fn hint(&self) -> &'static str {
        self.hint
    }
}

/// A profile to ask, with what it needs to connect.
#[derive(Clone, Copy)]
pub struct Profile<'a> {
    /// The profile's name.
    pub name: &'a str,
    /// The profile.
    pub profile: &'a ConnectorProfile,
    /// Where its credentials come from.
    pub secrets: &'a Resolver,
    /// What `file` roots are relative to.
    pub working_dir: &'a Path,
}

impl<'a> Profile<'a> {
    /// The connector's catalog: the one match over profile connectors.
    fn connect(&self) -> Result<Box<dyn Catalog + 'a>> {
        let spec = &self.profile.spec;
        let connected = match spec.kind() {
            Some(ProfileKind::File(settings)) => Ok(file::catalog_of(settings, self.working_dir)),
            Some(ProfileKind::S3(settings)) => {
                s3::catalog_of(self.name, settings, spec, self.secrets)
            }
            Some(ProfileKind::Postgres(_)) => postgres::catalog_of(self.name, spec, self.secrets),
            Some(ProfileKind::Http(_)) => Ok(http::catalog_of(self.name, spec, self.secrets)),
            Some(ProfileKind::Zendesk(_)) => zendesk::catalog_of(self.name, spec, self.secrets),
            Some(ProfileKind::Salesforce(_)) => {
                salesforce::catalog_of(self.name, spec, self.secrets)
            }
            None => {
                return Err(Error::NotAvailable {
                    profile: self.name.to_owned(),
                    connector: spec.connector_name(),
                });
            }
        };
        connected.map_err(|source| self.error(source))
    }

    fn error(&self, source: ConnectorError) -> Error {
        Error::Connector {
            profile: self.name.to_owned(),
            source,
        }
    }

    /// Checks that the application can be reached with the credentials.
    pub fn check(&self) -> Result<()> {
        self.connect()?.check().map_err(|e| self.error(e))
    }

    /// The entities the profile exposes, by name (fields not filled in).
    pub fn entities(&self) -> Result<Vec<Entity>> {
        self.connect()?.entities().map_err(|e| self.error(e))
    }

    /// One entity with its fields.
    pub fn describe(&self, entity: &str) -> Result<Entity> {
        let catalog = self.connect()?;
        catalog
            .describe(entity)
            .map_err(|e| self.error(e))?
            .ok_or_else(|| Error::EntityNotFound {
                profile: self.name.to_owned(),
                entity: entity.to_owned(),
                hint: catalog.hint(),
            })
    }
}
