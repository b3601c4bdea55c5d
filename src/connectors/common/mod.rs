//! Plumbing that several connectors share, beside its users rather than
//! inside one of them.
//!
//! - [`client`]: the one HTTP client and the one retry policy
//!   ([`RetryPolicy`]) of the http, Zendesk and (for `Retry-After`)
//!   Salesforce connectors: `Retry-After`, `X-RateLimit-*`, jittered
//!   backoff, client-side rate limit and concurrency, TLS, proxy, and the
//!   classification of what it gives up on.
//! - [`auth`]: credentials on that client's requests (API key, basic,
//!   secret headers, OAuth 2.0 with cached tokens).
//! - [`error`]: the client's [`Error`], classified ([`ErrorClass`]).
//! - [`paged`]: the paged-source bridge ([`PagedBridge`]) of the http and
//!   Zendesk sources: async page fetches on a thread of their own, at most
//!   a few pages ahead of the engine, in order, stopped when the source is
//!   dropped.
//! - [`records`]: records split from a page without copying, and decoded
//!   into Arrow on the engine's workers.
//! - [`runtime`]: the tokio runtimes connectors block on from the engine's
//!   plain threads, built in one place: single-threaded for most, a
//!   multi-threaded one for the AWS SDK.
//! - [`window`]: the incremental [`Window`] the HTTP-based sources send.
//!
//! Nothing here knows a particular application: what an API's pages,
//! cursors and error payloads look like stays in its connector.

pub mod auth;
pub mod aws;
pub mod client;
pub mod error;
pub mod paged;
pub mod records;
pub mod runtime;
pub mod window;

pub use client::{Client, ClientConfig, Request, Response, RetryPolicy};
pub use error::{Error, ErrorClass, Result};
pub use paged::{PageSink, PagedBridge};
pub use window::Window;
