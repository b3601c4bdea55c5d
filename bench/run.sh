#!/usr/bin/env bash
# The pipeline benchmark (`make bench`): Salesforce-shaped Opportunity records
# (~1.1 KB of JSON each) read from JSON Lines, filtered on Amount > 10000,
# the last 4 characters of Name masked, written as Parquet
# (zstd) and as JSON Lines to local disk, by the release `sluice local`
# binary, measured by bench/measure.py (wall, CPU seconds, peak RSS and RSS
# over the run, to show whether memory grows with the data). The same run
# measures the machine's single-core limits for this data (Arrow JSON decode
# alone; filter + Parquet encode alone). Results go to bench/RESULTS.md.
#
#   BENCH_SIZES="1000000 10000000" bench/run.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
sizes=${BENCH_SIZES:-1000000 10000000}
work=${BENCH_DIR:-${TMPDIR:-/tmp}/sluice-bench}
mkdir -p "$work"


cargo build --release --locked --bin sluice --example bench --example salesforce_bench
sluice=target/release/sluice
tool=target/release/examples/bench

rows=()
baselines=()
run() { # label format source-yaml n mb
  local label=$1 format=$2 source=$3 n=$4 mb=$5 output
  case "$format" in
    Parquet) output='format: Parquet, parquet: {compression: Zstd}' ;;
    JsonLines) output='format: JsonLines' ;;
  esac
  cat > "$work/flow.yaml" <<YAML
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {root: "$work"}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: pages}
spec: {http: {baseUrl: "http://127.0.0.1:${port:-0}", rateLimit: {requestsPerSecond: 10000, maxConcurrency: 4}}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {name: bench}
spec:
  source: $source
  tasks:
    - filter: {field: Amount, operator: GreaterThan, value: "10000"}
    - mask: {field: Name, mode: LastN, count: 4}
  destination:
    connectorProfileRef: {name: local}
    file: {path: out, $output, pathTemplate: "{runId}", aggregation: {mode: TargetSize, targetFileSizeMB: 256}}
YAML
  rm -rf "$work/out"
  echo "running $n records: $label -> $format"
  python3 bench/measure.py "$work/run.json" -- "$sluice" local -f "$work/flow.yaml" --run-id bench \
    || { python3 -c "import json; print(json.load(open('$work/run.json'))['stdout'])"; exit 1; }
  rows+=("$(python3 - "$work/run.json" "$n" "$mb" "$label" "$format" <<'PY'
import json, sys
run = json.load(open(sys.argv[1])); n, mb = int(sys.argv[2]), int(sys.argv[3])
written = next(l.split()[1] for l in run["stdout"].splitlines() if l.startswith("Written"))
tenths = " ".join("-" if r is None else str(r) for r in run["rss_by_tenth_mib"])
print(f"| {n:,} | {sys.argv[4]} | {sys.argv[5]} | {run['wall']} | {n / run['wall']:,.0f} | "
      f"{mb / run['wall']:.0f} | {run['cpu']} | {run['peak_rss_mib']} | {tenths} | {written} |")
PY
)")
}

server=
trap '[[ -n "$server" ]] && kill "$server" 2>/dev/null' EXIT
for n in $sizes; do
  data="$work/opportunities-$n.jsonl"
  [[ -s "$data" ]] || { echo "generating $n records"; "$tool" generate --records "$n" --out "$data"; }
  mb=$(( $(stat -c %s "$data") / 1000000 ))
  file_source="{connectorProfileRef: {name: local}, file: {path: \"opportunities-$n.jsonl\", format: JsonLines}}"
  run "JSON Lines file" Parquet "$file_source" "$n" "$mb"
  run "JSON Lines file" JsonLines "$file_source" "$n" "$mb"
  # The same records as 2,000-record JSON pages from a local HTTP server
  # (a separate process, not measured), read with parallel page fetches.
  rm -f "$work/port"
  "$tool" serve --records "$n" --page-size 2000 --port-file "$work/port" &
  server=$!
  for _ in $(seq 1 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
  port=$(cat "$work/port")
  http_source="{connectorProfileRef: {name: pages}, http: {path: opportunities, recordSelector: /data, pagination: {type: PageNumber, pageNumber: {parameter: page, startPage: 1}}}}"
  run "HTTP pages (2,000 records)" Parquet "$http_source" "$n" "$mb"
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; server=
  if [[ -z "${baselines[*]}" ]]; then
    sample=$(( n < 1000000 ? n : 1000000 ))
    baselines+=("$("$tool" baseline --file "$data" --records "$sample")")
  fi
done
rm -rf "$work/out"
# The salesforce source against the tests' stand-in org (HTTPS on loopback,
# in the same process), REST pages and a Bulk API 2.0 job.
salesforce=$(target/release/examples/salesforce_bench "${BENCH_SALESFORCE_RECORDS:-200000}")

{
  echo "# Pipeline benchmark"
  echo
  echo "Produced by \`make bench\` (bench/run.sh) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)."
  echo "Records: Salesforce-shaped Opportunities, ~1.1 KB of JSON each; tasks: filter Amount > 10000 (about half pass) and mask the last 4 characters of Name; output to local disk. Measured: the \`sluice local\` process alone (bench/measure.py); the HTTP page server runs as a separate process. Source MB/s counts the JSON Lines size of the same records."
  echo
  echo "| records | source | output | wall s | records/s | source MB/s | CPU s | peak RSS MiB | RSS by tenth of the run, MiB | written |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Single-core limits for the same data (in memory, one thread):"
  echo
  echo '```'
  printf '%s\n' "${baselines[@]}"
  echo '```'
  echo
  echo "Salesforce source (examples/salesforce_bench.rs): Opportunity records from the tests' stand-in org over HTTPS on loopback, served in the same process (its page rendering is included), through the engine into a counting destination:"
  echo
  echo '```'
  printf '%s\n' "$salesforce"
  echo '```'
} > bench/RESULTS.md
cat bench/RESULTS.md
