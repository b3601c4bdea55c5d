//! The one classification of failures that crosses the engine's boundary.
//!
//! Every connector error says *what class* of failure happened
//! ([`Classify`]); sources and destinations hand the engine a
//! [`ConnectorError`] that keeps the class beside the error; the engine
//! carries it unchanged; the entry points (`sluice run`, `sluice check`,
//! local mode) map the class to a FlowRun reason and retryability in one
//! place, [`ErrorClass::reason`] and [`ErrorClass::retryable`].

use std::fmt;

use crate::api::v1alpha1::flow_run::ErrorReason;

/// Kinds of failure, for retries and for a FlowRun's error reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Credentials were refused (401, a token endpoint refused them, a
    /// database refused the password).
    Auth,
    /// A permission is missing (403, a database privilege).
    Forbidden,
    /// The application's rate limit was exhausted beyond the retry budget.
    RateLimit,
    /// Network or server errors persisted beyond retries.
    Transient,
    /// The data's shape is not the one the Flow expects: a field the Flow
    /// needs is gone, a response has another structure.
    Schema,
    /// A response or a record could not be read.
    Data,
    /// The manifest, a secret or a request is unusable as written: retrying
    /// unchanged cannot help.
    Config,
    /// Something the Flow names does not exist (a bucket, a table, an
    /// object type, a file).
    NotFound,
    /// A write was refused as a whole (a failed load or ingest job).
    Write,
    /// A defect or an unexpected state inside Sluice.
    Internal,
}

impl ErrorClass {
    /// Whether running again unchanged may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, Self::RateLimit | Self::Transient | Self::Write)
    }

    /// The FlowRun error reason of this class.
    pub fn reason(self) -> ErrorReason {
        match self {
            Self::Auth => ErrorReason::AuthenticationFailed,
            Self::Forbidden => ErrorReason::Forbidden,
            Self::RateLimit => ErrorReason::RateLimited,
            Self::Transient => ErrorReason::Unreachable,
            Self::Schema => ErrorReason::SchemaDrift,
            Self::Data => ErrorReason::BadRecords,
            Self::Config => ErrorReason::InvalidSpec,
            Self::NotFound => ErrorReason::ReferenceNotFound,
            Self::Write => ErrorReason::WriteFailed,
            Self::Internal => ErrorReason::Internal,
        }
    }
}

/// An error that knows its class. Every connector's error implements it.
pub trait Classify: std::error::Error + Send + Sync + 'static {
    /// The class of this failure.
    fn class(&self) -> ErrorClass;
}

/// A boxed error of any kind.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector's error as the engine carries it: the class beside the
/// error, so that no boundary erases it.
#[derive(Debug)]
pub struct ConnectorError {
    class: ErrorClass,
    error: BoxError,
}

impl ConnectorError {
    /// An error of a given class.
    pub fn new(class: ErrorClass, error: impl Into<BoxError>) -> Self {
        Self {
            class,
            error: error.into(),
        }
    }

    /// The error's class.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The error inside.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.error.as_ref()
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for ConnectorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl<E: Classify> From<E> for ConnectorError {
    fn from(error: E) -> Self {
        Self {
            class: error.class(),
            error: Box::new(error),
        }
    }
}

impl Classify for std::io::Error {
    fn class(&self) -> ErrorClass {
        use std::io::ErrorKind as K;
        match self.kind() {
            K::NotFound => ErrorClass::NotFound,
            K::PermissionDenied => ErrorClass::Forbidden,
            K::InvalidData | K::InvalidInput | K::UnexpectedEof => ErrorClass::Data,
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::BrokenPipe
            | K::TimedOut
            | K::Interrupted => ErrorClass::Transient,
            _ => ErrorClass::Write,
        }
    }
}

impl Classify for arrow::error::ArrowError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::IoError(..) | Self::ExternalError(_) => ErrorClass::Transient,
            Self::ParseError(_)
            | Self::CsvError(_)
            | Self::JsonError(_)
            | Self::CastError(_)
            | Self::InvalidArgumentError(_) => ErrorClass::Data,
            Self::SchemaError(_) => ErrorClass::Schema,
            _ => ErrorClass::Internal,
        }
    }
}

impl Classify for parquet::errors::ParquetError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::External(_) => ErrorClass::Transient,
            Self::EOF(_) | Self::General(_) => ErrorClass::Data,
            _ => ErrorClass::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("refused")]
    struct Refused;

    impl Classify for Refused {
        fn class(&self) -> ErrorClass {
            ErrorClass::Auth
        }
    }

    #[test]
    fn the_class_survives_the_conversion_and_maps_to_one_reason() {
        let error: ConnectorError = Refused.into();
        assert_eq!(error.class(), ErrorClass::Auth);
        assert_eq!(error.to_string(), "refused");
        assert_eq!(error.class().reason(), ErrorReason::AuthenticationFailed);
        assert!(!error.class().retryable());
        assert!(ErrorClass::RateLimit.retryable());
        assert_eq!(ErrorClass::RateLimit.reason(), ErrorReason::RateLimited);
        assert!(ErrorClass::Transient.retryable());
    }
}
