package state

import (
	"context"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	cpfake "github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/state"
)

func rl(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

// TestReconcileExportsAndForgets: node gauges sum the pods on each node (daemon pods also on
// their own; requests as kube-scheduler counts them, sidecars included), utilization is
// requests over allocatable, nodepool usage and limits follow the NodePool, and the series
// of a node that is gone are deleted on the next pass.
func TestReconcileExportsAndForgets(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			Labels: map[string]string{v1.NodePoolLabelKey: "default", v1.LabelInstanceType: "m5.large", v1.LabelTopologyZone: "us-east-1a"}},
		Status: corev1.NodeStatus{Capacity: rl("2", "8Gi"), Allocatable: rl("1900m", "7Gi")},
	}
	app := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "app"}, Spec: corev1.PodSpec{NodeName: "n1",
		Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rl("500m", "1Gi"), Limits: rl("1", "2Gi")}}}}}
	daemon := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "agent",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "1", Controller: new(true)}}},
		// 450m as kube-scheduler counts it: 400m and a 50m sidecar (an init container that
		// keeps running), which the largest-init rule alone would have dropped.
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rl("400m", "1Gi")}}},
			InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: new(corev1.ContainerRestartPolicyAlways), Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}}}}}}
	done := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "done"}, Spec: app.Spec, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"},
		Spec:   v1.NodePoolSpec{Limits: v1.Limits{corev1.ResourceCPU: resource.MustParse("100")}},
		Status: v1.NodePoolStatus{Resources: rl("2", "8Gi")}}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(node, app, daemon, done, pool).Build()
	reg := prometheus.NewRegistry()
	cluster := state.NewCluster(state.Options{}) // fed as the informers feed it
	cluster.UpdateNode(node)
	for _, p := range []*corev1.Pod{app, daemon, done} {
		cluster.UpdatePod(p)
	}
	c, err := NewController(Deps{Client: kube, Cluster: cluster, CloudProvider: cpfake.New(cpfake.Options{}), Registerer: reg, Clock: clocktesting.NewFakeClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	labels := func(resourceType string) prometheus.Labels {
		l := NodeLabels(node)
		l[metrics.LabelResourceType] = resourceType
		return l
	}
	for name, tc := range map[string]struct {
		g    prometheus.Collector
		l    prometheus.Labels
		want float64
	}{
		"allocatable cpu":     {c.nodes.Allocatable, labels("cpu"), 1.9},
		"pod requests cpu":    {c.nodes.TotalPodRequests, labels("cpu"), 0.95},
		"pod limits memory":   {c.nodes.TotalPodLimits, labels("memory"), 2 << 30},
		"daemon requests cpu": {c.nodes.TotalDaemonRequests, labels("cpu"), 0.45},
		"overhead memory":     {c.nodes.SystemOverhead, labels("memory"), 1 << 30},
		"lifetime":            {c.nodes.CurrentLifetime, NodeLabels(node), 3600},
		"utilization cpu":     {c.nodes.ClusterUtilization, prometheus.Labels{metrics.LabelResourceType: "cpu"}, 50},
		"nodepool usage cpu":  {c.pools.Usage, prometheus.Labels{metrics.LabelNodePool: "default", metrics.LabelResourceType: "cpu"}, 2},
		"nodepool limit cpu":  {c.pools.Limit, prometheus.Labels{metrics.LabelNodePool: "default", metrics.LabelResourceType: "cpu"}, 100},
		"instance type cores": {c.types.CPUCores, prometheus.Labels{metrics.LabelInstanceType: "m5.large"}, 2},
	} {
		if got, ok := valueOf(t, tc.g, tc.l); !ok || got != tc.want {
			t.Errorf("%s = %v (found %v), want %v", name, got, ok, tc.want)
		}
	}
	if NodeLabels(node)[metrics.LabelManaged] != "true" {
		t.Errorf("a node with a nodepool label must be managed")
	}
	if got := testutil.ToFloat64(c.clusterState.Synced); got != 1 {
		t.Errorf("synced = %v, want 1 (no informer to wait for)", got)
	}

	cluster.DeleteNode(node.Name)
	if err := kube.Delete(ctx, node); err != nil {
		t.Fatal(err)
	}
	if err := c.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	c.memo = nil // the node families of the last scrape are reused for a second
	for name, g := range map[string]prometheus.Collector{"allocatable": c.nodes.Allocatable, "lifetime": c.nodes.CurrentLifetime, "utilization": c.nodes.ClusterUtilization} {
		if n := testutil.CollectAndCount(g); n != 0 {
			t.Errorf("%s keeps %d series of a node that is gone", name, n)
		}
	}
	if n := testutil.CollectAndCount(c.pools.Usage); n != 2 {
		t.Errorf("nodepool usage series = %d, want cpu and memory", n)
	}
}

// valueOf collects c and returns the value of the series with exactly the labels l.
func valueOf(t *testing.T, c prometheus.Collector, l prometheus.Labels) (float64, bool) {
	t.Helper()
	ch := make(chan prometheus.Metric, 10000)
	c.Collect(ch)
	close(ch)
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		got := prometheus.Labels{}
		for _, p := range pb.GetLabel() {
			got[p.GetName()] = p.GetValue()
		}
		if maps.Equal(got, l) {
			return pb.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// countingReader counts the lists of pods, the walk of the whole cluster a scrape avoids.
type countingReader struct {
	client.Reader
	podLists int
}

func (r *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*corev1.PodList); ok {
		r.podLists++
	}
	return r.Reader.List(ctx, list, opts...)
}

// The node families of a scrape are reused while the cluster state's placement generation
// stays the same (a node's lifetime still counts on; its health flapping does not count),
// and computed again once it moves or after nodeMemoMaxAge.
func TestNodeFamiliesFollowTheStateGeneration(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			Labels: map[string]string{v1.NodePoolLabelKey: "default"}},
		Status: corev1.NodeStatus{Capacity: rl("2", "8Gi"), Allocatable: rl("2", "8Gi")},
	}
	pod := func(name, cpu string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: name, ResourceVersion: "1"}, Spec: corev1.PodSpec{NodeName: "n1",
			Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rl(cpu, "1Gi")}}}}}
	}
	first := pod("a", "500m")
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(node, first).Build()
	reader := &countingReader{Reader: kube}
	cluster := state.NewCluster(state.Options{})
	cluster.UpdateNode(node)
	cluster.UpdatePod(first)
	clk := clocktesting.NewFakeClock(now)
	c, err := NewController(Deps{Client: reader, Cluster: cluster, Registerer: prometheus.NewRegistry(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	requests := prometheus.Labels{}
	for k, v := range NodeLabels(node) {
		requests[k] = v
	}
	requests[metrics.LabelResourceType] = "cpu"
	scrape := func(what string, wantCPU, wantLifetime float64, wantBuilt int) {
		t.Helper()
		if got, ok := valueOf(t, c.nodes.TotalPodRequests, requests); !ok || got != wantCPU {
			t.Errorf("%s: pod requests cpu = %v (found %v), want %v", what, got, ok, wantCPU)
		}
		if got, ok := valueOf(t, c.nodes.CurrentLifetime, NodeLabels(node)); !ok || got != wantLifetime {
			t.Errorf("%s: lifetime = %v (found %v), want %v", what, got, ok, wantLifetime)
		}
		if c.memoBuilt != wantBuilt {
			t.Errorf("%s: node families computed %d times, want %d", what, c.memoBuilt, wantBuilt)
		}
		if reader.podLists != 0 {
			t.Errorf("%s: %d lists of every pod: the pods are the cluster state's", what, reader.podLists)
		}
	}
	scrape("first scrape", 0.5, 3600, 1)
	clk.Step(30 * time.Second)
	scrape("same generation", 0.5, 3630, 1)

	// A node whose lease lapses flaps NotReady and back by the hundred at 2,000 nodes: its
	// health is none of the node families' business.
	for i, status := range []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue} {
		flapped := node.DeepCopy()
		flapped.ResourceVersion = strconv.Itoa(10 + i)
		flapped.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}
		cluster.UpdateNode(flapped)
	}
	clk.Step(2 * time.Second)
	scrape("after the node's Ready flapped", 0.5, 3632, 1)

	second := pod("b", "250m")
	second.ResourceVersion = ""
	if err := kube.Create(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	cluster.UpdatePod(second)
	clk.Step(2 * time.Second)
	scrape("a pod more", 0.75, 3634, 2)
	clk.Step(nodeMemoMaxAge)
	scrape("after nodeMemoMaxAge", 0.75, 3634+nodeMemoMaxAge.Seconds(), 3)
}

// TestPodResourcesMemoMatchesEachPod: the scrape's memo gives every pod what PodResources
// gives it, whether its containers slice is shared with others (as the cache transform
// shares a template's), a shorter view of a shared array, or shared with a pod that adds
// overhead or pod-level resources (which the containers alone do not decide).
func TestPodResourcesMemoMatchesEachPod(t *testing.T) {
	shared := []corev1.Container{
		{Name: "a", Resources: corev1.ResourceRequirements{Requests: rl("100m", "128Mi"), Limits: rl("200m", "256Mi")}},
		{Name: "b", Resources: corev1.ResourceRequirements{Requests: rl("300m", "1Gi")}},
	}
	always := corev1.ContainerRestartPolicyAlways
	inits := []corev1.Container{{Name: "sidecar", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Requests: rl("50m", "64Mi")}}}
	pod := func(name string, cs, is []corev1.Container, mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: cs, InitContainers: is}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	pods := []*corev1.Pod{
		pod("first", shared, nil, nil),
		pod("sibling", shared, nil, nil),
		pod("prefix", shared[:1], nil, nil),
		pod("with-sidecar", shared, inits, nil),
		pod("overhead", shared, nil, func(p *corev1.Pod) { p.Spec.Overhead = rl("250m", "120Mi") }),
		pod("pod-level", shared, nil, func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Requests: rl("2", "4Gi")}
		}),
		pod("own", []corev1.Container{{Name: "a", Resources: corev1.ResourceRequirements{Requests: rl("1", "2Gi")}}}, nil, nil),
		pod("sibling-again", shared, nil, nil),
	}
	memo := podResourcesMemo()
	for _, p := range pods {
		gotReq, gotLim := memo(p)
		wantReq, wantLim := PodResources(p)
		if !equality.Semantic.DeepEqual(gotReq, wantReq) || !equality.Semantic.DeepEqual(gotLim, wantLim) {
			t.Errorf("pod %s: memo gives requests %v limits %v, PodResources %v %v", p.Name, gotReq, gotLim, wantReq, wantLim)
		}
	}
}

// TestInstanceTypeSamplesFollowTheCatalogue: a pass whose catalogue is unchanged reuses the
// instance type samples it built last, and a changed price, a lost offering or a type gone
// shows in the gauges at the next pass.
func TestInstanceTypeSamplesFollowTheCatalogue(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pool).Build()
	cloud := cpfake.New(cpfake.Options{})
	c, err := NewController(Deps{Client: kube, CloudProvider: cloud, Registerer: prometheus.NewRegistry(), Clock: clocktesting.NewFakeClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reconcile := func() {
		t.Helper()
		if err := c.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reconcile()
	its, err := cloud.GetInstanceTypes(ctx, pool)
	if err != nil || len(its) < 2 {
		t.Fatalf("the fake offers %d instance types (%v)", len(its), err)
	}
	offering := func(it int) prometheus.Labels {
		o := its[it].Offerings[0]
		return prometheus.Labels{metrics.LabelInstanceType: its[it].Name, metrics.LabelCapacityType: o.CapacityType, metrics.LabelZone: o.Zone}
	}
	if got, ok := valueOf(t, c.types.OfferingPriceEstimate, offering(0)); !ok || got != its[0].Offerings[0].PricePerHour {
		t.Fatalf("price of %v = %v (found %v), want %v", offering(0), got, ok, its[0].Offerings[0].PricePerHour)
	}
	first := &c.typeSamples[0]
	reconcile()
	if &c.typeSamples[0] != first {
		t.Fatal("a pass over the same catalogue built its instance type samples again")
	}

	its[0].Offerings[0].PricePerHour *= 2
	its[1].Offerings[0].Available = false
	cloud.SetInstanceTypes(its)
	reconcile()
	if got, _ := valueOf(t, c.types.OfferingPriceEstimate, offering(0)); got != its[0].Offerings[0].PricePerHour {
		t.Errorf("price after the change = %v, want %v", got, its[0].Offerings[0].PricePerHour)
	}
	if got, ok := valueOf(t, c.types.OfferingAvailable, offering(1)); !ok || got != 0 {
		t.Errorf("availability of the lost offering = %v (found %v), want 0", got, ok)
	}
	types := testutil.CollectAndCount(c.types.CPUCores)
	cloud.SetInstanceTypes(its[1:])
	reconcile()
	if n := testutil.CollectAndCount(c.types.CPUCores); n != types-1 {
		t.Errorf("%d instance types in the gauges after one of %d went, want %d", n, types, types-1)
	}
	if _, ok := valueOf(t, c.types.CPUCores, prometheus.Labels{metrics.LabelInstanceType: its[0].Name}); ok {
		t.Errorf("the gone type %s keeps its series", its[0].Name)
	}
}
