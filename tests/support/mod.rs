//! What the integration tests share, one concern a file; each test crate
//! includes it with `mod support;` and uses what it needs.
//!
//! - [`bin`] — running the built `sluice` binary as a user (or a pod) would.
//! - [`cluster`] — the Kubernetes API server `make test` starts: kubectl, a
//!   client, the CRDs, a namespace per test, watches and waits, the
//!   namespace's objects printed when a test fails.
//! - [`controller`] — a `sluice controller` process watching a namespace.
//! - [`node`] — the test playing the node: a Job's pods run as local
//!   `sluice run` and `sluice check` processes.
//! - [`postgres`], [`moto`] — the PostgreSQL server and moto `make test`
//!   starts, found through their `SLUICE_TEST_*` variables.
//! - [`faults`] — faults injected mid-run: a switch stand-in servers
//!   consult, and fault-injecting proxies in front of moto and PostgreSQL.
//! - this file — paths in the repository, names unique to a test process,
//!   free ports, working folders seeded with files, the files under a
//!   folder, base64, indenting for YAML, and [`server_var`].
//!
//! **Gating.** A test that needs a server is `#[ignore = "needs …: run make
//! test"]`, so a plain `cargo test` reports it as ignored (skipped, with the
//! reason) rather than passing it; run with `--include-ignored` and no server
//! configured, the helpers here fail it with a message saying how to start
//! one. Nothing here passes a test silently.
//!
//! Every crate uses some of these helpers and not others: unused ones are
//! allowed here rather than marked in each crate.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod bin;
pub mod cluster;
pub mod controller;
pub mod faults;
pub mod moto;
pub mod node;
pub mod postgres;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

// The helpers most crates use, at the top; a crate that uses none of them
// leaves the re-export unused.
#[allow(unused_imports)]
pub use bin::{Sluice, send_signal, sluice, text, wait_within};
#[allow(unused_imports)]
pub use cluster::{TempNamespace, kubectl, kubectl_ok};

/// A path in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A name unique to this test process and call: `tag`, the process id, a
/// counter. Tests run in parallel, and against servers other test processes
/// use too.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A port on loopback where nothing listens (now): for a server to start
/// on, or for an address where nothing answers.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary working directory holding `files` (a path in it, its
/// content), deleted when dropped.
pub fn work_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

/// The files under `dir`, at any depth, sorted; none when `dir` does not
/// exist.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `text` with every line indented by `n` spaces, to put it in a YAML
/// block scalar.
pub fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}", " ".repeat(n)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Standard base64 with padding (RFC 4648), as a Secret's `data` and HTTP
/// basic auth use.
pub fn base64(bytes: &[u8]) -> String {
    use ::base64::Engine as _;
    ::base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The environment variable `name`, which `make test` sets for `server`;
/// fails the test, saying so, when it is not set.
pub fn server_var(name: &str, server: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs {server} that `make test` starts; run make test")
    })
}
