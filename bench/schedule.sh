#!/usr/bin/env bash
# The schedule benchmark: N Flows scheduled every minute against a real
# control plane (e2e/scripts/control-plane.sh, or the one KUBECONFIG names).
# Creates the Flows (examples/schedule_bench.rs, concurrently), starts
# `sluice controller` on a fresh namespace and, for BENCH_MINUTES scheduled
# minutes, measures the delay from each scheduled time to its FlowRun's
# arrival on a watch and from the FlowRun's arrival to its Job's, with the
# controller's RSS (sampled every 250 ms, and VmHWM) and CPU seconds. Prints
# a table and appends it to the "Schedule benchmark" section of
# bench/RESULTS.md.
#
# The Flows use concurrencyPolicy Allow and keep one finished run of each
# outcome. There is no kubelet, so no pod runs: without BENCH_FINISH every
# run stays active and they pile up (one more per Flow each minute); with
# BENCH_FINISH=1 the benchmark marks each run Succeeded once its Job
# appears, as a runner would, so runs end and the history limit collects
# them.
#
# With BENCH_FLOOR=1 no controller runs: `schedule_bench floor` takes its
# place and does the least any controller must, each scheduled minute: the
# Flows' FlowRuns and their Jobs (the controller's own objects), 16 runs at
# a time (BENCH_FLOOR_CONCURRENCY), and nothing else: the delays this API
# server allows, to set the controller's beside.
#
# Minutes are counted from the first one at least BENCH_WARMUP_S seconds
# (default 20) after the controller started, so that its initial sync of the
# Flows is not in the figures; the runs of earlier minutes still happen.
#
#   BENCH_FLOWS=1000 BENCH_MINUTES=3 BENCH_PROFILE=release bench/schedule.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
flows=${BENCH_FLOWS:-1000}
minutes=${BENCH_MINUTES:-3}
profile=${BENCH_PROFILE:-release}
warmup=${BENCH_WARMUP_S:-20}
finish=${BENCH_FINISH:-}
floor=${BENCH_FLOOR:-}
floor_concurrency=${BENCH_FLOOR_CONCURRENCY:-16}
results=${BENCH_RESULTS:-bench/RESULTS.md}
target=${CARGO_TARGET_DIR:-target}

command="BENCH_FLOWS=$flows BENCH_MINUTES=$minutes BENCH_PROFILE=$profile"
[[ -n "$finish" ]] && command+=" BENCH_FINISH=1"
[[ -n "$floor" ]] && command+=" BENCH_FLOOR=1"
[[ -n "$floor" && "$floor_concurrency" != 16 ]] && command+=" BENCH_FLOOR_CONCURRENCY=$floor_concurrency"
command+=" bench/schedule.sh"

flag=(); [[ "$profile" == release ]] && flag=(--release)
cargo build "${flag[@]}" --locked --bin sluice --example schedule_bench
bin="$target/$profile"

state=""
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-schedule-bench.XXXXXX")
cleanup() {
  if [[ -n "${pid:-}" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [[ -n "$state" ]]; then
    e2e/scripts/control-plane.sh down "$state" || true
  elif [[ -n "${ns:-}" ]]; then
    "$kubectl" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  fi
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
YAML
# No scheduled time may fall between the Flows' creation and the end of the
# warm-up: every Flow would get an unmeasured run there (a catch-up one if
# the time passed before the controller started), a burst whose runs the
# measured minutes then carry as well. Start just after a minute instead.
second=$((10#$(date +%S)))
if (( second > 60 - warmup - 15 )); then
  sleep $((61 - second))
fi
"$bin/examples/schedule_bench" create --namespace "$ns" --flows "$flows" --concurrency 32

log="$work/controller.log"
started=$(date +%s.%N)
after=$(awk -v s="$started" -v w="$warmup" 'BEGIN {printf "%.3f", s + w}')
if [[ -n "$floor" ]]; then
  # The first measured minute is the first after $after: stop after the
  # last one.
  until=$(awk -v a="$after" -v m="$minutes" 'BEGIN {printf "%d", (int(a / 60) + m) * 60 + 1}')
  "$bin/examples/schedule_bench" floor --namespace "$ns" --until "$until" \
    --concurrency "$floor_concurrency" 2>"$log" &
else
  "$bin/sluice" controller --namespace "$ns" --runner-image sluice.bench/sluice:dev \
    --metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 2>"$log" &
fi
pid=$!
measure=("$bin/examples/schedule_bench" measure --namespace "$ns" --pid "$pid"
  --started "$after" --flows "$flows" --minutes "$minutes" --markdown "$work/table.md")
[[ -n "$finish" ]] && measure+=(--finish)
"${measure[@]}"
# Where the API server's time went over the run: request count and summed
# handling time by verb and resource (apiserver_request_duration_seconds,
# watches left out).
"$kubectl" get --raw /metrics 2>/dev/null | python3 -c '
import re, sys
time, count = {}, {}
for line in sys.stdin:
    m = re.match(r"apiserver_request_duration_seconds_(sum|count)\{(.*)\} (\S+)$", line)
    if not m:
        continue
    labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(2)))
    key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
    if key[0] in ("WATCH", "WATCHLIST", "CONNECT"):
        continue
    (time if m.group(1) == "sum" else count)[key] = (time if m.group(1) == "sum" else count).get(key, 0) + float(m.group(3))
total = sum(time.values())
print("API server request time by verb and resource (%.0f s in all):" % total)
for key, seconds in sorted(time.items(), key=lambda kv: -kv[1])[:12]:
    verb, resource, sub = key
    print("  %-7s %-28s %8d requests %8.1f s" % (verb, resource + ("/" + sub if sub else ""), count.get(key, 0), seconds))
' | tee "$work/apiserver.txt" || true

kill "$pid" 2>/dev/null || true
wait "$pid" || true
if [[ -n "$floor" ]]; then
  grep '^floor:' "$log" | grep -v 'created in' | sort | uniq -c | head || true
fi
warnings=$(grep -c '"level":"WARN"' "$log" || true)
errors=$(grep -c '"level":"ERROR"' "$log" || true)
echo "controller log: $warnings warnings, $errors errors ($log)"
if [[ "$warnings" != 0 ]]; then
  grep '"level":"WARN"' "$log" | sed -E 's/.*"category":"([^"]*)".*/\1/' | sort | uniq -c | head
fi

# The figures, under the "Schedule benchmark" section of the results.
commit=$(git rev-parse --short HEAD)
dirty=""; git diff --quiet HEAD -- src examples || dirty=" with uncommitted changes"
{
  echo
  what="controller"; [[ -n "$floor" ]] && what="the floor (no controller: FlowRuns and Jobs only, $floor_concurrency runs at a time)"
  echo "### $(date -u +%F) — $flows Flows, $profile build, commit $commit$dirty, $what"
  echo
  echo "\`$command\` on $(nproc) shared cores ($(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)), load average before the run: $(cut -d' ' -f1-3 /proc/loadavg); controller log: $warnings warnings, $errors errors."
  echo
  cat "$work/table.md"
  if [[ -s "$work/apiserver.txt" ]]; then
    echo
    echo '```'
    cat "$work/apiserver.txt"
    echo '```'
  fi
} >"$work/section.md"
python3 bench/append-section.py "$results" "$work/section.md"
echo "results appended to $results"
