//! File destination: the pipeline's file output on the local filesystem.

use std::path::Path;
use std::sync::Arc;

use super::{Result, under_root};
use crate::api::v1alpha1::flow::{FileDestination as Spec, FileLocation};
use crate::pipeline::output::{FileDestination, FileOutputWriter, RunInfo};
use crate::pipeline::quarantine::QuarantineWriter;
use crate::pipeline::store::LocalStore;

/// The destination for `destination.file` under the profile's `root`.
pub fn destination(
    root: &Path,
    spec: &Spec,
    run: RunInfo,
    overwrite: bool,
) -> Result<FileDestination> {
    let base = under_root(root, &spec.path, "destination.file.path")?;
    let writer = FileOutputWriter::new(Arc::new(LocalStore::new(base)), &spec.output, run)?;
    Ok(FileDestination::new(writer, overwrite))
}

/// Quarantine for `errorHandling.errorLocation.file` under the profile's `root`.
pub fn quarantine(
    root: &Path,
    location: &FileLocation,
    flow: &str,
    run_id: &str,
) -> Result<QuarantineWriter> {
    let base = under_root(
        root,
        &location.path,
        "errorHandling.errorLocation.file.path",
    )?;
    QuarantineWriter::new(Arc::new(LocalStore::new(base)), flow, run_id).map_err(|e| {
        super::Error::Io {
            path: location.path.clone(),
            source: std::io::Error::other(e.to_string()),
        }
    })
}
