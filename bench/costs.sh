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

state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-costs-cp.XXXXXX")
table=$(mktemp "${TMPDIR:-/tmp}/sluice-costs.XXXXXX")
trap 'e2e/scripts/control-plane.sh down "$state" || true; rm -f "$table"' EXIT
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
python3 - "$results" "$table" "$flows" "$commit$dirty" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys, datetime
path, table, flows, commit, cores, load = sys.argv[1:]
text = open(path).read()
section = (f"\n### {datetime.date.today()} — the cost of each write, {flows} of each, commit {commit}\n\n"
           f"`BENCH_FLOWS={flows} BENCH_PROFILE=release bench/costs.sh` on {cores} shared cores, "
           f"16 requests at a time, load average before the run: {load}.\n\n" + open(table).read())
heading = "# Schedule benchmark\n"
start = text.index(heading) + len(heading)
end = text.find("\n# ", start)
end = len(text) if end < 0 else end + 1
body = text[start:end].rstrip("\n") + "\n" + section
text = text[:start] + body + ("\n" + text[end:] if end < len(text) else "")
open(path, "w").write(text)
PY
echo "results appended to $results"
