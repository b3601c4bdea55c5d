#!/usr/bin/env bash
# What each kind of write of a scheduled run costs this machine's API
# server: on a fresh control plane (e2e/scripts/control-plane.sh) with N
# Flows, `schedule_bench costs` times N writes of each kind, 16 at a time
# (FlowRun creates, the pin, a small FlowRun status write, Flow status
# writes, Events; the pin under lighter schemas for `status.flow`; Jobs;
# then, once the Job controller has made their pods, the reconciler's pod
# LIST by run label). Prints the table and appends it to the "Schedule
# benchmark" section of bench/RESULTS.md.
#
#   BENCH_FLOWS=1000 BENCH_PROFILE=release bench/costs.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
flows=${BENCH_FLOWS:-1000}
profile=${BENCH_PROFILE:-release}
results=${BENCH_RESULTS:-bench/RESULTS.md}
target=${CARGO_TARGET_DIR:-target}

flag=(); [[ "$profile" == release ]] && flag=(--release)
cargo build "${flag[@]}" --locked --example schedule_bench
bin="$target/$profile"

load=$(cut -d' ' -f1-3 /proc/loadavg)
state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-costs-cp.XXXXXX")
table=$(mktemp "${TMPDIR:-/tmp}/sluice-costs.XXXXXX")
section=$(mktemp "${TMPDIR:-/tmp}/sluice-costs-section.XXXXXX")
trap 'e2e/scripts/control-plane.sh down "$state" || true; rm -f "$table" "$section"' EXIT
e2e/scripts/control-plane.sh up "$state" >/dev/null
# shellcheck disable=SC1091
source "$state/env"
kubectl=${SLUICE_KUBECTL:-kubectl}
"$kubectl" apply --server-side --field-manager sluice-bench -f crds/ >/dev/null
"$kubectl" wait --for condition=Established --timeout 60s -f crds/ >/dev/null
ns=bench-costs
"$kubectl" create namespace "$ns" >/dev/null
"$kubectl" create serviceaccount -n "$ns" sluice-runner >/dev/null
"$kubectl" apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {root: .}}
YAML
"$bin/examples/schedule_bench" create --namespace "$ns" --flows "$flows" --concurrency 16
sleep 5
"$bin/examples/schedule_bench" costs --namespace "$ns" --concurrency 16 --markdown "$table"

commit=$(git rev-parse --short HEAD)
dirty=""; git diff --quiet HEAD -- src examples || dirty=" with uncommitted changes"
{
  echo
  echo "### $(date -u +%F) — the cost of each write, $flows of each, commit $commit$dirty"
  echo
  echo "\`BENCH_FLOWS=$flows BENCH_PROFILE=$profile bench/costs.sh\` on $(nproc) shared cores, 16 requests at a time, load average before the run: $load."
  echo
  cat "$table"
} >"$section"
python3 bench/append-section.py "$results" "$section"
echo "results appended to $results"
