//! Version `v1alpha1` of the `sluice.dev` API: `ConnectorProfile`, `Flow`
//! and `FlowRun`, all namespaced.

pub mod common;
pub mod connector;
pub mod connector_profile;
pub mod flow;
pub mod flow_run;
pub mod task;

pub use common::*;
pub use connector::{DestinationKind, ProfileKind, SourceKind};
pub use connector_profile::{
    ConnectorKind, ConnectorProfile, ConnectorProfileSpec, ConnectorProfileStatus,
};
pub use flow::{Flow, FlowSpec, FlowStatus};
pub use flow_run::{FlowRun, FlowRunSpec, FlowRunStatus};
pub use task::Task;
