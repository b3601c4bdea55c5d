//! The controller's Prometheus metrics, served on `/metrics`.
//!
//! Every name has the `sluice_` prefix and a unit suffix; labels are
//! bounded: the controller (`flow`, `flow_run`, `connector_profile`), an
//! error category ([`super::Error::category`]), a source connector (one of
//! the connector kinds), a run phase or a run error reason. Never an
//! object's name.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::api::v1alpha1::flow_run::{ErrorReason, RunCounts, RunPhase};

/// The controller's metrics and the registry that serves them.
pub struct Metrics {
    registry: Registry,
    /// `sluice_reconciles_total{controller}`.
    pub reconciles: IntCounterVec,
    /// `sluice_reconcile_errors_total{controller, category}`.
    pub reconcile_errors: IntCounterVec,
    /// `sluice_reconcile_duration_seconds{controller}`.
    pub reconcile_duration: HistogramVec,
    /// `sluice_reconciles_in_flight{controller}`: reconciles running now.
    pub in_flight: IntGaugeVec,
    /// `sluice_runs_started_total{connector}`: Jobs created for runs.
    pub runs_started: IntCounterVec,
    /// `sluice_runs_succeeded_total{connector}`.
    pub runs_succeeded: IntCounterVec,
    /// `sluice_runs_failed_total{connector, reason}`.
    pub runs_failed: IntCounterVec,
    /// `sluice_runs_cancelled_total{connector}`.
    pub runs_cancelled: IntCounterVec,
    /// `sluice_run_duration_seconds{connector, phase}`: start to completion
    /// of finished runs.
    pub run_duration: HistogramVec,
    /// `sluice_records_read_total{connector}`, from finished runs' status.
    pub records_read: IntCounterVec,
    /// `sluice_records_written_total{connector}`.
    pub records_written: IntCounterVec,
    /// `sluice_bytes_read_total{connector}`.
    pub bytes_read: IntCounterVec,
    /// `sluice_bytes_written_total{connector}`.
    pub bytes_written: IntCounterVec,
    /// `sluice_leader`: 1 while this instance runs the controllers.
    pub leader: IntGauge,
    /// `sluice_run_job_creation_delay_seconds`: FlowRun creation to Job
    /// creation, for runs whose Job this process created.
    pub job_creation_delay: Histogram,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    metric
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric in a fresh registry. The names and labels are
    /// constants, so registration cannot fail at run time (a unit test
    /// builds them).
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciles = counter(
            &registry,
            "sluice_reconciles_total",
            "Reconciles started, by controller.",
            &["controller"],
        );
        let reconcile_errors = counter(
            &registry,
            "sluice_reconcile_errors_total",
            "Reconciles that failed and will be retried with backoff, by controller and error category.",
            &["controller", "category"],
        );
        let reconcile_duration = histogram(
            &registry,
            "sluice_reconcile_duration_seconds",
            "Time one reconcile took, by controller.",
            &["controller"],
            vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        );
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "sluice_reconciles_in_flight",
                "Reconciles running now, by controller.",
            ),
            &["controller"],
        )
        .expect("static metric");
        registry
            .register(Box::new(in_flight.clone()))
            .expect("static metric");
        let runs_started = counter(
            &registry,
            "sluice_runs_started_total",
            "FlowRuns whose Job was created, by source connector.",
            &["connector"],
        );
        let runs_succeeded = counter(
            &registry,
            "sluice_runs_succeeded_total",
            "FlowRuns that succeeded, by source connector.",
            &["connector"],
        );
        let runs_failed = counter(
            &registry,
            "sluice_runs_failed_total",
            "FlowRuns that failed, by source connector and error reason.",
            &["connector", "reason"],
        );
        let runs_cancelled = counter(
            &registry,
            "sluice_runs_cancelled_total",
            "FlowRuns that were cancelled, by source connector.",
            &["connector"],
        );
        let run_duration = histogram(
            &registry,
            "sluice_run_duration_seconds",
            "Start to completion of finished FlowRuns, by source connector and phase.",
            &["connector", "phase"],
            vec![
                1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0,
            ],
        );
        let records_read = counter(
            &registry,
            "sluice_records_read_total",
            "Records finished runs read from their source, by source connector.",
            &["connector"],
        );
        let records_written = counter(
            &registry,
            "sluice_records_written_total",
            "Records finished runs wrote to their destination, by source connector.",
            &["connector"],
        );
        let bytes_read = counter(
            &registry,
            "sluice_bytes_read_total",
            "Bytes finished runs read from their source, by source connector.",
            &["connector"],
        );
        let bytes_written = counter(
            &registry,
            "sluice_bytes_written_total",
            "Bytes finished runs wrote to their destination, by source connector.",
            &["connector"],
        );
        let leader = IntGauge::new(
            "sluice_leader",
            "1 while this instance holds the leader Lease and runs the controllers.",
        )
        .expect("static metric");
        registry
            .register(Box::new(leader.clone()))
            .expect("static metric");
        let job_creation_delay = Histogram::with_opts(
            HistogramOpts::new(
                "sluice_run_job_creation_delay_seconds",
                "Time from a FlowRun's creation to the creation of its Job (creationTimestamp has a resolution of one second: up to 1s too long).",
            )
            .buckets(vec![0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]),
        )
        .expect("static metric");
        registry
            .register(Box::new(job_creation_delay.clone()))
            .expect("static metric");
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            in_flight,
            runs_started,
            runs_succeeded,
            runs_failed,
            runs_cancelled,
            run_duration,
            records_read,
            records_written,
            bytes_read,
            bytes_written,
            leader,
            job_creation_delay,
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "cannot encode the metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Starts timing a reconcile of `controller`; the guard records its
    /// duration and the in-flight count when dropped.
    pub fn reconcile(&self, controller: &'static str) -> ReconcileGuard {
        self.reconciles.with_label_values(&[controller]).inc();
        let in_flight = self.in_flight.with_label_values(&[controller]);
        in_flight.inc();
        ReconcileGuard {
            timer: Some(
                self.reconcile_duration
                    .with_label_values(&[controller])
                    .start_timer(),
            ),
            in_flight,
        }
    }

    /// Counts a failed reconcile.
    pub fn reconcile_error(&self, controller: &'static str, category: &'static str) {
        self.reconcile_errors
            .with_label_values(&[controller, category])
            .inc();
    }

    /// Records a finished run: its outcome, duration and counts.
    pub fn run_finished(
        &self,
        connector: &'static str,
        phase: RunPhase,
        reason: Option<ErrorReason>,
        seconds: Option<f64>,
        counts: &RunCounts,
    ) {
        let phase_label = match phase {
            RunPhase::Succeeded => {
                self.runs_succeeded.with_label_values(&[connector]).inc();
                "Succeeded"
            }
            RunPhase::Cancelled => {
                self.runs_cancelled.with_label_values(&[connector]).inc();
                "Cancelled"
            }
            RunPhase::Failed => {
                let reason = reason.map_or("Internal", ErrorReason::as_str);
                self.runs_failed
                    .with_label_values(&[connector, reason])
                    .inc();
                "Failed"
            }
            RunPhase::Pending | RunPhase::Running => return,
        };
        if let Some(seconds) = seconds {
            self.run_duration
                .with_label_values(&[connector, phase_label])
                .observe(seconds);
        }
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        self.records_read
            .with_label_values(&[connector])
            .inc_by(n(counts.records_read));
        self.records_written
            .with_label_values(&[connector])
            .inc_by(n(counts.records_written));
        self.bytes_read
            .with_label_values(&[connector])
            .inc_by(n(counts.bytes_read));
        self.bytes_written
            .with_label_values(&[connector])
            .inc_by(n(counts.bytes_written));
    }
}

/// Times a reconcile; see [`Metrics::reconcile`].
pub struct ReconcileGuard {
    timer: Option<prometheus::HistogramTimer>,
    in_flight: IntGauge,
}

impl Drop for ReconcileGuard {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.observe_duration();
        }
        self.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn finished_runs_are_counted_by_connector_and_reason() {
        let metrics = Metrics::new();
        let counts = RunCounts {
            records_read: 7,
            records_written: 5,
            bytes_written: 100,
            ..RunCounts::default()
        };
        metrics.run_finished("file", RunPhase::Succeeded, None, Some(3.0), &counts);
        metrics.run_finished(
            "s3",
            RunPhase::Failed,
            Some(ErrorReason::OutOfMemory),
            Some(1.0),
            &RunCounts::default(),
        );
        metrics.run_finished("file", RunPhase::Running, None, None, &counts);
        let text = metrics.render();
        assert!(
            text.contains("sluice_runs_succeeded_total{connector=\"file\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sluice_runs_failed_total{connector=\"s3\",reason=\"OutOfMemory\"} 1"),
            "{text}"
        );
        // A run still going adds nothing.
        assert!(
            text.contains("sluice_records_written_total{connector=\"file\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("sluice_bytes_written_total{connector=\"file\"} 100"),
            "{text}"
        );
        assert!(
            text.contains(
                "sluice_run_duration_seconds_count{connector=\"file\",phase=\"Succeeded\"} 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn reconcile_guard_tracks_in_flight() {
        let metrics = Metrics::new();
        let guard = metrics.reconcile("flow_run");
        assert_eq!(metrics.in_flight.with_label_values(&["flow_run"]).get(), 1);
        drop(guard);
        assert_eq!(metrics.in_flight.with_label_values(&["flow_run"]).get(), 0);
        metrics.reconcile_error("flow_run", "ApplyFailed");
        let text = metrics.render();
        assert!(text.contains("sluice_reconciles_total{controller=\"flow_run\"} 1"));
        assert!(text.contains(
            "sluice_reconcile_errors_total{category=\"ApplyFailed\",controller=\"flow_run\"} 1"
        ));
    }
}
