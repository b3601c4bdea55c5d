//! The declarative `http` source: any JSON API described by a manifest.
//!
//! A ConnectorProfile's `http` block says how to reach the API (base URL,
//! static headers, rate limit, timeout, TLS, proxy) and its `credentials`
//! how to authenticate (API key, basic, secret headers, OAuth 2.0 client
//! credentials or refresh token). A Flow's `source.http` says what to read:
//! a path, a method, fixed query parameters, the JSON Pointer to the records
//! of each response, the pagination style and how an incremental window is
//! sent.
//!
//! ```text
//!  fetch thread (tokio, async reqwest)          engine reader    engine workers
//!  pagination ─► client (auth, rate limit, ─► pages in order ─► units: decode the
//!               retries) ─► split the page                      records with Arrow
//!               into raw records
//! ```
//!
//! - [`config`]: turns a profile, a Flow's `source.http`, the run's window
//!   and the resolved secrets into an [`HttpConfig`].
//! - [`pagination`]: every pagination style; `Offset` and `PageNumber` fetch
//!   up to `rateLimit.maxConcurrency` pages at once and keep their order.
//! - [`source`]: the engine's [`Source`](crate::pipeline::engine::Source):
//!   I/O on its own thread, decoding in the units on the engine's workers.
//! - [`catalog`]: the connection check.
//!
//! The plumbing it shares with the Zendesk and Salesforce connectors lives
//! in [`connectors::common`](crate::connectors::common): credentials on
//! requests ([`auth`](crate::connectors::common::auth)), the one place of
//! rate limits and retries ([`client`](crate::connectors::common::client),
//! [`RetryPolicy`]), the splitting of a page into raw records decoded on
//! the workers ([`records`](crate::connectors::common::records)) and the
//! fetch thread's bridge to the engine
//! ([`paged`](crate::connectors::common::paged)).
//!
//! Errors ([`Error`], the shared client's) are classified ([`ErrorClass`])
//! and say whether a rerun may succeed ([`Error::retryable`]). They name
//! URLs with secret query parameters masked and never hold a credential.

pub mod catalog;
pub mod config;
mod open;
pub mod pagination;
pub mod source;

pub use config::{HttpConfig, Window};
pub use open::{catalog_of, open_source};
pub use source::HttpRecordSource;

pub use crate::connectors::common::{Error, Result, RetryPolicy};

pub use crate::pipeline::error::ErrorClass;
