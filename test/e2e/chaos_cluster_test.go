package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// chaos is a control plane with karpenter replicas that the suite kills and restarts, and
// a client that reads what the invariants need.
type chaos struct {
	*cluster
	bin    string
	kube   client.Client
	mu     sync.Mutex
	procs  map[string]*exec.Cmd     // replica name -> running process
	exited map[string]chan struct{} // replica name -> closed once its process has exited
	logs   map[string]string        // replica name -> its current log file
	// expected are replicas whose own exit is expected (not restarted); closing is set
	// once the test cleans up; restarts counts replicas restarted after exiting on their own.
	expected map[string]bool
	// flags are added to every replica started from now on (see loadedLease).
	flags    []string
	closing  bool
	restarts int
	starts   int
	dumps    int // state dumps written (dumpState)
}

const chaosLease = "karpenter-chaos"

func newChaos(t *testing.T) *chaos {
	t.Helper()
	// kube-controller-manager at 200 requests a second (its default is 20): at 20/s the
	// 5,000-pod Deployment took four minutes to create its pods, kube-scheduler marked them
	// unschedulable in dribbles, and each batch of 1 to 21 pods got its own small node
	// (c5.large): on the order of 260 nodes for the burst where large batches need some 30,
	// and scaling those to zero two at a time would take over half an hour.
	// KWOK moves 16 pods to Running at once rather than 4: in the full run at load 35, 2,568
	// of the burst's pods sat bound and Pending, KWOK patching about 5 a second.
	c := startCluster(t, "CP_KCM_QPS=200", "CP_KCM_BURST=400", "CP_KWOK_POD_PARALLELISM=16")
	_, _, kube := c.adminClient(t, func(cfg *rest.Config) { cfg.Timeout = 10 * time.Second })
	ch := &chaos{cluster: c, bin: buildKarpenter(t, c.root), kube: kube, procs: map[string]*exec.Cmd{}, exited: map[string]chan struct{}{}, logs: map[string]string{}, expected: map[string]bool{}}
	t.Cleanup(func() {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		ch.closing = true
		for name, p := range ch.procs {
			// The supervisor goroutine reaps it (a second Wait would return at once) and
			// takes ch.mu only to see closing, which it sees without blocking: unlock around
			// the wait.
			exited := ch.exited[name]
			delete(ch.procs, name)
			ch.mu.Unlock()
			interruptAndWait(p, exited, 15*time.Second)
			ch.mu.Lock()
		}
		if t.Failed() {
			// Keep the replicas' logs: the run folder goes with the test.
			keep, err := os.MkdirTemp("", "chaos-logs-")
			if err == nil {
				logs, _ := filepath.Glob(filepath.Join(c.run, "karpenter-*.log"))
				states, _ := filepath.Glob(filepath.Join(c.run, "state-*.txt"))
				logs = append(logs, states...)
				for _, l := range logs {
					if b, err := os.ReadFile(l); err == nil {
						_ = os.WriteFile(filepath.Join(keep, filepath.Base(l)), b, 0o600)
					}
				}
				t.Logf("controller logs and state dumps kept in %s", keep)
			}
		}
	})
	return ch
}

// start runs one karpenter replica with leader election on the chaos lease.
func (ch *chaos) start(t *testing.T, name string) {
	t.Helper()
	ch.startWith(t, name, filepath.Join(ch.run, "admin.kubeconfig"))
}

// startWith runs a replica on another kubeconfig (the fault proxy's).
func (ch *chaos) startWith(t *testing.T, name, kubeconfig string) {
	t.Helper()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if err := ch.launchLocked(name, kubeconfig); err != nil {
		t.Fatal(err)
	}
}

// launchLocked starts a replica's process. Like a kubelet restarting a pod, a replica that
// exits on its own (a lost lease under load) is started again, unless the suite killed it,
// said it expects it to exit, or is cleaning up; restarts counts those restarts.
func (ch *chaos) launchLocked(name, kubeconfig string) error {
	ch.starts++
	path := filepath.Join(ch.run, fmt.Sprintf("karpenter-%s-%d.log", name, ch.starts))
	ch.logs[name] = path
	logFile, err := os.Create(path)
	if err != nil {
		return err
	}
	metrics := "0"
	args := []string{"controller", "--cloud-provider=sim", "--leader-elect=true",
		"--leader-election-namespace=default", "--leader-election-id=" + chaosLease,
		"--kubeconfig", kubeconfig, "--health-probe-bind-address=0",
		"--batch-idle-duration=1s", "--batch-max-duration=5s"}
	if os.Getenv("CHAOS_PPROF") != "" {
		// Profiling a run: /metrics and /debug/pprof/ on a free port, written to the log's
		// first line and to karpenter-<name>.addr in the run folder.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		metrics = l.Addr().String()
		l.Close()
		args = append(args, "--enable-profiling=true")
		fmt.Fprintf(logFile, "chaos: metrics and pprof on http://%s\n", metrics)
		_ = os.WriteFile(filepath.Join(ch.run, "karpenter-"+name+".addr"), []byte(metrics), 0o600)
	}
	args = append(args, ch.flags...)
	cmd := exec.Command(ch.bin, append(args, "--metrics-bind-address="+metrics)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "POD_NAME="+name)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		ch.mu.Lock()
		defer ch.mu.Unlock()
		close(exited)
		if ch.closing || ch.procs[name] != cmd || ch.expected[name] {
			return
		}
		ch.restarts++
		time.Sleep(time.Second)
		_ = ch.launchLocked(name, kubeconfig)
	}()
	ch.procs[name] = cmd
	ch.exited[name] = exited
	delete(ch.expected, name)
	return nil
}

// interruptAndWait interrupts a replica's process (it releases the lease on the way out) and
// waits until it has exited, killing it after grace. exited is closed by the goroutine that
// reaps the process. It reports whether the process stopped on the interrupt.
func interruptAndWait(p *exec.Cmd, exited <-chan struct{}, grace time.Duration) bool {
	_ = p.Process.Signal(os.Interrupt)
	select {
	case <-exited:
		return true
	case <-time.After(grace):
		_ = p.Process.Kill()
		<-exited
		return false
	}
}

// loadedLease are leader election timings for a control plane starved of CPU (the 5,000-pod
// burst on a shared 2-core machine): with the defaults (15 s lease, 10 s renew deadline, 5 s
// lease requests) the lone replica lost its lease about once a minute at load 40, and every
// restart re-listed thousands of pods, starving the API server further. A lease request may
// take 20 s here; a failover would take up to a minute.
var loadedLease = []string{"--leader-election-lease-duration=60s", "--leader-election-renew-deadline=40s", "--leader-election-retry-period=4s"}

// restartWith stops the running replicas gracefully (they release the lease) and starts them
// again with these flags, which every later start keeps.
func (ch *chaos) restartWith(t *testing.T, flags ...string) {
	t.Helper()
	names := ch.running()
	for _, name := range names {
		ch.stop(t, name)
	}
	ch.mu.Lock()
	ch.flags = flags
	ch.mu.Unlock()
	for _, name := range names {
		ch.start(t, name)
	}
}

// expectExit tells the supervisor not to restart the replica when it exits on its own.
func (ch *chaos) expectExit(name string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.expected[name] = true
}

// takeRestarts returns how many replicas were restarted after exiting on their own since
// the last call.
func (ch *chaos) takeRestarts() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	n := ch.restarts
	ch.restarts = 0
	return n
}

// running lists the replicas running.
func (ch *chaos) running() []string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	var out []string
	for name := range ch.procs {
		out = append(out, name)
	}
	return out
}

// kill SIGKILLs a replica: no lease release, no cleanup, as a node crash would.
func (ch *chaos) kill(t *testing.T, name string) {
	t.Helper()
	ch.mu.Lock()
	p := ch.procs[name]
	delete(ch.procs, name)
	ch.mu.Unlock()
	if p == nil {
		t.Fatalf("no replica %s to kill", name)
	}
	_ = p.Process.Kill()
}

// signal sends sig to a control-plane component by its recorded PID.
func (ch *chaos) signal(t *testing.T, component string, sig syscall.Signal) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ch.run, component+".pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signalling %s: %v", component, err)
	}
}

// leaderReplica is the running replica whose log says it acquired the lease ("" if none).
func (ch *chaos) leaderReplica() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for name := range ch.procs {
		if b, err := os.ReadFile(ch.logs[name]); err == nil && strings.Contains(strings.ToLower(string(b)), "successfully acquired lease") {
			return name
		}
	}
	return ""
}

// leader is the holder of the chaos lease ("" when none or unreadable).
func (ch *chaos) leader(ctx context.Context) string {
	lease := &coordinationv1.Lease{}
	if err := ch.kube.Get(ctx, client.ObjectKey{Namespace: "default", Name: chaosLease}, lease); err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// world is one read of everything the invariants look at.
type world struct {
	claims    []v1.NodeClaim
	instances []simv1alpha1.SimInstance
	nodes     []corev1.Node
	pods      []corev1.Pod
	pdbs      []policyv1.PodDisruptionBudget
}

func (ch *chaos) read(ctx context.Context, app string) (*world, error) {
	w := &world{}
	var claims v1.NodeClaimList
	var instances simv1alpha1.SimInstanceList
	var nodes corev1.NodeList
	var pods corev1.PodList
	var pdbs policyv1.PodDisruptionBudgetList
	for _, l := range []client.ObjectList{&claims, &instances, &nodes, &pdbs} {
		if err := ch.kube.List(ctx, l); err != nil {
			return nil, err
		}
	}
	if err := ch.kube.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels{"app": app}); err != nil {
		return nil, err
	}
	w.claims, w.instances, w.nodes, w.pods, w.pdbs = claims.Items, instances.Items, nodes.Items, pods.Items, pdbs.Items
	return w, nil
}

// leaked counts instances that no NodeClaim claims (by provider ID, or a launch in flight
// for the NodeClaim UID the instance records).
func (w *world) leaked() []string {
	claimed := map[string]bool{}
	uids := map[string]bool{}
	for _, nc := range w.claims {
		claimed[nc.Status.ProviderID] = true
		uids[string(nc.UID)] = true
	}
	var out []string
	for _, inst := range w.instances {
		if !claimed["sim:///"+inst.Spec.Zone+"/"+inst.Name] && !uids[inst.Spec.NodeClaimUID] {
			out = append(out, inst.Name)
		}
	}
	return out
}

// orphans counts NodeClaims whose recorded instance is gone.
func (w *world) orphans() []string {
	live := map[string]bool{}
	for _, inst := range w.instances {
		live["sim:///"+inst.Spec.Zone+"/"+inst.Name] = true
	}
	var out []string
	for _, nc := range w.claims {
		if nc.Status.ProviderID != "" && !live[nc.Status.ProviderID] && nc.DeletionTimestamp == nil {
			out = append(out, nc.Name)
		}
	}
	return out
}

// stuck counts NodeClaims and Nodes deleted more than grace ago and still there.
func (w *world) stuck(grace time.Duration) []string {
	var out []string
	for _, nc := range w.claims {
		if nc.DeletionTimestamp != nil && time.Since(nc.DeletionTimestamp.Time) > grace {
			out = append(out, "nodeclaim/"+nc.Name)
		}
	}
	for _, n := range w.nodes {
		if n.DeletionTimestamp != nil && time.Since(n.DeletionTimestamp.Time) > grace {
			out = append(out, "node/"+n.Name)
		}
	}
	return out
}

// running counts the app's pods Running on a node.
func (w *world) running() int {
	n := 0
	for _, p := range w.pods {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// deleting counts NodeClaims being deleted.
func (w *world) deleting() int {
	n := 0
	for _, nc := range w.claims {
		if nc.DeletionTimestamp != nil {
			n++
		}
	}
	return n
}
