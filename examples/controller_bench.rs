//! FlowRun → Job latency of a running `sluice controller` (see
//! bench/controller.sh): creates `--runs N` FlowRuns of one Flow in
//! `--namespace NS`, `--concurrency C` at a time, and times each from the
//! moment its create call returned to the moment a watch on Jobs delivered
//! its Job. Prints one line with the count and the p50, p90, p99 and max
//! delays in milliseconds. The namespace must exist and hold the Flow
//! `--flow` (default `bench`); KUBECONFIG names the cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use sluice::api::v1alpha1::FlowRun;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let runs: usize = arg("--runs", "200").parse().unwrap();
    let concurrency: usize = arg("--concurrency", "10").parse().unwrap();
    let namespace = arg("--namespace", "default");
    let flow = arg("--flow", "bench");
    let client = kube::Client::try_default().await.unwrap();
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();

    // Watch Jobs before creating anything.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let seen_by_watch = seen.clone();
    let watch = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut stream = std::pin::pin!(watcher(jobs, watcher::Config::default()));
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(job)) => {
                    let name = job.metadata.name.unwrap_or_default();
                    seen_by_watch
                        .lock()
                        .unwrap()
                        .entry(name)
                        .or_insert_with(Instant::now);
                }
                _ => {}
            }
        }
    });
    ready_rx.await.unwrap();

    let api: Api<FlowRun> = Api::namespaced(client, &namespace);
    let prefix = format!("bench-{}", std::process::id());
    let started = Instant::now();
    futures_util::stream::iter(0..runs)
        .for_each_concurrent(concurrency, |i| {
            let api = api.clone();
            let created = created.clone();
            let name = format!("{prefix}-{i}");
            let flow = flow.clone();
            async move {
                let run: FlowRun = serde_json::from_value(serde_json::json!({
                    "apiVersion": "sluice.dev/v1alpha1",
                    "kind": "FlowRun",
                    "metadata": {"name": name},
                    "spec": {"flowRef": {"name": flow}},
                }))
                .unwrap();
                api.create(&PostParams::default(), &run).await.unwrap();
                created.lock().unwrap().insert(name, Instant::now());
            }
        })
        .await;
    let creating = started.elapsed();

    // Wait for every Job (at most two minutes).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = {
            let seen = seen.lock().unwrap();
            created.lock().unwrap().keys().all(|k| seen.contains_key(k))
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watch.abort();
    let created = created.lock().unwrap();
    let seen = seen.lock().unwrap();
    let mut delays: Vec<f64> = created
        .iter()
        .filter_map(|(name, at)| {
            seen.get(name)
                .map(|s| s.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    assert!(!delays.is_empty(), "no Job appeared");
    println!(
        "flowruns={runs} jobs={} create_s={:.2} p50_ms={:.1} p90_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        delays.len(),
        creating.as_secs_f64(),
        percentile(&delays, 0.50),
        percentile(&delays, 0.90),
        percentile(&delays, 0.99),
        delays[delays.len() - 1],
    );
}
