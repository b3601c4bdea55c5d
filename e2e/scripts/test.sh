#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it, on a fresh machine:
# installs what is missing, then runs fmt, clippy, the CRD drift check, the
# unit and integration tests, and the tests against a real Kubernetes API
# server and a local AWS (moto: S3, KMS, Secrets Manager) it starts (and
# stops) itself, then the end-to-end suite on a real single-node cluster
# (e2e/scripts/e2e.sh; SLUICE_SKIP_E2E=1 leaves it out). Ends with summary lines.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
cache="${SLUICE_CACHE:-$HOME/.cache/sluice}"
mkdir -p "$cache"
# CI checks out a fresh clone each run: keep compiled dependencies on the
# machine so only the crate itself is rebuilt.
if [[ "${CI:-}" == "true" && -z "${CARGO_TARGET_DIR:-}" ]]; then
  export CARGO_TARGET_DIR="$cache/target"
fi

steps=()
step() { steps+=("$1"); echo; echo "==> $1"; }

# ---------------------------------------------------------------- install
step "tools"
if ! command -v openssl >/dev/null; then
  echo "installing openssl from Debian packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
for tool in cargo go python3; do
  command -v "$tool" >/dev/null || {
    echo "test: $tool is required and is not installed (the project needs Rust, Go 1.26+ and Python 3)" >&2
    exit 1
  }
done
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "installing the $component component"
    rustup component add "$component"
  fi
done
cargo --version; go version

# ---------------------------------------------------------------- static checks
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "sluice crds matches crds/"
cargo build --locked --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"${CARGO_TARGET_DIR:-target}/debug/sluice" crds --out-dir "$out"
diff -r "$out" crds/ || { echo "crds/ is stale: run 'make crds' and commit" >&2; exit 1; }
for copy in charts/sluice/crds config/crd/bases; do
  diff -r crds/ "$copy" || { echo "$copy differs from crds/: run 'make crds' and commit" >&2; exit 1; }
done

# ---------------------------------------------------------------- control plane
step "Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)"
build_start=$SECONDS
bin=$(e2e/scripts/k8s-bin.sh)
echo "binaries: $bin ($(( SECONDS - build_start ))s)"
state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-cp.XXXXXX")
pg_state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-pg.XXXXXX")
moto=$(mktemp -d "${TMPDIR:-/tmp}/sluice-moto.XXXXXX")
trap 'e2e/scripts/moto.sh down "$moto" || true; e2e/scripts/postgres.sh down "$pg_state" || true; e2e/scripts/control-plane.sh down "$state" || true; rm -rf "$out" "$moto" "${log:-}"' EXIT
e2e/scripts/control-plane.sh up "$state" >/dev/null
# shellcheck disable=SC1091
source "$state/env"

# ---------------------------------------------------------------- postgres
step "PostgreSQL server (postgres connector tests)"
e2e/scripts/postgres.sh up "$pg_state"
# shellcheck disable=SC1091
source "$pg_state/env"

# ---------------------------------------------------------------- moto
step "moto (local S3, KMS, Secrets Manager)"
e2e/scripts/moto.sh up "$moto"
# shellcheck disable=SC1091
source "$moto/env"

# ---------------------------------------------------------------- tests
step "cargo test (unit, integration, API server)"
log=$(mktemp "${TMPDIR:-/tmp}/sluice-test.XXXXXX.log")
set +e
cargo test --locked --all-targets --no-fail-fast -- --include-ignored 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# ---------------------------------------------------------------- e2e
# A real single-node cluster with its own servers (e2e/scripts/e2e.sh):
# chart, kustomize, image, and the scenarios on a kubelet.
e2e_summary="e2e: not run (SLUICE_SKIP_E2E is set)"
if [[ -z "${SLUICE_SKIP_E2E:-}" ]]; then
  step "e2e: real cluster, chart, image, scenarios"
  e2e_log=$(mktemp "${TMPDIR:-/tmp}/sluice-e2e.XXXXXX.log")
  set +e
  e2e/scripts/e2e.sh 2>&1 | tee "$e2e_log"
  e2e_status=${PIPESTATUS[0]}
  set -e
  e2e_summary=$(grep '^e2e: [0-9]* passed' "$e2e_log" | tail -n 1)
  [[ -n "$e2e_summary" ]] || e2e_summary="e2e: did not finish (exit $e2e_status)"
  rm -f "$e2e_log"
  if (( e2e_status != 0 && status == 0 )); then status=$e2e_status; fi
fi

read -r passed failed ignored < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) {
      if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i
    }
  } END { print p+0, f+0, g+0 }' "$log")
if (( status != 0 && failed == 0 )); then failed=1; fi

echo
echo "ran: $(IFS=';'; echo "${steps[*]}" | sed 's/;/; /g')"
echo "skipped: ${ignored} ignored tests"
echo "$e2e_summary"
echo "sluice: ${passed} passed, ${failed} failed, ${ignored} skipped"
exit "$status"
