//! The `salesforce` connector: reads an sObject with SOQL (REST `query` /
//! `queryAll` or Bulk API 2.0 query jobs) and writes records back with
//! sObject Collections or Bulk API 2.0 ingest jobs.
//!
//! ```text
//!  token endpoint ──► client (session, INVALID_SESSION_ID → refresh once,
//!  (JWT bearer or      retries, Sforce-Limit-Info, error payloads)
//!   refresh token)        │
//!                         ├─► describe: sObject fields → Arrow schema
//!                         ├─► source: SOQL from the described fields, the
//!                         │   run's window and pushed-down filters; REST
//!                         │   pages or Bulk 2.0 CSV result pages, both
//!                         │   decoded to the SAME typed schema
//!                         └─► destination: Collections (200 a request) or
//!                             Bulk 2.0 ingest (CSV upload, poll, results)
//! ```
//!
//! - [`config`]: the profile's login host, API version and grant with its
//!   secret values, checked before anything is sent.
//! - [`auth`]: the JWT bearer assertion (RS256) and the token requests.
//! - [`client`]: the one place of retries and error classification.
//! - [`describe`]: global and sObject describe, and the field types' Arrow
//!   types.
//! - [`soql`]: the SELECT the source sends, and which Flow filters can be
//!   pushed into its WHERE clause.
//! - [`source`] and [`destination`]: the engine's traits.
//! - [`catalog`]: the connection check, sObjects and their fields.
//!
//! Errors name the request and carry Salesforce's `errorCode` and message;
//! they never hold a credential.

pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod describe;
pub mod destination;
mod open;
pub mod soql;
pub mod source;

pub use client::{ApiUsage, Client};
pub use config::{Grant, PollPolicy, SalesforceConfig};
pub use destination::{DestinationSettings, Operation, SalesforceRecordDestination};
pub use open::{catalog_of, open_destination, open_source};
pub use source::{SalesforceRecordSource, SourceSettings, Window};

use crate::connectors::secrets;
use crate::pipeline::error::Classify;

pub use crate::pipeline::error::ErrorClass;

/// Errors of the salesforce connector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of the profile or the Flow is unusable.
    #[error("{field}: {message}")]
    Config {
        /// The field.
        field: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] secrets::Error),
    /// The token endpoint did not issue a token.
    #[error("salesforce token request to {url}: {message}")]
    Token {
        /// The token URL.
        url: String,
        /// What went wrong, with Salesforce's `error` and `error_description`.
        message: String,
        /// Auth when the grant was refused, Transient otherwise.
        class: ErrorClass,
    },
    /// Salesforce answered with an error payload.
    #[error("{request}: HTTP {status}: {code}: {message}{note}")]
    Api {
        /// Method and URL.
        request: String,
        /// The status code.
        status: u16,
        /// Salesforce's `errorCode` (`MALFORMED_QUERY`, `INVALID_FIELD`, ...).
        code: String,
        /// Salesforce's message.
        message: String,
        /// What was tried, what it means.
        note: String,
        /// The class.
        class: ErrorClass,
    },
    /// The request could not be completed.
    #[error("{request}: {message}")]
    Network {
        /// Method and URL.
        request: String,
        /// What failed and what was tried.
        message: String,
    },
    /// A response could not be read.
    #[error("{request}: {message}")]
    Response {
        /// Method and URL, or the page.
        request: String,
        /// What was expected and what came.
        message: String,
    },
    /// A field the Flow needs no longer exists on the object.
    #[error(
        "{object}.{field}: the field no longer exists on the object ({detail}); spec.schemaDrift.policy is Fail (Ignore or PassThrough would write it as null)"
    )]
    FieldRemoved {
        /// The sObject.
        object: String,
        /// The field.
        field: String,
        /// Where this was seen.
        detail: String,
    },
    /// A Bulk API 2.0 job failed or was aborted.
    #[error("bulk {kind} job {id} for {object} ended {state}: {message}")]
    BulkJob {
        /// `query` or `ingest`.
        kind: &'static str,
        /// The job id.
        id: String,
        /// The sObject.
        object: String,
        /// `Failed` or `Aborted`.
        state: String,
        /// The job's `errorMessage`.
        message: String,
        /// Write for ingest jobs, Transient for query jobs.
        class: ErrorClass,
    },
    /// A bulk job did not finish in the time allowed.
    #[error("bulk {kind} job {id} for {object} was still {state} after {waited_secs}s of polling")]
    BulkTimeout {
        /// `query` or `ingest`.
        kind: &'static str,
        /// The job id.
        id: String,
        /// The sObject.
        object: String,
        /// Its last state.
        state: String,
        /// Seconds spent polling.
        waited_secs: u64,
    },
    /// Records the destination could not write one by one, under policy
    /// Fail.
    #[error(
        "{count} of {total} records were refused by Salesforce, the first at {location}: {reason} (errorHandling.policy is Fail; the other records were written)"
    )]
    Refused {
        /// Refused records.
        count: u64,
        /// Records sent.
        total: u64,
        /// The first refused record.
        location: String,
        /// Its errorCode and message.
        reason: String,
    },
    /// The connector's runtime could not start.
    #[error("cannot start the salesforce connector's runtime: {0}")]
    Runtime(String),
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Secret(e) => e.class(),
            Self::Config { .. } => ErrorClass::Config,
            Self::Runtime(_) => ErrorClass::Internal,
            Self::Token { class, .. } | Self::Api { class, .. } | Self::BulkJob { class, .. } => {
                *class
            }
            Self::Network { .. } | Self::BulkTimeout { .. } => ErrorClass::Transient,
            Self::Response { .. } | Self::Refused { .. } => ErrorClass::Data,
            Self::FieldRemoved { .. } => ErrorClass::Schema,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            // A failed ingest job: Salesforce refused the data as a whole.
            Self::BulkJob {
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

impl Error {
    /// Salesforce's `errorCode`, when the API answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A small runtime for the connector's requests: the engine calls sources
/// and destinations from plain threads.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    crate::connectors::common::runtime::current_thread().map_err(|e| Error::Runtime(e.to_string()))
}
