package e2e

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The scale suite (`make scale`, SCALE=1; skipped otherwise): the controller, on the
// simulated cloud, provisions 2,000 nodes for 20,000 pods on the local control plane with
// KWOK (a ReplicaSet's pods); once everything runs, a quiet window measures the controller process's resident
// memory and CPU use while nothing changes; then 1,000 bare pods arrive at once and the
// suite times their NodeClaims and bindings. Goals (issue 10): at most 150 MiB resident and
// under 5 % of one core while quiet.
//
// Knobs (environment): SCALE_NODES (2000), SCALE_WAVE (pods created per wave, 4000),
// SCALE_QUIET (quiet window, 2m), SCALE_WAVE_TIMEOUT (20m), SCALE_BURST (1000, 0 skips the burst), SCALE_PROFILE_DIR
// (when set, CPU profiles of the controller over the quiet window, quiet-cpu.pprof, and of
// 30 s after it, cpu.pprof, and a heap profile, heap.pprof and as text with the runtime's
// MemStats, heap.txt, are saved there),
// SCALE_KARPENTER_BIN (a controller binary to measure instead of this tree's), SCALE_FLAP
// (off; when set, KWOK is paused that long and then left running 30 s, over and over through
// the quiet window: every node's lease lapses, kube-controller-manager marks it NotReady and
// taints it, then it is Ready again, as when KWOK cannot keep up with the leases; the window
// then measures the controller while nodes flap).

const (
	scalePodsPerNode = 10
	// scaleSettleMax bounds the wait for the consolidation sweep after the ramp.
	scaleSettleMax = 5 * time.Minute
	// scaleSingleEvaluations is the count of single-node consolidation's runs.
	scaleSingleEvaluations = `karpenter_voluntary_disruption_decision_evaluation_duration_seconds_count{consolidation_type="single",method="single-node consolidation"}`
	// scalePodCPU makes exactly 10 pods fit an m5.large (1930m allocatable: 11 x 180m =
	// 1980m does not), so 20,000 pods need 2,000 nodes whatever kube-scheduler does.
	scalePodCPU    = "180m"
	scaleNamespace = "scale"
	burstNamespace = "burst"
	scaleGoalRSS   = 150.0 // MiB
	scaleGoalCPU   = 5.0   // % of one core
)

// The scale pool launches m5.large only and taints its nodes, so the burst's pods (which do
// not tolerate the taint) need new nodes of the burst pool, a copy of config/samples'
// NodePool with the 2 s boots the issue timed.
const scaleNodePools = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: scale}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.sim.sh, kind: SimNodeClass, name: scale}
      taints: [{key: scale, value: "true", effect: NoSchedule}]
      requirements:
        - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 30s}
  limits: {cpu: "10000"}
---
apiVersion: karpenter.sim.sh/v1alpha1
kind: SimNodeClass
metadata: {name: scale}
spec: {bootDelay: 1s}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: burst}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.sim.sh, kind: SimNodeClass, name: burst}
      requirements:
        - {key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}
        - {key: karpenter.k8s.aws/instance-generation, operator: Gt, values: ["4"]}
  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 30s, budgets: [{nodes: "10%"}]}
  limits: {cpu: "1000", memory: 4000Gi}
---
apiVersion: karpenter.sim.sh/v1alpha1
kind: SimNodeClass
metadata: {name: burst}
spec: {bootDelay: 2s}
`

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: not a count", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: not a duration", name, v)
	}
	return d
}

// scaleReplicaSet owns the scale pods, so a pod evicted from a node kube-controller-manager
// found NotReady comes back (a bare pod would be gone for good, and the cluster smaller than
// the figures say). Its replicas grow a wave at a time.
func scaleReplicaSet(replicas int32) *appsv1.ReplicaSet {
	zero := int64(0)
	labels := map[string]string{"app": "scale"}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: scaleNamespace, Labels: labels},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &zero,
					NodeSelector:                  map[string]string{"karpenter.sh/nodepool": "scale"},
					Tolerations:                   []corev1.Toleration{{Key: "scale", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule}},
					Containers: []corev1.Container{{Name: "app", Image: "app.invalid/scale:1", Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(scalePodCPU), corev1.ResourceMemory: resource.MustParse("256Mi")},
					}}},
				},
			},
		},
	}
}

// scaleClusterEnv is the control plane's configuration for the suite, each knob left to the
// environment when set there: kube-controller-manager's client rate (it creates the
// ReplicaSet's pods: 20/s by default), and KWOK's parallelism, pods and nodes through
// their stages and node lease renewals (4 each by default: at 1,000 nodes on a loaded
// machine leases lapsed, and nodes flapped NotReady and had their pods evicted).
func scaleClusterEnv() []string {
	var env []string
	for _, kv := range []string{"CP_KCM_QPS=500", "CP_KCM_BURST=1000", "CP_KWOK_POD_PARALLELISM=16",
		"CP_KWOK_NODE_PARALLELISM=16", "CP_KWOK_LEASE_PARALLELISM=32"} {
		if name, _, _ := strings.Cut(kv, "="); os.Getenv(name) == "" {
			env = append(env, kv)
		}
	}
	return env
}

// scaleFigures are the table's rows.
type scaleFigures struct {
	nodes, pods                     int
	rampUp                          time.Duration
	settle                          time.Duration
	rssStart, rssEnd, rssMax        float64
	rssAnon, rssFile                float64
	cpuPct                          float64
	heapInuse                       float64
	quiet                           time.Duration
	scrapeTime, scrapeCPU           time.Duration
	quietUpdates                    map[string]int
	quietNodeChanges                map[string]int
	burst, burstClaims              int
	burstFirstClaim, burstAllClaims time.Duration
	burstAllBound, burstCreate      time.Duration
	burstRSSMax                     float64
	extraClaims                     int
}

func TestScale(t *testing.T) {
	if os.Getenv("SCALE") == "" {
		t.Skip("the scale suite runs with make scale (SCALE=1)")
	}
	nodes := envInt(t, "SCALE_NODES", 2000)
	wave := max(1, envInt(t, "SCALE_WAVE", 4000))
	quiet := envDuration(t, "SCALE_QUIET", 2*time.Minute)
	// How long a wave may take to bind: the API server, kube-scheduler and KWOK set the pace
	// (on a 2-core machine shared with other clusters, 4,000 pods took over 10 minutes).
	waveTimeout := envDuration(t, "SCALE_WAVE_TIMEOUT", 20*time.Minute)
	burst := envInt(t, "SCALE_BURST", 1000)
	profiles := os.Getenv("SCALE_PROFILE_DIR")
	total := nodes * scalePodsPerNode

	// kube-scheduler binds 20,000 pods at its client's rate: cp.sh raises it to 500 a second.
	c := startCluster(t, scaleClusterEnv()...)
	bin := os.Getenv("SCALE_KARPENTER_BIN") // another build to compare with, else this tree's
	if bin == "" {
		bin = buildKarpenter(t, c.root)
	}
	// Profiling only when profiles are wanted: without it the controller samples no heap
	// profile (see runController), as deployed.
	var flags []string
	if profiles != "" {
		flags = append(flags, "--enable-profiling")
	}
	ctl := c.startController(t, bin, flags...)
	proc := process{pid: ctl.cmd.Process.Pid}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d", ctl.metrics)
	w := newWatcher(t, c)
	ctx := context.Background()
	c.kubectl(t, scaleNodePools, "apply", "-f", "-")
	for _, ns := range []string{scaleNamespace, burstNamespace} {
		if err := w.kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		// Pods are refused until kube-controller-manager made the namespace's default
		// ServiceAccount.
		eventually(t, time.Minute, "the default ServiceAccount of "+ns, func() (bool, string) {
			err := w.kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
			return err == nil, fmt.Sprint(err)
		})
	}
	f := &scaleFigures{}
	rssMax := 0.0
	sampleRSS := func() float64 {
		rss, err := proc.rssMiB()
		if err != nil {
			t.Fatalf("reading the controller's memory: %v", err)
		}
		rssMax = max(rssMax, rss)
		return rss
	}

	// Ramp up in waves: the ReplicaSet grows by a wave once the last wave's pods are bound,
	// so the pending set stays at a wave's size (kube-scheduler binds at its client's rate).
	start := time.Now()
	rs := scaleReplicaSet(0)
	if err := w.kube.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	for created := 0; created < total; {
		created += min(wave, total-created)
		patch := client.MergeFrom(rs.DeepCopy())
		rs.Spec.Replicas = ptr.To(int32(created))
		if err := w.kube.Patch(ctx, rs, patch); err != nil {
			t.Fatalf("scaling the ReplicaSet to %d: %v", created, err)
		}
		waitCensus(t, w, waveTimeout, fmt.Sprintf("%d scale pods bound", created), scaleNamespace, "scale", func(s census) bool {
			sampleRSS()
			return s.bound >= created
		})
		s := w.count(ctx, t, scaleNamespace, "scale")
		t.Logf("%v: %s; controller RSS %.0f MiB", time.Since(start).Round(time.Second), s, sampleRSS())
	}
	waitCensus(t, w, waveTimeout, "every scale pod running on a ready, initialized node, none extra", scaleNamespace, "scale", func(s census) bool {
		sampleRSS()
		return s.pods == total && s.running == s.pods && s.claims == nodes && s.claimsReady == nodes && s.nodesReady == nodes && s.claimsDeleting == 0
	})
	f.rampUp = time.Since(start)
	f.nodes, f.pods = nodes, w.count(ctx, t, scaleNamespace, "scale").pods

	// Settle: the last bindings' follow-ups (lastPodEventTime stamps, Consolidatable
	// conditions, and the single-node consolidation sweep of every node that starts once
	// their consolidateAfter ends: ~10 s of CPU over several passes at 2,000 nodes) are not
	// the steady state. Wait at least 45 s, and until single-node consolidation has not run
	// for 30 s (it stops once it has swept every candidate), at most scaleSettleMax. Each
	// look is a /metrics scrape, before the window.
	settleStart := time.Now()
	singleRuns := func() float64 { return metric(metricsURL+"/metrics", scaleSingleEvaluations) }
	runs, ranAt := singleRuns(), time.Now()
	for time.Since(settleStart) < 45*time.Second || (time.Since(ranAt) < 30*time.Second && time.Since(settleStart) < scaleSettleMax) {
		time.Sleep(10 * time.Second)
		if n := singleRuns(); n != runs {
			runs, ranAt = n, time.Now()
		}
	}
	f.settle = time.Since(settleStart)
	if runs == 0 {
		t.Errorf("single-node consolidation never ran while settling (no %s at /metrics)", scaleSingleEvaluations)
	}

	// The quiet window.
	f.quiet = quiet
	w.resetUpdates()
	cpu0, err := proc.cpu()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	f.rssStart = sampleRSS()
	rssMax = f.rssStart
	// With SCALE_PROFILE_DIR, a CPU profile of the whole window: what the quiet controller
	// spends its CPU on (the profiles after the window show only the end of it).
	windowProfile := make(chan error, 1)
	if profiles != "" {
		if err := os.MkdirAll(profiles, 0o755); err != nil {
			t.Fatal(err)
		}
		// allocs-start.pprof and allocs-end.pprof bracket the window: what the quiet
		// controller allocates is the difference (go tool pprof -base allocs-start.pprof
		// allocs-end.pprof), the garbage that sets how often it collects.
		if err := fetch(metricsURL+"/debug/pprof/allocs", filepath.Join(profiles, "allocs-start.pprof")); err != nil {
			t.Errorf("saving the allocation profile: %v", err)
		}
		go func() {
			url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", metricsURL, int(quiet.Seconds()))
			windowProfile <- fetchWithin(url, filepath.Join(profiles, "quiet-cpu.pprof"), quiet+time.Minute)
		}()
	} else {
		windowProfile <- nil
	}
	stopFlapping := flapNodes(t, c, envDuration(t, "SCALE_FLAP", time.Hour), os.Getenv("SCALE_FLAP") != "")
	for time.Since(t0) < quiet {
		time.Sleep(5 * time.Second)
		sampleRSS()
	}
	stopFlapping()
	if err := <-windowProfile; err != nil {
		t.Errorf("saving the quiet window's CPU profile: %v", err)
	}
	cpu1, err := proc.cpu()
	if err != nil {
		t.Fatal(err)
	}
	f.cpuPct = 100 * float64(cpu1-cpu0) / float64(time.Since(t0))
	f.rssEnd, f.rssMax = sampleRSS(), rssMax
	// The resident memory's anonymous part (heap, stacks, runtime) and its file-backed part
	// (the binary's pages in use): only the first grows with the cluster.
	f.rssAnon, _ = proc.status("RssAnon")
	f.rssFile, _ = proc.status("RssFile")
	// One scrape, after the window: the per-object families are computed when scraped.
	scrape0, _ := proc.cpu()
	t1 := time.Now()
	f.heapInuse = metric(metricsURL+"/metrics", "go_memstats_heap_inuse_bytes") / (1 << 20)
	f.scrapeTime = time.Since(t1)
	if scrape1, err := proc.cpu(); err == nil {
		f.scrapeCPU = scrape1 - scrape0
	}
	f.quietUpdates, f.quietNodeChanges = w.resetUpdates()
	if s := w.count(ctx, t, scaleNamespace, "scale"); s.claims != nodes || s.running != f.pods {
		t.Errorf("the cluster changed during the quiet window: %s", s)
	}
	if profiles != "" {
		if err := os.MkdirAll(profiles, 0o755); err != nil {
			t.Fatal(err)
		}
		// heap.txt ends with the runtime's MemStats (heap in use, idle, released, the next
		// collection's goal): what of the resident memory is live heap and what is not.
		for name, path := range map[string]string{"allocs-end.pprof": "/debug/pprof/allocs", "cpu.pprof": "/debug/pprof/profile?seconds=30", "heap.pprof": "/debug/pprof/heap", "heap.txt": "/debug/pprof/heap?debug=1"} {
			if err := fetch(metricsURL+path, filepath.Join(profiles, name)); err != nil {
				t.Errorf("saving the %s profile: %v", name, err)
			}
		}
	}

	if burst > 0 {
		f.burst = burst
		f.burstCreate, f.burstFirstClaim, f.burstAllClaims, f.burstAllBound, f.burstClaims = runBurst(t, w, burst, sampleRSS)
		f.burstRSSMax = rssMax
	}
	s := w.count(ctx, t, scaleNamespace, "scale")
	f.extraClaims = s.claims - nodes

	table := f.table()
	t.Log(table)
	fmt.Println(table)
	if f.rssEnd > scaleGoalRSS {
		t.Errorf("resident memory %.0f MiB while quiet, goal at most %.0f MiB", f.rssEnd, scaleGoalRSS)
	}
	if f.cpuPct >= scaleGoalCPU {
		t.Errorf("CPU %.1f %% of a core while quiet, goal under %.0f %%", f.cpuPct, scaleGoalCPU)
	}
}

// flapNodes, when on, pauses KWOK for pause, resumes it for 30 s, and so on until the
// returned stop is called (KWOK is left running).
func flapNodes(t *testing.T, c *cluster, pause time.Duration, on bool) (stop func()) {
	t.Helper()
	if !on {
		return func() {}
	}
	b, err := os.ReadFile(filepath.Join(c.run, "kwok.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("kwok.pid: %v", err)
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
		for {
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Errorf("pausing kwok: %v", err)
				return
			}
			select {
			case <-done:
				return
			case <-time.After(pause):
			}
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("resuming kwok: %v", err)
				return
			}
			select {
			case <-done:
				return
			case <-time.After(30 * time.Second):
			}
		}
	}()
	return func() { close(done); <-finished }
}

// runBurst creates n bare pods at once and returns how long the creates took, and, from
// the last pod's creation, the first and the last of the burst pool's NodeClaims and the
// last binding.
func runBurst(t *testing.T, w *watcher, n int, sampleRSS func() float64) (create, first, allClaims, allBound time.Duration, claims int) {
	t.Helper()
	ctx := context.Background()
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		pods[i] = burstPod(burstNamespace, i)
	}
	begin := time.Now()
	last := w.createPods(ctx, t, pods)
	create = last.Sub(begin)
	waitCensus(t, w, 5*time.Minute, fmt.Sprintf("%d burst pods bound", n), burstNamespace, "burst", func(s census) bool {
		sampleRSS()
		return s.bound == n
	})
	list := &corev1.PodList{}
	if err := w.cache.List(ctx, list, client.InNamespace(burstNamespace)); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range list.Items {
		if at := w.boundAt[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}]; at.Sub(last) > allBound {
			allBound = at.Sub(last)
		}
	}
	var times []time.Time
	for name, at := range w.claimAt {
		if strings.HasPrefix(name, "burst-") && !at.Before(begin) {
			times = append(times, at)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	if len(times) > 0 {
		first, allClaims = times[0].Sub(last), times[len(times)-1].Sub(last)
	}
	return create, first, allClaims, allBound, len(times)
}

// waitCensus polls the informers' counts until ok or the timeout.
func waitCensus(t *testing.T, w *watcher, timeout time.Duration, what, namespace, pool string, ok func(census) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last census
	for time.Now().Before(deadline) {
		last = w.count(context.Background(), t, namespace, pool)
		if ok(last) {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s not reached within %v; last: %s", what, timeout, last)
}

func (f *scaleFigures) table() string {
	var b strings.Builder
	row := func(name, value, goal string) { fmt.Fprintf(&b, "%-44s %-22s %s\n", name, value, goal) }
	fmt.Fprintf(&b, "\nscale figures (controller on the simulated cloud, local control plane with KWOK)\n")
	row("figure", "value", "goal")
	row("nodes / pods held", fmt.Sprintf("%d / %d", f.nodes, f.pods), "2000 / 20000")
	// The controller inherits the suite's environment: MEMORY_LIMIT (bytes, as the Helm chart
	// sets it from the container's limit) sets the Go runtime's soft limit to 90 % of it.
	row("controller MEMORY_LIMIT (GOMEMLIMIT = 90 %)", cmp.Or(os.Getenv("MEMORY_LIMIT"), "none"), "")
	row("ramp-up (pods created in waves to all Running)", f.rampUp.Round(time.Second).String(), "")
	row("settle (at least 45 s, until single-node consolidation idle 30 s)", f.settle.Round(time.Second).String(), "")
	row("controller RSS, quiet window start / end", fmt.Sprintf("%.0f / %.0f MiB", f.rssStart, f.rssEnd), fmt.Sprintf("<= %.0f MiB", scaleGoalRSS))
	row("controller RSS, max in quiet window", fmt.Sprintf("%.0f MiB", f.rssMax), "")
	row("  of the RSS at the end, anonymous / file-backed", fmt.Sprintf("%.0f / %.0f MiB", f.rssAnon, f.rssFile), "")
	row("controller Go heap in use (end)", fmt.Sprintf("%.0f MiB", f.heapInuse), "")
	row(fmt.Sprintf("controller CPU over %v quiet", f.quiet), fmt.Sprintf("%.2f %% of a core", f.cpuPct), fmt.Sprintf("< %.0f %%", scaleGoalCPU))
	row("one /metrics scrape after the window: wall / CPU", fmt.Sprintf("%v / %v", f.scrapeTime.Round(time.Millisecond), f.scrapeCPU), "")
	row("updates seen while quiet (Pod/Node/NodeClaim)", fmt.Sprintf("%d / %d / %d", f.quietUpdates["Pod"], f.quietUpdates["Node"], f.quietUpdates["NodeClaim"]), "")
	nodeUpdates := f.quietNodeChanges["heartbeat"] + f.quietNodeChanges["health"] + f.quietNodeChanges["other"]
	row("  of the Node updates, heartbeats only", fmt.Sprintf("%d of %d", f.quietNodeChanges["heartbeat"], nodeUpdates), "")
	row("  of the Node updates, other health (Ready flaps)", fmt.Sprintf("%d of %d", f.quietNodeChanges["health"], nodeUpdates), "")
	if f.burst > 0 {
		row(fmt.Sprintf("burst: %d bare pods, creates took", f.burst), f.burstCreate.Round(10*time.Millisecond).String(), "")
		row("burst: last pod created -> first NodeClaim", f.burstFirstClaim.Round(10*time.Millisecond).String(), "")
		row("burst: last pod created -> last NodeClaim", f.burstAllClaims.Round(10*time.Millisecond).String(), "<= 1.5s")
		row("burst: last pod created -> all pods bound", f.burstAllBound.Round(10*time.Millisecond).String(), "<= boot 2s + 5s")
		row("burst: NodeClaims launched", strconv.Itoa(f.burstClaims), "")
		row("burst: controller RSS max", fmt.Sprintf("%.0f MiB", f.burstRSSMax), "")
	}
	row(fmt.Sprintf("scale NodeClaims beyond the %d at the end", f.nodes), strconv.Itoa(f.extraClaims), "0")
	return b.String()
}
