//! Helpers for tests against a real Kubernetes API server.
//!
//! The server is started by `make test` (e2e/scripts/control-plane.sh), which
//! exports `KUBECONFIG` and `SLUICE_KUBECTL`. These tests are `#[ignore]`d so
//! that a plain `cargo test` reports them as ignored rather than passing
//! them; run with `--include-ignored` and no server configured, they fail
//! with a message saying how to start one.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};
use std::sync::OnceLock;

/// The kubectl built with the control plane (or `kubectl` on PATH).
pub fn kubectl_path() -> String {
    std::env::var("SLUICE_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
}

/// Fails the test unless a test API server is configured.
pub fn require_api_server() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "no Kubernetes API server: these tests run against the control plane `make test` starts \
         (or set KUBECONFIG and SLUICE_KUBECTL yourself)"
    );
}

/// Runs kubectl with `args` and `stdin`, returning its output.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(kubectl_path())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", kubectl_path()));
    let mut pipe = child.stdin.take().expect("stdin is piped");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes())
            .expect("kubectl reads stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("kubectl finishes")
}

/// Runs kubectl and returns stdout, failing the test with stderr otherwise.
pub fn kubectl_ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl(args, stdin);
    assert!(
        out.status.success(),
        "kubectl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Applies the committed CRDs once per test binary and waits until they are
/// established.
pub fn install_crds() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        require_api_server();
        let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
        kubectl_ok(
            &[
                "apply",
                "--server-side",
                "--field-manager",
                "sluice-tests",
                "-f",
                crds,
            ],
            None,
        );
        kubectl_ok(
            &[
                "wait",
                "--for",
                "condition=Established",
                "--timeout",
                "60s",
                "-f",
                crds,
            ],
            None,
        );
    });
}

/// A namespace of its own for one test, deleted when dropped.
pub struct TempNamespace {
    /// The namespace's name.
    pub name: String,
}

impl TempNamespace {
    /// Creates a namespace named after the test plus a random suffix.
    pub fn new(test: &str) -> Self {
        install_crds();
        let suffix: String = format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .subsec_nanos()
        );
        let name = format!("t-{}-{suffix}", test.replace('_', "-"))
            .chars()
            .take(63)
            .collect::<String>()
            .trim_end_matches('-')
            .to_owned();
        kubectl_ok(&["create", "namespace", &name], None);
        Self { name }
    }
}

impl Drop for TempNamespace {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Show what the namespace held, for the failure report.
            let out = kubectl(&["get", "sluice", "-n", &self.name, "-o", "yaml"], None);
            eprintln!(
                "--- objects in {}:\n{}",
                self.name,
                String::from_utf8_lossy(&out.stdout)
            );
        }
        // The control plane's namespace controller empties it in the
        // background.
        let _ = kubectl(&["delete", "namespace", &self.name, "--wait=false"], None);
    }
}
