//! The connector contract (docs/connector-contract.md), run against every
//! connector and its real server: the file connector on a temporary
//! directory, http against a local HTTP server, postgres against the
//! PostgreSQL server and s3 against moto that `make test` starts.
//!
//! Each connector is a [`Fixture`]: how to write its profile, seed an entity
//! with the same six records, point a Flow at it and read back what a run
//! wrote. The contract is a set of functions over a fixture, and
//! `conformance!` instantiates every one of them for every connector, so a
//! new connector inherits the whole contract by adding a fixture.
//!
//! Runs go through the `sluice local` binary, as a user would run them.
//!
//! **Failures mid-run.** Three cases check how a failure that meets a run
//! after its source opened reaches the run's error, as the runner sees it:
//! the Flow is planned (`sluice::plan::plan`, which opens the source and
//! makes its first requests), the fault is armed, and the run goes through
//! `sluice::pipeline::engine`; the engine's error must carry the class the
//! connector gave it:
//!
//! - `credentials_refused_mid_run` — credentials refused by a later
//!   request: `AuthenticationFailed`, not retryable;
//! - `rate_limit_outlasts_retries` — a rate limit longer than the retry
//!   budget: `RateLimited`, retryable;
//! - `transient_failure_outlasts_retries` — server errors or a dropped
//!   connection beyond the retries: `Unreachable`, retryable.
//!
//! No message may hold a secret. The faults are real answers, as each
//! vendor documents them: the stand-in servers (http, Zendesk, Salesforce)
//! have switches for them, and moto and PostgreSQL are reached through the
//! fault-injecting proxies of `tests/support/faults.rs`. The retry budgets
//! are the connectors' own (no profile or Flow field sets them): the http
//! and Zendesk rate limits ask for a 1 s `Retry-After`, Salesforce's daily
//! allocation is not retried, S3 and 5xx answers meet the default backoff,
//! so each case takes a few seconds.
//!
//! A case that does not apply to a connector is not generated for it, so
//! it is absent from the test list rather than passing empty: `conformance!`
//! takes the list of failure cases (`faults: [...]`; by default all five:
//! credentials refused at the check and mid-run, an address where nothing
//! answers, a rate limit and a transient failure), and a listed case
//! fails when its fixture cannot provide it. The file connector has no
//! credentials, no network and no server, so none of the five; PostgreSQL has no rate limit (too many connections,
//! SQLSTATE 53300, is a transient failure), so no `rate_limit_outlasts_retries`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "http/server.rs"]
#[allow(dead_code)]
mod server;

#[path = "zendesk/server.rs"]
mod zendesk_server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sluice::api::v1alpha1::flow_run::ErrorReason;
use sluice::connectors::secrets::Resolver;
use sluice::manifest::Bundle;
use sluice::pipeline::engine;
use sluice::pipeline::error::Classify;
use sluice::plan::RunParams;
use support::faults::{Fault, PgProxy, S3Proxy, Switch};
use support::postgres::Postgres;
use support::{Sluice, free_port as closed_port, indent, text, unique};

/// One seeded record: `(id, name, amount, updated_at)`.
type Record = (i64, String, f64, String);

/// The six records every source is seeded with: updated on the first six
/// days of January 2026, one per day.
fn records() -> Vec<Record> {
    (1..=6)
        .map(|i| {
            (
                i,
                format!("order-{i}"),
                i as f64 * 10.5,
                format!("2026-01-0{i}T00:00:00Z"),
            )
        })
        .collect()
}

fn json_lines(records: &[Record]) -> String {
    records
        .iter()
        .map(|(id, name, amount, updated)| {
            serde_json::json!({"id": id, "name": name, "amount": amount, "updated_at": updated})
                .to_string()
                + "\n"
        })
        .collect()
}

/// How a connector reads incrementally.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Incremental {
    /// On the records' `updated_at`, as the window says.
    Cursor,
    /// On when objects were last modified.
    Modified,
}

/// A connector under test.
trait Fixture {
    /// The ConnectorProfile `subject` (and the Secret documents it needs),
    /// as YAML documents.
    fn profile(&self) -> String;
    /// The same profile with credentials the server refuses; `None` when
    /// the connector has no credentials.
    fn bad_credentials(&self) -> Option<String>;
    /// The profile pointing at an address where nothing answers, and the
    /// reason that is expected; `None` when it has no address.
    fn unreachable(&self) -> Option<(String, ErrorReason)>;
    /// Puts the records into a new entity and returns its name, as the
    /// catalog names it (`None`: the connector cannot be a source).
    fn seed(&self, records: &[Record]) -> Option<String>;
    /// The Flow's `source` block (a YAML flow mapping) reading `entity`.
    fn source(&self, entity: &str) -> String;
    /// Whether and how it reads incrementally.
    fn incremental(&self) -> Option<Incremental>;
    /// Whether the catalog lists and describes entities.
    fn catalog(&self) -> bool;
    /// A fresh entity to write to, and the Flow's `destination` block for
    /// it; `None` when the contract's records cannot be written to it.
    fn destination(&self) -> Option<(String, String)>;
    /// Without a [`Fixture::destination`]: a `destination` block this
    /// connector refuses, and what the refusal must say.
    fn refused_destination(&self) -> Option<(String, &'static str)> {
        None
    }
    /// The write modes it supports, of Append, Overwrite, Upsert, Update,
    /// Delete.
    fn write_modes(&self) -> &'static [&'static str];
    /// The records in a written entity, sorted by id.
    fn read_back(&self, entity: &str) -> Vec<Record>;
    /// The working directory runs use.
    fn dir(&self) -> &Path;
    /// Whether the seeded entity can be written as well (an application's
    /// read-only objects cannot).
    fn entity_writable(&self) -> bool {
        true
    }
    /// A source entity whose reads meet `fault` once armed, with enough
    /// pages (rows, objects) left after the source opened that a later
    /// request meets it. Only called for the fault cases listed in the
    /// connector's `conformance!` line.
    fn faulty(&self, fault: Fault) -> Faulty<'_> {
        panic!(
            "this fixture injects no faults ({fault:?}); leave the case out of its conformance! line"
        )
    }
}

/// A run set up to meet a fault after it opened.
struct Faulty<'a> {
    /// The ConnectorProfile `subject` and its Secrets, as YAML documents.
    profile: String,
    /// The Flow's `source` block.
    source: String,
    /// The secret values of the profile: none may appear in the error.
    secrets: Vec<String>,
    /// Starts the fault: every later request is refused.
    arm: Box<dyn Fn() + 'a>,
    /// Requests refused so far.
    refused: Box<dyn Fn() -> usize + 'a>,
    /// What must live as long as the run (a proxy).
    _keep: Option<Box<dyn std::any::Any>>,
}

/// A [`Faulty`] for a server that consults `switch`.
fn switched<'a>(
    profile: String,
    source: String,
    secrets: &[&str],
    switch: &Switch,
    fault: Fault,
    keep: Option<Box<dyn std::any::Any>>,
) -> Faulty<'a> {
    let (arm, count) = (switch.clone(), switch.clone());
    Faulty {
        profile,
        source,
        secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        arm: Box::new(move || arm.arm(fault)),
        refused: Box::new(move || count.refused()),
        _keep: keep,
    }
}

// ------------------------------------------------------------------ helpers

/// `sluice` as a user runs it, with only the profiles' AWS credentials.
fn sluice(dir: &Path, args: &[&str]) -> Output {
    Sluice::new(dir, args).without_ambient_aws().output()
}

const LOCAL: &str = "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {root: .}}
";

/// Writes `flow.yaml` with the fixture's profile, a local profile, a Flow
/// from `source` to `destination` with `sync`, and, when `window` is set, a
/// FlowRun narrowing the run to it.
fn write_flow(
    f: &dyn Fixture,
    profile: &str,
    source: &str,
    destination: &str,
    sync: &str,
    window: Option<(&str, &str)>,
) -> PathBuf {
    let mut manifest = format!(
        "{LOCAL}---\n{profile}\n---\napiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: conformance}}
spec:
  source: {source}
  destination: {destination}
  sync: {sync}
"
    );
    if let Some((from, to)) = window {
        manifest.push_str(&format!(
            "---\napiVersion: sluice.dev/v1alpha1
kind: FlowRun
metadata: {{name: windowed}}
spec:
  flowRef: {{name: conformance}}
  overrides: {{window: {{from: '{from}', to: '{to}'}}}}
"
        ));
    }
    let path = f.dir().join("flow.yaml");
    std::fs::write(&path, manifest).unwrap();
    path
}

fn run(f: &dyn Fixture, run_id: &str) -> Output {
    sluice(f.dir(), &["local", "-f", "flow.yaml", "--run-id", run_id])
}

/// The records of the JSON Lines files under `dir`, sorted by id; the
/// pipeline's own `_sluice` bookkeeping left out.
fn read_json_lines(dir: &Path) -> Vec<Record> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == "_sluice") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(".jsonl") {
                out.extend(parse_json_lines(&std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.total_cmp(&b.2)));
    out
}

fn parse_json_lines(text: &str) -> Vec<Record> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (
                v["id"].as_i64().unwrap(),
                v["name"].as_str().unwrap().to_owned(),
                v["amount"].as_f64().unwrap(),
                v["updated_at"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Only the day of a timestamp, however a connector writes it.
fn day(records: Vec<Record>) -> Vec<Record> {
    records
        .into_iter()
        .map(|(id, name, amount, updated)| (id, name, amount, updated.chars().take(10).collect()))
        .collect()
}

fn catalog_profile(f: &dyn Fixture, profile_yaml: &str) -> (Bundle, Resolver) {
    let bundle = Bundle::parse(profile_yaml, "conformance").unwrap();
    let secrets = Resolver::manifest(bundle.secrets.clone());
    let _ = f;
    (bundle, secrets)
}

fn with_profile<T>(
    f: &dyn Fixture,
    profile_yaml: &str,
    body: impl FnOnce(sluice::connectors::catalog::Profile<'_>) -> T,
) -> T {
    let (bundle, secrets) = catalog_profile(f, profile_yaml);
    let profile = sluice::connectors::catalog::Profile {
        name: "subject",
        profile: &bundle.profiles["subject"],
        secrets: &secrets,
        working_dir: f.dir(),
    };
    body(profile)
}

fn local_out(run_id: &str) -> String {
    format!(
        "{{connectorProfileRef: {{name: local}}, file: {{path: out/{run_id}, format: JsonLines, pathTemplate: '{{runId}}'}}}}"
    )
}

const FULL: &str = "{mode: Full, writeMode: Append}";

// ------------------------------------------------------------------ the contract

/// MUST: the connection check passes with good credentials.
fn check_passes(f: &dyn Fixture) {
    with_profile(f, &f.profile(), |p| p.check().unwrap());
}

/// MUST: refused credentials are AuthenticationFailed and not retryable,
/// and the message holds no secret.
fn bad_credentials_are_authentication_failed(f: &dyn Fixture) {
    let bad = f
        .bad_credentials()
        .expect("a connector whose conformance! line lists this case has credentials to refuse");
    let error = with_profile(f, &bad, |p| p.check().unwrap_err());
    assert_eq!(error.reason(), ErrorReason::AuthenticationFailed, "{error}");
    assert!(!error.retryable(), "{error} must not be retryable");
    assert!(!error.to_string().contains("wrong-secret"), "{error}");
    // And a run with them fails with the same reason, on its status line.
    if let Some(entity) = f.seed(&records()) {
        write_flow(f, &bad, &f.source(&entity), &local_out("bad"), FULL, None);
        let out = run(f, "bad");
        let printed = text(&out);
        assert!(!out.status.success(), "{printed}");
        assert!(!printed.contains("wrong-secret"), "{printed}");
    }
}

/// MUST: an address where nothing answers is a retryable error of its own
/// reason, reported rather than hung on.
fn unreachable_is_classified(f: &dyn Fixture) {
    let (profile, reason) = f
        .unreachable()
        .expect("a connector whose conformance! line lists this case has an address to miss");
    let error = with_profile(f, &profile, |p| p.check().unwrap_err());
    assert_eq!(error.reason(), reason, "{error}");
    assert!(error.retryable(), "{error} must be retryable");
}

/// MUST: discovery lists the seeded entity and describes its fields with
/// their types; a missing entity is an error naming it.
fn discovery(f: &dyn Fixture) {
    let entity = f
        .seed(&records())
        .expect("every fixture seeds a source entity");
    if !f.catalog() {
        // A connector without a catalog is described through a Flow.
        write_flow(
            f,
            &f.profile(),
            &f.source(&entity),
            &local_out("d"),
            FULL,
            None,
        );
        let out = sluice(f.dir(), &["discover", "-f", "flow.yaml"]);
        let printed = text(&out);
        assert!(out.status.success(), "{printed}");
        for field in ["id", "name", "amount", "updated_at"] {
            assert!(printed.contains(field), "{field} missing from {printed}");
        }
        let error = with_profile(f, &f.profile(), |p| p.describe(&entity).unwrap_err());
        assert_eq!(error.reason(), ErrorReason::ReferenceNotFound, "{error}");
        return;
    }
    let listed = with_profile(f, &f.profile(), |p| p.entities().unwrap());
    let top = entity.split('/').next().unwrap();
    assert!(
        listed
            .iter()
            .any(|e| e.name == entity || e.name == top || e.name == entity.trim_end_matches('/')),
        "{entity} not in {listed:?}"
    );
    let described = with_profile(f, &f.profile(), |p| p.describe(&entity).unwrap());
    let field = |name: &str| {
        described
            .fields
            .iter()
            .find(|x| x.name == name)
            .unwrap_or_else(|| panic!("{name} missing from {described:?}"))
    };
    assert!(field("id").data_type.is_integer(), "{described:?}");
    assert_eq!(field("name").data_type, arrow::datatypes::DataType::Utf8);
    assert!(field("amount").data_type.is_floating(), "{described:?}");
    assert_eq!(field("name").writable, f.entity_writable(), "{described:?}");
    if f.incremental() == Some(Incremental::Cursor) {
        assert!(field("updated_at").incremental, "{described:?}");
    }
    // The command shows the same.
    std::fs::write(f.dir().join("profile.yaml"), f.profile()).unwrap();
    let out = sluice(
        f.dir(),
        &[
            "discover",
            "-f",
            "profile.yaml",
            "--profile",
            "subject",
            "--entity",
            &entity,
        ],
    );
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("amount") && printed.contains("WRITABLE"),
        "{printed}"
    );

    let missing = format!("{entity}-missing");
    let error = with_profile(f, &f.profile(), |p| p.describe(&missing).unwrap_err());
    assert_eq!(error.reason(), ErrorReason::ReferenceNotFound, "{error}");
    assert!(error.to_string().contains(&missing), "{error}");
}

/// MUST: a full read returns every record, once, with its values.
fn full_read(f: &dyn Fixture) {
    let entity = f
        .seed(&records())
        .expect("every fixture seeds a source entity");
    write_flow(
        f,
        &f.profile(),
        &f.source(&entity),
        &local_out("full"),
        FULL,
        None,
    );
    let out = run(f, "full");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        day(read_json_lines(&f.dir().join("out/full"))),
        day(records())
    );
}

/// MUST (for incremental sources): a read narrowed to a window returns the
/// records of that window and no other.
fn incremental_read(f: &dyn Fixture) {
    let entity = f
        .seed(&records())
        .expect("every fixture seeds a source entity");
    let sync = "{mode: Incremental, cursorField: updated_at, writeMode: Append}";
    let Some(kind) = f.incremental() else {
        // A source that cannot read incrementally refuses the Flow before
        // reading, naming the field.
        write_flow(
            f,
            &f.profile(),
            &f.source(&entity),
            &local_out("inc"),
            sync,
            Some(("2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z")),
        );
        let out = run(f, "inc");
        let printed = text(&out);
        assert!(!out.status.success(), "{printed}");
        assert!(printed.contains("spec.sync.mode"), "{printed}");
        assert!(!f.dir().join("out/inc").exists(), "nothing written");
        return;
    };
    match kind {
        Incremental::Cursor => {
            let window = ("2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z");
            write_flow(
                f,
                &f.profile(),
                &f.source(&entity),
                &local_out("inc"),
                sync,
                Some(window),
            );
            let out = run(f, "inc");
            assert!(out.status.success(), "{}", text(&out));
            let got: Vec<i64> = read_json_lines(&f.dir().join("out/inc"))
                .iter()
                .map(|r| r.0)
                .collect();
            assert_eq!(got, vec![3, 4]);
        }
        Incremental::Modified => {
            // Objects written just now are inside a window around now and
            // outside one that ended a year ago.
            let now = chrono::Utc::now();
            let around = (
                (now - chrono::Duration::hours(1)).to_rfc3339(),
                (now + chrono::Duration::hours(1)).to_rfc3339(),
            );
            write_flow(
                f,
                &f.profile(),
                &f.source(&entity),
                &local_out("inc-now"),
                sync,
                Some((&around.0, &around.1)),
            );
            let out = run(f, "inc-now");
            assert!(out.status.success(), "{}", text(&out));
            assert_eq!(read_json_lines(&f.dir().join("out/inc-now")).len(), 6);
            write_flow(
                f,
                &f.profile(),
                &f.source(&entity),
                &local_out("inc-old"),
                sync,
                Some(("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z")),
            );
            let out = run(f, "inc-old");
            assert!(out.status.success(), "{}", text(&out));
            assert_eq!(read_json_lines(&f.dir().join("out/inc-old")).len(), 0);
        }
    }
}

/// MUST: each supported write mode has its documented effect, and an
/// unsupported one is refused before anything is written, naming
/// `spec.sync.writeMode`.
fn writes(f: &dyn Fixture) {
    let Some((entity, destination)) = f.destination() else {
        // Not a destination for these records: the connector refuses them
        // before reading anything.
        let (block, says) = f
            .refused_destination()
            .expect("a fixture without a destination names one its connector refuses");
        std::fs::write(f.dir().join("input.jsonl"), json_lines(&records())).unwrap();
        let source =
            "{connectorProfileRef: {name: local}, file: {path: input.jsonl, format: JsonLines}}";
        write_flow(
            f,
            &f.profile(),
            source,
            &block,
            "{mode: Full, writeMode: Append}",
            None,
        );
        let out = run(f, "refused");
        let printed = text(&out);
        assert!(!out.status.success(), "{printed}");
        assert!(printed.contains(says), "{says:?} in {printed}");
        return;
    };
    std::fs::write(f.dir().join("input.jsonl"), json_lines(&records())).unwrap();
    let source =
        "{connectorProfileRef: {name: local}, file: {path: input.jsonl, format: JsonLines}}";
    let modes = f.write_modes();
    let write = |mode: &str, run_id: &str| {
        let sync = format!("{{mode: Full, writeMode: {mode}, idFields: [id]}}");
        write_flow(f, &f.profile(), source, &destination, &sync, None);
        run(f, run_id)
    };
    assert!(modes.contains(&"Append"), "every destination appends");
    let out = write("Append", "w1");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(day(f.read_back(&entity)), day(records()));
    let out = write("Append", "w2");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(f.read_back(&entity).len(), 12, "append adds");

    if modes.contains(&"Overwrite") {
        let out = write("Overwrite", "w3");
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            day(f.read_back(&entity)),
            day(records()),
            "overwrite replaces"
        );
    }
    if modes.contains(&"Upsert") {
        // Into a fresh entity, so that one created under Upsert has its key.
        let (entity, destination) = f.destination().unwrap();
        let upsert = |records: &[Record], run_id: &str| {
            std::fs::write(f.dir().join("input.jsonl"), json_lines(records)).unwrap();
            write_flow(
                f,
                &f.profile(),
                source,
                &destination,
                "{mode: Full, writeMode: Upsert, idFields: [id]}",
                None,
            );
            let out = run(f, run_id);
            assert!(out.status.success(), "{}", text(&out));
        };
        upsert(&records(), "u1");
        let changed: Vec<Record> = records()
            .into_iter()
            .skip(3)
            .map(|(id, name, amount, updated)| (id, name, amount + 1.0, updated))
            .collect();
        upsert(&changed, "u2");
        let back = f.read_back(&entity);
        let ids: Vec<i64> = back.iter().map(|r| r.0).collect();
        let amounts: Vec<f64> = back.iter().map(|r| r.2).collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6], "upsert keeps one row per id");
        assert_eq!(amounts, vec![10.5, 21.0, 31.5, 43.0, 53.5, 64.0]);
        std::fs::write(f.dir().join("input.jsonl"), json_lines(&records())).unwrap();
    }
    for unsupported in ["Upsert", "Update", "Delete"] {
        if modes.contains(&unsupported) {
            continue;
        }
        let before = f.read_back(&entity).len();
        let out = write(unsupported, "refused");
        let printed = text(&out);
        assert!(!out.status.success(), "{unsupported}: {printed}");
        assert!(printed.contains("spec.sync.writeMode"), "{printed}");
        assert_eq!(f.read_back(&entity).len(), before, "nothing written");
    }
}

/// Plans a run of the fixture's faulty entity into local files, arms the
/// fault once the source has opened, runs the engine and returns its error,
/// after checking that the source failed, the fault was met, no secret is
/// in the message and nothing was published.
fn fail_mid_run(f: &dyn Fixture, fault: Fault) -> engine::Error {
    let faulty = f.faulty(fault);
    let manifest = format!(
        "{LOCAL}---\n{}\n---\napiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: conformance}}
spec:
  source: {}
  destination: {}
  sync: {FULL}
",
        faulty.profile,
        faulty.source,
        local_out("fault")
    );
    let bundle = Bundle::parse(&manifest, "conformance").unwrap();
    let params = RunParams {
        run_id: "fault".to_owned(),
        time: chrono::Utc::now(),
        overrides: None,
        working_dir: f.dir().to_path_buf(),
        window_start: None,
        window_end: None,
        secrets: Resolver::manifest(bundle.secrets.clone()),
    };
    let plan = sluice::plan::plan(&bundle.profiles, &bundle.flows[0], params)
        .unwrap_or_else(|e| panic!("the run opens before the fault: {e}"));
    (faulty.arm)();
    let result = engine::run(
        plan.source,
        &plan.tasks,
        plan.destination,
        plan.quarantine,
        &plan.options,
        &mut |_| {},
    );
    let Err(failure) = result else {
        panic!("the run succeeded through {fault:?}");
    };
    let error = failure.error;
    assert!(matches!(error, engine::Error::Source(_)), "{error}");
    assert!((faulty.refused)() > 0, "the fault was not met: {error}");
    let shown = format!("{error} {error:?}");
    for secret in &faulty.secrets {
        assert!(!shown.contains(secret.as_str()), "a secret in {shown}");
    }
    assert!(
        read_json_lines(&f.dir().join("out/fault")).is_empty(),
        "nothing of a failed run is published"
    );
    error
}

/// MUST: credentials refused mid-run (the source opened, a later request
/// is refused) fail the run as AuthenticationFailed, not retryable.
fn credentials_refused_mid_run(f: &dyn Fixture) {
    let error = fail_mid_run(f, Fault::Auth);
    assert_eq!(error.reason(), ErrorReason::AuthenticationFailed, "{error}");
    assert!(!error.retryable(), "{error} must not be retryable");
}

/// MUST: a rate limit that outlasts the retry budget fails the run as
/// RateLimited, retryable.
fn rate_limit_outlasts_retries(f: &dyn Fixture) {
    let error = fail_mid_run(f, Fault::RateLimit);
    assert_eq!(error.reason(), ErrorReason::RateLimited, "{error}");
    assert!(error.retryable(), "{error} must be retryable");
}

/// MUST: server errors or a broken connection that outlast the retries
/// fail the run as Unreachable, retryable.
fn transient_failure_outlasts_retries(f: &dyn Fixture) {
    let error = fail_mid_run(f, Fault::Transient);
    assert_eq!(error.reason(), ErrorReason::Unreachable, "{error}");
    assert!(error.retryable(), "{error} must be retryable");
}

/// `conformance!(name, fixture[, faults: [cases]][, #[gate]])`: the
/// contract's tests for one connector in module `name`. Every connector
/// runs the whole contract and, by default, the three fault cases;
/// `faults: [...]` lists the ones that apply when some do not, so the
/// others are absent rather than passing empty.
macro_rules! conformance {
    ($module:ident, $fixture:expr $(, #[$gate:meta])?) => {
        conformance!(
            $module,
            $fixture,
            faults: [
                bad_credentials_are_authentication_failed,
                unreachable_is_classified,
                credentials_refused_mid_run,
                rate_limit_outlasts_retries,
                transient_failure_outlasts_retries
            ]
            $(, #[$gate])?
        );
    };
    ($module:ident, $fixture:expr, faults: [$($case:ident),* $(,)?] $(, #[$gate:meta])?) => {
        mod $module {
            use super::*;

            /// One contract function as a test, gated like the others.
            macro_rules! case {
                ($name:ident) => {
                    #[test]
                    $(#[$gate])?
                    fn $name() {
                        super::$name(&$fixture);
                    }
                };
            }

            case!(check_passes);
            case!(discovery);
            case!(full_read);
            case!(incremental_read);
            case!(writes);
            $(case!($case);)*
        }
    };
}

// ------------------------------------------------------------------ file

struct FileFixture {
    dir: tempfile::TempDir,
}

impl FileFixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("subject")).unwrap();
        Self { dir }
    }
}

impl Fixture for FileFixture {
    fn profile(&self) -> String {
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: subject}
spec: {file: {root: ./subject}}"
            .to_owned()
    }
    fn bad_credentials(&self) -> Option<String> {
        None
    }
    fn unreachable(&self) -> Option<(String, ErrorReason)> {
        Some((
            self.profile().replace("./subject", "./not-mounted"),
            ErrorReason::ReferenceNotFound,
        ))
    }
    fn seed(&self, records: &[Record]) -> Option<String> {
        let name = format!("{}/orders.jsonl", unique("seed"));
        let path = self.dir.path().join("subject").join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, json_lines(records)).unwrap();
        Some(name)
    }
    fn source(&self, entity: &str) -> String {
        format!(
            "{{connectorProfileRef: {{name: subject}}, file: {{path: {entity}, format: JsonLines}}}}"
        )
    }
    fn incremental(&self) -> Option<Incremental> {
        None
    }
    fn catalog(&self) -> bool {
        true
    }
    fn destination(&self) -> Option<(String, String)> {
        let entity = unique("written");
        let block = format!(
            "{{connectorProfileRef: {{name: subject}}, file: {{path: {entity}, format: JsonLines, pathTemplate: '{{runId}}'}}}}"
        );
        Some((entity, block))
    }
    fn write_modes(&self) -> &'static [&'static str] {
        &["Append", "Overwrite"]
    }
    fn read_back(&self, entity: &str) -> Vec<Record> {
        read_json_lines(&self.dir.path().join("subject").join(entity))
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

// No credentials, no network, no server: no failure case applies.
conformance!(file, FileFixture::new(), faults: []);

// ------------------------------------------------------------------ http

/// An API serving the seeded records at `/orders` under `data`, filtered
/// by `since` / `until` on `updated_at`, to callers with the key; and
/// [`HTTP_PAGES`] pages of one record at `/paged?page=N`, each naming the
/// next under `next`, which answer as the armed fault says: 401 (the key
/// was revoked), 429 with `Retry-After: 1`, 503.
struct HttpFixture {
    dir: tempfile::TempDir,
    server: server::Server,
    switch: Switch,
}

const HTTP_KEY: &str = "good-key-7c1e";
const HTTP_PAGES: u64 = 50;

impl HttpFixture {
    fn new() -> Self {
        let seeded = records();
        let switch = Switch::default();
        let faults = switch.clone();
        let server = server::Server::start(move |seen| {
            if seen.path == "/paged" {
                return Self::paged(seen, &faults);
            }
            if seen.header("x-api-key") != Some(HTTP_KEY) {
                return server::Reply::status(401, r#"{"error":"invalid api key"}"#);
            }
            if seen.path != "/orders" {
                return server::Reply::status(404, r#"{"error":"not found"}"#);
            }
            let since = seen.param("since").unwrap_or("").to_owned();
            let until = seen.param("until").unwrap_or("9999").to_owned();
            let data: Vec<Value> = seeded
                .iter()
                .filter(|r| r.3.as_str() >= since.as_str() && r.3.as_str() < until.as_str())
                .map(|(id, name, amount, updated)| {
                    serde_json::json!({"id": id, "name": name, "amount": amount, "updated_at": updated})
                })
                .collect();
            server::Reply::json(serde_json::json!({ "data": data }).to_string())
        });
        Self {
            dir: tempfile::tempdir().unwrap(),
            server,
            switch,
        }
    }

    fn paged(seen: &server::Seen, switch: &Switch) -> server::Reply {
        match switch.hit() {
            Some(Fault::Auth) => {
                return server::Reply::status(401, r#"{"error":"invalid api key"}"#);
            }
            Some(Fault::RateLimit) => {
                return server::Reply::status(429, r#"{"error":"rate limit exceeded"}"#)
                    .header("retry-after", "1");
            }
            Some(Fault::Transient) => {
                return server::Reply::status(503, r#"{"error":"service unavailable"}"#);
            }
            None => {}
        }
        if seen.header("x-api-key") != Some(HTTP_KEY) {
            return server::Reply::status(401, r#"{"error":"invalid api key"}"#);
        }
        let page: u64 = seen.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let next = (page < HTTP_PAGES).then(|| format!("/paged?page={}", page + 1));
        let record = serde_json::json!({"id": page, "name": format!("order-{page}"),
            "amount": page as f64, "updated_at": "2026-01-01T00:00:00Z"});
        server::Reply::json(serde_json::json!({"data": [record], "next": next}).to_string())
    }

    fn profile_with(&self, base: &str, key: &str) -> String {
        format!(
            "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: subject}}
spec:
  http: {{baseUrl: '{base}'}}
  credentials:
    secretRef: {{name: api}}
    apiKey: {{in: Header, name: X-Api-Key}}
---
apiVersion: v1
kind: Secret
metadata: {{name: api}}
stringData: {{apiKey: {key}}}"
        )
    }
}

impl Fixture for HttpFixture {
    fn profile(&self) -> String {
        self.profile_with(&self.server.base, HTTP_KEY)
    }
    fn bad_credentials(&self) -> Option<String> {
        Some(self.profile_with(&self.server.base, "wrong-secret"))
    }
    fn unreachable(&self) -> Option<(String, ErrorReason)> {
        let base = format!("http://127.0.0.1:{}", closed_port());
        Some((
            self.profile_with(&base, HTTP_KEY)
                .replace("http: {", "http: {requestTimeout: 2s, "),
            ErrorReason::Unreachable,
        ))
    }
    fn seed(&self, _records: &[Record]) -> Option<String> {
        // The server serves the standard records.
        Some("/orders".to_owned())
    }
    fn source(&self, entity: &str) -> String {
        format!(
            "{{connectorProfileRef: {{name: subject}}, http: {{path: {entity}, recordSelector: /data, incremental: {{parameter: since, endParameter: until}}}}}}"
        )
    }
    fn incremental(&self) -> Option<Incremental> {
        Some(Incremental::Cursor)
    }
    fn catalog(&self) -> bool {
        false
    }
    fn destination(&self) -> Option<(String, String)> {
        None
    }
    fn refused_destination(&self) -> Option<(String, &'static str)> {
        // A source only: the schema has no http destination.
        Some((
            "{connectorProfileRef: {name: subject}, http: {path: /orders}}".to_owned(),
            "unknown field spec.destination.http",
        ))
    }
    fn write_modes(&self) -> &'static [&'static str] {
        &[]
    }
    fn read_back(&self, _entity: &str) -> Vec<Record> {
        Vec::new()
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
    fn faulty(&self, fault: Fault) -> Faulty<'_> {
        let source = "{connectorProfileRef: {name: subject}, http: {path: /paged, recordSelector: /data, pagination: {type: NextUrl, nextUrl: {pointer: /next}}}}";
        switched(
            self.profile(),
            source.to_owned(),
            &[HTTP_KEY],
            &self.switch,
            fault,
            None,
        )
    }
}

conformance!(http, HttpFixture::new());

// ------------------------------------------------------------------ zendesk

/// Zendesk through its stand-in (tests/zendesk/server.rs). The records are
/// served by a list endpoint (`brands`: read-only, read with cursor
/// pagination, its schema inferred), the objects whose records can carry
/// the contract's fields. Ticket writes are not in the contract's write
/// test: Zendesk assigns ticket ids and has no fields for the contract's
/// records; tests/zendesk.rs covers them.
struct ZendeskFixture {
    dir: tempfile::TempDir,
    server: zendesk_server::Zendesk,
}

const ZENDESK_TOKEN: &str = "zd-good-token-5a1";

impl ZendeskFixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            server: zendesk_server::Zendesk::start("agent@acme.example", ZENDESK_TOKEN),
        }
    }

    fn profile_with(&self, url: &str, token: &str) -> String {
        format!(
            "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: subject}}
spec:
  zendesk: {{url: '{url}'}}
  credentials:
    secretRef: {{name: zd}}
    basic: {{}}
---
apiVersion: v1
kind: Secret
metadata: {{name: zd}}
stringData: {{username: agent@acme.example, password: {token}}}"
        )
    }
}

impl Fixture for ZendeskFixture {
    fn profile(&self) -> String {
        self.profile_with(&self.server.base, ZENDESK_TOKEN)
    }
    fn bad_credentials(&self) -> Option<String> {
        Some(self.profile_with(&self.server.base, "wrong-secret"))
    }
    fn unreachable(&self) -> Option<(String, ErrorReason)> {
        let url = format!("http://127.0.0.1:{}", closed_port());
        Some((
            self.profile_with(&url, ZENDESK_TOKEN),
            ErrorReason::Unreachable,
        ))
    }
    fn seed(&self, records: &[Record]) -> Option<String> {
        let items: Vec<Value> = records
            .iter()
            .map(|(id, name, amount, updated)| {
                serde_json::json!({"id": id, "name": name, "amount": amount, "updated_at": updated})
            })
            .collect();
        self.server
            .with(|s| s.lists.insert("brands".to_owned(), items));
        Some("brands".to_owned())
    }
    fn source(&self, entity: &str) -> String {
        format!("{{connectorProfileRef: {{name: subject}}, zendesk: {{object: {entity}}}}}")
    }
    fn incremental(&self) -> Option<Incremental> {
        Some(Incremental::Cursor)
    }
    fn catalog(&self) -> bool {
        true
    }
    fn destination(&self) -> Option<(String, String)> {
        None
    }
    fn refused_destination(&self) -> Option<(String, &'static str)> {
        // Zendesk writes tickets only (tests/zendesk.rs); the contract's
        // records go to no other object.
        Some((
            "{connectorProfileRef: {name: subject}, zendesk: {object: brands}}".to_owned(),
            "expected `tickets`",
        ))
    }
    fn write_modes(&self) -> &'static [&'static str] {
        &[]
    }
    fn read_back(&self, _entity: &str) -> Vec<Record> {
        Vec::new()
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
    fn entity_writable(&self) -> bool {
        false
    }
    /// 1,000 brands (ten pages of 100); armed, the list answers as Zendesk
    /// documents: 401 `Couldn't authenticate you` (the API token was
    /// deactivated), 429 with `Retry-After: 1`, 503.
    fn faulty(&self, fault: Fault) -> Faulty<'_> {
        let items: Vec<Value> = (1..=1000)
            .map(|i| {
                serde_json::json!({"id": i, "name": format!("brand-{i}"), "amount": f64::from(i),
                    "updated_at": "2026-01-01T00:00:00Z"})
            })
            .collect();
        self.server
            .with(|s| s.lists.insert("brands".to_owned(), items));
        let answer = match fault {
            Fault::Auth => zendesk_server::Fault::Unauthenticated,
            Fault::RateLimit => zendesk_server::Fault::TooManyRequests(1),
            Fault::Transient => zendesk_server::Fault::ServerError(503),
        };
        let refused = |s: &zendesk_server::Zendesk| {
            s.requests_to("/api/v2/brands")
                .iter()
                .filter(|r| r.status != 200)
                .count()
        };
        Faulty {
            profile: self.profile(),
            source: self.source("brands"),
            secrets: vec![ZENDESK_TOKEN.to_owned()],
            arm: Box::new(move || self.server.inject("/api/v2/brands", vec![answer; 100])),
            refused: Box::new(move || refused(&self.server)),
            _keep: None,
        }
    }
}

conformance!(zendesk, ZendeskFixture::new());

// ------------------------------------------------------------------ postgres

struct PostgresFixture {
    dir: tempfile::TempDir,
    host: String,
    port: String,
    database: String,
    user: String,
    password: String,
}

impl PostgresFixture {
    fn new() -> Self {
        let pg = Postgres::from_env();
        Self {
            dir: tempfile::tempdir().unwrap(),
            host: pg.host,
            port: pg.port.to_string(),
            database: pg.database,
            user: pg.user,
            password: pg.password,
        }
    }

    fn profile_with(&self, port: &str, password: &str) -> String {
        self.profile_at(&self.host, port, password)
    }

    fn profile_at(&self, host: &str, port: &str, password: &str) -> String {
        format!(
            "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: subject}}
spec:
  postgres: {{host: '{host}', port: {port}, database: '{}', sslMode: Disable}}
  credentials:
    secretRef: {{name: pg}}
    basic: {{}}
---
apiVersion: v1
kind: Secret
metadata: {{name: pg}}
stringData: {{username: '{}', password: '{password}'}}",
            self.database, self.user
        )
    }

    fn sql(&self, statements: &str) -> Vec<Vec<Option<String>>> {
        support::postgres::sql(statements)
    }
}

impl Fixture for PostgresFixture {
    fn profile(&self) -> String {
        self.profile_with(&self.port, &self.password)
    }
    fn bad_credentials(&self) -> Option<String> {
        Some(self.profile_with(&self.port, "wrong-secret"))
    }
    fn unreachable(&self) -> Option<(String, ErrorReason)> {
        Some((
            self.profile_with(&closed_port().to_string(), &self.password),
            ErrorReason::Unreachable,
        ))
    }
    fn seed(&self, records: &[Record]) -> Option<String> {
        let table = unique("conf_src_");
        let values: Vec<String> = records
            .iter()
            .map(|(id, name, amount, updated)| format!("({id}, '{name}', {amount}, '{updated}')"))
            .collect();
        self.sql(&format!(
            "CREATE TABLE {table} (id bigint PRIMARY KEY, name text NOT NULL, amount double precision, updated_at timestamptz);
             INSERT INTO {table} VALUES {};",
            values.join(", ")
        ));
        Some(format!("public.{table}"))
    }
    fn source(&self, entity: &str) -> String {
        let table = entity.trim_start_matches("public.");
        format!("{{connectorProfileRef: {{name: subject}}, postgres: {{table: {table}}}}}")
    }
    fn incremental(&self) -> Option<Incremental> {
        Some(Incremental::Cursor)
    }
    fn catalog(&self) -> bool {
        true
    }
    fn destination(&self) -> Option<(String, String)> {
        let table = unique("conf_dst_");
        let block = format!(
            "{{connectorProfileRef: {{name: subject}}, postgres: {{table: {table}, createTable: true}}}}"
        );
        Some((table, block))
    }
    fn write_modes(&self) -> &'static [&'static str] {
        &["Append", "Overwrite", "Upsert"]
    }
    /// The seeded table read two rows a fetch through [`PgProxy`]: armed,
    /// the client's next message is answered with a FATAL ErrorResponse
    /// (28P01 for refused credentials, 57P01 for a server shutting down)
    /// and the connection closed.
    fn faulty(&self, fault: Fault) -> Faulty<'_> {
        let entity = self.seed(&records()).unwrap();
        let table = entity.trim_start_matches("public.");
        let proxy = PgProxy::start(&self.host, self.port.parse().unwrap(), &self.user);
        let profile = self.profile_at("127.0.0.1", &proxy.port.to_string(), &self.password);
        let source = format!(
            "{{connectorProfileRef: {{name: subject}}, postgres: {{table: {table}, fetchSize: 2}}}}"
        );
        let switch = proxy.switch.clone();
        switched(
            profile,
            source,
            &[&self.password],
            &switch,
            fault,
            Some(Box::new(proxy)),
        )
    }
    fn read_back(&self, entity: &str) -> Vec<Record> {
        self.sql(&format!(
            "SELECT id, name, amount, updated_at::text FROM {entity} ORDER BY id, amount"
        ))
        .into_iter()
        .map(|row| {
            (
                row[0].as_deref().unwrap().parse().unwrap(),
                row[1].clone().unwrap(),
                row[2].as_deref().unwrap().parse().unwrap(),
                row[3].clone().unwrap_or_default(),
            )
        })
        .collect()
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

// PostgreSQL has no rate limit (too many connections, 53300, is a
// transient failure): no rate_limit_outlasts_retries.
conformance!(
    postgres,
    PostgresFixture::new(),
    faults: [
        bad_credentials_are_authentication_failed,
        unreachable_is_classified,
        credentials_refused_mid_run,
        transient_failure_outlasts_retries
    ],
    #[ignore = "needs the PostgreSQL server: run make test"]
);

// ------------------------------------------------------------------ s3

struct S3Fixture {
    dir: tempfile::TempDir,
    endpoint: String,
    aws: sluice::connectors::s3::Aws,
}

const AWS_KEY: &str = "AKIDCONFORMANCE";
const AWS_SECRET: &str = "conformance-secret-3b9";

impl S3Fixture {
    fn new() -> Self {
        let endpoint = support::moto::endpoint();
        let dir = tempfile::tempdir().unwrap();
        let bundle = Bundle::parse(&Self::profile_with(&endpoint, AWS_SECRET), "s3").unwrap();
        let secrets = Resolver::manifest(bundle.secrets.clone());
        let profile = &bundle.profiles["subject"];
        let aws = sluice::connectors::s3::Aws::connect(
            "subject",
            profile.spec.s3.as_ref().unwrap(),
            profile.spec.credentials.as_ref(),
            &secrets,
        )
        .unwrap();
        Self { dir, endpoint, aws }
    }

    fn profile_with(endpoint: &str, secret: &str) -> String {
        format!(
            "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: subject}}
spec:
  s3: {{region: us-east-1, endpoint: '{endpoint}', forcePathStyle: true}}
  credentials:
    secretRef: {{name: aws}}
    awsAccessKey: {{}}
---
apiVersion: v1
kind: Secret
metadata: {{name: aws}}
stringData: {{accessKeyId: {AWS_KEY}, secretAccessKey: {secret}}}"
        )
    }

    fn bucket(&self) -> String {
        let bucket = unique("conformance-");
        let client = self.aws.s3_client().clone();
        let b = bucket.clone();
        self.aws
            .runtime()
            .block_on(async move { client.create_bucket().bucket(b).send().await })
            .unwrap();
        bucket
    }

    fn objects(&self, bucket: &str, prefix: &str) -> BTreeMap<String, String> {
        let client = self.aws.s3_client().clone();
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        self.aws.runtime().block_on(async move {
            let listed = client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&prefix)
                .send()
                .await
                .unwrap();
            let mut out = BTreeMap::new();
            for object in listed.contents() {
                let key = object.key().unwrap().to_owned();
                let body = client
                    .get_object()
                    .bucket(&bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes();
                out.insert(key, String::from_utf8_lossy(&body).into_owned());
            }
            out
        })
    }
}

impl Fixture for S3Fixture {
    fn profile(&self) -> String {
        Self::profile_with(&self.endpoint, AWS_SECRET)
    }
    fn bad_credentials(&self) -> Option<String> {
        // The moto that checks credentials knows no access key at all.
        let endpoint = std::env::var("SLUICE_TEST_AWS_AUTH_ENDPOINT").expect(
            "SLUICE_TEST_AWS_AUTH_ENDPOINT is not set: e2e/scripts/moto.sh starts a moto that checks credentials; run make test",
        );
        Some(Self::profile_with(&endpoint, "wrong-secret"))
    }
    fn unreachable(&self) -> Option<(String, ErrorReason)> {
        let endpoint = format!("http://127.0.0.1:{}", closed_port());
        Some((
            Self::profile_with(&endpoint, AWS_SECRET),
            ErrorReason::Unreachable,
        ))
    }
    fn seed(&self, records: &[Record]) -> Option<String> {
        let bucket = self.bucket();
        let client = self.aws.s3_client().clone();
        let (b, body) = (bucket.clone(), json_lines(records));
        self.aws
            .runtime()
            .block_on(async move {
                client
                    .put_object()
                    .bucket(b)
                    .key("orders/part-0.jsonl")
                    .body(body.into_bytes().into())
                    .send()
                    .await
            })
            .unwrap();
        Some(format!("{bucket}/orders/"))
    }
    fn source(&self, entity: &str) -> String {
        let (bucket, prefix) = entity.split_once('/').unwrap();
        format!(
            "{{connectorProfileRef: {{name: subject}}, s3: {{bucket: {bucket}, prefix: {prefix}, format: JsonLines}}}}"
        )
    }
    fn incremental(&self) -> Option<Incremental> {
        Some(Incremental::Modified)
    }
    fn catalog(&self) -> bool {
        true
    }
    fn destination(&self) -> Option<(String, String)> {
        let bucket = self.bucket();
        let block = format!(
            "{{connectorProfileRef: {{name: subject}}, s3: {{bucket: {bucket}, prefix: lake/, format: JsonLines, pathTemplate: '{{runId}}'}}}}"
        );
        Some((bucket, block))
    }
    fn write_modes(&self) -> &'static [&'static str] {
        &["Append", "Overwrite"]
    }
    /// The seeded object read through [`S3Proxy`] in front of moto: armed,
    /// every request is answered with S3's error XML (403
    /// InvalidAccessKeyId, 503 SlowDown, 500 InternalError).
    fn faulty(&self, fault: Fault) -> Faulty<'_> {
        let entity = self.seed(&records()).unwrap();
        let proxy = S3Proxy::start(&self.endpoint);
        let profile = Self::profile_with(&proxy.endpoint, AWS_SECRET);
        let switch = proxy.switch.clone();
        switched(
            profile,
            self.source(&entity),
            &[AWS_SECRET],
            &switch,
            fault,
            Some(Box::new(proxy)),
        )
    }
    fn read_back(&self, bucket: &str) -> Vec<Record> {
        let mut out: Vec<Record> = self
            .objects(bucket, "lake/")
            .iter()
            .filter(|(key, _)| !key.contains("_sluice") && key.ends_with(".jsonl"))
            .flat_map(|(_, body)| parse_json_lines(body))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.total_cmp(&b.2)));
        out
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

conformance!(
    s3,
    S3Fixture::new(),
    #[ignore = "needs moto: run make test"]
);

// ------------------------------------------------------------------ salesforce

// The stand-in builds on the same HTTPS server as the http fixture.
use server as http_server;
#[path = "salesforce/server.rs"]
mod sf;

/// The stand-in org (tests/salesforce/server.rs) with one sObject per seeded
/// or written entity, whose fields are the contract's `id` (an `int`
/// external id), `name`, `amount` and `updated_at` (a `datetime`). Sessions
/// come from the JWT bearer grant with a key generated for the run.
struct SalesforceFixture {
    dir: tempfile::TempDir,
    org: sf::Org,
    pem: String,
}

const SF_CLIENT_ID: &str = "3MVG9conformanceConsumerKey";
const SF_CLIENT_SECRET: &str = "conformance-consumer-secret";

impl SalesforceFixture {
    fn new() -> Self {
        let sf::KeyPair { pem, public } = sf::generate_key(false);
        let org = sf::Org::start(
            sf::App {
                client_id: SF_CLIENT_ID.to_owned(),
                username: "conformance@acme.example".to_owned(),
                public_key: public,
                client_secret: Some(SF_CLIENT_SECRET.to_owned()),
                refresh_token: "conformance-refresh-token".to_owned(),
            },
            BTreeMap::new(),
        );
        Self {
            dir: tempfile::tempdir().unwrap(),
            org,
            pem,
        }
    }

    fn profile_with(&self, login_url: &str, oauth: &str, refresh_token: &str) -> String {
        format!(
            "apiVersion: v1
kind: Secret
metadata: {{name: sf}}
stringData:
  clientId: {SF_CLIENT_ID}
  clientSecret: {SF_CLIENT_SECRET}
  refreshToken: {refresh_token}
  privateKey: |
{}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: subject}}
spec:
  salesforce: {{loginUrl: '{login_url}', apiVersion: '62.0'}}
  tls:
    caBundle: |
{}
  credentials:
    secretRef: {{name: sf}}
    oauth2: {oauth}",
            indent(&self.pem, 4),
            indent(http_server::test_ca(), 6),
        )
    }

    fn object(records: &[Record]) -> sf::SObject {
        let field = |name: &str, kind: &str, external_id: bool| sf::FieldDef {
            name: name.to_owned(),
            kind: kind.to_owned(),
            nillable: name != "id",
            writable: true,
            external_id,
        };
        sf::SObject {
            fields: vec![
                field("id", "int", true),
                field("name", "string", false),
                field("amount", "double", false),
                field("updated_at", "datetime", false),
            ],
            records: records
                .iter()
                .map(|(id, name, amount, updated)| {
                    let time = chrono::DateTime::parse_from_rfc3339(updated).unwrap();
                    serde_json::json!({"id": id, "name": name, "amount": amount,
                        "updated_at": sf::sf_time(time.with_timezone(&chrono::Utc))})
                    .as_object()
                    .unwrap()
                    .clone()
                })
                .collect(),
            hidden: Vec::new(),
        }
    }
}

impl Fixture for SalesforceFixture {
    fn profile(&self) -> String {
        self.profile_with(
            &self.org.server.base,
            "{grantType: JwtBearer, subject: conformance@acme.example, clientIdKey: clientId, privateKeyKey: privateKey}",
            "conformance-refresh-token",
        )
    }
    fn bad_credentials(&self) -> Option<String> {
        Some(self.profile_with(
            &self.org.server.base,
            "{grantType: RefreshToken, clientIdKey: clientId, clientSecretKey: clientSecret, refreshTokenKey: refreshToken}",
            "wrong-secret",
        ))
    }
    fn unreachable(&self) -> Option<(String, ErrorReason)> {
        Some((
            self.profile_with(
                &format!("https://127.0.0.1:{}", closed_port()),
                "{grantType: JwtBearer, subject: conformance@acme.example, clientIdKey: clientId, privateKeyKey: privateKey}",
                "conformance-refresh-token",
            ),
            ErrorReason::Unreachable,
        ))
    }
    fn seed(&self, records: &[Record]) -> Option<String> {
        let name = unique("Order");
        self.org.add_object(&name, Self::object(records));
        Some(name)
    }
    fn source(&self, entity: &str) -> String {
        format!("{{connectorProfileRef: {{name: subject}}, salesforce: {{object: {entity}}}}}")
    }
    fn incremental(&self) -> Option<Incremental> {
        Some(Incremental::Cursor)
    }
    fn catalog(&self) -> bool {
        true
    }
    fn destination(&self) -> Option<(String, String)> {
        let name = unique("Written");
        self.org.add_object(&name, Self::object(&[]));
        let block =
            format!("{{connectorProfileRef: {{name: subject}}, salesforce: {{object: {name}}}}}");
        Some((name, block))
    }
    fn write_modes(&self) -> &'static [&'static str] {
        &["Append", "Upsert", "Update", "Delete"]
    }
    /// An object of 2,500 records (two REST query pages of 2,000); armed,
    /// the org answers as Salesforce documents: access revoked (401
    /// INVALID_SESSION_ID, then the JWT bearer grant refused with
    /// `invalid_grant`), the API allocation spent (403
    /// REQUEST_LIMIT_EXCEEDED), 503 SERVER_UNAVAILABLE.
    fn faulty(&self, fault: Fault) -> Faulty<'_> {
        let name = unique("Many");
        let many: Vec<Record> = (1..=2500)
            .map(|i| {
                let updated = "2026-01-01T00:00:00Z".to_owned();
                (i, format!("order-{i}"), i as f64, updated)
            })
            .collect();
        self.org.add_object(&name, Self::object(&many));
        let armed_at = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
        let seen = armed_at.clone();
        let key_line = self.pem.lines().nth(1).unwrap().to_owned();
        Faulty {
            profile: self.profile(),
            source: self.source(&name),
            secrets: vec![
                SF_CLIENT_SECRET.to_owned(),
                "conformance-refresh-token".to_owned(),
                key_line,
            ],
            arm: Box::new(move || {
                armed_at.store(
                    self.org.server.requests().len(),
                    std::sync::atomic::Ordering::SeqCst,
                );
                match fault {
                    Fault::Auth => self.org.faults(|f| f.revoked = true),
                    Fault::RateLimit => self.org.api_usage(15_000, 15_000),
                    Fault::Transient => self.org.faults(|f| f.server_errors = 1_000),
                }
            }),
            refused: Box::new(move || {
                self.org
                    .server
                    .requests()
                    .len()
                    .saturating_sub(seen.load(std::sync::atomic::Ordering::SeqCst))
            }),
            _keep: None,
        }
    }
    fn read_back(&self, entity: &str) -> Vec<Record> {
        let mut out: Vec<Record> = self
            .org
            .records(entity)
            .iter()
            .filter(|r| r.get("IsDeleted") != Some(&Value::Bool(true)))
            .map(|r| {
                (
                    r["id"].as_i64().unwrap(),
                    r["name"].as_str().unwrap().to_owned(),
                    r["amount"].as_f64().unwrap(),
                    r["updated_at"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.total_cmp(&b.2)));
        out
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

conformance!(salesforce, SalesforceFixture::new());
