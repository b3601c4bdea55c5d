//! The Kubernetes API server `make test` starts (e2e/scripts/control-plane.sh),
//! which exports `KUBECONFIG` and `SLUICE_KUBECTL`: kubectl, a client, the
//! CRDs, a namespace of its own per test (linkerd's `with_temp_ns`), waits
//! on conditions through watches rather than sleeps, and the namespace's
//! objects and Events printed when a test fails.
//!
//! Tests using it are `#[ignore]`d, so a plain `cargo test` reports them as
//! ignored; run with `--include-ignored` and no server configured, they fail
//! with a message saying how to start one ([`require_api_server`], reached
//! through [`TempNamespace::new`]).

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::events::v1::Event;
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Client, Resource};

/// How long a test waits for anything on the cluster.
pub const WAIT: Duration = Duration::from_secs(90);

/// The kubectl built with the control plane (or `kubectl` on PATH).
pub fn kubectl_path() -> String {
    std::env::var("SLUICE_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
}

/// Fails the test unless a test API server is configured.
pub fn require_api_server() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "no Kubernetes API server: these tests run against the control plane `make test` starts \
         (or set KUBECONFIG and SLUICE_KUBECTL yourself)"
    );
}

/// Runs kubectl with `args` and `stdin`, returning its output.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(kubectl_path())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", kubectl_path()));
    let mut pipe = child.stdin.take().expect("stdin is piped");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes())
            .expect("kubectl reads stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("kubectl finishes")
}

/// Runs kubectl and returns stdout, failing the test with stderr otherwise.
pub fn kubectl_ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl(args, stdin);
    assert!(
        out.status.success(),
        "kubectl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Applies the committed CRDs once per test binary and waits until they are
/// established.
pub fn install_crds() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        require_api_server();
        let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
        kubectl_ok(
            &[
                "apply",
                "--server-side",
                "--field-manager",
                "sluice-tests",
                "-f",
                crds,
            ],
            None,
        );
        kubectl_ok(
            &[
                "wait",
                "--for",
                "condition=Established",
                "--timeout",
                "60s",
                "-f",
                crds,
            ],
            None,
        );
    });
}

/// A namespace of its own for one test, deleted when dropped.
pub struct TempNamespace {
    /// The namespace's name.
    pub name: String,
}

impl TempNamespace {
    /// Creates a namespace named after the test plus a random suffix.
    pub fn new(test: &str) -> Self {
        install_crds();
        let suffix: String = format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .subsec_nanos()
        );
        let name = format!("t-{}-{suffix}", test.replace('_', "-"))
            .chars()
            .take(63)
            .collect::<String>()
            .trim_end_matches('-')
            .to_owned();
        kubectl_ok(&["create", "namespace", &name], None);
        Self { name }
    }
}

impl Drop for TempNamespace {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Show what the namespace held, for the failure report.
            let out = kubectl(&["get", "sluice", "-n", &self.name, "-o", "yaml"], None);
            eprintln!(
                "--- objects in {}:\n{}",
                self.name,
                String::from_utf8_lossy(&out.stdout)
            );
        }
        // The control plane's namespace controller empties it in the
        // background.
        let _ = kubectl(&["delete", "namespace", &self.name, "--wait=false"], None);
    }
}

/// A client of the test API server.
pub async fn client() -> Client {
    Client::try_default()
        .await
        .expect("a client from KUBECONFIG")
}

/// Applies `manifests` (YAML documents) in `ns` with kubectl.
pub fn apply(ns: &str, manifests: &str) {
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(manifests));
}

/// Makes the API server's Pod Security admission enforce the restricted
/// profile in `ns`, refusing any pod that breaks it.
pub fn enforce_restricted_pods(ns: &str) {
    kubectl_ok(
        &[
            "label",
            "namespace",
            ns,
            "pod-security.kubernetes.io/enforce=restricted",
        ],
        None,
    );
}

/// Prints the namespace's objects and Events.
pub fn dump(ns: &str) {
    for what in ["connectorprofiles,flows,flowruns,jobs,pods", "events"] {
        let out = kubectl(&["get", what, "-n", ns, "-o", "yaml"], None);
        eprintln!(
            "--- {what} in {ns}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// Prints the namespace's objects when the test fails.
pub struct DumpOnFailure(pub String);

impl Drop for DumpOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            dump(&self.0);
        }
    }
}

/// Waits until `ready` holds for the object `name` (or its absence).
pub async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, ready: impl Fn(Option<&K>) -> bool)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let condition = move |object: Option<&K>| ready(object);
    let waited = tokio::time::timeout(
        WAIT,
        kube::runtime::wait::await_condition(api.clone(), name, condition),
    )
    .await;
    match waited {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("watching for {what}: {e}"),
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Waits until `ready` holds for the list of `K` in the namespace.
pub async fn wait_list<K>(api: &Api<K>, what: &str, ready: impl Fn(&[K]) -> bool)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let stream = watcher(api.clone(), watcher::Config::default());
    let mut stream = std::pin::pin!(stream);
    let mut objects: BTreeMap<String, K> = BTreeMap::new();
    // The list is only whole once the watcher's (re)list is done: judged
    // earlier, the first of two objects would pass for "one left".
    let mut listed = false;
    let mut last_error = None;
    let waited = tokio::time::timeout(WAIT, async {
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(o)) => {
                    objects.insert(o.meta().name.clone().unwrap_or_default(), o);
                }
                Ok(watcher::Event::InitApply(o)) => {
                    objects.insert(o.meta().name.clone().unwrap_or_default(), o);
                    continue;
                }
                Ok(watcher::Event::Delete(o)) => {
                    objects.remove(&o.meta().name.clone().unwrap_or_default());
                }
                Ok(watcher::Event::Init) => {
                    objects.clear();
                    listed = false;
                    continue;
                }
                Ok(watcher::Event::InitDone) => listed = true,
                Err(e) => {
                    last_error = Some(e.to_string());
                    continue;
                }
            }
            if listed && ready(&objects.values().cloned().collect::<Vec<_>>()) {
                return;
            }
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "timed out waiting for {what} (last watch error: {last_error:?})"
    );
}

/// The reasons of the Events about the object `name`.
pub async fn event_reasons(client: &Client, ns: &str, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

/// Waits for an Event with `reason` about the object `name`.
pub async fn wait_event(client: &Client, ns: &str, name: &str, reason: &str) {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let (name, reason) = (name.to_owned(), reason.to_owned());
    wait_list(
        &events,
        &format!("Event {reason} about {name}"),
        move |all| {
            all.iter().any(|e| {
                e.reason.as_deref() == Some(reason.as_str())
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str())
            })
        },
    )
    .await;
}
