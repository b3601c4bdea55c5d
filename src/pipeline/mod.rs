//! The transfer pipeline: source → tasks → destination over Arrow record
//! batches, with bounded memory, progress reporting, the Flow's error policy
//! and atomic commit. Knows nothing about Kubernetes.

pub mod engine;
pub mod error;
pub mod format;
pub mod location;
pub mod number;
pub mod output;
pub mod quarantine;
pub mod read;
pub mod schema;
pub mod store;
pub mod tasks;
