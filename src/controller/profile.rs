//! The ConnectorProfile reconciler: checks each profile with a short
//! validation Job in its namespace (the controller cannot read secrets;
//! the Job's pod is built like a run's, see [`super::job::pod_spec`]),
//! re-run on change and every `validationInterval`, and reports the result
//! on the `Ready` condition.
//!
//! Started by [`super::run_controllers`]. Not written yet: until it is,
//! [`run`] only waits for shutdown and profiles get no status.

use std::sync::Arc;

use super::{Context, Shutdown, shutdown_requested};

/// Runs the ConnectorProfile reconciler until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: Shutdown) {
    let _ = ctx;
    shutdown_requested(shutdown).await;
}
