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
//! - `floor --namespace NS --flows N --until EPOCH_S [--concurrency C]`
//!   is the least a controller could do, to measure against: at every
//!   minute until EPOCH_S it creates each Flow's scheduled FlowRun (the
//!   controller's own `scheduled_run`) and, as soon as that returns, the
//!   run's Job (the controller's own `build_job`), C runs at a time — no
//!   Flow or FlowRun status, no pinned spec, no Event. `measure --pid` then
//!   names this process.
//! - `costs --namespace NS [--concurrency C]` times, against the N Flows
//!   of the namespace, each kind of write a scheduled run costs, one kind
//!   after the other, C at a time: FlowRun creates, the pin (a FlowRun
//!   status write carrying the Flow's spec), a small FlowRun status write,
//!   Flow status writes and Event creates; the pin again, on FlowRuns
//!   created anew, with the FlowRun schema's validation rules taken out of
//!   `status.flow` and with `status.flow` unschematised; Job creates;
//!   last, once the Job controller has made the Jobs' pods, the FlowRun
//!   reconciler's LIST of one run's pods by label. It changes the FlowRun CRD: use a control
//!   plane of its own.
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
        Some("floor") => floor(client, &namespace).await,
        Some("costs") => costs(client, &namespace).await,
        _ => {
            eprintln!("usage: schedule_bench create|measure|floor --namespace NS ...");
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

/// The Job the controller would build for a benchmark run (the Flows read
/// and write files through the `local` profile: no Secret to mount).
fn run_job(namespace: &str, flow: &Flow, run_name: &str, run_uid: String) -> Job {
    sluice::controller::job::build_job(&sluice::controller::job::RunJob {
        namespace: namespace.to_owned(),
        run_name: run_name.to_owned(),
        run_uid,
        flow_name: flow.name_any(),
        image: "sluice.bench/sluice:dev".to_owned(),
        service_account: sluice::controller::RUNNER_SERVICE_ACCOUNT.to_owned(),
        secrets: Default::default(),
        template: Default::default(),
    })
}

/// The least controller: per scheduled minute, each Flow's FlowRun and
/// then its Job, and nothing else.
async fn floor(client: kube::Client, namespace: &str) {
    use sluice::controller::flow;
    let concurrency: usize = arg("--concurrency", "16").parse().unwrap();
    let until_s: i64 = arg("--until", "0").parse().unwrap();
    let flows_api: Api<Flow> = Api::namespaced(client.clone(), namespace);
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), namespace);
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let flows: Vec<Flow> = flows_api.list(&Default::default()).await.unwrap().items;
    // The runner's service account, as the controller would apply it: a
    // pod naming a missing account is refused, and the Job controller
    // would retry it.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), namespace);
    let account = serde_json::from_value(serde_json::json!({
        "metadata": {"name": sluice::controller::RUNNER_SERVICE_ACCOUNT},
    }))
    .unwrap();
    let _ = accounts.create(&PostParams::default(), &account).await;
    eprintln!("floor: {} Flows, {concurrency} runs at a time", flows.len());
    loop {
        let next_ms = (epoch_ms() / 60_000 + 1) * 60_000;
        if next_ms > until_s * 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis((next_ms - epoch_ms()).max(0) as u64)).await;
        let scheduled = chrono::DateTime::from_timestamp_millis(next_ms).unwrap();
        let started = Instant::now();
        futures_util::stream::iter(flows.iter())
            .for_each_concurrent(concurrency, |f| {
                let (runs, jobs) = (runs.clone(), jobs.clone());
                async move {
                    let name = flow::scheduled_run_name(&f.name_any(), scheduled);
                    let run = flow::scheduled_run(f, &name, scheduled);
                    let created = match runs.create(&PostParams::default(), &run).await {
                        Ok(created) => created,
                        Err(error) => return eprintln!("floor: FlowRun {name}: {error}"),
                    };
                    let built = run_job(namespace, f, &name, created.uid().unwrap_or_default());
                    if let Err(error) = jobs.create(&PostParams::default(), &built).await {
                        eprintln!("floor: Job of {name}: {error}");
                    }
                }
            })
            .await;
        eprintln!(
            "floor: {} runs and Jobs of {} created in {:.2} s",
            flows.len(),
            minute_text(next_ms),
            started.elapsed().as_secs_f64()
        );
    }
    // Stays up, as a controller would, until the measurement has seen
    // everything and the script stops it.
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// Runs `write` for each Flow, C at a time, prints what that cost and adds
/// it to `rows`.
async fn timed<F, Fut>(
    rows: &mut Vec<String>,
    what: &str,
    flows: &[Flow],
    concurrency: usize,
    write: F,
) where
    F: Fn(usize, Flow) -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    let started = Instant::now();
    let failures = std::sync::atomic::AtomicUsize::new(0);
    futures_util::stream::iter(flows.iter().cloned().enumerate())
        .for_each_concurrent(concurrency, |(i, f)| {
            let write = &write;
            let failures = &failures;
            async move {
                if let Err(error) = write(i, f).await
                    && failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0
                {
                    eprintln!("costs: {what}: {error}");
                }
            }
        })
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let n = flows.len();
    let failed = failures.load(std::sync::atomic::Ordering::Relaxed);
    let line = format!(
        "| {what} | {n} | {seconds:.2} | {:.0} | {:.1} | {failed} |",
        n as f64 / seconds,
        1000.0 * seconds * concurrency as f64 / n as f64
    );
    println!("{line}");
    rows.push(line);
}

/// The cost of each kind of write of a scheduled run (see the module
/// documentation).
async fn costs(client: kube::Client, namespace: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use sluice::api::v1alpha1::flow_run::PinnedFlow;
    use sluice::controller::{flow, job};
    let concurrency: usize = arg("--concurrency", "16").parse().unwrap();
    let flows_api: Api<Flow> = Api::namespaced(client.clone(), namespace);
    let runs: Api<FlowRun> = Api::namespaced(client.clone(), namespace);
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(client.clone(), namespace);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let flows: Vec<Flow> = flows_api.list(&Default::default()).await.unwrap().items;
    let scheduled = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let run_name = |prefix: &str, f: &Flow| {
        format!(
            "{prefix}{}",
            flow::scheduled_run_name(&f.name_any(), scheduled)
        )
    };
    let mut rows = vec![
        "| write | count | seconds | writes/s | mean latency, ms | failed |".to_owned(),
        "|---|---:|---:|---:|---:|---:|".to_owned(),
    ];

    let create_runs = |prefix: &'static str| {
        let runs = runs.clone();
        move |_: usize, f: Flow| {
            let runs = runs.clone();
            let name = run_name(prefix, &f);
            async move {
                let run = flow::scheduled_run(&f, &name, scheduled);
                runs.create(&PostParams::default(), &run).await.map(|_| ())
            }
        }
    };
    let pin = |prefix: &'static str| {
        let runs = runs.clone();
        move |_: usize, f: Flow| {
            let runs = runs.clone();
            let name = run_name(prefix, &f);
            async move {
                let pinned = PinnedFlow {
                    generation: f.metadata.generation.unwrap_or(1),
                    uid: f.uid().unwrap_or_default(),
                    spec: f.spec.clone(),
                };
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let patch = serde_json::json!({"status": {
                    "phase": "Pending",
                    "observedGeneration": 1,
                    "conditions": [{
                        "type": "Succeeded", "status": "Unknown", "reason": "Pending",
                        "message": "waiting for the Job", "lastTransitionTime": now,
                        "observedGeneration": 1,
                    }],
                    "flow": pinned,
                    "jobName": job::job_name(&name),
                }});
                runs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
        }
    };

    timed(
        &mut rows,
        "FlowRun create",
        &flows,
        concurrency,
        create_runs(""),
    )
    .await;
    timed(
        &mut rows,
        "FlowRun status: the pin (full Flow schema)",
        &flows,
        concurrency,
        pin(""),
    )
    .await;
    timed(
        &mut rows,
        "FlowRun status: a small write",
        &flows,
        concurrency,
        |_, f| {
            let runs = runs.clone();
            let name = run_name("", &f);
            async move {
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let patch = serde_json::json!({"status": {"progressTime": now}});
                runs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
        },
    )
    .await;
    timed(&mut rows, "Flow status", &flows, concurrency, |_, f| {
        let flows_api = flows_api.clone();
        async move {
            let patch = serde_json::json!({"status": {
                "lastScheduleTime": k8s_openapi::jiff::Timestamp::now().to_string(),
            }});
            flows_api
                .patch_status(
                    &f.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map(|_| ())
        }
    })
    .await;
    timed(
        &mut rows,
        "Event create (events.k8s.io/v1)",
        &flows,
        concurrency,
        |i, f| {
            let events = events.clone();
            let name = run_name("", &f);
            async move {
                let now = k8s_openapi::jiff::Timestamp::now();
                let event: k8s_openapi::api::events::v1::Event =
                    serde_json::from_value(serde_json::json!({
                        "metadata": {"name": format!("cost-{i}")},
                        "eventTime": now.to_string(),
                        "type": "Normal",
                        "reason": "JobCreated",
                        "action": "CreateJob",
                        "note": format!(
                            "created Job {} for generation 1 of Flow {}",
                            job::job_name(&name),
                            f.name_any()
                        ),
                        "reportingController": "sluice.dev/controller",
                        "reportingInstance": "bench",
                        "regarding": {
                            "apiVersion": "sluice.dev/v1alpha1",
                            "kind": "FlowRun",
                            "name": name,
                            "namespace": namespace,
                        },
                    }))
                    .unwrap();
                events
                    .create(&PostParams::default(), &event)
                    .await
                    .map(|_| ())
            }
        },
    )
    .await;

    // The pin under lighter schemas for `status.flow`.
    let crd_name = "flowruns.sluice.dev";
    let replace_flow_schema = |change: fn(&mut serde_json::Value)| {
        let crds = crds.clone();
        async move {
            let mut crd = serde_json::to_value(crds.get(crd_name).await.unwrap()).unwrap();
            for version in crd["spec"]["versions"].as_array_mut().unwrap() {
                change(
                    &mut version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
                        ["flow"],
                );
            }
            let crd: CustomResourceDefinition = serde_json::from_value(crd).unwrap();
            crds.replace(crd_name, &PostParams::default(), &crd)
                .await
                .unwrap();
            // The API server rebuilds the resource's handler.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    };
    fn strip_rules(schema: &mut serde_json::Value) {
        match schema {
            serde_json::Value::Object(map) => {
                map.remove("x-kubernetes-validations");
                map.values_mut().for_each(strip_rules);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip_rules),
            _ => {}
        }
    }
    replace_flow_schema(strip_rules).await;
    timed(
        &mut rows,
        "FlowRun create (after the schema change)",
        &flows,
        concurrency,
        create_runs("b-"),
    )
    .await;
    timed(
        &mut rows,
        "FlowRun status: the pin, no validation rules in status.flow",
        &flows,
        concurrency,
        pin("b-"),
    )
    .await;
    replace_flow_schema(|flow| {
        *flow = serde_json::json!({
            "description": "The Flow generation and spec this run executes.",
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        });
    })
    .await;
    timed(
        &mut rows,
        "FlowRun create (after the schema change)",
        &flows,
        concurrency,
        create_runs("c-"),
    )
    .await;
    timed(
        &mut rows,
        "FlowRun status: the pin, status.flow unschematised",
        &flows,
        concurrency,
        pin("c-"),
    )
    .await;

    let uids: HashMap<String, String> = runs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| (r.name_any(), r.uid().unwrap_or_default()))
        .collect();
    let uids = &uids;
    timed(&mut rows, "Job create", &flows, concurrency, |_, f| {
        let jobs = jobs.clone();
        let name = run_name("", &f);
        async move {
            let built = run_job(
                namespace,
                &f,
                &name,
                uids.get(&name).cloned().unwrap_or_default(),
            );
            jobs.create(&PostParams::default(), &built)
                .await
                .map(|_| ())
        }
    })
    .await;
    // The pod LIST the FlowRun reconciler makes while a Job has no ready
    // pod, once the Job controller has made the pods.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), namespace);
    let waited = Instant::now();
    let mut count = 0;
    while waited.elapsed() < Duration::from_secs(180) {
        count = pods
            .list_metadata(&Default::default())
            .await
            .map(|l| l.items.len())
            .unwrap_or(0);
        if count >= flows.len() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    eprintln!(
        "costs: {count} pods after {:.0} s",
        waited.elapsed().as_secs_f64()
    );
    timed(
        &mut rows,
        &format!("Pod LIST of one run's pods, by label ({count} pods in the namespace)"),
        &flows,
        concurrency,
        |_, f| {
            let pods = pods.clone();
            let name = run_name("", &f);
            async move {
                let selector = format!(
                    "{}={},{}={}",
                    sluice::controller::MANAGED_BY_LABEL,
                    sluice::controller::MANAGED_BY,
                    sluice::controller::FLOW_RUN_LABEL,
                    job::label_value(&name)
                );
                pods.list(&kube::api::ListParams::default().labels(&selector))
                    .await
                    .map(|_| ())
            }
        },
    )
    .await;
    let markdown = arg("--markdown", "");
    if !markdown.is_empty() {
        std::fs::write(&markdown, rows.join("\n") + "\n").unwrap();
    }
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
