//! A profile's catalog, whatever its connector: the connection check, the
//! entities it exposes and their fields. `sluice discover` prints it, the
//! profile validation runs the check, and the connector conformance suite
//! holds every connector to it.

use std::path::Path;

use crate::api::v1alpha1::ConnectorProfile;
use crate::api::v1alpha1::flow_run::ErrorReason;
use crate::connectors::{Entity, file, http, postgres, s3, salesforce, zendesk};
use crate::secrets::Resolver;

/// Errors of the catalog. Messages name the profile and never hold a
/// secret value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile's connector has no catalog in this build.
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
    /// The file connector failed.
    #[error("ConnectorProfile {profile:?}: {source}")]
    File {
        /// The profile.
        profile: String,
        /// The connector's error.
        source: Box<file::Error>,
    },
    /// The s3 connector failed.
    #[error("ConnectorProfile {profile:?}: {source}")]
    S3 {
        /// The profile.
        profile: String,
        /// The connector's error.
        source: Box<s3::Error>,
    },
    /// The postgres connector failed.
    #[error("ConnectorProfile {profile:?}: {source}")]
    Postgres {
        /// The profile.
        profile: String,
        /// The connector's error.
        source: Box<postgres::Error>,
    },
    /// The salesforce connector failed.
    #[error("ConnectorProfile {profile:?}: {source}")]
    Salesforce {
        /// The profile.
        profile: String,
        /// The connector's error.
        source: Box<salesforce::Error>,
    },
    /// The http connector failed.
    #[error("ConnectorProfile {profile:?}: {source}")]
    Http {
        /// The profile.
        profile: String,
        /// The connector's error.
        source: Box<http::Error>,
    },
    /// The zendesk connector failed.
    #[error("ConnectorProfile {profile:?}: {source}")]
    Zendesk {
        /// The profile.
        profile: String,
        /// The connector's error.
        source: Box<zendesk::Error>,
    },
}

impl Error {
    /// The error's reason (as FlowRuns and profile conditions name it) and
    /// whether trying again unchanged may succeed.
    pub fn reason(&self) -> (ErrorReason, bool) {
        match self {
            Self::NotAvailable { .. } => (ErrorReason::InvalidSpec, false),
            Self::EntityNotFound { .. } => (ErrorReason::ReferenceNotFound, false),
            Self::File { source, .. } => match source.as_ref() {
                file::Error::Io { .. } | file::Error::NoFiles { .. } => {
                    (ErrorReason::ReferenceNotFound, true)
                }
                _ => (ErrorReason::InvalidSpec, false),
            },
            Self::S3 { source, .. } => source.reason(),
            Self::Postgres { source, .. } => source.reason(),
            Self::Http { source, .. } => (source.reason(), source.retryable()),
            Self::Zendesk { source, .. } => (source.reason(), source.retryable()),
            Self::Salesforce { source, .. } => (source.reason(), source.retryable()),
        }
    }
}

impl Error {
    /// The credentials error behind this one, if reading a secret failed.
    pub fn secret_error(&self) -> Option<&crate::secrets::Error> {
        match self {
            Self::S3 { source, .. } => match source.as_ref() {
                s3::Error::Secret(e) => Some(e),
                _ => None,
            },
            Self::Postgres { source, .. } => match source.as_ref() {
                postgres::Error::Secret(e) => Some(e),
                _ => None,
            },
            Self::Http { source, .. } => match source.as_ref() {
                http::Error::Secret(e) => Some(e),
                _ => None,
            },
            Self::Zendesk { source, .. } => match source.as_ref() {
                zendesk::Error::Secret(e) => Some(e),
                _ => None,
            },
            Self::Salesforce { source, .. } => match source.as_ref() {
                salesforce::Error::Secret(e) => Some(e),
                _ => None,
            },
            Self::NotAvailable { .. } | Self::EntityNotFound { .. } | Self::File { .. } => None,
        }
    }

    /// The ConnectorProfile `Ready` reason of the error: `SecretNotFound`
    /// when its credentials could not be read, otherwise the name of its
    /// [`reason`](Self::reason) (`AuthenticationFailed`, `Unreachable`,
    /// `ReferenceNotFound`, ...).
    pub fn profile_reason(&self) -> &'static str {
        match self.secret_error() {
            Some(secret) => secret.reason(),
            None => crate::controller::metrics::error_reason_label(self.reason().0),
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

enum Connection {
    File(std::path::PathBuf),
    S3(s3::Aws),
    Postgres(postgres::PgConfig),
    Http,
    Zendesk(Box<zendesk::ZendeskConfig>),
    Salesforce(Box<salesforce::SalesforceConfig>),
}

impl Profile<'_> {
    fn connector(&self) -> &'static str {
        let s = &self.profile.spec;
        [
            (s.salesforce.is_some(), "salesforce"),
            (s.zendesk.is_some(), "zendesk"),
            (s.s3.is_some(), "s3"),
            (s.postgres.is_some(), "postgres"),
            (s.http.is_some(), "http"),
            (s.file.is_some(), "file"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
        .unwrap_or("nothing")
    }

    fn connect(&self) -> Result<Connection> {
        let spec = &self.profile.spec;
        let profile = self.name.to_owned();
        if let Some(file) = &spec.file {
            return Ok(Connection::File(self.working_dir.join(&file.root)));
        }
        if let Some(settings) = &spec.s3 {
            return s3::Aws::connect(self.name, settings, spec.credentials.as_ref(), self.secrets)
                .map(Connection::S3)
                .map_err(|source| Error::S3 {
                    profile,
                    source: Box::new(source),
                });
        }
        if spec.postgres.is_some() {
            return postgres::PgConfig::new(self.name, spec, self.secrets)
                .map(Connection::Postgres)
                .map_err(|source| Error::Postgres {
                    profile,
                    source: Box::new(source),
                });
        }
        if spec.http.is_some() {
            return Ok(Connection::Http);
        }
        if spec.zendesk.is_some() {
            return zendesk::ZendeskConfig::new(self.name, spec, self.secrets)
                .map(|c| Connection::Zendesk(Box::new(c)))
                .map_err(|e| self.zendesk_error(e));
        }
        if spec.salesforce.is_some() {
            return salesforce::SalesforceConfig::new(self.name, spec, self.secrets)
                .map(|config| Connection::Salesforce(Box::new(config)))
                .map_err(|e| self.salesforce_error(e));
        }
        Err(Error::NotAvailable {
            profile,
            connector: self.connector(),
        })
    }

    fn file_error(&self, source: file::Error) -> Error {
        Error::File {
            profile: self.name.to_owned(),
            source: Box::new(source),
        }
    }

    fn s3_error(&self, source: s3::Error) -> Error {
        Error::S3 {
            profile: self.name.to_owned(),
            source: Box::new(source),
        }
    }

    fn zendesk_error(&self, source: zendesk::Error) -> Error {
        Error::Zendesk {
            profile: self.name.to_owned(),
            source: Box::new(source),
        }
    }

    fn salesforce_error(&self, source: salesforce::Error) -> Error {
        Error::Salesforce {
            profile: self.name.to_owned(),
            source: Box::new(source),
        }
    }

    fn postgres_error(&self, source: postgres::Error) -> Error {
        Error::Postgres {
            profile: self.name.to_owned(),
            source: Box::new(source),
        }
    }

    /// Checks that the application can be reached with the credentials.
    pub fn check(&self) -> Result<()> {
        match self.connect()? {
            Connection::File(root) => file::catalog::check(&root).map_err(|e| self.file_error(e)),
            Connection::S3(aws) => s3::catalog::check(&aws).map_err(|e| self.s3_error(e)),
            Connection::Postgres(config) => {
                postgres::catalog::check(&config).map_err(|e| self.postgres_error(e))
            }
            Connection::Http => http::catalog::check(self.name, &self.profile.spec, self.secrets)
                .map_err(|source| Error::Http {
                    profile: self.name.to_owned(),
                    source: Box::new(source),
                }),
            Connection::Zendesk(config) => {
                zendesk::catalog::check(*config).map_err(|e| self.zendesk_error(e))
            }
            Connection::Salesforce(config) => {
                salesforce::catalog::check(&config).map_err(|e| self.salesforce_error(e))
            }
        }
    }

    /// The entities the profile exposes, by name (fields not filled in).
    pub fn entities(&self) -> Result<Vec<Entity>> {
        match self.connect()? {
            Connection::File(root) => {
                file::catalog::entities(&root).map_err(|e| self.file_error(e))
            }
            Connection::S3(aws) => s3::catalog::entities(&aws).map_err(|e| self.s3_error(e)),
            Connection::Postgres(config) => {
                postgres::catalog::entities(&config).map_err(|e| self.postgres_error(e))
            }
            Connection::Http => {
                self.check()?;
                Ok(Vec::new())
            }
            Connection::Zendesk(_) => {
                self.check()?;
                Ok(zendesk::catalog::entities())
            }
            Connection::Salesforce(config) => {
                salesforce::catalog::entities(&config).map_err(|e| self.salesforce_error(e))
            }
        }
    }

    /// One entity with its fields.
    pub fn describe(&self, entity: &str) -> Result<Entity> {
        let (found, hint) = match self.connect()? {
            Connection::File(root) => (
                file::catalog::describe(&root, entity).map_err(|e| self.file_error(e))?,
                "name a data file relative to the profile's root (.csv, .jsonl, .parquet); `sluice discover --profile NAME` lists them",
            ),
            Connection::S3(aws) => (
                s3::catalog::describe(&aws, entity).map_err(|e| self.s3_error(e))?,
                "name a bucket or bucket/prefix holding .csv, .jsonl or .parquet objects; `sluice discover --profile NAME` lists the buckets",
            ),
            Connection::Postgres(config) => (
                postgres::catalog::describe(&config, entity).map_err(|e| self.postgres_error(e))?,
                "name a table as schema.table (or table, in public); `sluice discover --profile NAME` lists them",
            ),
            Connection::Zendesk(config) => (
                zendesk::catalog::describe(*config, entity).map_err(|e| self.zendesk_error(e))?,
                "name a Zendesk object such as tickets, users, organizations or groups; `sluice discover --profile NAME` lists them",
            ),
            Connection::Salesforce(config) => (
                salesforce::catalog::describe(&config, entity)
                    .map_err(|e| self.salesforce_error(e))?,
                "name an sObject by its API name (Opportunity, Invoice__c); `sluice discover --profile NAME` lists them",
            ),
            Connection::Http => (
                None,
                "an http profile has no catalog: describe a Flow that reads it with `sluice discover -f FILE --flow NAME`",
            ),
        };
        found.ok_or_else(|| Error::EntityNotFound {
            profile: self.name.to_owned(),
            entity: entity.to_owned(),
            hint,
        })
    }
}
