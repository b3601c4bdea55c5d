//! The tokio runtimes connectors run their I/O on.
//!
//! The engine calls sources and destinations from plain threads, so a
//! connector that speaks an async client blocks on a runtime of its own.
//! Two flavours, each built in one place:
//!
//! - [`current_thread`]: a single-threaded runtime with I/O and timers, for
//!   a connector that drives its requests from the thread that calls it
//!   (PostgreSQL, Salesforce, Zendesk writes, catalog checks) or from the
//!   fetch thread of a [`paged`](super::paged) source;
//! - [`Runtime`]: a multi-threaded runtime for clients whose futures expect
//!   worker threads (the AWS SDK), which can be blocked on from anywhere,
//!   even from a thread that is inside another runtime's context, and
//!   which shuts down in the background when dropped.

use std::future::Future;

/// A single-threaded runtime with I/O and timers enabled.
pub fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// A multi-threaded runtime that plain (non-async) threads block on.
#[derive(Debug)]
pub struct Runtime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Runtime {
    /// A runtime of `workers` worker threads named `name`.
    pub fn multi_thread(name: &str, workers: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Blocks on `future`. Called from a thread inside another runtime's
    /// context (such as `spawn_blocking`), it blocks on a scoped thread of its
    /// own instead, since a runtime cannot be entered from another.
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        #[allow(clippy::expect_used)]
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime lives until the connection is dropped");
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|scope| {
                #[allow(clippy::expect_used)]
                scope
                    .spawn(|| runtime.block_on(future))
                    .join()
                    .expect("a request thread panicked")
            })
        } else {
            runtime.block_on(future)
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Dropping may happen inside an async context, where a blocking
        // shutdown would panic; nothing is in flight by then.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_current_thread_runtime_has_timers() {
        let runtime = current_thread().unwrap();
        runtime.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(1)).await });
    }

    #[test]
    fn blocks_on_from_a_plain_thread_and_from_inside_another_runtime() {
        let runtime = Runtime::multi_thread("sluice-test", 1).unwrap();
        assert_eq!(runtime.block_on(async { 1 + 1 }), 2);
        // As from `spawn_blocking` in the runner: a runtime's context is
        // entered, yet blocking on this one must not panic.
        let outer = current_thread().unwrap();
        let _entered = outer.enter();
        let name = runtime.block_on(async {
            tokio::task::spawn(async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap()
        });
        assert_eq!(name.as_deref(), Some("sluice-test"));
    }
}
