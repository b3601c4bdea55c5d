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

use crate::api::v1alpha1::flow_run::ErrorReason;

pub mod catalog;
mod client;
mod destination;
mod source;
mod store;

pub use client::{Aws, Runtime, default_config, runtime};
pub use destination::{destination, quarantine};
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
    Secret(#[from] crate::secrets::Error),
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
}

impl Error {
    /// The FlowRun error reason of this error, and whether running again
    /// unchanged may succeed: the connector's one mapping of errors to
    /// classes.
    pub fn reason(&self) -> (ErrorReason, bool) {
        match self {
            Self::Credentials { .. } | Self::Invalid(_) => (ErrorReason::InvalidSpec, false),
            Self::Secret(e) => (e.run_reason(), e.retryable()),
            Self::Runtime(_) => (ErrorReason::Internal, true),
            Self::Output(_) => (ErrorReason::WriteFailed, true),
            Self::Request { message, .. } => classify(message),
        }
    }
}

/// What a failed SDK call says: the service's error code and message when
/// the service answered (not the whole raw response), else the error and
/// its causes.
pub(crate) fn sdk_message<E>(e: &E) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error,
{
    match e.code() {
        Some(code) => match e.message().filter(|m| !m.is_empty()) {
            Some(message) => format!("{code}: {message}"),
            None => code.to_owned(),
        },
        None => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// The class of a failed request, from the service's error code in its
/// message. Refused credentials are looked for first: their messages say
/// the key "does not exist in our records".
fn classify(message: &str) -> (ErrorReason, bool) {
    let has = |codes: &[&str]| codes.iter().any(|c| message.contains(c));
    if has(&[
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "InvalidClientTokenId",
    ]) {
        (ErrorReason::AuthenticationFailed, false)
    } else if has(&["does not exist", "NoSuchBucket", "NoSuchKey"]) {
        // The bucket may be created in the meantime.
        (ErrorReason::ReferenceNotFound, true)
    } else if has(&["AccessDenied", "Forbidden", "KMS.AccessDenied"]) {
        (ErrorReason::Forbidden, false)
    } else if has(&["SlowDown", "TooManyRequests", "Throttl"]) {
        (ErrorReason::RateLimited, true)
    } else {
        (ErrorReason::Unreachable, true)
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_are_classified() {
        let request = |message: &str| Error::Request {
            operation: "open bucket",
            url: "s3://b".to_owned(),
            message: message.to_owned(),
        };
        assert_eq!(
            request("bucket \"b\" does not exist").reason(),
            (ErrorReason::ReferenceNotFound, true)
        );
        assert_eq!(
            request("AccessDenied: no").reason(),
            (ErrorReason::Forbidden, false)
        );
        assert_eq!(
            request("InvalidAccessKeyId: unknown key").reason(),
            (ErrorReason::AuthenticationFailed, false)
        );
        assert_eq!(
            request("connection refused").reason(),
            (ErrorReason::Unreachable, true)
        );
        assert_eq!(
            Error::Invalid("x".to_owned()).reason(),
            (ErrorReason::InvalidSpec, false)
        );
    }
}
