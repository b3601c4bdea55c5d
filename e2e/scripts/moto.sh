#!/usr/bin/env bash
# A local AWS (S3, KMS, Secrets Manager) for the S3 connector's tests: moto's
# server, installed with pip into a virtualenv under the cache directory.
#
#   e2e/scripts/moto.sh up DIR    starts it on a free loopback port and writes
#                                 DIR/env (source it: SLUICE_TEST_AWS_ENDPOINT,
#                                 AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#                                 AWS_REGION); beside it a second server that
#                                 checks credentials against its (empty) IAM,
#                                 SLUICE_TEST_AWS_AUTH_ENDPOINT, for the tests
#                                 of refused credentials
#   e2e/scripts/moto.sh down DIR  stops it
set -euo pipefail

moto_version="5.1.18"
cache="${SLUICE_CACHE:-$HOME/.cache/sluice}"
venv="$cache/moto-venv-$moto_version"

usage() { echo "usage: $0 up|down DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1 dir=$2

case "$action" in
up)
  mkdir -p "$dir" "$cache"
  if [[ ! -x "$venv/bin/moto_server" ]]; then
    echo "installing moto[server]==$moto_version into $venv" >&2
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$venv"
      python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version" >&2
  fi
  # start NAME [ENV=VALUE...]: one server on a free port; prints the port.
  start() {
    local name=$1; shift
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    env "$@" "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/$name.log" 2>&1 &
    echo $! >"$dir/$name.pid"
    for _ in $(seq 1 100); do
      if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
        echo "$name on http://127.0.0.1:$port (log $dir/$name.log)" >&2
        echo "$port"
        return 0
      fi
      if ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
        echo "$name exited:" >&2; cat "$dir/$name.log" >&2; return 1
      fi
      sleep 0.2
    done
    echo "$name did not answer on port $port within 20 s:" >&2
    cat "$dir/$name.log" >&2
    return 1
  }
  port=$(start moto)
  # INITIAL_NO_AUTH_ACTION_COUNT=0: every request is authenticated.
  auth_port=$(start moto-auth INITIAL_NO_AUTH_ACTION_COUNT=0)
  cat >"$dir/env" <<ENV
export SLUICE_TEST_AWS_ENDPOINT=http://127.0.0.1:$port
export SLUICE_TEST_AWS_AUTH_ENDPOINT=http://127.0.0.1:$auth_port
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
ENV
  ;;
down)
  for name in moto moto-auth; do
    if [[ -f "$dir/$name.pid" ]]; then
      pid=$(cat "$dir/$name.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$name.pid"
    fi
  done
  ;;
*) usage ;;
esac
