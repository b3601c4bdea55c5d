//! Running the built `sluice` binary (`CARGO_BIN_EXE_sluice`), as a user
//! runs it from a working directory or as a pod runs it with its
//! environment: [`sluice`] for the common case, [`Sluice`] for the rest.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

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

    /// The command itself, for a caller that runs it its own way (a
    /// process to keep, or to run on tokio).
    pub fn into_command(self) -> Command {
        self.command
    }
}
