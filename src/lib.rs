//! Sluice: a Kubernetes operator that moves data between SaaS applications,
//! databases and object storage.
//!
//! The crate is one binary, `sluice`, with the library behind it so that
//! every part can be tested without the CLI. See ARCHITECTURE.md for the
//! code map.

pub mod api;
pub mod check;
pub mod connectors;
pub mod controller;
pub mod crd;
pub mod local;
pub mod manifest;
pub mod pipeline;
pub mod plan;
pub mod protocol;
pub mod runner;
pub mod signal;
