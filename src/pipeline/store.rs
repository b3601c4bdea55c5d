//! Where file destinations keep their objects: a minimal object-store
//! interface (streaming writes, rename, list, read, delete) that the atomic
//! commit is built on, and its local-filesystem implementation.
//!
//! Keys are `/`-separated relative paths. The S3 connector implements the same
//! trait (multipart uploads, copy-then-delete renames).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key is absolute, empty or climbs out of the store with `..`.
    #[error("invalid object key {key:?}: keys are relative paths without '..'")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// A filesystem operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path concerned.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An object store rooted at one location (a directory, a bucket prefix).
pub trait Store: Send + Sync {
    /// A human-readable location of `key`: a path or an `s3://` URL.
    fn url(&self, key: &str) -> String;
    /// Opens `key` for a streaming write, replacing any object there once the
    /// writer is finished with [`ObjectWriter::finish`].
    fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>>;
    /// Moves `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> Result<()>;
    /// Reads a whole (small) object; `None` when it does not exist.
    fn read(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Deletes an object; deleting a missing object is not an error.
    fn delete(&self, key: &str) -> Result<()>;
    /// Keys of every object under `prefix` (recursively), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
}

/// A streaming write to a store.
pub trait ObjectWriter: Write + Send {
    /// Completes the object; until then it is not visible under its key.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// A [`Store`] on the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Removes the now-empty folders above `path`, up to the root.
    fn prune(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        let relative = Path::new(key);
        let valid = !key.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !valid {
            return Err(Error::InvalidKey {
                key: key.to_owned(),
            });
        }
        Ok(self.root.join(relative))
    }
}

fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |source| Error::Io {
        operation,
        path,
        source,
    }
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(io("create directory", parent)),
        None => Ok(()),
    }
}

/// Writes to a temporary sibling file and renames it into place on finish,
/// so a reader never sees a half-written object.
struct LocalWriter {
    file: BufWriter<fs::File>,
    temporary: PathBuf,
    target: PathBuf,
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl ObjectWriter for LocalWriter {
    fn finish(self: Box<Self>) -> Result<()> {
        let LocalWriter {
            file,
            temporary,
            target,
        } = *self;
        let file = file
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(io("write", &temporary))?;
        file.sync_all().map_err(io("sync", &temporary))?;
        fs::rename(&temporary, &target).map_err(io("rename", &temporary))
    }
}

impl Store for LocalStore {
    fn url(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }

    fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>> {
        let target = self.path(key)?;
        create_parent(&target)?;
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let temporary = target.with_file_name(name);
        let file = fs::File::create(&temporary).map_err(io("create", &temporary))?;
        Ok(Box::new(LocalWriter {
            file: BufWriter::with_capacity(1 << 20, file),
            temporary,
            target,
        }))
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (from, to) = (self.path(from)?, self.path(to)?);
        create_parent(&to)?;
        fs::rename(&from, &to).map_err(io("rename", &from))?;
        self.prune(&from);
        Ok(())
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => {
                self.prune(&path);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete", &path)(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let start = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path(prefix)?
        };
        let mut keys = Vec::new();
        let mut pending = vec![start];
        while let Some(dir) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("list", &dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io("list", &dir))?;
                let path = entry.path();
                let kind = entry.file_type().map_err(io("list", &path))?;
                if kind.is_dir() {
                    pending.push(path);
                } else if let Ok(relative) = path.strip_prefix(&self.root) {
                    let key: Vec<String> = relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    keys.push(key.join("/"));
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_appear_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let mut writer = store.create("a/b/c.txt").unwrap();
        writer.write_all(b"hello").unwrap();
        assert_eq!(store.read("a/b/c.txt").unwrap(), None);
        writer.finish().unwrap();
        assert_eq!(
            store.read("a/b/c.txt").unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        store.rename("a/b/c.txt", "d/e.txt").unwrap();
        assert_eq!(store.list("").unwrap(), vec!["d/e.txt".to_owned()]);
        store.delete("d/e.txt").unwrap();
        store.delete("d/e.txt").unwrap();
        assert!(store.list("").unwrap().is_empty());
    }

    #[test]
    fn keys_cannot_escape_the_root() {
        let store = LocalStore::new("/tmp/sluice-store-test");
        for key in ["../x", "/etc/passwd", "a/../../b", ""] {
            assert!(
                matches!(store.create(key), Err(Error::InvalidKey { .. })),
                "{key}"
            );
        }
    }
}
