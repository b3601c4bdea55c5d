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
    /// The root holds, or is inside, where a pod keeps its credentials.
    #[error(
        "ConnectorProfile root {root:?} reaches {protected}, where a pod keeps its credentials (the service account token, mounted Secret keys) or the system's own files; a file profile may not read or write there: choose a root that neither contains nor lies inside it"
    )]
    Protected {
        /// The root as written.
        root: String,
        /// The protected directory it reaches.
        protected: String,
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
            Self::Protected { .. } => ErrorClass::Forbidden,
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

/// Directories no `file` root may contain or lie inside: where pods keep
/// the service account token and mounted Secrets (`/var/run/secrets`,
/// `/run/secrets`, Sluice's own `$SLUICE_SECRETS_DIR`), and the kernel's
/// views of processes and devices (`/proc`, `/sys`, `/dev`), whose files
/// include other processes' environments.
fn protected_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = [
        "/var/run/secrets",
        "/run/secrets",
        crate::protocol::DEFAULT_SECRETS_DIR,
        "/proc",
        "/sys",
        "/dev",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .collect();
    if let Some(dir) = std::env::var_os(crate::protocol::SECRETS_DIR_ENV).filter(|d| !d.is_empty())
    {
        dirs.push(dir.into());
    }
    // Symbolic links (/var/run -> /run) are followed on both sides.
    let canonical: Vec<_> = dirs.iter().filter_map(|d| d.canonicalize().ok()).collect();
    dirs.extend(canonical);
    dirs
}

/// Refuses a root that contains, or lies inside, a [`protected_dirs`]
/// directory, its symbolic links followed.
fn guard_root(root: &std::path::Path, written: &str) -> Result<()> {
    let absolute = if root.is_absolute() {
        root.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(root)
    };
    let mut forms = vec![absolute.clone()];
    if let Ok(canonical) = absolute.canonicalize() {
        forms.push(canonical);
    }
    for protected in protected_dirs() {
        if forms
            .iter()
            .any(|r| r.starts_with(&protected) || protected.starts_with(r))
        {
            return Err(Error::Protected {
                root: written.to_owned(),
                protected: protected.display().to_string(),
            });
        }
    }
    Ok(())
}

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
