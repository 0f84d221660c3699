#!/usr/bin/env bash
# cp.sh - build and run a real local Kubernetes control plane from Go modules.
#
#   cp.sh build     build etcd, kube-apiserver, kube-scheduler, kube-controller-manager, kubectl
#                   and kwok into bin/ (a binary already built at the pinned version is kept)
#   cp.sh up        build what is missing, then start everything on 127.0.0.1 (running parts are
#                   left alone), install the project's CRDs, print how to use kubectl
#   cp.sh down      stop what `up` started, by recorded PID, in reverse order
#   cp.sh status    say what runs
#   cp.sh env       print shell exports (KUBECONFIG, KUBEBUILDER_ASSETS, PATH, KUBECACHEDIR)
#   cp.sh clean     down, then remove the run folder (certificates, etcd data, logs)
#
# Versions are pinned by the build modules under hack/controlplane/modules (go.mod + go.sum).
# Ports come from the environment: CP_ETCD_PORT (default 2379), CP_APISERVER_PORT (6443),
# CP_SCHEDULER_PORT (10259), CP_KCM_PORT (10257). CP_SCHEDULER_ARGS adds flags to kube-scheduler
# (its client rate comes from the config file: CP_SCHEDULER_QPS, CP_SCHEDULER_BURST, default 500/1000,
# as 20,000 pods bind in minutes at the default 50/s). CP_KCM_QPS and CP_KCM_BURST set
# kube-controller-manager's client rate (its defaults, 20/30, unless set: at 20/s a Deployment
# of 5,000 pods takes four minutes to create them). CP_KWOK_POD_PARALLELISM sets how many pods
# KWOK moves to Running at once (its default 4), CP_KWOK_NODE_PARALLELISM and
# CP_KWOK_LEASE_PARALLELISM how many nodes it initializes and renews the leases of at once
# (4 each). Everything is written under the repository:
# bin/ for binaries, .local/controlplane/ for certificates, data, logs, PIDs and kubeconfigs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/hack/controlplane
BIN=${CP_BIN:-$ROOT/bin}
RUN=${CP_RUN:-$ROOT/.local/controlplane}
PKI=$RUN/pki
LOGS=$RUN/logs

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
ETCD_PORT=${CP_ETCD_PORT:-2379}
ETCD_PEER_PORT=${CP_ETCD_PEER_PORT:-$((ETCD_PORT + 1))}
APISERVER_PORT=${CP_APISERVER_PORT:-6443}
SCHEDULER_PORT=${CP_SCHEDULER_PORT:-10259}
KCM_PORT=${CP_KCM_PORT:-10257}
SERVICE_CIDR=10.0.0.0/24
KWOK_ANNOTATION=kwok.x-k8s.io/node=fake

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
export KUBECACHEDIR=$RUN/kube-cache
KUBECONFIG_ADMIN=$RUN/admin.kubeconfig
COMPONENTS=(etcd kube-apiserver kube-scheduler kube-controller-manager kwok)

say() { printf '[cp %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { say "error: $*"; exit 1; }

# ------------------------------------------------------------------ build
# A binary is current when its stamp file holds the version it was built at. The stamp includes
# the build module's go.sum hash, so a dependency change rebuilds too.
stamp_of() { # component -> expected stamp
	case $1 in
	etcd) echo "$ETCD_VERSION $(sha256sum "$HERE/modules/etcd/go.sum" | cut -c1-12)" ;;
	kwok) echo "$KWOK_VERSION" ;;
	*) echo "$K8S_VERSION $(sha256sum "$HERE/modules/kubernetes/go.sum" | cut -c1-12)" ;;
	esac
}
current() { [[ -x $BIN/$1 && -f $BIN/.$1.stamp && "$(cat "$BIN/.$1.stamp")" == "$(stamp_of "$1")" ]]; }

build_one() { # component dir package [ldflags]
	local c=$1 dir=$2 pkg=$3 ld=${4:-} t0
	if current "$c"; then say "$c is current ($(stamp_of "$c"))"; return; fi
	say "building $c ..."
	t0=$(date +%s)
	(cd "$dir" && go build -trimpath -ldflags="-s -w $ld" -o "$BIN/$c.tmp" "$pkg")
	mv "$BIN/$c.tmp" "$BIN/$c"
	stamp_of "$c" >"$BIN/.$c.stamp"
	say "built $c in $(($(date +%s) - t0))s"
}

build() {
	mkdir -p "$BIN"
	local missing=0 c
	for c in etcd kube-apiserver kube-scheduler kube-controller-manager kubectl kwok; do
		current "$c" || missing=$((missing + 1))
	done
	if ((missing == 0)); then say "all control-plane binaries are current in $BIN"; return; fi
	say "$missing binaries to build into $BIN; a cold build takes about ten minutes on 2 cores, seconds from a warm Go cache"
	build_one etcd "$HERE/modules/etcd" .
	local minor=${K8S_VERSION#v1.} ld="" p
	minor=${minor%%.*}
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
		ld+=" -X $p.gitTreeState=clean -X $p.gitCommit=module-$K8S_VERSION"
	done
	for c in kube-apiserver kube-scheduler kube-controller-manager kubectl; do
		build_one "$c" "$HERE/modules/kubernetes" "k8s.io/kubernetes/cmd/$c" "$ld"
	done
	if ! current kwok; then
		say "building kwok ..."
		local t0; t0=$(date +%s)
		(cd "$HERE" && GOBIN=$BIN GOWORK=off go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
		stamp_of kwok >"$BIN/.kwok.stamp"
		say "built kwok in $(($(date +%s) - t0))s"
	fi
}

# ------------------------------------------------------------------ certificates
pki() {
	[[ -f $PKI/done ]] && return
	say "writing certificates to $PKI"
	rm -rf "$PKI" && mkdir -p "$PKI"
	(
		cd "$PKI"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=local-ca 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		issue() { # file CN O SANs
			local ext="extendedKeyUsage=clientAuth"
			[[ -n $4 ]] && ext=$(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth' "$4")
			openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2${3:+/O=$3}" 2>/dev/null
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 \
				-extfile <(echo "$ext") 2>/dev/null
			rm -f "$1.csr"
		}
		issue apiserver kube-apiserver "" "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
		issue admin admin system:masters ""
		issue scheduler system:kube-scheduler "" ""
		issue controller-manager system:kube-controller-manager "" ""
		issue front-proxy front-proxy-client "" ""
		chmod 600 ./*.key
		touch done
	)
}

kubeconfig() { # name user-cert -> $RUN/name.kubeconfig
	local kc=$RUN/$1.kubeconfig
	cat >"$kc" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $1
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: local
  context: {cluster: local, user: $1}
current-context: local
EOF
}

# ------------------------------------------------------------------ processes
pid_of() { [[ -f $RUN/$1.pid ]] && cat "$RUN/$1.pid"; }
running() { # our binary, alive, at the recorded PID (PIDs get reused)
	local pid; pid=$(pid_of "$1") || return 1
	kill -0 "$pid" 2>/dev/null && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$BIN/$1")"* ]]
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() { # name port cmd...
	local name=$1 port=$2; shift 2
	if running "$name"; then say "$name already running (pid $(pid_of "$name"))"; return; fi
	if [[ $port != - ]] && port_busy "$port"; then
		fail "port $port for $name is taken by another process; set CP_*_PORT (see cp.sh header)"
	fi
	mkdir -p "$LOGS"
	nohup "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
	say "started $name (pid $!, log $LOGS/$name.log)"
}
await() { # name seconds probe...
	local name=$1 secs=$2 i; shift 2
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		running "$name" || { tail -20 "$LOGS/$name.log" >&2; fail "$name exited"; }
		sleep 0.2
	done
	tail -20 "$LOGS/$name.log" >&2
	fail "$name not healthy after ${secs}s"
}

# kube-scheduler's client is limited to 50 requests a second by default: a burst of 1,000 pods
# then takes 20 s just to be marked unschedulable and 20 s more to be bound, whatever the
# autoscaler does. Managed control planes give it far more; the local one gets 500
# (CP_SCHEDULER_QPS, CP_SCHEDULER_BURST).
scheduler_config() {
	cat >"$RUN/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $RUN/scheduler.kubeconfig
  qps: ${CP_SCHEDULER_QPS:-500}
  burst: ${CP_SCHEDULER_BURST:-1000}
leaderElection:
  leaderElect: false
EOF
}

kwok_stages() { # kwok ships its stages as manifests inside its module
	[[ -s $RUN/kwok.yaml ]] && return
	local dir f
	dir=$(cd "$HERE" && GOWORK=off go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[[ -d $dir/kustomize/stage ]] || fail "kwok $KWOK_VERSION stages not found in the module cache"
	for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
		pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
		echo '---'
		cat "$dir/kustomize/stage/$f"
	done >"$RUN/kwok.yaml"
	# CP_KWOK_POD_PARALLELISM: how many pods KWOK moves through their stages at once (its
	# default, 4, unless set: at a loaded API server's latency that is a few pods a second).
	# CP_KWOK_NODE_PARALLELISM and CP_KWOK_LEASE_PARALLELISM: how many nodes' stages and
	# lease renewals at once (default 4 each): at 1,000 nodes on a loaded machine 4 renewers
	# let leases lapse, and kube-controller-manager marks the nodes NotReady, taints them and
	# evicts their pods.
	if [[ -n ${CP_KWOK_POD_PARALLELISM:-}${CP_KWOK_NODE_PARALLELISM:-}${CP_KWOK_LEASE_PARALLELISM:-} ]]; then
		# A KwokConfiguration given in a file is not defaulted: name every parallelism
		# (KWOK's defaults, 4) and the lease duration the flag sets, or KWOK exits.
		printf -- '---\napiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions:\n  podPlayStageParallelism: %d\n  nodePlayStageParallelism: %d\n  nodeLeaseParallelism: %d\n  nodeLeaseDurationSeconds: 40\n' \
			"${CP_KWOK_POD_PARALLELISM:-4}" "${CP_KWOK_NODE_PARALLELISM:-4}" "${CP_KWOK_LEASE_PARALLELISM:-4}" >>"$RUN/kwok.yaml"
	fi
}

up() {
	build
	mkdir -p "$RUN" "$LOGS"
	pki
	start etcd "$ETCD_PORT" "$BIN/etcd" --name local --data-dir "$RUN/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "http://127.0.0.1:$((ETCD_PEER_PORT + 1))" \
		--log-level warn
	await etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

	start kube-apiserver "$APISERVER_PORT" "$BIN/kube-apiserver" \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
		--secure-port="$APISERVER_PORT" --endpoint-reconciler-type=none --cert-dir="$RUN/apiserver-certs" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
		--requestheader-client-ca-file="$PKI/ca.crt" --requestheader-allowed-names=front-proxy-client \
		--requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
		--requestheader-extra-headers-prefix=X-Remote-Extra- \
		--proxy-client-cert-file="$PKI/front-proxy.crt" --proxy-client-key-file="$PKI/front-proxy.key" \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range="$SERVICE_CIDR" \
		--authorization-mode=Node,RBAC --allow-privileged=true
	await kube-apiserver 120 curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
		"https://127.0.0.1:$APISERVER_PORT/readyz"
	kubeconfig admin admin
	kubeconfig scheduler scheduler
	kubeconfig controller-manager controller-manager

	scheduler_config
	start kube-scheduler "$SCHEDULER_PORT" "$BIN/kube-scheduler" --config="$RUN/scheduler.yaml" \
		--authentication-kubeconfig="$RUN/scheduler.kubeconfig" --authorization-kubeconfig="$RUN/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" ${CP_SCHEDULER_ARGS:-}
	start kube-controller-manager "$KCM_PORT" "$BIN/kube-controller-manager" --kubeconfig="$RUN/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$RUN/controller-manager.kubeconfig" \
		--authorization-kubeconfig="$RUN/controller-manager.kubeconfig" \
		--leader-elect=false --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
		--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" --use-service-account-credentials=true \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" --flex-volume-plugin-dir="$RUN/flexvolume" \
		--kube-api-qps="${CP_KCM_QPS:-20}" --kube-api-burst="${CP_KCM_BURST:-30}"
	await kube-scheduler 60 curl -sfk "https://127.0.0.1:$SCHEDULER_PORT/healthz"
	await kube-controller-manager 60 curl -sfk "https://127.0.0.1:$KCM_PORT/healthz"

	kwok_stages
	start kwok - "$BIN/kwok" --kubeconfig="$KUBECONFIG_ADMIN" --config="$RUN/kwok.yaml" \
		--manage-nodes-with-annotation-selector="$KWOK_ANNOTATION" --node-lease-duration-seconds=40 \
		--cidr=10.244.0.0/16 --node-ip=10.255.0.1
	sleep 1
	running kwok || { tail -20 "$LOGS/kwok.log" >&2; fail "kwok exited"; }

	if [[ -d $ROOT/config/crd ]]; then
		"$BIN/kubectl" --kubeconfig="$KUBECONFIG_ADMIN" apply --server-side -f "$ROOT/config/crd" >&2
		"$BIN/kubectl" --kubeconfig="$KUBECONFIG_ADMIN" wait --for=condition=Established crd --all --timeout=60s >/dev/null
	fi
	envout >"$RUN/env.sh"
	status
	cat >&2 <<EOF

Control plane is up. Use it with:
  export KUBECONFIG=$KUBECONFIG_ADMIN
  bin/kubectl get nodepools,nodeclaims
or: source $RUN/env.sh      (make down stops it)
EOF
}

down() {
	local i n pid
	for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
		n=${COMPONENTS[i]}
		if running "$n"; then
			pid=$(pid_of "$n")
			kill "$pid"
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
			kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
			say "stopped $n (pid $pid)"
		fi
		rm -f "$RUN/$n.pid"
	done
}

status() {
	local n pid rc=0
	for n in "${COMPONENTS[@]}"; do
		if running "$n"; then
			pid=$(pid_of "$n")
			printf '%-24s running  pid %-8s rss %5d MiB\n' "$n" "$pid" $(($(ps -o rss= -p "$pid") / 1024))
		else
			printf '%-24s stopped\n' "$n"
			rc=3
		fi
	done
	[[ -f $KUBECONFIG_ADMIN ]] && echo "kubeconfig: $KUBECONFIG_ADMIN"
	return $rc
}

envout() {
	echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
	echo "export KUBECACHEDIR=$KUBECACHEDIR"
	echo "export KUBEBUILDER_ASSETS=$BIN"
	echo "export PATH=$BIN:\$PATH"
}

case ${1:-} in
build) build ;;
up) up ;;
down) down ;;
status) status ;;
env) envout ;;
clean) down && rm -rf "$RUN" ;;
*) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
