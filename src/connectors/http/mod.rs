//! The declarative `http` source: any JSON API described by a manifest.
//!
//! A ConnectorProfile's `http` block says how to reach the API (base URL,
//! static headers, rate limit, timeout, TLS, proxy) and its `credentials`
//! how to authenticate (API key, basic, secret headers, OAuth 2.0 client
//! credentials or refresh token). A Flow's `source.http` says what to read:
//! a path, a method, fixed query parameters, the JSON Pointer to the records
//! of each response, the pagination style and how an incremental window is
//! sent.
//!
//! ```text
//!  fetch thread (tokio, async reqwest)          engine reader    engine workers
//!  pagination ─► client (auth, rate limit, ─► pages in order ─► units: decode the
//!               retries) ─► split the page                      records with Arrow
//!               into raw records
//! ```
//!
//! - [`config`]: turns a profile, a Flow's `source.http`, the run's window
//!   and the resolved secrets into an [`HttpConfig`].
//! - [`auth`]: puts credentials on requests; OAuth 2.0 tokens are cached,
//!   refreshed before they expire and once on a 401.
//! - [`client`]: the one place of rate limits and retries ([`RetryPolicy`]):
//!   429 and 503 honour `Retry-After` and `X-RateLimit-*`, 5xx and
//!   connection errors back off exponentially with jitter, 401/403 and other
//!   4xx are not retried.
//! - [`pagination`]: every pagination style; `Offset` and `PageNumber` fetch
//!   up to `rateLimit.maxConcurrency` pages at once and keep their order.
//! - [`records`]: splits a page at the record selector into raw records in
//!   one pass (no per-record allocation) and decodes them with arrow-json;
//!   records that do not decode become `Malformed` with their location.
//! - [`source`]: the engine's [`Source`](crate::pipeline::engine::Source):
//!   I/O on its own thread, decoding in the units on the engine's workers.
//!
//! Errors are classified ([`ErrorClass`]) and say whether a rerun may
//! succeed ([`Error::retryable`]). They name URLs with secret query
//! parameters masked and never hold a credential.

pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
mod open;
pub mod pagination;
pub mod records;
pub mod source;

pub use client::RetryPolicy;
pub use config::{HttpConfig, Window};
pub use open::{catalog_of, open_source};
pub use source::HttpRecordSource;

use crate::pipeline::error::Classify;
use crate::secrets;

pub use crate::pipeline::error::ErrorClass;

/// Errors of the http source. Messages name the request (method and URL
/// with secret query parameters masked), never a credential.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of the profile or the Flow is unusable.
    #[error("{field}: {message}")]
    Config {
        /// The field, such as `spec.source.http.path`.
        field: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] secrets::Error),
    /// The API answered with an error status.
    #[error("{request}: HTTP {status}{detail}")]
    Status {
        /// Method and URL.
        request: String,
        /// The status code and reason.
        status: String,
        /// What it means and what was tried, with the start of the body.
        detail: String,
        /// The class of the status.
        class: ErrorClass,
        /// The response body (secrets scrubbed, at most 64 KiB), for
        /// connectors that read the API's error payload.
        body: String,
    },
    /// The request could not be completed (connection, timeout, body).
    #[error("{request}: {message}")]
    Network {
        /// Method and URL.
        request: String,
        /// What failed and what was tried.
        message: String,
    },
    /// The OAuth 2.0 token endpoint did not issue a token.
    #[error("oauth2 token request to {url}: {message}")]
    Token {
        /// The token URL.
        url: String,
        /// What went wrong.
        message: String,
        /// Auth when the credentials were refused, Transient otherwise.
        class: ErrorClass,
    },
    /// A response is not valid JSON.
    #[error("{request}: the response is not valid JSON: {message}")]
    NotJson {
        /// Method and URL.
        request: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A response does not have the shape the manifest describes.
    #[error("{request}: {message}")]
    Shape {
        /// Method and URL.
        request: String,
        /// What was expected, what was found.
        message: String,
    },
    /// Decoding records failed as a whole.
    #[error("{origin}: decoding records: {message}")]
    Decode {
        /// The page.
        origin: String,
        /// Arrow's message.
        message: String,
    },
    /// The fetch thread stopped without saying why.
    #[error("the http fetch thread stopped unexpectedly")]
    Stopped,
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Secret(e) => e.class(),
            Self::Config { .. } => ErrorClass::Config,
            Self::Stopped => ErrorClass::Internal,
            Self::Status { class, .. } | Self::Token { class, .. } => *class,
            Self::Network { .. } => ErrorClass::Transient,
            Self::NotJson { .. } => ErrorClass::Data,
            Self::Shape { .. } | Self::Decode { .. } => ErrorClass::Schema,
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
