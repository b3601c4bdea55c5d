#!/usr/bin/env bash
# The controller benchmark: FlowRun creation to Job creation against a real
# control plane (e2e/scripts/control-plane.sh, or the one KUBECONFIG names).
# Starts `sluice controller` watching a fresh namespace, creates RUNS
# FlowRuns of one Flow (examples/controller_bench.rs, 10 at a time) and
# prints the delays (p50, p90, p99, max) from each create call's return to
# the Job's arrival on a watch, with the controller's peak RSS and CPU
# seconds. No pod runs: there is no kubelet.
#
#   BENCH_RUNS=500 BENCH_PROFILE=release bench/controller.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${BENCH_RUNS:-200}
profile=${BENCH_PROFILE:-release}
target=${CARGO_TARGET_DIR:-target}

flag=(); [[ "$profile" == release ]] && flag=(--release)
cargo build "${flag[@]}" --locked --bin sluice --example controller_bench
bin="$target/$profile"

state=""
cleanup() {
  [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null || true
  [[ -n "$state" ]] && e2e/scripts/control-plane.sh down "$state" || true
}
trap cleanup EXIT
if [[ -z "${KUBECONFIG:-}" ]]; then
  state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-cp.XXXXXX")
  e2e/scripts/control-plane.sh up "$state" >/dev/null
  # shellcheck disable=SC1091
  source "$state/env"
fi
kubectl=${SLUICE_KUBECTL:-kubectl}
"$kubectl" apply --server-side --field-manager sluice-bench -f crds/ >/dev/null
"$kubectl" wait --for condition=Established --timeout 60s -f crds/ >/dev/null
ns="bench-$(date +%s)"
"$kubectl" create namespace "$ns" >/dev/null
"$kubectl" apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {root: .}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {name: bench}
spec:
  source: {connectorProfileRef: {name: local}, file: {path: in.jsonl, format: JsonLines}}
  destination: {connectorProfileRef: {name: local}, file: {path: out, format: JsonLines}}
YAML

log=$(mktemp "${TMPDIR:-/tmp}/sluice-bench-controller.XXXXXX.log")
"$bin/sluice" controller --namespace "$ns" --runner-image sluice.bench/sluice:dev \
  --metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 2>"$log" &
pid=$!
"$bin/examples/controller_bench" --namespace "$ns" --runs "$runs" --concurrency 10
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
ticks=$(getconf CLK_TCK)
cpu=$(awk -v t="$ticks" '{printf "%.2f", ($14 + $15) / t}' "/proc/$pid/stat")
echo "controller ($profile build): peak_rss_mib=$(( hwm / 1024 )) cpu_s=$cpu"
"$kubectl" delete namespace "$ns" --wait=false >/dev/null
