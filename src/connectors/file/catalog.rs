//! What a `file` profile exposes: its root must be a readable directory; its
//! entities are the data files under it (by name: CSV, JSON Lines, Parquet);
//! a file's fields are inferred like the source infers them.

use std::path::{Path, PathBuf};

use super::{Error, FileRecordSource, Result};
use crate::api::v1alpha1::flow::FileSource;
use crate::connectors::format_guess::input_for;
use crate::connectors::{Entity, EntityField};
use crate::pipeline::engine::Source;

/// At most this many files are listed.
const LIMIT: usize = 10_000;

/// Checks that the root is a directory that can be listed.
pub fn check(root: &Path) -> Result<()> {
    std::fs::read_dir(root)
        .map(|_| ())
        .map_err(|source| Error::Io {
            path: root.display().to_string(),
            source,
        })
}

/// The data files under the root, relative to it, in name order. The
/// pipeline's own bookkeeping (`_sluice/`) is left out.
pub fn entities(root: &Path) -> Result<Vec<Entity>> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let name = relative.to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "_sluice" {
                    pending.push(path);
                }
            } else if input_for(&name).is_some() && found.len() < LIMIT {
                found.push(name);
            }
        }
    }
    found.sort();
    Ok(found
        .into_iter()
        .map(|name| Entity {
            name,
            fields: Vec::new(),
        })
        .collect())
}

/// The fields of the file `entity` (relative to the root); `None` when
/// there is no such file.
pub fn describe(root: &Path, entity: &str) -> Result<Option<Entity>> {
    let path = super::under_root(root, entity, "entity")?;
    if !path.is_file() {
        return Ok(None);
    }
    let input = input_for(entity).ok_or_else(|| Error::Io {
        path: entity.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the name does not say the format; name files .csv, .jsonl or .parquet (optionally .gz or .zst)",
        ),
    })?;
    let spec = FileSource {
        path: entity.to_owned(),
        input,
    };
    let source = FileRecordSource::open(root, &spec)?;
    Ok(Some(Entity {
        name: entity.to_owned(),
        fields: EntityField::from_schema(&source.schema()),
    }))
}
