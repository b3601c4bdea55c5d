//! The error of the shared HTTP client, and of the sources that read pages
//! through it.
//!
//! The http source's own failures (a page that is not JSON, a shape the
//! manifest does not describe, records that do not decode) are variants of
//! it too, and `connectors::http::Error` names it. [`Error::Status`] keeps
//! the response body (secrets scrubbed) for connectors that read an API's
//! own error payload (Zendesk). Messages name the request (method and URL
//! with secret query parameters masked), never a credential.

use crate::connectors::secrets;
use crate::pipeline::error::Classify;

pub use crate::pipeline::error::ErrorClass;

/// Errors of the HTTP client and of the http source. Messages name the
/// request (method and URL with secret query parameters masked), never a
/// credential.
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
