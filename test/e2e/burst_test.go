package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// burstNodePool is the sample NodePool a new user starts with (config/samples), with
// consolidation held off so the nodes the burst launched are the ones measured.
func burstNodePool(bootDelay time.Duration) string {
	return fmt.Sprintf(`apiVersion: karpenter.sh/v1
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
  disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: 10m}
  limits: {cpu: "4000"}
---
apiVersion: karpenter.sim.sh/v1alpha1
kind: SimNodeClass
metadata: {name: burst}
spec:
  zones: [us-east-1a, us-east-1b, us-east-1c]
  bootDelay: %s
`, bootDelay)
}

// burstPod is the i-th bare pod of a burst in namespace ns, as the new user created
// them: 100m to 1 CPU, 256Mi per 100m, labelled app=burst. TestBurst and TestScale both
// burst with it.
func burstPod(ns string, i int) *corev1.Pod {
	milli := []int64{100, 250, 500, 750, 1000}[i%5]
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("burst-%04d", i), Namespace: ns, Labels: map[string]string{"app": "burst"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "app", Image: "app.invalid/burst:1",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    *resource.NewMilliQuantity(milli, resource.DecimalSI),
					corev1.ResourceMemory: *resource.NewQuantity(milli*256/100*1024*1024, resource.BinarySI),
				}},
			}},
		},
	}
}

// adminClient returns the cluster's admin REST config (tune adjusts it first), the
// project's scheme and a client on both: the setup every e2e suite that talks to the API
// server itself shares.
func (c *cluster) adminClient(t *testing.T, tune func(*rest.Config)) (*rest.Config, *runtime.Scheme, client.Client) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(c.run, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	tune(cfg)
	scheme, err := test.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	kube, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, scheme, kube
}

// burstClients returns a client with no client-side rate limit (a burst is created "at
// once") and an informer cache, both on the cluster's admin kubeconfig.
func burstClients(t *testing.T, c *cluster) (client.Client, cache.Cache) {
	t.Helper()
	cfg, scheme, kube := c.adminClient(t, func(cfg *rest.Config) { cfg.QPS = -1 })
	ctrllog.SetLogger(logr.Discard()) // the informers' watch-closed lines are noise here
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return kube, informers
}

// createAll creates the n objects obj returns, workers at a time, and fails the test if
// any create fails.
func createAll(ctx context.Context, t *testing.T, kube client.Client, workers, n int, obj func(i int) client.Object) {
	t.Helper()
	var mu sync.Mutex
	var createErr error
	workqueue.ParallelizeUntil(ctx, workers, n, func(i int) {
		if err := kube.Create(ctx, obj(i)); err != nil {
			mu.Lock()
			createErr = err
			mu.Unlock()
		}
	})
	if createErr != nil {
		t.Fatalf("creating %d objects: %v", n, createErr)
	}
}

func newBurstTimes() *burstTimes {
	return &burstTimes{claims: map[string]time.Time{}, bound: map[string]time.Time{}, running: map[string]time.Time{},
		nodeAdded: map[string]time.Time{}, nodeReady: map[string]time.Time{}, boundOn: map[string][]time.Time{}}
}

// burstTimes are what a watch saw, each the time the event arrived.
type burstTimes struct {
	mu      sync.Mutex
	claims  map[string]time.Time // NodeClaim added
	bound   map[string]time.Time // pod got spec.nodeName
	running map[string]time.Time // pod Running
	// per node: when it appeared, when it turned Ready, and when the burst's pods were
	// bound to it (the first and the last), to show where a burst's seconds go
	nodeAdded map[string]time.Time
	nodeReady map[string]time.Time
	boundOn   map[string][]time.Time
}

// watch records the times from informers, which list again when a watch breaks (a slow
// watcher is dropped by the API server during a burst).
func (b *burstTimes) watch(ctx context.Context, t *testing.T, informers cache.Cache) {
	t.Helper()
	claims, err := informers.GetInformer(ctx, &v1.NodeClaim{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := claims.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if nc, ok := obj.(*v1.NodeClaim); ok {
			b.mu.Lock()
			if _, seen := b.claims[nc.Name]; !seen {
				b.claims[nc.Name] = time.Now()
			}
			b.mu.Unlock()
		}
	}}); err != nil {
		t.Fatal(err)
	}
	pods, err := informers.GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	onPod := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Labels["app"] != "burst" {
			return
		}
		now := time.Now()
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, seen := b.bound[p.Name]; !seen && p.Spec.NodeName != "" {
			b.bound[p.Name] = now
			b.boundOn[p.Spec.NodeName] = append(b.boundOn[p.Spec.NodeName], now)
		}
		if _, seen := b.running[p.Name]; !seen && p.Status.Phase == corev1.PodRunning {
			b.running[p.Name] = now
		}
	}
	if _, err := pods.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: onPod, UpdateFunc: func(_, obj any) { onPod(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	nodes, err := informers.GetInformer(ctx, &corev1.Node{})
	if err != nil {
		t.Fatal(err)
	}
	onNode := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return
		}
		now := time.Now()
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, seen := b.nodeAdded[n.Name]; !seen {
			b.nodeAdded[n.Name] = now
		}
		if _, seen := b.nodeReady[n.Name]; !seen && nodeReady(n) {
			b.nodeReady[n.Name] = now
		}
	}
	if _, err := nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: onNode, UpdateFunc: func(_, obj any) { onNode(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("informers did not sync")
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// logNodes logs, per node that holds burst pods, its timeline in seconds from ref: added,
// Ready, first and last burst pod bound, and how many.
func (b *burstTimes) logNodes(t *testing.T, ref time.Time) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.boundOn))
	for name := range b.boundOn {
		names = append(names, name)
	}
	slices.SortFunc(names, func(x, y string) int { return b.nodeAdded[x].Compare(b.nodeAdded[y]) })
	at := func(tm time.Time) string {
		if tm.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%.2fs", tm.Sub(ref).Seconds())
	}
	for _, name := range names {
		on := b.boundOn[name]
		t.Logf("node %s: added %s, Ready %s, pods bound %s..%s (%d)", name, at(b.nodeAdded[name]), at(b.nodeReady[name]),
			at(slices.MinFunc(on, time.Time.Compare)), at(slices.MaxFunc(on, time.Time.Compare)), len(on))
	}
}

func span(times map[string]time.Time) (first, last time.Time) {
	for _, at := range times {
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	return first, last
}

// TestBurst creates bare pods all at once (BURST=N pods; skipped without it) on the local control
// plane with the real controller, and measures from the moment the last pod exists: the
// first and the last NodeClaim, every pod bound, every pod Running; and the NodeClaims
// launched against a fresh plan (scheduling.Solve) of the same pods. The targets
// (all NodeClaims within 1.5 s of the last pod, every pod bound within the boot delay + 5 s)
// are reported; the test fails only on what must hold however loaded the machine is: every
// pod bound, no empty node, and no more than 25 % over the fresh plan's price. BURST_BOOT sets
// the simulated boot delay (default 2s, as config/samples); BURST_LOG=FILE keeps the
// controller's log in FILE, and kube-scheduler's and KWOK's in FILE.kube-scheduler and
// FILE.kwok (CP_SCHEDULER_ARGS=-v=3 makes kube-scheduler log every attempt and back-off);
// BURST_ARGS adds controller flags (e.g. --scheduling-hints).
func TestBurst(t *testing.T) {
	v := os.Getenv("BURST")
	if v == "" {
		t.Skip("set BURST=N (make burst): a burst takes minutes on a shared machine")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("BURST=%q: want a pod count", v)
	}
	boot := 2 * time.Second
	if v := os.Getenv("BURST_BOOT"); v != "" {
		var err error
		if boot, err = time.ParseDuration(v); err != nil {
			t.Fatalf("BURST_BOOT=%q: %v", v, err)
		}
	}
	c := startCluster(t)
	ctl := c.startController(t, buildKarpenter(t, c.root), strings.Fields(os.Getenv("BURST_ARGS"))...)
	c.kubectl(t, burstNodePool(boot), "apply", "-f", "-")

	kube, informers := burstClients(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	times := newBurstTimes()
	times.watch(ctx, t, informers)
	ctl.waitReady(t)

	start := time.Now()
	createAll(ctx, t, kube, 32, n, func(i int) client.Object { return burstPod("default", i) })
	lastPod := time.Now()
	t.Logf("%d pods created in %v", n, lastPod.Sub(start).Round(10*time.Millisecond))

	eventually(t, 5*time.Minute, "every burst pod Running", func() (bool, string) {
		times.mu.Lock()
		defer times.mu.Unlock()
		return len(times.running) == n, fmt.Sprintf("%d/%d bound, %d/%d Running, %d NodeClaims", len(times.bound), n, len(times.running), n, len(times.claims))
	})
	times.mu.Lock()
	firstClaim, lastClaim := span(times.claims)
	_, lastBound := span(times.bound)
	_, lastRunning := span(times.running)
	claimCount := len(times.claims)
	times.mu.Unlock()

	launched, launchedPrice, empty := launchedClaims(ctx, t, kube)
	fresh := freshPlan(ctx, t, kube)
	since := func(at time.Time) time.Duration { return at.Sub(lastPod).Round(10 * time.Millisecond) }
	t.Logf("burst of %d pods (boot %v): last pod -> first NodeClaim %v, -> last NodeClaim %v, -> all bound %v, -> all Running %v",
		n, boot, since(firstClaim), since(lastClaim), since(lastBound), since(lastRunning))
	t.Logf("NodeClaims: %d launched, $%.3f/h; fresh plan of the same pods: %d, $%.3f/h (%+.1f %%); controller peak RSS %.0f MiB",
		launched, launchedPrice, len(fresh.NewNodeClaims), fresh.Price, 100*(launchedPrice/fresh.Price-1), ctl.peakRSSMiB(t))
	times.logNodes(t, lastPod)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	t.Logf("target all NodeClaims within 1.5s of the last pod: %s; every pod bound within boot delay + 5s (%v): %s",
		verdict(since(lastClaim) <= 1500*time.Millisecond), boot+5*time.Second, verdict(since(lastBound) <= boot+5*time.Second))

	if dst := os.Getenv("BURST_LOG"); dst != "" {
		keep := map[string]string{dst: ctl.log}
		for _, name := range []string{"kube-scheduler", "kwok"} {
			keep[dst+"."+name] = filepath.Join(c.run, "logs", name+".log")
		}
		for to, from := range keep {
			if b, err := os.ReadFile(from); err == nil {
				_ = os.WriteFile(to, b, 0o644)
			}
		}
	}
	if claimCount != launched {
		t.Errorf("the watch saw %d NodeClaims, %d exist", claimCount, launched)
	}
	for _, name := range empty {
		t.Errorf("node %s was launched for the burst but holds no burst pod", name)
	}
	if launchedPrice > 1.25*fresh.Price {
		t.Errorf("the burst launched $%.3f/h, more than 25 %% over a fresh plan's $%.3f/h", launchedPrice, fresh.Price)
	}
}

// launchedClaims counts the NodeClaims, prices each at its launched offering and names the
// nodes that hold no pod.
func launchedClaims(ctx context.Context, t *testing.T, kube client.Client) (int, float64, []string) {
	t.Helper()
	var claims v1.NodeClaimList
	var pods corev1.PodList
	if err := kube.List(ctx, &claims); err != nil {
		t.Fatal(err)
	}
	if err := kube.List(ctx, &pods, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	its := instanceTypes(ctx, t, kube)
	used := map[string]bool{}
	for _, p := range pods.Items {
		used[p.Spec.NodeName] = true
	}
	var price float64
	var empty []string
	for _, nc := range claims.Items {
		p, ok := offeringPrice(its, nc.Labels[v1.LabelInstanceType], nc.Labels[v1.LabelTopologyZone], nc.Labels[v1.CapacityTypeLabelKey])
		if !ok {
			t.Errorf("NodeClaim %s: no offering %s/%s/%s in the catalogue", nc.Name, nc.Labels[v1.LabelInstanceType],
				nc.Labels[v1.LabelTopologyZone], nc.Labels[v1.CapacityTypeLabelKey])
		}
		price += p
		if !used[nc.Status.NodeName] {
			empty = append(empty, nc.Status.NodeName)
		}
	}
	return len(claims.Items), price, empty
}

func offeringPrice(its []*cloudprovider.InstanceType, name, zone, capacityType string) (float64, bool) {
	i := slices.IndexFunc(its, func(it *cloudprovider.InstanceType) bool { return it.Name == name })
	if i < 0 {
		return 0, false
	}
	for _, o := range its[i].Offerings {
		if o.Zone == zone && o.CapacityType == capacityType {
			return o.PricePerHour, true
		}
	}
	return 0, false
}

// instanceTypes are the burst NodePool's, as the controller's simulated cloud lists them.
func instanceTypes(ctx context.Context, t *testing.T, kube client.Client) []*cloudprovider.InstanceType {
	t.Helper()
	cloud, err := sim.New(sim.Options{Client: kube})
	if err != nil {
		t.Fatal(err)
	}
	var np v1.NodePool
	if err := kube.Get(ctx, client.ObjectKey{Name: "burst"}, &np); err != nil {
		t.Fatal(err)
	}
	its, err := cloud.GetInstanceTypes(ctx, &np)
	if err != nil {
		t.Fatal(err)
	}
	return its
}

// freshPlan plans the burst's pods on an empty cluster, as one batch would.
func freshPlan(ctx context.Context, t *testing.T, kube client.Client) *scheduling.Plan {
	t.Helper()
	var list corev1.PodList
	if err := kube.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"app": "burst"}); err != nil {
		t.Fatal(err)
	}
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		p := list.Items[i].DeepCopy()
		p.Spec.NodeName = ""
		pods[i] = p
	}
	return planOnEmpty(ctx, t, kube, pods)
}

// planOnEmpty plans pods on the burst NodePool of an empty cluster; a pod left
// unschedulable fails the test.
func planOnEmpty(ctx context.Context, t *testing.T, kube client.Client, pods []*corev1.Pod) *scheduling.Plan {
	t.Helper()
	var np v1.NodePool
	if err := kube.Get(ctx, client.ObjectKey{Name: "burst"}, &np); err != nil {
		t.Fatal(err)
	}
	its := instanceTypes(ctx, t, kube)
	pools, all, err := snapshot.NodePools([]*v1.NodePool{&np}, func(*v1.NodePool) ([]*cloudprovider.InstanceType, error) { return its, nil }, snapshot.Objects{})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(pods, snapshot.ComparePods)
	plan := scheduling.Solve(snapshot.Build(snapshot.Objects{}, pools, all), pods)
	if len(plan.Unschedulable) > 0 {
		t.Fatalf("a fresh plan leaves %d pods unschedulable: %s", len(plan.Unschedulable), plan.Unschedulable[0].Reason)
	}
	return plan
}

// waitReady waits until the controller answers its readiness probe (its informers synced),
// so the burst measures provisioning and not the controller's start.
func (ctl *controller) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, time.Minute, "controller ready", func() (bool, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", ctl.health))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	time.Sleep(2 * time.Second) // the provisioner waits for its cluster state after readiness
}
