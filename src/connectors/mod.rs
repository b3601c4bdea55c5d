//! Connectors: one folder per application or store, each implementing the
//! source and/or destination side against the pipeline's traits.
//!
//! The set is closed and mirrors the API's one-of unions: adding a connector
//! is a variant in `api::v1alpha1` and a module here.

pub mod file;
pub mod http;
pub mod postgres;
pub mod s3;
pub mod salesforce;
