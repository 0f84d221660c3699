package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// The fault-injection suite. `make test` runs the short form (CHAOS unset); `make chaos`
// (CHAOS=full) adds the longer scenarios. Each scenario injects its faults into a running
// cluster (the real kube-apiserver, etcd, kube-scheduler, kube-controller-manager and KWOK,
// with karpenter as separate processes on the simulated cloud), waits for convergence and
// checks: no instance without a NodeClaim, no NodeClaim without its instance, no stuck
// finalizer, no NodeClaim launched for nothing (a duplicate), no PodDisruptionBudget or
// NodePool disruption budget exceeded (sampled every 500 ms) and every pod Running.
// CHAOS_SCENARIO=name[,name...] runs only the scenarios named, on a fresh cluster (the cloud
// fault scenarios scale the app themselves; some others expect what earlier ones left).

const chaosApp = "chaos"

// chaosBudget is the NodePool's disruption budget, and chaosMaxUnavailable the app's
// PodDisruptionBudget, both sampled by the suite.
const (
	chaosBudget         = 2
	chaosMaxUnavailable = 1
)

const chaosNodePool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: chaos}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.sim.sh, kind: SimNodeClass, name: chaos}
      requirements:
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}
        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m]}
        - {key: karpenter.k8s.aws/instance-cpu, operator: In, values: ["2", "4"]}
  disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: %s, budgets: [{nodes: "2"}]}
  limits: {cpu: "200"}
---
apiVersion: karpenter.sim.sh/v1alpha1
kind: SimNodeClass
metadata: {name: chaos}
spec: {bootDelay: 1s}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: chaos, namespace: default}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: chaos}}}
`

// row is one line of the table.
type row struct {
	scenario, faults                      string
	leaked, orphans, duplicates, stuck    int
	pdbViolations, budgetViolations, pods int
	converge                              time.Duration
	extra                                 string
	// timeout bounds the convergence (5 minutes when zero); poll is how often it looks (1 s).
	timeout, poll time.Duration
}

// sampler watches the cluster throughout a scenario.
type sampler struct {
	ch          *chaos
	mu          sync.Mutex
	want        int // replicas the app should have; PDB samples count only once all ran
	settled     bool
	pdb, budget int
	podSeen     map[string]bool      // node name -> held an app pod at some sample
	candidateOf map[string][]string  // NodeClaim name -> the disruption commands it was a candidate of
	doubled     map[string]bool      // candidates another command's replacements were launched for
	nodeSeen    map[string]time.Time // node name -> first seen
	started     time.Time
	every       time.Duration // between samples
	stop        chan struct{}
	done        chan struct{}
}

func (ch *chaos) sample(ctx context.Context) *sampler {
	s := &sampler{ch: ch, started: time.Now(), every: 500 * time.Millisecond, podSeen: map[string]bool{}, nodeSeen: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		ch.poll(ctx, s.stop, s.interval, s.observe)
	}()
	return s
}

// poll reads the world every interval() until stop is closed and hands each read to observe;
// a failed read (the API server down on purpose) is skipped.
func (ch *chaos) poll(ctx context.Context, stop <-chan struct{}, interval func() time.Duration, observe func(*world)) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(interval()):
		}
		if w, err := ch.read(ctx, chaosApp); err == nil {
			observe(w)
		}
	}
}

func (s *sampler) observe(w *world) {
	s.mu.Lock()
	defer s.mu.Unlock()
	claimed := map[string]time.Time{} // provider ID -> when its NodeClaim was created
	for _, nc := range w.claims {
		claimed[nc.Status.ProviderID] = nc.CreationTimestamp.Time
	}
	for _, n := range w.nodes {
		// Only nodes whose NodeClaim was created during the scenario: one emptied by a
		// scale-down before the first sample, or launched by the scenario before, is not
		// this scenario's duplicate. (Timestamps are whole seconds.)
		created, ok := claimed[n.Spec.ProviderID]
		if !ok {
			created = n.CreationTimestamp.Time
		}
		if created.Before(s.started.Truncate(time.Second)) {
			continue
		}
		if _, ok := s.nodeSeen[n.Name]; !ok && n.Labels[v1.NodePoolLabelKey] == "chaos" {
			s.nodeSeen[n.Name] = time.Now()
		}
	}
	for _, p := range w.pods {
		if p.Spec.NodeName != "" {
			s.podSeen[p.Spec.NodeName] = true
		}
	}
	if w.running() >= s.want {
		s.settled = true
	}
	// The PodDisruptionBudget allows one unavailable pod. Counted from the pods themselves
	// (the budget's status lags behind them), once every wanted pod has run.
	if s.settled && s.want-w.running() > chaosMaxUnavailable {
		s.pdb++
	}
	// The budget covers the NodeClaims being deleted and the candidates of commands in flight.
	if w.disrupting() > chaosBudget {
		s.budget++
	}
	s.observeCommands(w)
}

func (s *sampler) interval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.every
}

// setInterval changes the time between samples (listing thousands of pods is not free).
func (s *sampler) setInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.every = d
}

// expect tells the sampler how many replicas the app should now have.
func (s *sampler) expect(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want, s.settled = n, false
}

func (s *sampler) finish() (pdb, budget, duplicates int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for node, first := range s.nodeSeen {
		// Scaling to zero, a node launched just before for pods that are gone since is no
		// duplicate.
		if s.want > 0 && !s.podSeen[node] && time.Since(first) > 10*time.Second {
			duplicates++
		}
	}
	return s.pdb, s.budget, duplicates + len(s.doubled)
}

// scale sets the app's replicas.
func (ch *chaos) scale(t *testing.T, s *sampler, replicas int) {
	t.Helper()
	s.expect(replicas)
	ch.kubectl(t, deploymentYAML(chaosApp, replicas, "700m", "512Mi"), "apply", "-f", "-")
}

// converge waits until every pod runs and nothing is leaked, orphaned or stuck, and fills
// the row with what it last saw.
func (ch *chaos) converge(t *testing.T, ctx context.Context, r *row, replicas int, since time.Time) {
	t.Helper()
	timeout, poll := 5*time.Minute, time.Second
	if r.timeout > 0 {
		timeout = r.timeout
	}
	if r.poll > 0 {
		poll = r.poll
	}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		w, err := ch.read(ctx, chaosApp)
		if err == nil {
			leaked, orphans, stuck := w.leaked(), append(w.orphans(), w.taintedOrphans()...), w.stuck(90*time.Second)
			r.leaked, r.orphans, r.stuck, r.pods = len(leaked), len(orphans), len(stuck), w.running()
			last = fmt.Sprintf("%d/%d pods running, leaked %v, orphans %v, stuck %v, %d nodeclaims (%d deleting)",
				w.running(), replicas, leaked, orphans, stuck, len(w.claims), w.deleting())
			if w.running() == replicas && len(w.pods) == replicas && len(leaked) == 0 && len(orphans) == 0 && len(stuck) == 0 &&
				w.deleting() == 0 && (replicas > 0 || len(w.claims) == 0) {
				r.converge = time.Since(since)
				return
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			r.converge = -1
			t.Errorf("%s: not converged in %v: %s", r.scenario, timeout, last)
			return
		}
		time.Sleep(poll)
	}
}

// waitFor polls cond every 200 ms for up to timeout.
func (ch *chaos) waitFor(t *testing.T, timeout time.Duration, what string, cond func(*world) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if w, err := ch.read(context.Background(), chaosApp); err == nil && cond(w) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not seen in %v (cluster state in %s)", what, timeout, ch.dumpState(what))
}

// dumpState writes what a failed wait needs to be understood into the run folder (kept
// with the replicas' logs when the test fails): the NodeClaims with their conditions and
// annotations, the Nodes with their taints, the pods, the PodDisruptionBudget and the
// events, which carry the disruption controller's reasons for leaving a candidate alone
// (DisruptionBlocked) that its log does not. It returns the file's path.
func (ch *chaos) dumpState(what string) string {
	ch.mu.Lock()
	ch.dumps++
	path := filepath.Join(ch.run, fmt.Sprintf("state-%d.txt", ch.dumps))
	ch.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "waiting for: %s\nat: %s\n", what, time.Now().Format(time.RFC3339Nano))
	for _, args := range [][]string{
		{"get", "nodeclaims", "-o", "wide"},
		{"get", "nodes", "-o", "custom-columns=NAME:.metadata.name,TAINTS:.spec.taints[*].key,READY:.status.conditions[?(@.type=='Ready')].status"},
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "pdb", "-A"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"get", "nodeclaims", "-o", "yaml"},
	} {
		out, err := ch.tryKubectl("", args...)
		fmt.Fprintf(&b, "\n$ kubectl %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Sprintf("(not written: %v)", err)
	}
	return path
}

func hasCondition(nc *v1.NodeClaim, typ, reason string, status string) bool {
	c := meta.FindStatusCondition(nc.Status.Conditions, typ)
	return c != nil && string(c.Status) == status && (reason == "" || c.Reason == reason)
}

func (ch *chaos) patchClass(t *testing.T, patch string) {
	t.Helper()
	ch.kubectl(t, "", "patch", "simnodeclass", "chaos", "--type=merge", "-p", patch)
}

// TestChaos runs the scenarios in order on one cluster and prints the table.
func TestChaos(t *testing.T) {
	full := os.Getenv("CHAOS") == "full"
	ch := newChaos(t)
	ctx := context.Background()
	// The full run consolidates after 5 s, which exposes emptiness deleting nodes launched for
	// pods that have not bound yet (reported to pkg/controllers/disruption); the short run
	// gives them 20 s.
	consolidateAfter := "20s"
	if full {
		consolidateAfter = "5s"
	}
	ch.kubectl(t, fmt.Sprintf(chaosNodePool, consolidateAfter), "apply", "-f", "-")
	ch.start(t, "a")
	var rows []*row
	run := func(name, faults string, replicas int, body func(t *testing.T, s *sampler, r *row) time.Time) {
		if t.Failed() {
			return // a broken cluster would fail every later scenario
		}
		if !chaosScenarioSelected(name) {
			return // CHAOS_SCENARIO names others
		}
		r := &row{scenario: name, faults: faults}
		rows = append(rows, r)
		t.Run(name, func(t *testing.T) {
			s := ch.sample(ctx)
			s.expect(replicas)
			since := body(t, s, r)
			ch.converge(t, ctx, r, replicas, since)
			r.pdbViolations, r.budgetViolations, r.duplicates = s.finish()
			if n := ch.takeRestarts(); n > 0 {
				r.extra = strings.TrimPrefix(fmt.Sprintf("%s; %d replica restarts after an exit of its own (lease lost under load)", r.extra, n), "; ")
			}
			if r.leaked+r.orphans+r.stuck+r.duplicates+r.pdbViolations+r.budgetViolations > 0 {
				t.Errorf("%s: leaked %d, orphans %d, stuck %d, duplicates %d, PDB violations %d, budget violations %d",
					name, r.leaked, r.orphans, r.stuck, r.duplicates, r.pdbViolations, r.budgetViolations)
			}
		})
	}

	run("kill-at-launch", "SIGKILL while Create is in flight (4 s launches), restart", 8, func(t *testing.T, s *sampler, r *row) time.Time {
		ch.patchClass(t, `{"spec":{"launchDelay":"4s"}}`)
		ch.scale(t, s, 8)
		ch.waitFor(t, 2*time.Minute, "a launch in flight", func(w *world) bool {
			for i := range w.claims {
				if hasCondition(&w.claims[i], v1.ConditionTypeLaunched, v1.ConditionReasonLaunching, "Unknown") {
					return true
				}
			}
			return false
		})
		ch.kill(t, "a")
		at := time.Now()
		ch.start(t, "a")
		return at
	})
	run("kill-at-registration", "SIGKILL between launch and Node registration (5 s boots), restart", 16, func(t *testing.T, s *sampler, r *row) time.Time {
		ch.patchClass(t, `{"spec":{"launchDelay":null,"bootDelay":"5s"}}`)
		ch.scale(t, s, 16)
		ch.waitFor(t, 2*time.Minute, "a launched, unregistered NodeClaim", func(w *world) bool {
			for i := range w.claims {
				if hasCondition(&w.claims[i], v1.ConditionTypeLaunched, "", "True") && !hasCondition(&w.claims[i], v1.ConditionTypeRegistered, "", "True") {
					return true
				}
			}
			return false
		})
		ch.kill(t, "a")
		at := time.Now()
		ch.start(t, "a")
		return at
	})
	run("kill-at-drain", "delete a NodeClaim holding pods; SIGKILL while it drains (evictions under the PDB), restart", 16, func(t *testing.T, s *sampler, r *row) time.Time {
		ch.patchClass(t, `{"spec":{"bootDelay":"1s"}}`)
		var victim string
		ch.waitFor(t, time.Minute, "a NodeClaim holding pods", func(w *world) bool {
			for _, nc := range w.claims {
				for _, p := range w.pods {
					if nc.Status.NodeName != "" && p.Spec.NodeName == nc.Status.NodeName {
						victim = nc.Name
						return true
					}
				}
			}
			return false
		})
		ch.kubectl(t, "", "delete", "nodeclaim", victim, "--wait=false")
		ch.waitFor(t, time.Minute, "the NodeClaim draining", func(w *world) bool { return w.deleting() > 0 })
		ch.kill(t, "a")
		at := time.Now()
		time.Sleep(2 * time.Second)
		ch.start(t, "a")
		return at
	})
	run("leader-failover", "2 replicas; SIGKILL the leader, then scale 16 -> 10", 10, func(t *testing.T, s *sampler, r *row) time.Time {
		ch.start(t, "b")
		var leader, holder string
		for deadline := time.Now().Add(time.Minute); leader == "" || holder == ""; {
			if time.Now().After(deadline) {
				t.Fatalf("no leader among the replicas (lease holder %q)", holder)
			}
			time.Sleep(200 * time.Millisecond)
			leader, holder = ch.leaderReplica(), ch.leader(ctx)
		}
		ch.kill(t, leader)
		at := time.Now()
		for ch.leader(ctx) == holder || ch.leader(ctx) == "" {
			if time.Since(at) > 2*time.Minute {
				t.Fatal("no new leader within 2 minutes")
			}
			time.Sleep(100 * time.Millisecond)
		}
		failover := time.Since(at)
		r.extra = fmt.Sprintf("failover %v", failover.Round(100*time.Millisecond))
		t.Logf("leader %s killed; a new leader holds the lease after %v", leader, failover.Round(100*time.Millisecond))
		ch.scale(t, s, 10)
		ch.start(t, leader) // back as the standby
		return at
	})
	run("etcd-pause-apiserver-restart", "scale 10 -> 14; SIGSTOP etcd 5 s; SIGKILL and restart kube-apiserver", 14, func(t *testing.T, s *sampler, r *row) time.Time {
		ch.scale(t, s, 14)
		time.Sleep(2 * time.Second)
		at := time.Now()
		ch.signal(t, "etcd", syscall.SIGSTOP)
		time.Sleep(5 * time.Second)
		ch.signal(t, "etcd", syscall.SIGCONT)
		time.Sleep(2 * time.Second)
		ch.signal(t, "kube-apiserver", syscall.SIGKILL)
		time.Sleep(time.Second)
		if out, err := ch.cp("up"); err != nil {
			t.Fatalf("restarting kube-apiserver: %v\n%s", err, out)
		}
		return at
	})
	run("spot-interruption-10pct", "interruption notice for 10 % of the instances at once", 14, func(t *testing.T, s *sampler, r *row) time.Time {
		var list simv1alpha1.SimInstanceList
		if err := ch.kube.List(ctx, &list); err != nil {
			t.Fatal(err)
		}
		n := int(math.Ceil(float64(len(list.Items)) / 10))
		at := time.Now()
		notified := map[string]bool{}
		for i := range n {
			inst := &list.Items[i]
			patch := fmt.Sprintf(`{"status":{"interruptedAt":%q}}`, time.Now().UTC().Format(time.RFC3339))
			if err := ch.kube.Patch(ctx, inst, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
				t.Fatal(err)
			}
			notified[inst.Spec.NodeClaim] = true
		}
		r.extra = fmt.Sprintf("%d of %d interrupted", n, len(list.Items))
		// Each interrupted instance's NodeClaim is deleting or already gone: a drained KWOK
		// node can terminate between two samples.
		ch.waitFor(t, time.Minute, "interrupted NodeClaims deleted", func(w *world) bool {
			for _, nc := range w.claims {
				if notified[nc.Name] && nc.DeletionTimestamp == nil {
					return false
				}
			}
			return true
		})
		return at
	})
	run("api-429-and-conflicts", "replicas behind a proxy: every 7th request 429, every 5th write 409; scale 14 -> 20", 20, func(t *testing.T, s *sampler, r *row) time.Time {
		proxy := &faultProxy{throttleEvery: 7, conflictEvery: 5}
		kubeconfig := ch.startFaultProxy(t, proxy)
		for _, name := range ch.running() {
			ch.kill(t, name)
		}
		at := time.Now()
		ch.startWith(t, "p", kubeconfig)
		ch.scale(t, s, 20)
		t.Cleanup(func() { r.extra = proxy.String() })
		ch.waitFor(t, 3*time.Minute, "20 pods running through the proxy", func(w *world) bool { return w.running() == 20 })
		r.extra = proxy.String()
		// Back to a direct replica for the next scenarios.
		ch.kill(t, "p")
		ch.start(t, "a")
		return at
	})
	killScenarios(ch, run)
	fenceScenario(ch, run)
	cloudFaultScenarios(t, ch, run, full)
	if full {
		run("burst-while-consolidating", "scale 20 -> 0, then at once 0 -> 120 while empty nodes are deleted", 120, func(t *testing.T, s *sampler, r *row) time.Time {
			ch.scale(t, s, 0)
			ch.waitFor(t, 2*time.Minute, "consolidation under way", func(w *world) bool { return w.deleting() > 0 })
			at := time.Now()
			ch.scale(t, s, 120)
			return at
		})
		loadScenario(ch, run)
	}
	run("scale-to-zero", "scale to 0: every NodeClaim, instance and Node goes", 0, func(t *testing.T, s *sampler, r *row) time.Time {
		// The nodes empty two at a time (the pool's budget), one command about every 25 s
		// (the 15 s validation, then the 10 s pass that sees the budget free again, as
		// upstream): some 12.5 s a node, 20 s allowed on a loaded machine, 10 minutes at
		// least. The short form's scenarios leave some 15 nodes; the 5,000-pod burst leaves
		// up to ~190.
		nodes := 0
		if w, err := ch.read(context.Background(), chaosApp); err == nil {
			nodes = len(w.claims)
		}
		r.timeout = max(10*time.Minute, time.Duration(nodes)*20*time.Second+5*time.Minute)
		ch.scale(t, s, 0)
		return time.Now()
	})

	var b strings.Builder
	fmt.Fprintf(&b, "\n%-30s %-6s %-7s %-5s %-5s %-4s %-6s %-9s %s\n", "scenario", "leaked", "orphans", "dups", "stuck", "PDB", "budget", "converge", "faults")
	for _, r := range rows {
		conv := r.converge.Round(100 * time.Millisecond).String()
		if r.converge < 0 {
			conv = "no"
		}
		faults := r.faults
		if r.extra != "" {
			faults += " (" + r.extra + ")"
		}
		fmt.Fprintf(&b, "%-30s %-6d %-7d %-5d %-5d %-4d %-6d %-9s %s\n", r.scenario, r.leaked, r.orphans, r.duplicates, r.stuck, r.pdbViolations, r.budgetViolations, conv, faults)
	}
	t.Log(b.String())
	fmt.Println(b.String())
}
