//! The `s3` connector: objects in Amazon S3 or an S3-compatible store
//! (MinIO, Ceph, R2, ...), through the official AWS SDK.
//!
//! - [`S3Store`] implements the pipeline's [`Store`](crate::pipeline::store::Store):
//!   streaming multipart uploads with bounded memory (8 MiB parts, a single
//!   PutObject when smaller), objects visible only once finished, renames as
//!   CopyObject + DeleteObject. The file output's atomic commit, manifests,
//!   rerun replacement and quarantine are built on it.
//! - [`S3RecordSource`] reads the objects under a prefix (sorted by key)
//!   with the pipeline's format readers; incremental runs read those whose
//!   LastModified falls in the run's window.
//! - [`destination`] and [`quarantine`] put the file output and the
//!   quarantine on a bucket prefix.
//!
//! The SDK is async while the engine calls stores from plain threads, so
//! each connection owns a small tokio runtime ([`client::Aws`]) and blocks on
//! it; it never blocks inside another runtime's worker.
//!
//! Credentials: `awsIam` (or no credentials block) uses the standard AWS
//! chain of the pod, assuming `roleArn` when set; `awsAccessKey` reads static
//! keys from the profile's secret store; `none` sends unsigned requests.

use crate::pipeline::error::{Classify, ErrorClass};

pub mod catalog;
mod client;
mod destination;
mod open;
mod source;
mod store;

pub use client::{Aws, Runtime, default_config, runtime};
pub use destination::{destination, quarantine};
pub use open::{catalog_of, open_destination, open_quarantine, open_source};
pub use source::{S3RecordSource, Window};
pub use store::{Encryption, S3Store};

/// Errors of the s3 connector. Messages name buckets, keys and profiles,
/// never secret values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile's credentials cannot be used for S3.
    #[error("ConnectorProfile {profile:?}: {message}")]
    Credentials {
        /// The profile.
        profile: String,
        /// What is wrong.
        message: String,
    },
    /// A secret key of the credentials could not be read.
    #[error(transparent)]
    Secret(#[from] crate::connectors::secrets::Error),
    /// The connector's runtime could not start.
    #[error("cannot start the S3 client's runtime: {0}")]
    Runtime(std::io::Error),
    /// An S3 request failed.
    #[error("{operation} {url}: {message}")]
    Request {
        /// What was being done.
        operation: &'static str,
        /// The bucket or object.
        url: String,
        /// The service's or network's error.
        message: String,
    },
    /// The destination settings are invalid.
    #[error("{0}")]
    Invalid(String),
    /// The file output failed.
    #[error(transparent)]
    Output(#[from] crate::pipeline::output::Error),
    /// Reading an object's bytes failed: the failed request's class
    /// (refused credentials, throttling, a server error) travels inside.
    #[error(transparent)]
    Read(crate::pipeline::format::Error),
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Credentials { .. } | Self::Invalid(_) => ErrorClass::Config,
            Self::Secret(e) => e.class(),
            Self::Runtime(_) => ErrorClass::Internal,
            Self::Output(e) => e.class(),
            Self::Read(e) => e.class(),
            Self::Request { message, .. } => class_of(message),
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::Output(e) => e.retryable(),
            Self::Read(e) => e.retryable(),
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

/// What a failed SDK call says: the service's error code and message when
/// the service answered (not the whole raw response), else the error and
/// its causes.
pub(crate) fn sdk_message<E>(e: &E) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.code() {
        Some(code) => match e.message().filter(|m| !m.is_empty()) {
            Some(message) => format!("{code}: {message}"),
            None => code.to_owned(),
        },
        None => crate::connectors::common::aws::error_text(e),
    }
}

/// The class of a failed request, from the service's error code in its
/// message. Refused credentials are looked for first: their messages say
/// the key "does not exist in our records".
pub(crate) fn class_of(message: &str) -> ErrorClass {
    let has = |codes: &[&str]| codes.iter().any(|c| message.contains(c));
    if has(&[
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "InvalidClientTokenId",
    ]) {
        ErrorClass::Auth
    } else if has(&["does not exist", "NoSuchBucket", "NoSuchKey"]) {
        // The bucket may be created in the meantime.
        ErrorClass::NotFound
    } else if has(&["AccessDenied", "Forbidden", "KMS.AccessDenied"]) {
        ErrorClass::Forbidden
    } else if has(&["SlowDown", "TooManyRequests", "Throttl"]) {
        ErrorClass::RateLimit
    } else {
        ErrorClass::Transient
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::flow_run::ErrorReason;

    fn reason(error: &Error) -> (ErrorReason, bool) {
        (error.reason(), error.retryable())
    }

    #[test]
    fn request_errors_are_classified() {
        let request = |message: &str| Error::Request {
            operation: "open bucket",
            url: "s3://b".to_owned(),
            message: message.to_owned(),
        };
        assert_eq!(
            reason(&request("bucket \"b\" does not exist")),
            (ErrorReason::ReferenceNotFound, true)
        );
        assert_eq!(
            reason(&request("AccessDenied: no")),
            (ErrorReason::Forbidden, false)
        );
        assert_eq!(
            reason(&request("InvalidAccessKeyId: unknown key")),
            (ErrorReason::AuthenticationFailed, false)
        );
        assert_eq!(
            reason(&request("connection refused")),
            (ErrorReason::Unreachable, true)
        );
        assert_eq!(
            reason(&Error::Invalid("x".to_owned())),
            (ErrorReason::InvalidSpec, false)
        );
    }

    #[test]
    fn a_failed_read_keeps_the_class_of_its_request() {
        let read = |class: ErrorClass| {
            let failed = crate::pipeline::error::ConnectorError::new(class, "GET refused");
            Error::Read(crate::pipeline::format::Error::Io {
                context: "s3://b/k".to_owned(),
                source: std::io::Error::other(failed),
            })
        };
        assert_eq!(
            reason(&read(ErrorClass::Auth)),
            (ErrorReason::AuthenticationFailed, false)
        );
        assert_eq!(
            reason(&read(ErrorClass::RateLimit)),
            (ErrorReason::RateLimited, true)
        );
        assert_eq!(
            reason(&read(ErrorClass::Transient)),
            (ErrorReason::Unreachable, true)
        );
    }
}
