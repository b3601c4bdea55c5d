#!/usr/bin/env bash
# The end-to-end suite (`make e2e`, and a step of `make test`): packaging
# checks, then a real single-node cluster (e2e/scripts/cluster.sh: kubelet,
# containerd, runc) with PostgreSQL and moto on 127.0.0.1, the image built
# from the local static binary, the chart installed with Helm, and the
# scenarios, each in its own temporary namespace. Prints the time of every
# step and one line per scenario: passed, failed or skipped (and why).
#
# Env: SLUICE_E2E_BINARY   use this static sluice binary instead of building one
#      SLUICE_E2E_ONLY     run only the scenarios whose names match this regex
#      SLUICE_E2E_KEEP=1   leave the cluster and servers up (prints their DIRs)
# Must run as root (the kubelet and containerd need it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
scripts="$root/e2e/scripts"
target="${CARGO_TARGET_DIR:-$root/target}"
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e.XXXXXX")
cluster="$work/cluster"
# Outside $work (mode 700): PostgreSQL runs as the postgres user.
pg_state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e-pg.XXXXXX")
moto_state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e-moto.XXXXXX")
release=sluice
release_ns=sluice-system

timings=()
results=()
failed=0
step_start=$SECONDS
step_name=""
step() {
  finish_step
  step_name=$1
  step_start=$SECONDS
  echo
  echo "==> e2e: $1"
}
finish_step() {
  if [[ -n "$step_name" ]]; then
    timings+=("$(printf '%4ss  %s' "$(( SECONDS - step_start ))" "$step_name")")
  fi
  step_name=""
}

cleanup() {
  local status=$?
  finish_step
  if [[ -n "${SLUICE_E2E_KEEP:-}" ]]; then
    echo "e2e: kept cluster $cluster, postgres $pg_state, moto $moto_state (work dir $work)"
  else
    "$scripts/moto.sh" down "$moto_state" >/dev/null 2>&1 || true
    "$scripts/postgres.sh" down "$pg_state" >/dev/null 2>&1 || true
    [[ -d "$cluster" ]] && { "$scripts/cluster.sh" down "$cluster" || true; }
    rm -rf "$work" "$pg_state" "$moto_state"
  fi
  summary
  exit "$status"
}

summary() {
  echo
  echo "e2e timings:"
  printf '  %s\n' "${timings[@]}"
  if (( ${#results[@]} )); then
    echo "e2e scenarios:"
    printf '  %s\n' "${results[@]}"
  fi
  local p f s
  p=$(printf '%s\n' "${results[@]}" | grep -c '^passed' || true)
  f=$(printf '%s\n' "${results[@]}" | grep -c '^FAILED' || true)
  s=$(printf '%s\n' "${results[@]}" | grep -c '^skipped' || true)
  echo "e2e: $p passed, $f failed, $s skipped"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || { echo "e2e: must run as root (the kubelet and containerd need it)" >&2; exit 1; }

# grep -q in a pipeline closes it early, and with pipefail the writer's
# SIGPIPE fails the pipeline: read everything instead.
has() { grep "$@" >/dev/null; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------- tools
step "tools: Helm and Kubernetes binaries (built once from their Go modules)"
helm=$("$scripts/helm-bin.sh")
k8s=$("$scripts/k8s-bin.sh")
kubectl="$k8s/kubectl"
command -v lua5.4 >/dev/null || {
  echo "installing lua5.4 from Debian packages"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua5.4 >/dev/null
}
"$helm" version --short

# ---------------------------------------------------------------- packaging
step "chart: helm lint, helm template, values schema, CRDs equal crds/"
all_options=(--set replicaCount=2 --set serviceMonitor.enabled=true --set networkPolicy.enabled=true
  --set podDisruptionBudget.enabled=true --set watchNamespace=team-a --set runner.image=example.com/sluice:1)
"$helm" lint --strict charts/sluice
"$helm" lint --strict charts/sluice "${all_options[@]}"
"$helm" template "$release" charts/sluice -n "$release_ns" --include-crds > "$work/chart-default.yaml"
"$helm" template "$release" charts/sluice -n "$release_ns" "${all_options[@]}" > "$work/chart-all.yaml"
# The schema and the template refuse what would break an install.
if "$helm" template "$release" charts/sluice --set replicaCount=2 --set leaderElection.enabled=false >/dev/null 2>&1; then
  echo "e2e: the chart accepted replicaCount=2 without leader election" >&2; exit 1
fi
if "$helm" template "$release" charts/sluice --set metrics.port=0 >/dev/null 2>&1; then
  echo "e2e: the chart's schema accepted metrics.port=0" >&2; exit 1
fi
if "$helm" template "$release" charts/sluice --set imageTag=1 >/dev/null 2>&1; then
  echo "e2e: the chart's schema accepted an unknown value (imageTag)" >&2; exit 1
fi
diff -r crds charts/sluice/crds || { echo "e2e: charts/sluice/crds differs from crds/: run 'make crds'" >&2; exit 1; }
diff -r crds config/crd/bases || { echo "e2e: config/crd/bases differs from crds/: run 'make crds'" >&2; exit 1; }
echo "chart lints, renders $(grep -c '^kind:' "$work/chart-all.yaml") objects with every option, CRDs equal crds/"

step "kustomize: config/default installs what the chart installs"
"$kubectl" kustomize config/default > "$work/kustomize.yaml"
python3 "$scripts/compare-installs.py" "$work/chart-default.yaml" "$work/kustomize.yaml"

step "Argo CD health checks (Lua) and their snippets"
python3 "$scripts/argocd-snippets.py" --check
lua5.4 e2e/argocd/health_test.lua config/argocd

# ---------------------------------------------------------------- binary and image
step "static sluice binary (glibc, +crt-static)"
if [[ -n "${SLUICE_E2E_BINARY:-}" ]]; then
  binary=$SLUICE_E2E_BINARY
else
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --locked --quiet \
    --target x86_64-unknown-linux-gnu --bin sluice
  binary="$target/x86_64-unknown-linux-gnu/debug/sluice"
fi
file "$binary" | has 'static' || { echo "e2e: $binary is not statically linked" >&2; exit 1; }
image=sluice.local/sluice:e2e
python3 "$scripts/oci-image.py" --ref "$image" --out "$work/sluice.tar" \
  --file "$binary:/usr/local/bin/sluice" --entrypoint /usr/local/bin/sluice --user 65532:65532
has_controller=false
if "$binary" controller --help >/dev/null 2>&1; then has_controller=true; fi
echo "controller subcommand: $has_controller"

# ---------------------------------------------------------------- cluster
step "cluster up (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet)"
"$scripts/cluster.sh" up "$cluster" >/dev/null
# shellcheck disable=SC1091
source "$cluster/env"
k() { "$kubectl" "$@"; }
k get nodes -o wide

step "image import into the node's containerd"
"$scripts/cluster.sh" import "$cluster" "$work/sluice.tar"
rm -f "$work/sluice.tar"

step "server-side dry run of the chart and kustomize renderings"
k apply --server-side -f crds/ >/dev/null
k wait --for=condition=Established crd --all --timeout=60s >/dev/null
k create namespace "$release_ns" >/dev/null
# The ServiceMonitor needs the Prometheus Operator's CRD, which this cluster lacks.
python3 - "$work/chart-all.yaml" > "$work/chart-all-core.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] != "ServiceMonitor"]
print(yaml.safe_dump_all(docs))
EOF
k apply --dry-run=server -n "$release_ns" -f "$work/chart-all-core.yaml"
k apply --dry-run=server --server-side -f "$work/chart-default.yaml" >/dev/null
k apply --dry-run=server --server-side -f "$work/kustomize.yaml" >/dev/null
echo "the API server accepts both renderings"

step "PostgreSQL and moto on 127.0.0.1"
"$scripts/postgres.sh" up "$pg_state" >/dev/null
# shellcheck disable=SC1091
source "$pg_state/env"
"$scripts/moto.sh" up "$moto_state" >/dev/null
# shellcheck disable=SC1091
source "$moto_state/env"
psql_bin=$(ls /usr/lib/postgresql/*/bin/psql | tail -n 1)
psql() {
  PGPASSWORD=$SLUICE_TEST_PG_PASSWORD PGOPTIONS='-c client_min_messages=warning' "$psql_bin" -X -q -v ON_ERROR_STOP=1 -h "$SLUICE_TEST_PG_HOST" \
    -p "$SLUICE_TEST_PG_PORT" -U "$SLUICE_TEST_PG_USER" -d "$SLUICE_TEST_PG_DATABASE" "$@"
}
moto_python=$(ls -d "${SLUICE_CACHE:-$HOME/.cache/sluice}"/moto-venv-*/bin/python | tail -n 1)
s3() { "$moto_python" "$scripts/e2e-s3.py" "$@"; }
finish_step

# ---------------------------------------------------------------- scenarios
ns=""
# Scenarios run in subshells: what later scenarios need to know goes
# through files.
set_state() { echo "$2" > "$work/state-$1"; }
state() { cat "$work/state-$1" 2>/dev/null || echo false; }
# Runs one scenario in a fresh namespace; on failure prints what a person
# would look at (describe, events, pod logs, the controller's log).
scenario() {
  local name=$1 needs=$2 fn=$3
  if [[ -n "${SLUICE_E2E_ONLY:-}" && ! "$name" =~ $SLUICE_E2E_ONLY ]]; then return 0; fi
  if [[ "$needs" == controller* && "$has_controller" != true ]]; then
    results+=("skipped  $name: needs 'sluice controller', which this binary lacks")
    return 0
  fi
  if [[ "$needs" == controller* && "$(state controller_up)" != true ]]; then
    results+=("skipped  $name: the controller is not running (see the helm install scenario)")
    return 0
  fi
  if [[ "$needs" == controller-schedules && "$(state flow_status)" != true ]]; then
    results+=("skipped  $name: the controller gives Flows no status (its Flow reconciler, which starts scheduled runs, is not written)")
    return 0
  fi
  step "scenario: $name"
  ns="e2e-$(echo "$name" | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9\n' '-' | cut -c1-40 | sed 's/-*$//')-$RANDOM"
  k create namespace "$ns" >/dev/null
  local start=$SECONDS status
  # Not in an `||` list: errexit would be off inside the subshell.
  set +e
  ( set -euo pipefail; "$fn" )
  status=$?
  set -e
  if (( status == 0 )); then
    results+=("passed   $name ($(( SECONDS - start ))s)")
    k delete namespace "$ns" --wait=false >/dev/null
  else
    results+=("FAILED   $name ($(( SECONDS - start ))s)")
    failed=1
    diagnose "$ns"
  fi
  finish_step
}

diagnose() {
  local namespace=$1
  echo "---- e2e: diagnostics for namespace $namespace"
  k -n "$namespace" get all,flows,flowruns,connectorprofiles -o wide || true
  k -n "$namespace" describe flows,flowruns,connectorprofiles,jobs,pods || true
  k -n "$namespace" get events --sort-by=.lastTimestamp || true
  local pod
  for pod in $(k -n "$namespace" get pods -o name 2>/dev/null); do
    echo "---- logs of $pod"; k -n "$namespace" logs "$pod" --all-containers --tail=100 || true
  done
  echo "---- controller"
  k -n "$release_ns" describe pods -l app.kubernetes.io/component=controller || true
  k -n "$release_ns" logs -l app.kubernetes.io/component=controller --tail=200 --prefix || true
  # A pod that never started is explained on the node: its sandbox, image
  # and container errors are in the kubelet's and containerd's logs.
  echo "---- node"
  k describe nodes || true
  local log
  for log in kubelet containerd kube-scheduler; do
    echo "---- $log log (errors and warnings, last 60)"
    grep -E '^[EW][0-9]{4}|level=(error|warning)' "$cluster/$log.log" 2>/dev/null | tail -n 60 || true
  done
}

# The objects every data scenario uses: credentials in Secrets, the two
# profiles, and a table of orders.
profiles() {
  local password=${1:-$SLUICE_TEST_PG_PASSWORD}
  k -n "$ns" create secret generic orders-db \
    --from-literal=username="$SLUICE_TEST_PG_USER" --from-literal=password="$password" >/dev/null
  k -n "$ns" create secret generic lake-keys \
    --from-literal=accessKeyId="$AWS_ACCESS_KEY_ID" --from-literal=secretAccessKey="$AWS_SECRET_ACCESS_KEY" >/dev/null
  # Both opt in to being used by Sluice.
  k -n "$ns" label secret orders-db lake-keys sluice.dev/allowed=true >/dev/null
  k -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: orders-db}
spec:
  postgres: {host: '$SLUICE_TEST_PG_HOST', port: $SLUICE_TEST_PG_PORT, database: '$SLUICE_TEST_PG_DATABASE', sslMode: Disable}
  credentials: {secretRef: {name: orders-db}, basic: {}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: lake}
spec:
  s3: {region: '$AWS_REGION', endpoint: '$SLUICE_TEST_AWS_ENDPOINT', forcePathStyle: true}
  credentials: {secretRef: {name: lake-keys}, awsAccessKey: {}}
EOF
}

# A table named after the namespace, with ROWS orders.
orders_table() {
  local table=$1 rows=$2
  psql -c "drop table if exists $table; create table $table (id bigint primary key, customer text not null, total numeric(12,2) not null, updated_at timestamptz not null);
    insert into $table select i, 'customer-' || (i % 97), (i * 7 % 10000) / 100.0, timestamptz '2026-01-01' + i * interval '1 second' from generate_series(1, $rows) as i;"
}

flow() {
  local name=$1 table=$2 bucket=$3 extra=${4:-}
  k -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {name: $name}
spec:
  source:
    connectorProfileRef: {name: orders-db}
    postgres: {schema: public, table: $table}
  destination:
    connectorProfileRef: {name: lake}
    s3: {bucket: $bucket, prefix: '$name/', format: JsonLines}
$extra
EOF
}

flow_run() {
  local flow=$1
  k -n "$ns" create -o name -f - <<EOF | cut -d/ -f2
apiVersion: sluice.dev/v1alpha1
kind: FlowRun
metadata: {generateName: $flow-}
spec: {flowRef: {name: $flow}}
EOF
}

# Without the controller the test plays its part for one run: the runner's
# identity (as the controller creates it in each namespace with Flows) and
# the run's Job (as src/controller/job.rs builds it).
runner_identity() {
  k -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: sluice-runner, labels: {app.kubernetes.io/managed-by: sluice}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: sluice-runner, labels: {app.kubernetes.io/managed-by: sluice}}
rules:
- apiGroups: [sluice.dev]
  resources: [flowruns, flows, connectorprofiles]
  verbs: [get]
- apiGroups: [sluice.dev]
  resources: [flowruns/status]
  verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: sluice-runner, labels: {app.kubernetes.io/managed-by: sluice}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: sluice-runner}
subjects: [{kind: ServiceAccount, name: sluice-runner, namespace: $ns}]
EOF
}

run_job() {
  local flow=$1 run=$2
  k -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $run
  labels: {app.kubernetes.io/managed-by: sluice, sluice.dev/flow: $flow, sluice.dev/flow-run: $run}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {app.kubernetes.io/managed-by: sluice, sluice.dev/flow: $flow, sluice.dev/flow-run: $run}
    spec:
      restartPolicy: Never
      serviceAccountName: sluice-runner
      enableServiceLinks: false
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: runner
        image: $image
        imagePullPolicy: Never
        command: [sluice, run]
        workingDir: /tmp
        env:
        - {name: SLUICE_SECRETS_DIR, value: /var/run/secrets/sluice}
        - {name: SLUICE_NAMESPACE, value: $ns}
        - {name: SLUICE_FLOW_RUN, value: $run}
        - {name: HOME, value: /tmp}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}
        volumeMounts:
        - {name: scratch, mountPath: /tmp}
        - {name: secret-0, mountPath: /var/run/secrets/sluice/orders-db, readOnly: true}
        - {name: secret-1, mountPath: /var/run/secrets/sluice/lake-keys, readOnly: true}
      volumes:
      - {name: scratch, emptyDir: {}}
      - name: secret-0
        secret: {secretName: orders-db, defaultMode: 0440, items: [{key: username, path: username}, {key: password, path: password}]}
      - name: secret-1
        secret: {secretName: lake-keys, defaultMode: 0440, items: [{key: accessKeyId, path: accessKeyId}, {key: secretAccessKey, path: secretAccessKey}]}
EOF
}

wait_run() {
  local run=$1 timeout=${2:-180s}
  k -n "$ns" wait "flowrun/$run" --for=condition=Succeeded --timeout="$timeout"
}

# Every row of TABLE (with WHERE) is in the run's S3 output, once, field by field.
check_rows() {
  local table=$1 bucket=$2 prefix=$3 where=${4:-true}
  psql -A -t -c "select coalesce(json_agg(json_build_object('id', id, 'customer', customer, 'total', total::text, 'updated_at', to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) order by id), '[]') from $table where $where" \
    > "$work/expected.json"
  s3 compare "$bucket" "$prefix" "$work/expected.json"
}

# ---- helm install from the chart
scenario_helm_install() {
  local metrics_port health_port
  metrics_port=$(free_port); health_port=$(free_port)
  local args=(install "$release" charts/sluice -n "$release_ns"
    --set image.repository=sluice.local/sluice --set image.tag=e2e --set image.pullPolicy=Never
    --set hostNetwork=true --set metrics.port="$metrics_port" --set health.port="$health_port")
  if [[ "$has_controller" == true ]]; then
    "$helm" "${args[@]}" --wait --timeout 3m
    k -n "$release_ns" rollout status "deployment/$release-controller" --timeout=60s
    # /metrics answers on the pod (host network: the node's address).
    local ip
    ip=$(k -n "$release_ns" get pods -l app.kubernetes.io/component=controller -o jsonpath='{.items[0].status.podIP}')
    curl -fsS "http://$ip:$metrics_port/metrics" | has '^# HELP'
    set_state controller_up true
    # Does this controller reconcile Flows (status, schedules)? A probe Flow
    # in a namespace of its own says so within 30s, or not.
    local probe="$ns-probe"
    k create namespace "$probe" >/dev/null
    k -n "$probe" apply -f - >/dev/null <<EOF
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: files}
spec: {file: {root: /tmp}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {name: probe}
spec:
  source: {connectorProfileRef: {name: files}, file: {path: in.csv, format: Csv}}
  destination: {connectorProfileRef: {name: files}, file: {path: out, format: JsonLines}}
EOF
    if k -n "$probe" wait flow/probe --for=jsonpath='{.status.observedGeneration}'=1 --timeout=30s >/dev/null 2>&1; then
      set_state flow_status true
    fi
    echo "the controller reconciles Flows: $(state flow_status)"
    k delete namespace "$probe" --wait=false >/dev/null
  else
    # No controller to become ready: the chart must still install.
    "$helm" "${args[@]}"
    k -n "$release_ns" get "deployment/$release-controller" "serviceaccount/$release-controller" >/dev/null
    k get clusterrole "$release-controller" >/dev/null
  fi
  "$helm" status "$release" -n "$release_ns" | has 'STATUS: deployed'
  "$helm" get notes "$release" -n "$release_ns" | has 'kubectl wait --for=condition=Succeeded'
}

# ---- an on-demand Postgres -> S3 run, checked row by row
scenario_on_demand() {
  local table="orders_${ns//-/_}" bucket="$ns"
  orders_table "$table" 2500
  s3 mb "$bucket"
  profiles
  flow orders "$table" "$bucket"
  local run
  run=$(flow_run orders)
  if [[ "$(state controller_up)" != true ]]; then
    echo "(no controller: the test creates the runner's identity and the run's Job)"
    runner_identity
    run_job orders "$run"
  fi
  wait_run "$run"
  k -n "$ns" wait jobs -l "sluice.dev/flow-run=$run" --for=condition=Complete --timeout=60s
  k -n "$ns" get "flowrun/$run" -o jsonpath='{.status.phase}{"\n"}' | has -x Succeeded
  # The pod ran on the node, through the kubelet.
  k -n "$ns" get pods -l "sluice.dev/flow-run=$run" -o jsonpath='{.items[0].spec.nodeName}' | has -x sluice-node
  check_rows "$table" "$bucket" "orders/"
}

# ---- a scheduled incremental flow: the second run picks up only new rows
scenario_scheduled_incremental() {
  local table="orders_${ns//-/_}" bucket="$ns"
  orders_table "$table" 300
  s3 mb "$bucket"
  profiles
  flow orders "$table" "$bucket" "  trigger: {type: Schedule, schedule: {expression: 'rate(1 minute)'}}
  sync: {mode: Incremental, cursorField: updated_at, firstRun: {startTime: '2025-01-01T00:00:00Z'}}"
  k -n "$ns" wait flow/orders --for=jsonpath='{.status.lastSuccessfulRun.name}' --timeout=150s
  local first
  first=$(k -n "$ns" get flow/orders -o jsonpath='{.status.lastSuccessfulRun.name}')
  [[ -n "$first" ]]
  check_rows "$table" "$bucket" "orders/"
  # Whole seconds, as the expected rows are written.
  psql -c "insert into $table select i, 'late-' || i, i, date_trunc('second', now()) from generate_series(301, 340) as i"
  # Scheduled runs are named after their minute: the next one is known.
  [[ "$first" =~ ^orders-[0-9]+$ ]]
  local second="orders-$(( ${first##*-} + 1 ))"
  k -n "$ns" wait "flowrun/$second" --for=create --timeout=90s
  wait_run "$second" 150s
  k -n "$ns" wait flow/orders --for=jsonpath='{.status.lastSuccessfulRun.name}'="$second" --timeout=60s
  # The second run's output holds exactly the 40 new rows.
  local prefix
  prefix=$(s3 run-prefix "$bucket" "orders/" "$second")
  check_rows "$table" "$bucket" "$prefix" "id > 300"
}

# ---- wrong credentials: AuthenticationFailed, and no retry storm
scenario_wrong_credentials() {
  local table="orders_${ns//-/_}" bucket="$ns"
  orders_table "$table" 10
  s3 mb "$bucket"
  profiles not-the-password
  flow orders "$table" "$bucket"
  local run
  run=$(flow_run orders)
  k -n "$ns" wait "flowrun/$run" --for=jsonpath='{.status.phase}'=Failed --timeout=180s
  k -n "$ns" get "flowrun/$run" -o jsonpath='{.status.error.reason}' | has -x AuthenticationFailed
  # Not retried: no second pod shows up (this wait must time out).
  if k -n "$ns" wait pods -l "sluice.dev/flow-run=$run" --for=jsonpath='{.metadata.name}'=never --timeout=20s >/dev/null 2>&1; then
    return 1
  fi
  [[ $(k -n "$ns" get pods -l "sluice.dev/flow-run=$run" -o name | wc -l) -le 1 ]]
  # The password appears nowhere in the run's status or events.
  if k -n "$ns" get "flowrun/$run" -o yaml | has not-the-password; then return 1; fi
  if k -n "$ns" get events -o yaml | has not-the-password; then return 1; fi
  [[ -z "$(s3 ls "$bucket" "orders/")" ]]
}

# ---- cancel a running run: nothing published
scenario_cancel() {
  local table="orders_${ns//-/_}" bucket="$ns"
  orders_table "$table" 3000000
  s3 mb "$bucket"
  profiles
  flow orders "$table" "$bucket"
  local run
  run=$(flow_run orders)
  k -n "$ns" wait "flowrun/$run" --for=jsonpath='{.status.phase}'=Running --timeout=180s
  k -n "$ns" patch "flowrun/$run" --type merge -p '{"spec":{"cancel":true}}'
  k -n "$ns" wait "flowrun/$run" --for=jsonpath='{.status.phase}'=Cancelled --timeout=120s
  k -n "$ns" wait pods -l "sluice.dev/flow-run=$run" --for=jsonpath='{.status.phase}'=Failed --timeout=60s 2>/dev/null ||
    k -n "$ns" wait pods -l "sluice.dev/flow-run=$run" --for=delete --timeout=60s
  # Staging (_sluice/staging) is cleared; nothing was published.
  [[ -z "$(s3 ls "$bucket" "orders/" | grep -v '^orders/_sluice/manifests/' || true)" ]]
}

# ---- deleting a Flow deletes its runs and their Jobs
scenario_delete_cascades() {
  local table="orders_${ns//-/_}" bucket="$ns"
  orders_table "$table" 10
  s3 mb "$bucket"
  profiles
  flow orders "$table" "$bucket"
  local run
  run=$(flow_run orders)
  wait_run "$run"
  k -n "$ns" get jobs -l "sluice.dev/flow-run=$run" -o name | has .
  k -n "$ns" delete flow/orders --wait=true --timeout=60s
  k -n "$ns" wait "flowrun/$run" --for=delete --timeout=60s
  k -n "$ns" wait jobs -l sluice.dev/flow=orders --for=delete --timeout=60s
  # Only the Flow's objects: the profiles' connection-check Jobs are the
  # profiles' own and may still be there.
  [[ -z "$(k -n "$ns" get flowruns -o name)" ]]
  [[ -z "$(k -n "$ns" get jobs -l sluice.dev/flow=orders -o name)" ]]
}

# ---- the controller dies mid-run: the run finishes once, nothing lost or doubled
scenario_controller_killed() {
  local table="orders_${ns//-/_}" bucket="$ns"
  orders_table "$table" 400000
  s3 mb "$bucket"
  profiles
  flow orders "$table" "$bucket"
  local run
  run=$(flow_run orders)
  k -n "$ns" wait "flowrun/$run" --for=jsonpath='{.status.phase}'=Running --timeout=180s
  k -n "$release_ns" delete pods -l app.kubernetes.io/component=controller --grace-period=0 --force
  k -n "$release_ns" rollout status "deployment/$release-controller" --timeout=120s
  wait_run "$run" 300s
  [[ $(k -n "$ns" get jobs -l "sluice.dev/flow-run=$run" -o name | wc -l) -eq 1 ]]
  check_rows "$table" "$bucket" "orders/"
}

# ---- a runner's identity cannot read another namespace's Secrets
scenario_runner_isolation() {
  local other="$ns-other"
  k create namespace "$other" >/dev/null
  k -n "$other" create secret generic private --from-literal=token=do-not-read >/dev/null
  local table="orders_${ns//-/_}" bucket="$ns"
  orders_table "$table" 5
  s3 mb "$bucket"
  profiles
  flow orders "$table" "$bucket"
  if [[ "$(state controller_up)" == true ]]; then
    # The controller gives a namespace the runner's identity before its first Job.
    wait_run "$(flow_run orders)"
    k -n "$ns" get serviceaccount/sluice-runner role/sluice-runner rolebinding/sluice-runner >/dev/null
  else
    echo "(no controller: the runner's identity is the one the controller would create)"
    runner_identity
  fi
  local token
  token=$(k -n "$ns" create token sluice-runner --duration=10m)
  local as_runner=("$kubectl" --kubeconfig /dev/null --server "$(k config view -o jsonpath='{.clusters[0].cluster.server}')"
    --certificate-authority "$cluster/pki/ca.crt" --token "$token")
  # Authenticated as the runner: its own FlowRun kind is readable...
  "${as_runner[@]}" -n "$ns" get flows.sluice.dev orders >/dev/null
  # ...Secrets are not, neither in the other namespace nor in its own.
  local out
  out=$("${as_runner[@]}" -n "$other" get secret private 2>&1) && return 1
  grep -q Forbidden <<<"$out"
  out=$("${as_runner[@]}" -n "$ns" get secret orders-db 2>&1) && return 1
  grep -q Forbidden <<<"$out"
  [[ $("${as_runner[@]}" auth can-i list secrets --all-namespaces) == no ]] || return 1
  k delete namespace "$other" --wait=false >/dev/null
}

# ---- helm uninstall: no controller objects left, CRDs kept
scenario_helm_uninstall() {
  "$helm" uninstall "$release" -n "$release_ns" --wait --timeout 2m
  k -n "$release_ns" wait pods -l app.kubernetes.io/component=controller --for=delete --timeout=60s
  local left
  left=$(k -n "$release_ns" get all,serviceaccounts,roles,rolebindings,networkpolicies,poddisruptionbudgets \
    -l "app.kubernetes.io/instance=$release" -o name)
  left+=$(k get clusterroles,clusterrolebindings -l "app.kubernetes.io/instance=$release" -o name)
  [[ -z "$left" ]] || { echo "left behind: $left"; return 1; }
  k get crd flows.sluice.dev flowruns.sluice.dev connectorprofiles.sluice.dev >/dev/null
  set_state controller_up false
}

scenario "helm install from the chart" none scenario_helm_install
scenario "on-demand Postgres to S3 run, checked row by row" none scenario_on_demand
scenario "scheduled incremental flow: second run takes only new rows" controller-schedules scenario_scheduled_incremental
scenario "wrong credentials: AuthenticationFailed, no retry storm" controller scenario_wrong_credentials
scenario "cancel a running run" controller scenario_cancel
scenario "deleting a Flow deletes its runs and Jobs" controller scenario_delete_cascades
scenario "controller killed mid-run: nothing lost or doubled" controller scenario_controller_killed
scenario "a runner cannot read Secrets of another namespace" none scenario_runner_isolation
scenario "helm uninstall leaves no controller objects, keeps CRDs" none scenario_helm_uninstall

exit "$failed"
