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
    /// Something the Flow or profile names does not exist (a bucket, a
    /// Secret, a file). Retryable: it may be created in the meantime.
    NotFound,
    /// A write failed (a failed load or ingest job, an output that could
    /// not be stored). Retryable unless the error says otherwise (records
    /// the application refuses as a whole).
    Write,
    /// A defect or an unexpected state inside Sluice.
    Internal,
}

impl ErrorClass {
    /// Whether running again unchanged may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimit | Self::Transient | Self::NotFound | Self::Write
        )
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

    /// Whether running again unchanged may succeed: the class's answer
    /// unless the error knows better (a Secret that may yet be created).
    fn retryable(&self) -> bool {
        self.class().retryable()
    }

    /// The FlowRun error reason: always the class's.
    fn reason(&self) -> ErrorReason {
        self.class().reason()
    }

    /// The reason a ConnectorProfile's `Ready` condition shows: the run
    /// reason's name, or a more precise one (`SecretNotFound` when the
    /// credentials could not be read).
    fn condition_reason(&self) -> &'static str {
        self.reason().as_str()
    }
}

/// A boxed error of any kind.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector's error as the engine carries it: the class beside the
/// error, so that no boundary erases it.
#[derive(Debug)]
pub struct ConnectorError {
    class: ErrorClass,
    retryable: bool,
    condition_reason: &'static str,
    error: BoxError,
}

impl ConnectorError {
    /// An error of a given class.
    pub fn new(class: ErrorClass, error: impl Into<BoxError>) -> Self {
        Self {
            class,
            retryable: class.retryable(),
            condition_reason: class.reason().as_str(),
            error: error.into(),
        }
    }

    /// The error's class.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// Whether running again unchanged may succeed.
    pub fn retryable(&self) -> bool {
        self.retryable
    }

    /// The FlowRun error reason.
    pub fn reason(&self) -> ErrorReason {
        self.class.reason()
    }

    /// The reason a ConnectorProfile's `Ready` condition shows.
    pub fn condition_reason(&self) -> &'static str {
        self.condition_reason
    }

    /// The connector's own error, when it is a `T`.
    pub fn downcast<T: std::error::Error + 'static>(self) -> Result<Box<T>, Self> {
        let Self {
            class,
            retryable,
            condition_reason,
            error,
        } = self;
        error.downcast::<T>().map_err(|error| Self {
            class,
            retryable,
            condition_reason,
            error,
        })
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
            retryable: error.retryable(),
            condition_reason: error.condition_reason(),
            error: Box::new(error),
        }
    }
}

impl Classify for std::io::Error {
    /// The class of a classified error carried inside (a connector that
    /// must speak `std::io` wraps its [`ConnectorError`] in one), else the
    /// class of the error's kind.
    fn class(&self) -> ErrorClass {
        use std::io::ErrorKind as K;
        if let Some(inner) = self
            .get_ref()
            .and_then(|e| e.downcast_ref::<ConnectorError>())
        {
            return inner.class();
        }
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

    fn retryable(&self) -> bool {
        match self
            .get_ref()
            .and_then(|e| e.downcast_ref::<ConnectorError>())
        {
            Some(inner) => inner.retryable(),
            None => self.class().retryable(),
        }
    }
}

impl Classify for serde_json::Error {
    fn class(&self) -> ErrorClass {
        match self.classify() {
            serde_json::error::Category::Io => ErrorClass::Transient,
            _ => ErrorClass::Data,
        }
    }
}

impl Classify for super::store::Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidKey { .. } => ErrorClass::Config,
            Self::Io { source, .. } => source.class(),
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::InvalidKey { .. } => false,
            Self::Io { source, .. } => source.retryable(),
        }
    }
}

impl Classify for super::format::Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Arrow { source, .. } => source.class(),
            Self::Parquet { source, .. } => source.class(),
            Self::Io { source, .. } => source.class(),
            Self::Store(e) => e.class(),
            Self::Delimiter(_) => ErrorClass::Config,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::Io { source, .. } => source.retryable(),
            Self::Store(e) => e.retryable(),
            other => other.class().retryable(),
        }
    }
}

impl Classify for super::output::Error {
    /// Output fails while writing: a store or format failure keeps its
    /// class; a partition field missing from the records is a schema
    /// problem of the Flow.
    fn class(&self) -> ErrorClass {
        match self {
            Self::Format(e) => e.class(),
            Self::Store(e) => e.class(),
            Self::PartitionField { .. } => ErrorClass::Schema,
            Self::Manifest { .. } | Self::Arrow(_) => ErrorClass::Internal,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::Format(e) => e.retryable(),
            Self::Store(e) => e.retryable(),
            other => other.class().retryable(),
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
