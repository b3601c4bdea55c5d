//! The `file` connector: local JSON Lines, CSV and Parquet files in, files
//! out. It serves `sluice local`, and volumes mounted into run pods.
//!
//! Paths in a Flow are relative to the profile's `root`; a source path may be
//! a glob (`in/*.jsonl`, `data/**/*.parquet`).

pub mod catalog;
mod destination;
mod open;
mod source;

pub use destination::{destination, quarantine};
pub use open::{catalog_of, open_destination, open_quarantine, open_source};
pub use source::FileRecordSource;

use crate::pipeline::error::{Classify, ErrorClass};

/// Errors of the file connector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source path matches no file.
    #[error("source.file.path {pattern:?} matches no file under {root}")]
    NoFiles {
        /// The pattern.
        pattern: String,
        /// The profile's root.
        root: String,
    },
    /// The source path is not a valid glob.
    #[error("source.file.path {pattern:?} is not a valid glob: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// A path climbs out of the profile's root.
    #[error("{field} {path:?} must stay under the profile's root (no '..', not absolute)")]
    OutsideRoot {
        /// The field.
        field: &'static str,
        /// The path.
        path: String,
    },
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file could not be decoded.
    #[error(transparent)]
    Format(#[from] crate::pipeline::format::Error),
    /// A Parquet file could not be read.
    #[error("{path}: {source}")]
    Parquet {
        /// The file.
        path: String,
        /// The reader's error.
        source: parquet::errors::ParquetError,
    },
    /// Files of one source disagree on their schema.
    #[error(
        "{path} has a different schema from {first}; every file of a source must have the same fields and types"
    )]
    SchemaMismatch {
        /// The file that differs.
        path: String,
        /// The first file.
        first: String,
    },
    /// The file output failed.
    #[error(transparent)]
    Output(#[from] crate::pipeline::output::Error),
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NoFiles { .. } => ErrorClass::NotFound,
            Self::Pattern { .. } | Self::OutsideRoot { .. } => ErrorClass::Config,
            Self::Io { source, .. } => source.class(),
            Self::Format(e) => e.class(),
            Self::Parquet { .. } => ErrorClass::Data,
            Self::SchemaMismatch { .. } => ErrorClass::Schema,
            Self::Output(e) => e.class(),
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Joins a Flow path to the profile root, refusing paths that leave it.
fn under_root(
    root: &std::path::Path,
    path: &str,
    field: &'static str,
) -> Result<std::path::PathBuf> {
    let relative = std::path::Path::new(path);
    let escapes = relative.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if escapes {
        return Err(Error::OutsideRoot {
            field,
            path: path.to_owned(),
        });
    }
    Ok(root.join(relative))
}
