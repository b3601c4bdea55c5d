//! Connection settings of a `postgres` ConnectorProfile: host, port,
//! database, `sslMode`, `tls.caBundle`, and the user and password read from
//! the `credentials.basic` keys through the run's secret resolver.

use crate::api::v1alpha1::connector_profile::{ConnectorProfileSpec, PostgresSslMode};
use crate::connectors::secrets::{Resolver, SecretValue};

use super::{Error, Result};

/// How to reach and authenticate to a PostgreSQL server.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// The ConnectorProfile's name, for messages.
    pub profile: String,
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database.
    pub database: String,
    /// User name.
    pub user: SecretValue,
    /// Password (prints as `***`).
    pub password: SecretValue,
    /// TLS mode.
    pub ssl_mode: PostgresSslMode,
    /// Extra PEM CA certificates.
    pub ca_bundle: Option<String>,
}

impl PgConfig {
    /// The settings of profile `name`, or why they cannot serve.
    pub fn new(name: &str, spec: &ConnectorProfileSpec, secrets: &Resolver) -> Result<Self> {
        let field = |f: &str| format!("ConnectorProfile {name:?}: spec.{f}");
        let pg = spec.postgres.as_ref().ok_or_else(|| Error::Config {
            field: field("postgres"),
            message: "is not set; a postgres source or destination needs a postgres profile"
                .to_owned(),
        })?;
        let port = u16::try_from(pg.port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Error::Config {
                field: field("postgres.port"),
                message: format!("{} is not a TCP port; use 1 to 65535", pg.port),
            })?;
        let basic = spec
            .credentials
            .as_ref()
            .and_then(|c| c.basic.as_ref())
            .ok_or_else(|| Error::Config {
                field: field("credentials.basic"),
                message: "is not set; postgres authenticates with a user and password: set credentials.basic and credentials.secretRef".to_owned(),
            })?;
        let store = secrets.store(name, spec.credentials.as_ref());
        let user = store.get(&basic.username_key)?;
        let password = store.get(&basic.password_key)?;
        Ok(Self {
            profile: name.to_owned(),
            host: pg.host.clone(),
            port,
            database: pg.database.clone(),
            user,
            password,
            ssl_mode: pg.ssl_mode,
            ca_bundle: spec.tls.as_ref().and_then(|t| t.ca_bundle.clone()),
        })
    }

    /// `host:port/database`, for messages.
    pub fn target(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.database)
    }
}
