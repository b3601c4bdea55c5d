#!/usr/bin/env bash
# A throwaway PostgreSQL server for the postgres connector's tests.
#
#   postgres.sh up DIR    installs PostgreSQL when initdb/pg_ctl are missing,
#                         creates a cluster in DIR listening on 127.0.0.1 on a
#                         free port, with a password-authenticated role and a
#                         database, and writes DIR/env exporting
#                         SLUICE_TEST_PG_HOST/PORT/DATABASE/USER/PASSWORD.
#   postgres.sh down DIR  stops the server and removes DIR.
#
# initdb refuses to run as root: the cluster belongs to the `postgres` OS user
# (created by the Debian package) or, without it, to the invoking user.
set -euo pipefail

usage() { echo "usage: $0 up|down DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$2

find_bin() {
  local name=$1 candidate
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for candidate in /usr/lib/postgresql/*/bin/"$name"; do
    [[ -x "$candidate" ]] && { echo "$candidate"; return 0; }
  done
  return 1
}

# Runs a command as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  else
    "$@"
  fi
}

case "$action" in
up)
  if ! find_bin initdb >/dev/null || ! find_bin pg_ctl >/dev/null; then
    echo "installing postgresql from Debian packages" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  initdb=$(find_bin initdb)
  pg_ctl=$(find_bin pg_ctl)
  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # A free port: bind 0 and read what the kernel gave.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  user=sluice_test
  database=sluice_test
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  data="$dir/data"
  mkdir -p "$data" "$dir/run"
  printf '%s\n' "$password" >"$dir/pwfile"
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres "$dir"; fi
  chmod 700 "$dir"
  # The bootstrap superuser gets the password too; every connection, local
  # socket or TCP, authenticates with scram-sha-256.
  as_owner "$initdb" -D "$data" -U "$user" --pwfile="$dir/pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/pwfile"
  # TLS for the sslMode tests: a throwaway CA (the tests' tls.caBundle) and
  # a server certificate it signs for 127.0.0.1 only (so "localhost" is a
  # name mismatch for the sslMode VerifyFull test).
  ssl_options=""
  if command -v openssl >/dev/null 2>&1; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sluice test CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" >/dev/null 2>&1
    rm -f "$dir/ca.key" "$dir/server.csr" "$dir/server.ext"
    chmod 644 "$dir/ca.crt"
    chmod 600 "$dir/server.key"
    chmod 644 "$dir/server.crt"
    if [[ $(id -u) -eq 0 ]]; then chown postgres "$dir/server.key" "$dir/server.crt"; fi
    ssl_options="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
  fi
  as_owner "$pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/run -c fsync=off $ssl_options" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  createdb=$(find_bin createdb)
  PGPASSWORD=$password "$createdb" -h 127.0.0.1 -p "$port" -U "$user" "$database"
  cat >"$dir/env" <<ENV
export SLUICE_TEST_PG_HOST=127.0.0.1
export SLUICE_TEST_PG_PORT=$port
export SLUICE_TEST_PG_DATABASE=$database
export SLUICE_TEST_PG_USER=$user
export SLUICE_TEST_PG_PASSWORD=$password
ENV
  if [[ -n "$ssl_options" ]]; then
    echo "export SLUICE_TEST_PG_CA=$dir/ca.crt" >>"$dir/env"
  fi
  chmod 644 "$dir/env"
  echo "postgres: 127.0.0.1:$port database $database user $user (env in $dir/env)"
  ;;
down)
  if [[ -d "$dir/data" ]]; then
    pg_ctl=$(find_bin pg_ctl) && as_owner "$pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*) usage ;;
esac
