#!/usr/bin/env bash
# Starts and stops a real Kubernetes control plane on loopback for tests:
# etcd, kube-apiserver (RBAC and the default admission chain on) and
# kube-controller-manager with only the controllers the tests need (job,
# garbage-collector, namespace), built from the Go modules pinned in
# e2e/tools. There is no scheduler and no kubelet: tests that need a pod to
# run play the node themselves.
#
#   control-plane.sh up DIR     start; writes DIR/kubeconfig and DIR/env
#   control-plane.sh down DIR   stop what `up` started and remove DIR
#
# Everything listens on 127.0.0.1 on free ports; state, certificates and logs
# live in DIR. `up` waits until the API server is ready and prints the
# kubeconfig path.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 up|down DIR" >&2; exit 2; }

log() { echo "control-plane: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop() {
  local pidfile
  for pidfile in "$dir"/kube-controller-manager.pid "$dir"/kube-apiserver.pid "$dir"/etcd.pid; do
    [[ -f "$pidfile" ]] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

certs() {
  local pki="$dir/pki"
  mkdir -p "$pki"
  command -v openssl >/dev/null || {
    log "installing openssl"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  }
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sluice-test-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    # Serving certificate for 127.0.0.1 and localhost, and for the
    # `kubernetes` Service's ClusterIP that pods' in-cluster clients dial
    # (e2e/scripts/cluster.sh routes it to 127.0.0.1).
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
      -keyout apiserver.key -out apiserver.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' > apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    # The test client: a member of system:masters, like a cluster admin.
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=sluice-test-admin" \
      -keyout admin.key -out admin.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile admin.ext -out admin.crt 2>/dev/null
    # The API server's client certificate towards kubelets (logs, exec).
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
      -keyout kubelet-client.key -out kubelet-client.csr 2>/dev/null
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile admin.ext -out kubelet-client.crt 2>/dev/null
    # kube-controller-manager's client: full rights, like the admin (it runs
    # only the job, garbage-collector and namespace controllers).
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=system:kube-controller-manager" \
      -keyout controller-manager.key -out controller-manager.csr 2>/dev/null
    openssl x509 -req -in controller-manager.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile admin.ext -out controller-manager.crt 2>/dev/null
    # Service-account token signing key.
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

# kubeconfig FILE USER PORT: a kubeconfig for the client certificate
# pki/USER.crt.
kubeconfig() {
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sluice-test
  cluster:
    server: https://127.0.0.1:$3
    certificate-authority: $dir/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $dir/pki/$2.crt
    client-key: $dir/pki/$2.key
contexts:
- name: sluice-test
  context:
    cluster: sluice-test
    user: $2
current-context: sluice-test
EOF
}

up() {
  local bin
  bin=$("$here/k8s-bin.sh")
  rm -rf "$dir" && mkdir -p "$dir"
  certs

  local etcd_port etcd_peer api_port
  etcd_port=$(free_port); etcd_peer=$(free_port); api_port=$(free_port)

  log "starting etcd on 127.0.0.1:$etcd_port"
  "$bin/etcd" \
    --name sluice-test \
    --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "sluice-test=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync \
    --log-level warn \
    > "$dir/etcd.log" 2>&1 &
  echo $! > "$dir/etcd.pid"

  log "starting kube-apiserver on 127.0.0.1:$api_port"
  "$bin/kube-apiserver" \
    --bind-address 127.0.0.1 \
    --advertise-address 127.0.0.1 \
    --endpoint-reconciler-type none \
    --secure-port "$api_port" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --tls-cert-file "$dir/pki/apiserver.crt" \
    --tls-private-key-file "$dir/pki/apiserver.key" \
    --client-ca-file "$dir/pki/ca.crt" \
    --kubelet-client-certificate "$dir/pki/kubelet-client.crt" \
    --kubelet-client-key "$dir/pki/kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc" \
    --service-account-key-file "$dir/pki/sa.pub" \
    --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/24 \
    --authorization-mode RBAC \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy \
    --cert-dir "$dir/pki" \
    > "$dir/kube-apiserver.log" 2>&1 &
  echo $! > "$dir/kube-apiserver.pid"

  cat > "$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sluice-test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $dir/pki/ca.crt
users:
- name: sluice-test-admin
  user:
    client-certificate: $dir/pki/admin.crt
    client-key: $dir/pki/admin.key
contexts:
- name: sluice-test
  context:
    cluster: sluice-test
    user: sluice-test-admin
current-context: sluice-test
EOF
  {
    echo "export KUBECONFIG=$dir/kubeconfig"
    echo "export SLUICE_KUBECTL=$bin/kubectl"
    echo "export PATH=$bin:\$PATH"
  } > "$dir/env"

  kubeconfig "$dir/controller-manager.kubeconfig" controller-manager "$api_port"

  local start=$SECONDS
  until "$bin/kubectl" --kubeconfig "$dir/kubeconfig" get --raw /readyz >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || ! kill -0 "$(cat "$dir/kube-apiserver.pid")" 2>/dev/null; then
      log "a control-plane process exited; last log lines:"
      tail -n 20 "$dir/etcd.log" "$dir/kube-apiserver.log" >&2
      stop
      exit 1
    fi
    if (( SECONDS - start > 120 )); then
      log "API server not ready after 120s; last log lines:"
      tail -n 20 "$dir/kube-apiserver.log" >&2
      stop
      exit 1
    fi
    sleep 0.5
  done
  local kcm_port
  kcm_port=$(free_port)
  log "starting kube-controller-manager (job, garbage-collector, namespace) on 127.0.0.1:$kcm_port"
  "$bin/kube-controller-manager" \
    --kubeconfig "$dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 \
    --secure-port "$kcm_port" \
    --cert-dir "$dir/pki/controller-manager" \
    --controllers job-controller,garbage-collector-controller,namespace-controller \
    --use-service-account-credentials=false \
    --leader-elect=false \
    --concurrent-job-syncs 10 \
    --concurrent-gc-syncs 10 \
    > "$dir/kube-controller-manager.log" 2>&1 &
  echo $! > "$dir/kube-controller-manager.pid"
  until curl -ksf "https://127.0.0.1:$kcm_port/healthz" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$dir/kube-controller-manager.pid")" 2>/dev/null; then
      log "kube-controller-manager exited; last log lines:"
      tail -n 20 "$dir/kube-controller-manager.log" >&2
      stop
      exit 1
    fi
    if (( SECONDS - start > 120 )); then
      log "kube-controller-manager not healthy after 120s; last log lines:"
      tail -n 20 "$dir/kube-controller-manager.log" >&2
      stop
      exit 1
    fi
    sleep 0.2
  done

  log "ready in $(( SECONDS - start ))s (Kubernetes $("$bin/kubectl" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'))"
  echo "$dir/kubeconfig"
}

case "$cmd" in
  up) up ;;
  down) stop; rm -rf "$dir" ;;
  *) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
