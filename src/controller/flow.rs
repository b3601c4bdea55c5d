//! The Flow reconciler: schedules (cron and `rate(…)`, time zone, start and
//! end, offset, starting deadline, one catch-up run), concurrency policy,
//! deactivation after consecutive failures, history garbage collection,
//! the Flow's status (next schedule time, last runs, the incremental
//! watermark committed after a successful run) and the runner RBAC of the
//! Flow's namespace ([`super::rbac::ensure_runner_rbac`]).
//!
//! Started by [`super::run_controllers`]. Not written yet: until it is,
//! [`run`] only waits for shutdown, so Flows get no status and scheduled
//! Flows start no runs (on-demand FlowRuns are handled by
//! [`super::flow_run`]).

use std::sync::Arc;

use super::{Context, Shutdown, shutdown_requested};

/// Runs the Flow reconciler until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: Shutdown) {
    let _ = ctx;
    shutdown_requested(shutdown).await;
}
