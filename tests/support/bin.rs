//! Running the built `sluice` binary (`CARGO_BIN_EXE_sluice`), as a user
//! runs it from a working directory or as a pod runs it with its
//! environment: [`sluice`] for the common case, [`Sluice`] for the rest.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `sluice ARGS` in `dir` with the test's environment and waits for it.
pub fn sluice(dir: &Path, args: &[&str]) -> Output {
    Sluice::new(dir, args).output()
}

/// What a run printed, stdout then stderr, as the user sees it.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The AWS credentials a developer's shell may hold. A test that means the
/// profile's keys (or none) to be the only ones removes them.
const AMBIENT_AWS: [&str; 3] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"];

/// One `sluice` command: a working directory, arguments, environment.
pub struct Sluice {
    command: Command,
}

impl Sluice {
    /// `sluice ARGS` in `dir`, with the test's environment.
    pub fn new(dir: &Path, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.args(args).current_dir(dir);
        Self { command }
    }

    /// Sets one environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Sets environment variables, such as `SLUICE_SECRET_*` for local
    /// mode's secrets.
    pub fn envs(mut self, vars: &[(&str, &str)]) -> Self {
        for (key, value) in vars {
            self.command.env(key, value);
        }
        self
    }

    /// Without the shell's AWS credentials: only the profile's count.
    pub fn without_ambient_aws(mut self) -> Self {
        for key in AMBIENT_AWS {
            self.command.env_remove(key);
        }
        self
    }

    /// With the keys moto accepts (`test`/`test`) in the AWS default
    /// chain, as a pod's own identity would provide them.
    pub fn with_moto_keys(self) -> Self {
        self.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
    }

    /// Runs it to the end and returns what it printed.
    pub fn output(mut self) -> Output {
        self.command.output().unwrap()
    }

    /// Starts it with its output discarded, for a test that stops it.
    pub fn spawn_quiet(mut self) -> Child {
        self.command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Starts it with its output captured, for a test that signals it and
    /// then reads what it printed ([`wait_within`]).
    pub fn spawn(mut self) -> Child {
        self.command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The command itself, for a caller that runs it its own way (a
    /// process to keep, or to run on tokio).
    pub fn into_command(self) -> Command {
        self.command
    }
}

/// Sends a signal (`INT`, `TERM`) to a child, as `kill -s` does.
pub fn send_signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {signal} {} failed", child.id());
}

/// Waits at most `limit` for a child started with [`Sluice::spawn`] to
/// exit and returns what it printed; fails (killing it) if it has not.
pub fn wait_within(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("sluice did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout).unwrap();
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_end(&mut stderr).unwrap();
    }
    Output {
        status,
        stdout,
        stderr,
    }
}
