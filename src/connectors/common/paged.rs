//! The paged-source bridge: async page fetches on a thread of their own,
//! handed in order to the engine's (blocking) source thread.
//!
//! ```text
//!  fetch thread (current-thread tokio runtime)          engine's source thread
//!  fetch(sink) ─► sink.page(p) ─► channel, at most ─► PagedBridge::receive ─► units
//!       │          (waits for a    `depth` pages
//!       │           permit)
//!       └─► Ok: end  /  Err: the error, nothing follows
//! ```
//!
//! [`PagedBridge::start`] runs a source's fetch loop (pagination, retries,
//! whatever reads its pages) on a named thread with a single-threaded
//! runtime. The loop delivers each page with [`PageSink::page`], which
//! waits for one of `depth` permits first: the reader returns a permit as
//! it takes a page, so at most `depth` pages wait between the two threads,
//! and a slow destination slows the requests down instead of filling
//! memory. The loop's result ends the stream: `Ok` after the last page,
//! `Err` with the error that stopped it.
//!
//! Dropping the bridge stops the thread: waiting for a permit fails (the
//! loop sees [`PageSink::page`] return false) and the loop's future is
//! dropped wherever it waits, abandoning requests in flight.
//!
//! The bridge's own failures (the thread or its runtime cannot start, the
//! thread ends without a word) are [`Error`]s that the source maps into its
//! own error type once, when it starts the bridge.

use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use tokio::sync::{Notify, Semaphore};

/// Failures of the bridge itself, mapped into the source's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The fetch thread could not be started.
    #[error("cannot start the fetch thread: {0}")]
    Spawn(std::io::Error),
    /// The fetch thread's runtime could not be started.
    #[error("cannot start the fetch thread's runtime: {0}")]
    Runtime(std::io::Error),
    /// The fetch thread ended without delivering an end or an error.
    #[error("the fetch thread stopped unexpectedly")]
    Stopped,
}

/// What travels from the fetch thread to the reader, in order.
#[derive(Debug)]
enum Message<P, E> {
    /// The next page.
    Page(P),
    /// Reading failed; nothing follows.
    Failed(E),
    /// Every page was delivered.
    End,
}

/// Where a fetch loop delivers its pages.
#[derive(Debug)]
pub struct PageSink<P, E> {
    tx: Sender<Message<P, E>>,
    permits: Arc<Semaphore>,
}

impl<P, E> PageSink<P, E> {
    /// Delivers the next page once fewer than `depth` wait; false when the
    /// reader is gone (the loop should stop).
    pub async fn page(&self, page: P) -> bool {
        match self.permits.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return false,
        }
        self.tx.send(Message::Page(page)).is_ok()
    }
}

/// Maps the bridge's own failures into the source's error type.
type Fault<E> = Box<dyn Fn(Error) -> E + Send>;

/// The reading end of a fetch thread: pages in order, then the end or the
/// error that stopped it.
pub struct PagedBridge<P, E> {
    rx: Receiver<Message<P, E>>,
    permits: Arc<Semaphore>,
    stop: Arc<Notify>,
    fault: Fault<E>,
    done: bool,
}

impl<P, E> std::fmt::Debug for PagedBridge<P, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagedBridge")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<P, E> PagedBridge<P, E>
where
    P: Send + 'static,
    E: Send + 'static,
{
    /// Starts `fetch` on a thread named `name` with a single-threaded
    /// runtime; at most `depth` pages wait for the reader. `fault` turns
    /// the bridge's own failures into the source's errors: a thread or
    /// runtime that cannot start is returned here, a thread that ends
    /// without a word by [`receive`](Self::receive).
    pub fn start<F, Fut>(
        name: &str,
        depth: usize,
        fault: impl Fn(Error) -> E + Send + 'static,
        fetch: F,
    ) -> Result<Self, E>
    where
        F: FnOnce(PageSink<P, E>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>>,
    {
        let runtime = super::runtime::current_thread().map_err(|e| fault(Error::Runtime(e)))?;
        let (tx, rx) = channel();
        let permits = Arc::new(Semaphore::new(depth));
        let stop = Arc::new(Notify::new());
        let sink = PageSink {
            tx: tx.clone(),
            permits: permits.clone(),
        };
        let thread_stop = stop.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        result = fetch(sink) => {
                            let _ = tx.send(match result {
                                Ok(()) => Message::End,
                                Err(e) => Message::Failed(e),
                            });
                        }
                        () = thread_stop.notified() => {}
                    }
                });
            })
            .map_err(|e| fault(Error::Spawn(e)))?;
        Ok(Self {
            rx,
            permits,
            stop,
            fault: Box::new(fault),
            done: false,
        })
    }

    /// The next page, waiting for the fetch thread; `None` after the last
    /// (and after an error).
    pub fn receive(&mut self) -> Result<Option<P>, E> {
        if self.done {
            return Ok(None);
        }
        match self.rx.recv() {
            Ok(Message::Page(page)) => {
                self.permits.add_permits(1);
                Ok(Some(page))
            }
            Ok(Message::End) => {
                self.done = true;
                Ok(None)
            }
            Ok(Message::Failed(e)) => {
                self.done = true;
                Err(e)
            }
            Err(_) => {
                self.done = true;
                Err((self.fault)(Error::Stopped))
            }
        }
    }
}

impl<P, E> Drop for PagedBridge<P, E> {
    fn drop(&mut self) {
        self.permits.close();
        self.stop.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    /// Sends on drop: tells the test that the fetch loop's future is gone.
    struct Gone(std::sync::mpsc::Sender<()>);

    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }

    fn start<F, Fut>(depth: usize, fetch: F) -> PagedBridge<u32, String>
    where
        F: FnOnce(PageSink<u32, String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>>,
    {
        PagedBridge::start("sluice-test", depth, |e| e.to_string(), fetch).unwrap()
    }

    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn pages_arrive_in_order_then_the_end() {
        let mut bridge = start(2, |sink| async move {
            for page in 0..50 {
                // Some pages take longer than others; the order holds.
                if page % 7 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                if !sink.page(page).await {
                    return Ok(());
                }
            }
            Ok(())
        });
        let mut pages = Vec::new();
        while let Some(page) = bridge.receive().unwrap() {
            pages.push(page);
        }
        assert_eq!(pages, (0..50).collect::<Vec<_>>());
        assert_eq!(bridge.receive().unwrap(), None, "the end stays the end");
    }

    #[test]
    fn an_error_ends_the_stream_after_the_pages_before_it() {
        let mut bridge = start(4, |sink| async move {
            sink.page(1).await;
            sink.page(2).await;
            Err("page 3: HTTP 500".to_owned())
        });
        assert_eq!(bridge.receive().unwrap(), Some(1));
        assert_eq!(bridge.receive().unwrap(), Some(2));
        assert_eq!(bridge.receive().unwrap_err(), "page 3: HTTP 500");
        assert_eq!(bridge.receive().unwrap(), None, "nothing follows an error");
    }

    #[test]
    fn at_most_depth_pages_wait_for_the_reader() {
        let delivered = Arc::new(AtomicUsize::new(0));
        let counter = delivered.clone();
        let mut bridge = start(3, move |sink| async move {
            for page in 0..100 {
                if !sink.page(page).await {
                    return Ok(());
                }
                counter.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        });
        wait_until("three pages wait", || delivered.load(Ordering::SeqCst) == 3);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(delivered.load(Ordering::SeqCst), 3, "the fetch ran ahead");
        assert_eq!(bridge.receive().unwrap(), Some(0));
        wait_until("a fourth page follows", || {
            delivered.load(Ordering::SeqCst) == 4
        });
    }

    #[test]
    fn dropping_the_bridge_stops_a_fetch_waiting_for_a_permit() {
        let (gone_tx, gone) = std::sync::mpsc::channel();
        let delivered = Arc::new(AtomicUsize::new(0));
        let counter = delivered.clone();
        let bridge = start(1, move |sink| async move {
            let _gone = Gone(gone_tx);
            let mut page = 0;
            // Endless: only the reader going away stops it.
            while sink.page(page).await {
                counter.fetch_add(1, Ordering::SeqCst);
                page += 1;
            }
            Ok(())
        });
        wait_until("the page waits", || delivered.load(Ordering::SeqCst) == 1);
        drop(bridge);
        gone.recv_timeout(Duration::from_secs(10))
            .expect("the fetch thread stopped");
    }

    #[test]
    fn dropping_the_bridge_stops_a_fetch_waiting_for_anything_else() {
        let (gone_tx, gone) = std::sync::mpsc::channel();
        let (started_tx, started) = std::sync::mpsc::channel();
        let bridge = start(1, move |_sink| async move {
            let _gone = Gone(gone_tx);
            let _ = started_tx.send(());
            // A request that never answers.
            std::future::pending::<()>().await;
            Ok(())
        });
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        drop(bridge);
        gone.recv_timeout(Duration::from_secs(10))
            .expect("the fetch thread stopped");
    }

    #[test]
    fn a_thread_that_ends_without_a_word_is_an_error() {
        /// A panic unwinds the thread before it can say how it ended.
        fn unwind() -> Result<(), String> {
            std::panic::resume_unwind(Box::new("fetch loop failed"))
        }
        let mut bridge = start(1, |sink| async move {
            sink.page(7).await;
            unwind()
        });
        assert_eq!(bridge.receive().unwrap(), Some(7));
        assert_eq!(
            bridge.receive().unwrap_err(),
            "the fetch thread stopped unexpectedly"
        );
        assert_eq!(bridge.receive().unwrap(), None);
    }
}
