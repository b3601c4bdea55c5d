//! Zendesk Support: incremental exports, list endpoints and ticket writes,
//! on the documented REST API (`/api/v2`).
//!
//! ```text
//!  fetch thread (tokio)                              engine workers
//!  export / list pages ─► http client (auth, ─► dedupe, window, ─► decode into
//!                         429 + Retry-After)     custom fields     the declared schema
//! ```
//!
//! - [`config`]: the account's base URL and credentials: an API token
//!   (`credentials.basic`: `{email}/token` and the token, sent as HTTP
//!   basic), an OAuth access token (`credentials.apiKey`, sent as
//!   `Authorization: Bearer`) or an OAuth 2.0 grant (`credentials.oauth2`,
//!   token endpoint `{base}/oauth/tokens` unless set).
//! - [`client`]: requests through the shared HTTP client (one retry
//!   policy: 429 and 503 wait for `Retry-After`, 5xx back off, 401/403/4xx
//!   are not retried) with Zendesk's error payloads read into [`Error`].
//! - [`schema`]: the declared Arrow schema of tickets, users, organizations
//!   and groups, and how custom fields are carried.
//! - [`source`]: reads an object: the cursor-based incremental export for
//!   `tickets` and `users`, the time-based export for `organizations`, and
//!   the list endpoint with cursor pagination (`page[size]`, `meta.has_more`,
//!   `links.next`) for any other object.
//! - [`destination`]: writes tickets with `create_many` and `update_many`
//!   (100 per request) and polls their job statuses; items the job reports
//!   as failed are handed to the Flow's error policy with Zendesk's error
//!   and details.

pub mod catalog;
pub mod client;
pub mod config;
pub mod destination;
mod open;
pub mod schema;
pub mod source;

pub use client::ZendeskClient;
pub use config::ZendeskConfig;
pub use destination::ZendeskTicketDestination;
pub use open::{catalog_of, open_destination, open_source};
pub use source::ZendeskRecordSource;

use crate::connectors::common;
use crate::connectors::secrets;
use crate::pipeline::error::{Classify, ErrorClass};

/// Errors of the Zendesk connector. Messages name the request (method and
/// URL), never a credential.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of the profile or the Flow is unusable.
    #[error("{field}: {message}")]
    Config {
        /// The field, such as `spec.source.zendesk.object`.
        field: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] secrets::Error),
    /// Zendesk refused the credentials (401). Not retried.
    #[error(
        "{request}: HTTP 401 Unauthorized: Zendesk refused the credentials of ConnectorProfile {profile:?}{message}; check the Secret's email, API token or OAuth token"
    )]
    Authentication {
        /// Method and URL.
        request: String,
        /// The profile.
        profile: String,
        /// Zendesk's error, as `: …`.
        message: String,
    },
    /// The credentials lack a permission (403).
    #[error(
        "{request}: HTTP 403 Forbidden: the user of ConnectorProfile {profile:?} may not do this{message}"
    )]
    Forbidden {
        /// Method and URL.
        request: String,
        /// The profile.
        profile: String,
        /// Zendesk's error, as `: …`.
        message: String,
    },
    /// The object or record does not exist (404).
    #[error("{request}: HTTP 404 Not Found: {object}{message}")]
    NotFound {
        /// Method and URL.
        request: String,
        /// What was asked for, such as `object "widgets" (no endpoint /api/v2/widgets.json)`.
        object: String,
        /// Zendesk's error, as `: …`.
        message: String,
    },
    /// Zendesk refused the request as invalid (400, 422), with its details.
    #[error("{request}: HTTP {status}: {message}")]
    Invalid {
        /// Method and URL.
        request: String,
        /// The status.
        status: String,
        /// Zendesk's error, description and details.
        message: String,
    },
    /// Rate limits beyond the retry budget, server and network errors.
    #[error(transparent)]
    Http(common::Error),
    /// A page does not have the documented shape.
    #[error("{page}: {field}: {message}")]
    Page {
        /// Method and URL of the page.
        page: String,
        /// The field, such as `after_cursor`.
        field: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A batch job failed or did not finish.
    #[error("job {id} ({url}): {message}")]
    Job {
        /// The job id.
        id: String,
        /// Its status URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The fetch thread stopped without saying why.
    #[error("the zendesk fetch thread stopped unexpectedly")]
    Stopped,
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Secret(e) => e.class(),
            Self::Config { .. } | Self::NotFound { .. } | Self::Invalid { .. } => {
                ErrorClass::Config
            }
            Self::Authentication { .. } => ErrorClass::Auth,
            Self::Forbidden { .. } => ErrorClass::Forbidden,
            Self::Http(e) => e.class(),
            Self::Page { .. } => ErrorClass::Data,
            Self::Job { .. } => ErrorClass::Write,
            Self::Stopped => ErrorClass::Internal,
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
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
