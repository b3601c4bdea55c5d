//! The Kubernetes API of Sluice: the custom resources users write and the
//! status the controller and runner report.
//!
//! Pure data: serde, schemars and CEL validation rules, no I/O. Each version
//! lives in its own module; `v1alpha1` is the only one served so far.

pub mod v1alpha1;

/// The API group of every Sluice resource.
pub const GROUP: &str = "sluice.dev";
/// The `kubectl get` category every Sluice resource belongs to (`kubectl get sluice`).
pub const CATEGORY: &str = "sluice";
