//! The schedule benchmark's client (see bench/schedule.sh), in two steps:
//!
//! - `create --namespace NS --flows N [--concurrency C]` creates N Flows
//!   (`bench-0` … `bench-{N-1}`) scheduled every minute with
//!   `concurrencyPolicy: Allow` and history limits of one run each, reading
//!   and writing through the file ConnectorProfile `local`, C creates at a
//!   time, and prints how long that took.
//! - `measure --namespace NS --pid PID --started EPOCH_S --flows N
//!   --minutes M [--finish] [--markdown FILE]` watches the FlowRuns and Jobs
//!   of the namespace while the controller PID runs, for the first M
//!   scheduled minutes strictly after EPOCH_S (when the controller started).
//!   For each scheduled run it records the delay from its
//!   `spec.scheduledTime` to the arrival of its ADDED event, and for each of
//!   their Jobs the delay from the FlowRun's arrival to the Job's, both on
//!   this machine's clock. It samples the controller's VmRSS every 250 ms
//!   and its CPU time (utime + stime), and prints a table per minute and in
//!   all; `--markdown` also writes the table as Markdown.
//!
//! With `--finish` the program plays the runner once a run's Job appears:
//! it writes `phase: Succeeded` on the FlowRun's status, so that runs end,
//! the Flow reconciler collects them past the history limits and Allow
//! does not pile up active runs. Without it no run ever ends (there is no
//! kubelet). KUBECONFIG names the cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use sluice::api::v1alpha1::{Flow, FlowRun};

/// The annotation naming a Job's FlowRun (`sluice::controller::FLOW_RUN_ANNOTATION`).
const RUN_ANNOTATION: &str = sluice::controller::FLOW_RUN_ANNOTATION;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let client = kube::Client::try_default().await.unwrap();
    let namespace = arg("--namespace", "default");
    match std::env::args().nth(1).as_deref() {
        Some("create") => create(client, &namespace).await,
        Some("measure") => measure(client, &namespace).await,
        _ => {
            eprintln!("usage: schedule_bench create|measure --namespace NS ...");
            std::process::exit(2);
        }
    }
}

async fn create(client: kube::Client, namespace: &str) {
    let flows: usize = arg("--flows", "1000").parse().unwrap();
    let concurrency: usize = arg("--concurrency", "32").parse().unwrap();
    let api: Api<Flow> = Api::namespaced(client, namespace);
    let started = Instant::now();
    futures_util::stream::iter(0..flows)
        .for_each_concurrent(concurrency, |i| {
            let api = api.clone();
            async move {
                let flow: Flow = serde_json::from_value(serde_json::json!({
                    "apiVersion": "sluice.dev/v1alpha1",
                    "kind": "Flow",
                    "metadata": {"name": format!("bench-{i}")},
                    "spec": {
                        "source": {
                            "connectorProfileRef": {"name": "local"},
                            "file": {"path": "in.jsonl", "format": "JsonLines"},
                        },
                        "destination": {
                            "connectorProfileRef": {"name": "local"},
                            "file": {"path": "out", "format": "JsonLines"},
                        },
                        "trigger": {
                            "type": "Schedule",
                            "schedule": {"expression": "* * * * *", "concurrencyPolicy": "Allow"},
                        },
                        "history": {"successfulRuns": 1, "failedRuns": 1},
                    },
                }))
                .unwrap();
                api.create(&PostParams::default(), &flow).await.unwrap();
            }
        })
        .await;
    println!(
        "created {flows} Flows in {:.2} s ({concurrency} at a time)",
        started.elapsed().as_secs_f64()
    );
}

/// What the watches saw of one scheduled run (times in epoch milliseconds
/// of this machine's clock).
#[derive(Default, Clone)]
struct Seen {
    scheduled_ms: i64,
    run_ms: Option<i64>,
    job_ms: Option<i64>,
}

/// The controller's VmRSS and VmHWM in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The controller's CPU seconds (user + system).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 here.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

struct Stats {
    count: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

fn stats(mut values: Vec<f64>) -> Stats {
    values.sort_by(f64::total_cmp);
    Stats {
        count: values.len(),
        p50: percentile(&values, 0.50),
        p90: percentile(&values, 0.90),
        p99: percentile(&values, 0.99),
        max: values.last().copied().unwrap_or(f64::NAN),
    }
}

async fn measure(client: kube::Client, namespace: &str) {
    let pid: u32 = arg("--pid", "0").parse().unwrap();
    let started_s: f64 = arg("--started", "0").parse().unwrap();
    let flows: usize = arg("--flows", "1000").parse().unwrap();
    let minutes: i64 = arg("--minutes", "3").parse().unwrap();
    let finish = flag("--finish");
    let markdown = arg("--markdown", "");

    // The scheduled minutes measured: the first M strictly after the start.
    let started_ms = (started_s * 1000.0) as i64;
    let first_ms = (started_ms / 60_000 + 1) * 60_000;
    let last_ms = first_ms + (minutes - 1) * 60_000;
    let counted = move |scheduled_ms: i64| (first_ms..=last_ms).contains(&scheduled_ms);

    let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
    let jobs_before_run: Arc<Mutex<HashMap<String, i64>>> = Arc::default();

    // FlowRuns: first arrival and scheduled time.
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), namespace);
    let (runs_ready_tx, runs_ready) = tokio::sync::oneshot::channel();
    let seen_runs = seen.clone();
    let early_jobs = jobs_before_run.clone();
    let run_watch = tokio::spawn(async move {
        let mut ready = Some(runs_ready_tx);
        let mut stream = std::pin::pin!(watcher(runs, watcher::Config::default()));
        while let Some(event) = stream.next().await {
            let at = epoch_ms();
            match event {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(run) | watcher::Event::InitApply(run)) => {
                    let Some(scheduled) = run.spec.scheduled_time.as_ref() else {
                        continue;
                    };
                    let scheduled_ms = scheduled.0.as_millisecond();
                    if !counted(scheduled_ms) {
                        continue;
                    }
                    let name = run.name_any();
                    let mut seen = seen_runs.lock().unwrap();
                    let entry = seen.entry(name.clone()).or_default();
                    entry.scheduled_ms = scheduled_ms;
                    entry.run_ms.get_or_insert(at);
                    if let Some(job_ms) = early_jobs.lock().unwrap().remove(&name) {
                        entry.job_ms.get_or_insert(job_ms);
                    }
                }
                Ok(_) => {}
                Err(error) => eprintln!("FlowRun watch: {error}"),
            }
        }
    });

    // Jobs: first arrival, by the FlowRun they belong to.
    let jobs: Api<PartialObjectMeta<Job>> = Api::namespaced(client.clone(), namespace);
    let (jobs_ready_tx, jobs_ready) = tokio::sync::oneshot::channel();
    let seen_jobs = seen.clone();
    let early_jobs = jobs_before_run.clone();
    let runs_api: Api<FlowRun> = Api::namespaced(client.clone(), namespace);
    let job_watch = tokio::spawn(async move {
        let mut ready = Some(jobs_ready_tx);
        let mut stream = std::pin::pin!(watcher(jobs, watcher::Config::default()));
        while let Some(event) = stream.next().await {
            let at = epoch_ms();
            match event {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(job) | watcher::Event::InitApply(job)) => {
                    let Some(run) = job.annotations().get(RUN_ANNOTATION).cloned() else {
                        continue;
                    };
                    let first = {
                        let mut seen = seen_jobs.lock().unwrap();
                        match seen.get_mut(&run) {
                            Some(entry) if entry.job_ms.is_none() => {
                                entry.job_ms = Some(at);
                                true
                            }
                            Some(_) => false,
                            // A Job before its run on the other watch (or of
                            // a run not measured): kept until the run shows.
                            None => {
                                let mut early = early_jobs.lock().unwrap();
                                let new = !early.contains_key(&run);
                                early.entry(run.clone()).or_insert(at);
                                new
                            }
                        }
                    };
                    if first && finish {
                        let api = runs_api.clone();
                        tokio::spawn(async move { succeed(&api, &run).await });
                    }
                }
                Ok(_) => {}
                Err(error) => eprintln!("Job watch: {error}"),
            }
        }
    });
    runs_ready.await.unwrap();
    jobs_ready.await.unwrap();
    eprintln!(
        "measuring the scheduled minutes {} to {} (UTC)",
        minute_text(first_ms),
        minute_text(last_ms)
    );

    // Samples RSS every 250 ms until every run and Job is in, or 55 s after
    // the last minute (before the next minute's runs).
    let expected = flows * minutes as usize;
    let deadline_ms = last_ms + 55_000;
    let mut rss_samples: Vec<(i64, u64)> = Vec::new();
    let mut cpu_at_first: Option<f64> = None;
    let cpu_at_start = cpu_seconds(pid).unwrap_or(f64::NAN);
    let mut interval = tokio::time::interval(Duration::from_millis(250));
    loop {
        interval.tick().await;
        let now = epoch_ms();
        if let Some((rss, _)) = memory_kib(pid) {
            rss_samples.push((now, rss));
        } else {
            eprintln!("the controller (pid {pid}) is gone");
            break;
        }
        if now >= first_ms && cpu_at_first.is_none() {
            cpu_at_first = cpu_seconds(pid);
        }
        let complete = {
            let seen = seen.lock().unwrap();
            seen.len() >= expected && seen.values().all(|s| s.job_ms.is_some())
        };
        if (complete && now > last_ms) || now > deadline_ms {
            break;
        }
    }
    let end_ms = epoch_ms();
    let cpu_at_end = cpu_seconds(pid).unwrap_or(f64::NAN);
    let (rss_end, hwm) = memory_kib(pid).unwrap_or_default();
    run_watch.abort();
    job_watch.abort();

    let seen = seen.lock().unwrap().clone();
    let mut per_minute: BTreeMap<i64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for minute in (0..minutes).map(|m| first_ms + m * 60_000) {
        per_minute.insert(minute, (vec![], vec![]));
    }
    for s in seen.values() {
        let (to_run, to_job) = per_minute.entry(s.scheduled_ms).or_default();
        if let Some(run_ms) = s.run_ms {
            to_run.push((run_ms - s.scheduled_ms) as f64 / 1000.0);
            if let Some(job_ms) = s.job_ms {
                to_job.push((job_ms - run_ms) as f64);
            }
        }
    }
    let all_runs: Vec<f64> = per_minute.values().flat_map(|(r, _)| r.clone()).collect();
    let all_jobs: Vec<f64> = per_minute.values().flat_map(|(_, j)| j.clone()).collect();
    let peak_sampled = rss_samples.iter().map(|(_, r)| *r).max().unwrap_or(0);
    let mib = |kib: u64| kib as f64 / 1024.0;

    let mut table = String::new();
    writeln!(
        table,
        "| scheduled minute (UTC) | FlowRuns | schedule → FlowRun p50 / p90 / p99 / max, s | Jobs | FlowRun → Job p50 / p90 / p99 / max, ms |"
    )
    .unwrap();
    writeln!(table, "|---|---:|---|---:|---|").unwrap();
    let row = |label: String, runs: Vec<f64>, jobs: Vec<f64>| {
        let r = stats(runs);
        let j = stats(jobs);
        format!(
            "| {label} | {} | {:.2} / {:.2} / {:.2} / {:.2} | {} | {:.0} / {:.0} / {:.0} / {:.0} |",
            r.count, r.p50, r.p90, r.p99, r.max, j.count, j.p50, j.p90, j.p99, j.max
        )
    };
    for (minute, (runs, jobs)) in &per_minute {
        writeln!(
            table,
            "{}",
            row(minute_text(*minute), runs.clone(), jobs.clone())
        )
        .unwrap();
    }
    writeln!(
        table,
        "{}",
        row("all".to_owned(), all_runs.clone(), all_jobs.clone())
    )
    .unwrap();
    let cpu_total = cpu_at_end;
    let cpu_startup = cpu_at_first.map(|c| c - cpu_at_start);
    let cpu_minutes = cpu_at_first.map(|c| cpu_at_end - c);
    let window_s = (end_ms - first_ms) as f64 / 1000.0;
    let summary = format!(
        "controller: peak RSS {:.0} MiB (VmHWM; highest 250 ms sample {:.0} MiB, at the end {:.0} MiB); CPU {:.1} s in all, {} s from the measurement's start to the first scheduled minute, {} s over the scheduled minutes ({:.0} s, {} of one core); {} of {} expected scheduled FlowRuns seen, {} with their Job",
        mib(hwm),
        mib(peak_sampled),
        mib(rss_end),
        cpu_total,
        cpu_startup.map_or("?".to_owned(), |c| format!("{c:.1}")),
        cpu_minutes.map_or("?".to_owned(), |c| format!("{c:.1}")),
        window_s,
        cpu_minutes.map_or("?".to_owned(), |c| format!("{:.0}%", 100.0 * c / window_s)),
        all_runs.len(),
        expected,
        all_jobs.len(),
    );
    let r = stats(all_runs);
    let j = stats(all_jobs);
    println!("{table}");
    println!("{summary}");
    println!(
        "result flows={flows} minutes={minutes} peak_rss_mib={:.0} cpu_s={cpu_total:.1} schedule_to_flowrun_p50_s={:.2} p99_s={:.2} max_s={:.2} flowrun_to_job_p50_ms={:.0} p99_ms={:.0} runs={} jobs={}",
        mib(hwm),
        r.p50,
        r.p99,
        r.max,
        j.p50,
        j.p99,
        r.count,
        j.count
    );
    if !markdown.is_empty() {
        std::fs::write(&markdown, format!("{table}\n{summary}.\n")).unwrap();
    }
}

/// Marks a run succeeded, as its runner would at the end.
async fn succeed(api: &Api<FlowRun>, name: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"status": {
        "phase": "Succeeded",
        "startTime": now,
        "completionTime": now,
    }});
    if let Err(error) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        eprintln!("cannot finish FlowRun {name}: {error}");
    }
}

fn minute_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}
