//! A `sluice controller` process watching one namespace of the test API
//! server, with its ports, its log, SIGTERM, and its `/metrics`,
//! `/healthz` and `/readyz` endpoints. Its log is printed when a test
//! fails, or always with `SLUICE_TEST_CONTROLLER_LOG=1`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::bin::Sluice;
use super::free_port;

/// The runner image the controller puts in the Jobs it creates (no pod
/// pulls it: the test plays the node).
pub const IMAGE: &str = "sluice.test/sluice:dev";

/// A `sluice controller` process watching one namespace.
pub struct Controller {
    /// The process.
    pub child: std::process::Child,
    /// The metrics port.
    pub metrics: u16,
    /// The health port.
    pub health: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Controller {
    /// Starts one watching `ns`.
    pub fn start(ns: &str) -> Self {
        Self::start_with(ns, &[])
    }

    /// Starts one watching `ns` with `extra` flags.
    pub fn start_with(ns: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("controller.log");
        let (metrics, health) = (free_port(), free_port());
        let (metrics_addr, health_addr) = (
            format!("127.0.0.1:{metrics}"),
            format!("127.0.0.1:{health}"),
        );
        let args = [
            "controller",
            "--namespace",
            ns,
            "--metrics-addr",
            &metrics_addr,
            "--health-addr",
            &health_addr,
            "--runner-image",
            IMAGE,
        ];
        // From the package's folder, where `cargo test` runs the tests.
        let child = Sluice::new(Path::new(env!("CARGO_MANIFEST_DIR")), &args)
            .into_command()
            .args(extra)
            .env("POD_NAMESPACE", ns)
            .env("RUST_LOG", "info,sluice=debug")
            .stderr(std::fs::File::create(&log).unwrap())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            metrics,
            health,
            log,
            _dir: dir,
        }
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GETs a path on the metrics or health port.
    pub async fn get(port: u16, path: &str) -> Option<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        let code = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n")?.1.to_owned();
        Some((code, body))
    }

    /// Its metrics, as Prometheus scrapes them.
    pub async fn metrics(&self) -> String {
        Self::get(self.metrics, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the controller did not stop on SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("SLUICE_TEST_CONTROLLER_LOG").is_some() {
            eprintln!("--- controller log:\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
