#!/usr/bin/env bash
# Builds the Kubernetes binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kubectl)
# pinned by the Go tools module in e2e/tools, once per machine, and prints the
# directory that holds them.
#
# The build goes through the Go module proxy; the binaries are cached under
# $SLUICE_CACHE (default ~/.cache/sluice) in a folder named after the hash of
# e2e/tools/go.mod, go.sum and this script, so a changed pin builds anew and
# an unchanged one is reused. Progress goes to stderr; only the bin directory to stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools="$here/../tools"
cache="${SLUICE_CACHE:-$HOME/.cache/sluice}"
key=$(cat "$tools/go.mod" "$tools/go.sum" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
# The pinned release, wherever `go mod tidy` puts its require line.
version=$(sed -nE 's/^[[:space:]]*(require[[:space:]]+)?k8s\.io\/kubernetes[[:space:]]+(v[^[:space:]]+).*/\2/p' "$tools/go.mod" | head -n 1)
[[ -n "$version" ]] || { echo "k8s-bin: no k8s.io/kubernetes version in $tools/go.mod" >&2; exit 1; }
bin="$cache/k8s/$version-$key/bin"

all_built() {
  local b
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    [[ -x "$bin/$b" ]] || return 1
  done
}

if all_built; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "k8s-bin: go is not installed; install Go 1.26 or later" >&2; exit 1; }

echo "k8s-bin: building Kubernetes $version control plane into $bin (first run on this machine: several minutes)" >&2
start=$(date +%s)
tmp="$bin.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
(
  cd "$tools"
  export CGO_ENABLED=0 GOFLAGS=-mod=mod
  # Stamp the release the way Kubernetes' own build does, so /version and
  # `kubectl version` report it; -trimpath and stripped symbols keep the
  # cache small (the binaries are only used by tests).
  minor=${version#v*.}; minor=${minor%%.*}
  stamp="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    go build -trimpath -ldflags="$stamp" -o "$tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd"
  done
  go build -trimpath -ldflags='-s -w' -o "$tmp/etcd" go.etcd.io/etcd/server/v3
) >&2
rm -rf "$bin" && mv "$tmp" "$bin"
trap - EXIT
echo "k8s-bin: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
