#!/usr/bin/env bash
# Builds the Helm CLI pinned by the Go tools module in e2e/tools/helm, once per
# machine, and prints the path of the binary.
#
# The build goes through the Go module proxy; the binary is cached under
# $SLUICE_CACHE (default ~/.cache/sluice) in a folder named after the hash of
# e2e/tools/helm/go.mod, go.sum and this script. Progress goes to stderr; only
# the binary's path to stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools="$here/../tools/helm"
cache="${SLUICE_CACHE:-$HOME/.cache/sluice}"
key=$(cat "$tools/go.mod" "$tools/go.sum" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
version=$(sed -nE 's/^[[:space:]]*(require[[:space:]]+)?helm\.sh\/helm\/v[0-9]+[[:space:]]+(v[^[:space:]]+).*/\2/p' "$tools/go.mod" | head -n 1)
[[ -n "$version" ]] || { echo "helm-bin: no helm.sh/helm version in $tools/go.mod" >&2; exit 1; }
module=$(sed -nE 's/^[[:space:]]*(require[[:space:]]+)?(helm\.sh\/helm\/v[0-9]+)[[:space:]]+v.*/\2/p' "$tools/go.mod" | head -n 1)
bin="$cache/helm/$version-$key/helm"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "helm-bin: go is not installed; install Go 1.26 or later" >&2; exit 1; }

echo "helm-bin: building Helm $version into $bin (first run on this machine: a few minutes)" >&2
start=$(date +%s)
tmp="$bin.tmp.$$"
mkdir -p "$(dirname "$bin")"
trap 'rm -f "$tmp"' EXIT
(
  cd "$tools"
  export CGO_ENABLED=0 GOFLAGS=-mod=mod
  # Stamp the release and the Kubernetes version of its client-go the way
  # Helm's Makefile does: `helm version` reports the release, and `helm
  # template` and `helm lint` assume that Kubernetes (not v1.20) by default.
  k8s=$(go list -f '{{.Version}}' -m k8s.io/client-go)   # v0.MINOR.PATCH
  minor=$(echo "$k8s" | cut -d. -f2)
  flags="-s -w -X $module/internal/version.version=$version"
  for pkg in pkg/lint/rules pkg/chartutil; do
    flags+=" -X $module/$pkg.k8sVersionMajor=1 -X $module/$pkg.k8sVersionMinor=$minor"
  done
  go build -trimpath -ldflags="$flags" -o "$tmp" "$module/cmd/helm"
) >&2
mv "$tmp" "$bin"
trap - EXIT
echo "helm-bin: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
