#!/usr/bin/env bash
# run.sh - the main job on local defaults: a local control plane, the CRDs, a default
# SimNodeClass and NodePool, and the controller on the simulated cloud.
#
#   run.sh run     everything above, the controller in the foreground (Ctrl-C stops it)
#   run.sh start   the same with the controller in the background (log and PID under .local/)
#   run.sh stop    stop a background controller
#   run.sh demo    start, then play the flash-sale scenario (hack/demo)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${CP_RUN:-$ROOT/.local/controlplane}
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
export KUBECONFIG=$RUN/admin.kubeconfig KUBECACHEDIR=$RUN/kube-cache
PIDFILE=$RUN/karpenter.pid
LOG=$RUN/logs/karpenter.log
# Controller flags for the local cluster; extra ones can be passed in KARPENTER_FLAGS.
FLAGS=(--cloud-provider=sim --leader-elect=false --metrics-bind-address=127.0.0.1:${KARPENTER_METRICS_PORT:-8080}
	--health-probe-bind-address=127.0.0.1:${KARPENTER_HEALTH_PORT:-8081} ${KARPENTER_FLAGS:-})

say() { printf '[run %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

prepare() {
	go build -o "$ROOT/bin/karpenter" "$ROOT/cmd/karpenter"
	"$ROOT/hack/controlplane/cp.sh" up
	"$ROOT/bin/kubectl" apply -f "$ROOT/config/samples/" >&2
	say "kubeconfig: $KUBECONFIG"
}

running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
	prepare
	if running; then say "controller already running (pid $(cat "$PIDFILE"))"; return; fi
	mkdir -p "$(dirname "$LOG")"
	nohup "$ROOT/bin/karpenter" controller "${FLAGS[@]}" >"$LOG" 2>&1 </dev/null &
	echo $! >"$PIDFILE"
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:${KARPENTER_HEALTH_PORT:-8081}/readyz" >/dev/null && break
		running || { tail -20 "$LOG" >&2; say "controller exited"; exit 1; }
		sleep 0.2
	done
	say "controller running (pid $!, log $LOG, metrics on :${KARPENTER_METRICS_PORT:-8080}/metrics)"
}

stop() {
	if running; then
		local pid; pid=$(cat "$PIDFILE")
		kill "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
		say "stopped controller (pid $pid)"
	fi
	rm -f "$PIDFILE"
}

case ${1:-} in
run)
	prepare
	running && { say "a background controller runs (pid $(cat "$PIDFILE")); run.sh stop first"; exit 1; }
	say "starting the controller; Ctrl-C stops it (the control plane keeps running: make down)"
	exec "$ROOT/bin/karpenter" controller "${FLAGS[@]}"
	;;
start) start ;;
stop) stop ;;
demo)
	# The sale leaves spot nodes behind; with upstream's default (the gate off) a spot node can
	# only be deleted, never replaced by a cheaper spot node, and the demo's cluster can stay
	# far above what its pods need. The demo shows the whole engine: gate on (when it starts
	# the controller; one already running keeps its flags).
	FLAGS+=(--feature-gates=SpotToSpotConsolidation=true)
	start
	go run "$ROOT/hack/demo" --kubeconfig "$KUBECONFIG" ${DEMO_FLAGS:-}
	;;
*) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
