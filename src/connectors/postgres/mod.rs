//! The PostgreSQL connector: reads a table or a query through a server-side
//! cursor, and writes through `COPY ... FROM STDIN` into a staging table that
//! is merged into the target in one transaction on commit.
//!
//! - [`config`]: connection settings from a `postgres` ConnectorProfile and
//!   its `credentials.basic` keys.
//! - [`client`]: connecting (plain or TLS per `sslMode`), identifier quoting
//!   and error wording.
//! - [`destination`]: staging, Append / Overwrite / Upsert, `createTable`.
//! - [`catalog`]: the connection check, tables and their columns.
//! - [`source`]: cursor reads, PostgreSQL → Arrow types, incremental windows.
//!
//! The driver is async (tokio-postgres); each source and destination owns a
//! small tokio runtime because the engine calls them from plain threads.

pub mod catalog;
pub mod client;
pub mod config;
pub mod destination;
mod open;
pub mod source;

pub use config::PgConfig;
pub use destination::PostgresRecordDestination;
pub use open::{catalog_of, open_destination, open_source};
pub use source::{PostgresRecordSource, SourceWindow};

use crate::pipeline::error::{Classify, ErrorClass};

/// Errors of the postgres connector. Messages name the profile, field or
/// table and never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is wrong.
    #[error("{field}: {message}")]
    Config {
        /// The field, such as `ConnectorProfile "pg": spec.postgres.port`.
        field: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// The credentials could not be read.
    #[error(transparent)]
    Secret(#[from] crate::connectors::secrets::Error),
    /// The server refused the user name or password.
    #[error(
        "{target}: authentication failed: {message}; check the user and password keys of credentials.basic"
    )]
    Authentication {
        /// `host:port/database`.
        target: String,
        /// The server's message (it never contains the password).
        message: String,
    },
    /// The server could not be reached or TLS failed.
    #[error("{target}: cannot connect: {message}")]
    Connect {
        /// `host:port/database`.
        target: String,
        /// Why.
        message: String,
    },
    /// The target table does not exist and `createTable` is off.
    #[error(
        "spec.destination.postgres: table {table} does not exist; create it, or set createTable: true to create it from the records' schema"
    )]
    TableNotFound {
        /// `schema.table`.
        table: String,
    },
    /// A statement failed.
    #[error("{context}: {message}")]
    Query {
        /// What was being done, naming the table.
        context: String,
        /// The server's message.
        message: String,
        /// The class of the failure, from the server's SQLSTATE
        /// ([`client::class_of`]).
        class: ErrorClass,
    },
    /// The connector's runtime could not start.
    #[error("cannot start the postgres connector's runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Secret(e) => e.class(),
            Self::Connect { .. } => ErrorClass::Transient,
            Self::Authentication { .. } => ErrorClass::Auth,
            Self::Query { class, .. } => *class,
            Self::Config { .. } | Self::TableNotFound { .. } => ErrorClass::Config,
            Self::Runtime(_) => ErrorClass::Internal,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            // The server refused a statement for a reason of its own: the
            // same statement would be refused again.
            Self::Query {
                class: ErrorClass::Write,
                ..
            } => false,
            other => other.class().retryable(),
        }
    }

    fn condition_reason(&self) -> &'static str {
        match self {
            Self::Secret(e) => e.condition_reason(),
            other => other.reason().as_str(),
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
