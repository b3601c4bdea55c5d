//! The signals that ask a run to stop: SIGINT (Ctrl-C) and SIGTERM (what
//! `kill`, a pod's deletion, an eviction or a node drain send). `sluice
//! local` and `sluice run` catch them to stop the run cleanly — staging
//! removed, nothing published, the outcome reported — instead of dying
//! where they stand.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A signal asking the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C in a terminal.
    Interrupt,
    /// SIGTERM: `kill`, or Kubernetes stopping the pod.
    Terminate,
}

impl Signal {
    /// Its name, as `kill -l` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// The exit code of a process this signal stopped, as shells give one
    /// the signal killed: 128 and the signal's number (130 for SIGINT, 143
    /// for SIGTERM).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Listens for SIGINT and SIGTERM from the moment it is created (signals
/// before then keep their default action: the process ends). Needs a tokio
/// runtime with I/O enabled.
pub struct Listener {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Listener {
    /// Starts listening. Once created, the signals no longer end the
    /// process by themselves: whoever holds the listener decides.
    pub fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Signal::Interrupt,
                _ = self.terminate.recv() => Signal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}

/// What [`cancel_on_signal`] saw.
#[derive(Debug, Clone, Default)]
pub struct Received {
    first: Arc<std::sync::OnceLock<Signal>>,
}

impl Received {
    /// The first signal received, if any.
    pub fn signal(&self) -> Option<Signal> {
        self.first.get().copied()
    }
}

/// For code without a runtime of its own: listens on a thread of its own;
/// on the first signal sets `cancel` and calls `notice` with it; a second
/// signal ends the process at once with that signal's exit code, staging
/// and all (a rerun under the run id clears it). Returns once listening.
pub fn cancel_on_signal(
    cancel: Arc<AtomicBool>,
    notice: impl Fn(Signal) + Send + 'static,
) -> std::io::Result<Received> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Registered here, so a signal after this returns is caught.
    let mut listener = runtime.block_on(async { Listener::new() })?;
    let received = Received::default();
    let first = received.first.clone();
    std::thread::Builder::new()
        .name("sluice-signals".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let signal = listener.recv().await;
                let _ = first.set(signal);
                cancel.store(true, Ordering::Relaxed);
                notice(signal);
                let again = listener.recv().await;
                std::process::exit(i32::from(again.exit_code()));
            })
        })?;
    Ok(received)
}
