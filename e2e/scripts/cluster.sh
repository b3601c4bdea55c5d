#!/usr/bin/env bash
# Starts and stops a real single-node Kubernetes cluster on this machine for
# the end-to-end suite: the control plane of control-plane.sh (etcd,
# kube-apiserver) plus kube-controller-manager, kube-scheduler and a kubelet
# running pods through containerd and runc (Debian packages, installed when
# missing), all built from the Go modules pinned in e2e/tools.
#
#   cluster.sh up DIR          start; writes DIR/kubeconfig and DIR/env
#   cluster.sh down DIR        stop everything `up` started and remove DIR
#   cluster.sh import DIR TAR  load an image archive into the node's containerd
#
# The cluster has no pod network: pods run in the host's network namespace
# (a MutatingAdmissionPolicy sets hostNetwork on every pod outside
# kube-system), so they reach the API server, PostgreSQL and moto on
# 127.0.0.1. The `kubernetes` Service's ClusterIP (10.96.0.1:443), which
# in-cluster clients dial, is routed to the API server by one iptables DNAT
# rule, as kube-proxy would. The kubelet uses the cgroupfs driver (cgroup v1
# or v2, whichever the host mounts). No registry is reachable: the pod
# sandbox image is built here (e2e/images/pause) and imported into
# containerd, and so must every image a pod uses be (`cluster.sh import`),
# with imagePullPolicy IfNotPresent or Never.
#
# One cluster per machine at a time (the DNAT rule and the node's cgroups are
# machine-wide). Must run as root. State and logs live in DIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 up|down|import DIR [TAR]" >&2; exit 2; }

node=sluice-node
pause_ref=sluice.local/pause:3.10
service_ip=10.96.0.1
# The node's address. The kubelet refuses a loopback node IP ("nodeIP can't be
# loopback address", and then reports no address at all, so the API server
# cannot reach it for logs), so the node gets an address from a
# documentation range on the loopback interface: reachable from this machine
# only, like 127.0.0.1. Host-network pods report it as their IP.
node_ip=${SLUICE_NODE_IP:-198.51.100.10}
rule_comment="sluice-e2e-cluster"

log() { echo "cluster: $*" >&2; }
fail() { log "$*"; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Stops a process started by `up` (by its recorded pid) and waits for it.
stop_pid() {
  local pidfile=$1 pid
  [[ -f "$pidfile" ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

ctr_() { ctr --address "$dir/containerd/containerd.sock" -n k8s.io "$@"; }

dnat_rule() {
  local api_port=$1
  echo "-p tcp -d $service_ip/32 --dport 443 -m comment --comment $rule_comment -j DNAT --to-destination 127.0.0.1:$api_port"
}

down() {
  # The kubelet first, so it does not restart what containerd stops.
  stop_pid "$dir/kubelet.pid"
  if [[ -S "$dir/containerd/containerd.sock" ]]; then
    # Stop every pod's containers and their shims before containerd itself.
    local task
    for task in $(ctr_ tasks ls -q 2>/dev/null); do
      ctr_ tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
    done
    for _ in $(seq 1 50); do
      [[ -z "$(ctr_ tasks ls -q 2>/dev/null)" ]] && break
      sleep 0.1
    done
  fi
  stop_pid "$dir/containerd.pid"
  # Shims outlive containerd by design; end those of this cluster only.
  local shim
  for shim in $(pgrep -f "containerd-shim-runc-v2 .*-address $dir/containerd/containerd.sock" 2>/dev/null); do
    kill -9 "$shim" 2>/dev/null || true
  done
  stop_pid "$dir/kube-scheduler.pid"
  stop_pid "$dir/kube-controller-manager.pid"
  if [[ -f "$dir/api-port" ]]; then
    # shellcheck disable=SC2046
    while iptables -t nat -D OUTPUT $(dnat_rule "$(cat "$dir/api-port")") 2>/dev/null; do :; done
  fi
  # Pod volumes (service-account tokens, secrets) are tmpfs mounts, the
  # kubelet bind-mounts its root directory, containerd mounts image layers.
  local m
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  if [[ -f "$dir/service-route-added" ]]; then
    ip route del "$service_ip/32" dev lo 2>/dev/null || true
  fi
  if [[ -f "$dir/node-ip-added" ]]; then
    ip addr del "$node_ip/32" dev lo 2>/dev/null || true
  fi
  "$here/control-plane.sh" down "$dir"
}

install_runtime() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  command -v iptables >/dev/null || missing+=(iptables)
  [[ -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
  command -v conntrack >/dev/null || missing+=(conntrack)
  if (( ${#missing[@]} )); then
    log "installing ${missing[*]} from Debian packages"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The sandbox ("pause") program, built once per machine like the Kubernetes binaries.
pause_binary() {
  local cache="${SLUICE_CACHE:-$HOME/.cache/sluice}" key out
  key=$(cat "$root/e2e/images/pause/go.mod" "$root/e2e/images/pause/main.go" | sha256sum | cut -c1-16)
  out="$cache/pause/$key/pause"
  if [[ ! -x "$out" ]]; then
    mkdir -p "$(dirname "$out")"
    (cd "$root/e2e/images/pause" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp" . && mv "$out.tmp" "$out") >&2
  fi
  echo "$out"
}

node_certs() {
  local pki="$dir/pki"
  (
    cd "$pki"
    # The kubelet's client identity: a node, authorized by the system:node role.
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:nodes/CN=system:node:$node" \
      -keyout kubelet.key -out kubelet.csr 2>/dev/null
    openssl x509 -req -in kubelet.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile admin.ext -out kubelet.crt 2>/dev/null
    # The kubelet's serving certificate, for the API server's log and exec requests.
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$node" \
      -keyout kubelet-serving.key -out kubelet-serving.csr 2>/dev/null
    printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth\n' "$node_ip" "$node" > kubelet-serving.ext
    openssl x509 -req -in kubelet-serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile kubelet-serving.ext -out kubelet-serving.crt 2>/dev/null
  )
}

kubeconfig_for() {
  local name=$1 cert=$2 key=$3 server
  server=$(sed -n 's/^ *server: //p' "$dir/kubeconfig")
  cat > "$dir/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sluice-test
  cluster:
    server: $server
    certificate-authority: $dir/pki/ca.crt
users:
- name: $name
  user:
    client-certificate: $cert
    client-key: $key
contexts:
- name: sluice-test
  context:
    cluster: sluice-test
    user: $name
current-context: sluice-test
EOF
}

wait_for() {
  local what=$1 timeout=$2 pidfile=$3 logfile=$4
  shift 4
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$pidfile" ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "$what: the process exited; last log lines:"
      tail -n 30 "$logfile" >&2
      return 1
    fi
    if (( SECONDS - start > timeout )); then
      log "$what: not ready after ${timeout}s; last log lines:"
      tail -n 30 "$logfile" >&2
      return 1
    fi
    sleep 0.5
  done
}

up() {
  [[ $(id -u) == 0 ]] || fail "must run as root: the kubelet and containerd manage cgroups, mounts and namespaces"
  if iptables -t nat -S OUTPUT 2>/dev/null | grep -q -- "--comment $rule_comment"; then
    fail "another test cluster is up on this machine (iptables nat OUTPUT holds a $rule_comment rule); stop it with '$0 down DIR'"
  fi
  local t0=$SECONDS
  install_runtime
  local bin
  bin=$("$here/k8s-bin.sh")
  "$here/control-plane.sh" up "$dir" >/dev/null
  local kubectl="$bin/kubectl --kubeconfig $dir/kubeconfig"
  local api_port
  api_port=$(sed -n 's/^ *server: https:\/\/127.0.0.1://p' "$dir/kubeconfig")
  echo "$api_port" > "$dir/api-port"
  node_certs
  kubeconfig_for admin "$dir/pki/admin.crt" "$dir/pki/admin.key"
  kubeconfig_for kubelet "$dir/pki/kubelet.crt" "$dir/pki/kubelet.key"
  log "control plane ready after $(( SECONDS - t0 ))s"

  # In-cluster clients dial the `kubernetes` Service; with no kube-proxy, one
  # DNAT rule sends its ClusterIP to the API server on loopback.
  # shellcheck disable=SC2046
  iptables -t nat -A OUTPUT $(dnat_rule "$api_port")

  local kcm_port sched_port
  kcm_port=$(free_port); sched_port=$(free_port)
  # control-plane.sh's controller manager runs only the job, garbage-collector
  # and namespace controllers (its tests play the node); a cluster needs them
  # all: Deployments, ReplicaSets, ServiceAccounts, kube-root-ca.crt.
  if [[ -f "$dir/kube-controller-manager.pid" ]]; then
    log "replacing control-plane.sh's kube-controller-manager with one running every controller"
    stop_pid "$dir/kube-controller-manager.pid"
    mv "$dir/kube-controller-manager.log" "$dir/kube-controller-manager.partial.log" 2>/dev/null || true
  fi
  log "starting kube-controller-manager on 127.0.0.1:$kcm_port"
  "$bin/kube-controller-manager" \
    --kubeconfig "$dir/admin.kubeconfig" \
    --authentication-kubeconfig "$dir/admin.kubeconfig" \
    --authorization-kubeconfig "$dir/admin.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" \
    --root-ca-file "$dir/pki/ca.crt" \
    --service-account-private-key-file "$dir/pki/sa.key" \
    --use-service-account-credentials \
    --cluster-name sluice-test \
    --leader-elect=false \
    --cert-dir "$dir/pki/kcm" \
    > "$dir/kube-controller-manager.log" 2>&1 &
  echo $! > "$dir/kube-controller-manager.pid"

  log "starting kube-scheduler on 127.0.0.1:$sched_port"
  "$bin/kube-scheduler" \
    --kubeconfig "$dir/admin.kubeconfig" \
    --authentication-kubeconfig "$dir/admin.kubeconfig" \
    --authorization-kubeconfig "$dir/admin.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$sched_port" \
    --leader-elect=false \
    --cert-dir "$dir/pki/scheduler" \
    > "$dir/kube-scheduler.log" 2>&1 &
  echo $! > "$dir/kube-scheduler.pid"

  # containerd of this cluster only: its own socket, root and state under DIR.
  local cd="$dir/containerd" restrict_oom=false
  # CAP_SYS_RESOURCE is capability 24 of the bounding set.
  if (( ( 0x$(awk '/^CapBnd/ {print $2}' /proc/self/status) >> 24 & 1 ) == 0 )); then
    log "no CAP_SYS_RESOURCE on this machine: containers keep containerd's OOM score"
    restrict_oom=true
  fi
  mkdir -p "$cd/cni/net.d" "$cd/root" "$cd/state"
  # Pods use the host network, so no CNI plugin ever runs for them; the CRI
  # plugin still reports the network not ready (and the kubelet the node
  # NotReady) until it loads a network configuration: a loopback one.
  cat > "$cd/cni/net.d/99-loopback.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "sluice-loopback", "plugins": [{"type": "loopback"}]}
EOF
  cat > "$cd/config.toml" <<EOF
version = 2
root = "$cd/root"
state = "$cd/state"
[grpc]
  address = "$cd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_ref"
  # This machine withholds CAP_SYS_RESOURCE even from root, so no process
  # may lower its OOM score below its parent's: the kubelet's -998 for pod
  # sandboxes (and -997 for Guaranteed pods) made runc fail with "failed to
  # update /proc/self/oom_score_adj: Permission denied". Clamp to
  # containerd's own score instead, as rootless setups do.
  restrict_oom_score_adj = $restrict_oom
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$cd/cni/net.d"
EOF
  log "starting containerd ($(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1 {print $3}'))"
  containerd --config "$cd/config.toml" > "$dir/containerd.log" 2>&1 &
  echo $! > "$dir/containerd.pid"
  wait_for containerd 30 "$dir/containerd.pid" "$dir/containerd.log" \
    ctr --address "$cd/containerd.sock" version

  local pause tar
  pause=$(pause_binary)
  tar="$dir/pause.tar"
  python3 "$here/oci-image.py" --ref "$pause_ref" --out "$tar" \
    --file "$pause:/pause" --entrypoint /pause --user 65535:65535 2>/dev/null
  ctr_ images import --no-unpack "$tar" >/dev/null
  rm -f "$tar"

  # The node's identity may do what nodes do (the Node authorizer is not on).
  $kubectl create clusterrolebinding sluice-test-node --clusterrole system:node \
    --user "system:node:$node" >/dev/null

  # Every pod outside kube-system joins the host network.
  $kubectl apply -f - >/dev/null <<'EOF'
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: sluice-test-host-network
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE"]
      resources: ["pods"]
    namespaceSelector:
      matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values: ["kube-system"]
  matchConditions:
  - name: not-yet-host-network
    expression: "!has(object.spec.hostNetwork) || !object.spec.hostNetwork"
  failurePolicy: Fail
  reinvocationPolicy: Never
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: "Object{spec: Object.spec{hostNetwork: true}}"
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata:
  name: sluice-test-host-network
spec:
  policyName: sluice-test-host-network
EOF

  if ! ip -o addr show dev lo | grep -q " $node_ip/"; then
    ip addr add "$node_ip/32" dev lo
    touch "$dir/node-ip-added"
  fi
  # The DNAT rule only sees packets the kernel could route: on a machine
  # without a default route, a connect() to the ClusterIP fails with
  # "network is unreachable" before netfilter. A host route through lo,
  # from the node's address, serves it with or without a default route.
  if [[ -z "$(ip route show "$service_ip/32")" ]]; then
    ip route add "$service_ip/32" dev lo src "$node_ip"
    touch "$dir/service-route-added"
  fi
  local kubelet_port healthz_port
  kubelet_port=$(free_port); healthz_port=$(free_port)
  mkdir -p "$dir/kubelet" "$dir/pod-logs"
  cat > "$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
tlsCertFile: $dir/pki/kubelet-serving.crt
tlsPrivateKeyFile: $dir/pki/kubelet-serving.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $dir/pki/ca.crt
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$cd/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: $dir/pod-logs
resolvConf: /etc/resolv.conf
registerNode: true
# This machine's disk is shared and mostly full: evict only when it truly
# runs out, and never collect the imported images (they cannot be pulled again).
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 50
EOF
  log "starting kubelet on $node_ip:$kubelet_port (cgroup driver cgroupfs, $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup)"
  "$bin/kubelet" \
    --config "$dir/kubelet/config.yaml" \
    --kubeconfig "$dir/kubelet.kubeconfig" \
    --root-dir "$dir/kubelet" \
    --cert-dir "$dir/pki" \
    --hostname-override "$node" \
    --node-ip "$node_ip" \
    > "$dir/kubelet.log" 2>&1 &
  echo $! > "$dir/kubelet.pid"

  wait_for "node $node Ready" 120 "$dir/kubelet.pid" "$dir/kubelet.log" \
    $kubectl wait --for=condition=Ready "node/$node" --timeout=2s
  # Namespaces get their `default` ServiceAccount and kube-root-ca.crt from
  # the controller manager: wait for that too, pods need both.
  wait_for "kube-controller-manager" 60 "$dir/kube-controller-manager.pid" "$dir/kube-controller-manager.log" \
    $kubectl -n default get serviceaccount default
  wait_for "kube-scheduler" 60 "$dir/kube-scheduler.pid" "$dir/kube-scheduler.log" \
    $kubectl get --raw /api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication

  {
    echo "export SLUICE_CLUSTER_DIR=$dir"
    echo "export SLUICE_CONTAINERD_ADDRESS=$cd/containerd.sock"
  } >> "$dir/env"
  log "node $node Ready; cluster up in $(( SECONDS - t0 ))s"
  echo "$dir/kubeconfig"
}

import() {
  local tar=${3:-}
  [[ -f "$tar" ]] || fail "import: no image archive at '$tar'"
  ctr_ images import "$tar" >&2
}

case "$cmd" in
  up)
    trap 'status=$?; if (( status != 0 )) && [[ -z "${SLUICE_KEEP_FAILED:-}" ]]; then log "bring-up failed; stopping what started (SLUICE_KEEP_FAILED=1 keeps it)"; down || true; fi' EXIT
    up
    trap - EXIT
    ;;
  down) down ;;
  import) import "$@" ;;
  *) echo "usage: $0 up|down|import DIR [TAR]" >&2; exit 2 ;;
esac
