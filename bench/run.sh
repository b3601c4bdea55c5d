#!/usr/bin/env bash
# The pipeline benchmark (`make bench`): Salesforce-shaped Opportunity records
# (~1.1 KB of JSON each) read from JSON Lines, filtered on Amount > 10000,
# the last 4 characters of Name masked, written as Parquet
# (zstd) and as JSON Lines to local disk, by the release `sluice local`
# binary, timed by GNU time (wall, CPU seconds, peak RSS). The same run
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

command -v /usr/bin/time >/dev/null 2>&1 || [[ -x /usr/bin/time ]] || {
  echo "installing GNU time"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
}

cargo build --release --locked --bin sluice --example bench
sluice=target/release/sluice
tool=target/release/examples/bench

rows=()
baselines=()
for n in $sizes; do
  data="$work/opportunities-$n.jsonl"
  [[ -s "$data" ]] || { echo "generating $n records"; "$tool" generate --records "$n" --out "$data"; }
  mb=$(( $(stat -c %s "$data") / 1000000 ))
  for format in Parquet JsonLines; do
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
kind: Flow
metadata: {name: bench}
spec:
  source: {connectorProfileRef: {name: local}, file: {path: "opportunities-$n.jsonl", format: JsonLines}}
  tasks:
    - filter: {field: Amount, operator: GreaterThan, value: "10000"}
    - mask: {field: Name, mode: LastN, count: 4}
  destination:
    connectorProfileRef: {name: local}
    file: {path: out, $output, pathTemplate: "{runId}", aggregation: {mode: TargetSize, targetFileSizeMB: 256}}
YAML
    rm -rf "$work/out"
    echo "running $n records -> $format"
    /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" "$sluice" local -f "$work/flow.yaml" --run-id bench > "$work/summary.txt"
    read -r wall user sys rss < "$work/time.txt"
    written=$(awk '/^Written/ {print $2}' "$work/summary.txt")
    grep -q '^Status  *Succeeded' "$work/summary.txt" || { cat "$work/summary.txt"; exit 1; }
    rate=$(python3 -c "print(f'{$n/$wall:,.0f}')")
    mbs=$(python3 -c "print(f'{$mb/$wall:.0f}')")
    cpu=$(python3 -c "print(f'{$user+$sys:.1f}')")
    rows+=("| $(python3 -c "print(f'{$n:,}')") | JSON Lines file | $format | $wall | $rate | $mbs | $cpu | $(( rss / 1024 )) | $written |")
  done
  if [[ -z "${baselines[*]}" ]]; then
    sample=$(( n < 1000000 ? n : 1000000 ))
    baselines+=("$("$tool" baseline --file "$data" --records "$sample")")
  fi
done
rm -rf "$work/out"

{
  echo "# Pipeline benchmark"
  echo
  echo "Produced by \`make bench\` (bench/run.sh) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)."
  echo "Records: Salesforce-shaped Opportunities, ~1.1 KB of JSON each; tasks: filter Amount > 10000 (about half pass) and mask the last 4 characters of Name; output to local disk."
  echo
  echo "| records | source | output | wall s | records/s | source MB/s | CPU s | peak RSS MiB | written |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Single-core limits for the same data (in memory, one thread):"
  echo
  echo '```'
  printf '%s\n' "${baselines[@]}"
  echo '```'
} > bench/RESULTS.md
cat bench/RESULTS.md
