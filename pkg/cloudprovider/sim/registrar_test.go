package sim_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim/noderegistrar"
	"github.com/gokarpenter/karpenter/pkg/test"
)

func TestBootDelayThenNode(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{BootDelay: &metav1.Duration{Duration: 20 * time.Second}})
	ctx := test.Context(t)
	registrar := f.registrar(0)
	nc := f.nodeClaim("booting", in(v1.LabelInstanceType, "m7g.xlarge"), in(v1.CapacityTypeLabelKey, "spot"))
	got, err := f.provider.Create(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	_, id, _ := parse(t, got.Status.ProviderID)
	f.clock.Step(19 * time.Second)
	next, err := registrar.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next != time.Second {
		t.Errorf("next boot in %v, want 1s", next)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, &corev1.Node{}); !apierrors.IsNotFound(err) {
		t.Fatalf("node exists before the boot delay passed: %v", err)
	}
	f.clock.Step(time.Second)
	if next, err := registrar.Reconcile(ctx); err != nil || next != 0 {
		t.Fatalf("Reconcile = %v, %v", next, err)
	}
	node := &corev1.Node{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, node); err != nil {
		t.Fatalf("node not created after the boot delay: %v", err)
	}
	if node.Spec.ProviderID != got.Status.ProviderID {
		t.Errorf("providerID %q, want %q", node.Spec.ProviderID, got.Status.ProviderID)
	}
	wantLabels := map[string]string{
		v1.LabelInstanceType: "m7g.xlarge", v1.LabelTopologyZone: got.Labels[v1.LabelTopologyZone],
		v1.CapacityTypeLabelKey: "spot", v1.LabelArch: "arm64", v1.LabelOS: "linux", v1.LabelHostname: id,
		v1.NodePoolLabelKey: "default", catalog.LabelInstanceFamily: "m7g", catalog.LabelInstanceCPU: "4",
	}
	for k, want := range wantLabels {
		if node.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], want)
		}
	}
	if node.Annotations[noderegistrar.KWOKAnnotationKey] != noderegistrar.KWOKAnnotationValue {
		t.Errorf("annotations %v lack the KWOK selector", node.Annotations)
	}
	wantTaints := map[string]corev1.TaintEffect{v1.UnregisteredTaintKey: corev1.TaintEffectNoExecute, "team": corev1.TaintEffectNoSchedule, "cni": corev1.TaintEffectNoSchedule}
	seen := 0
	for _, taint := range node.Spec.Taints {
		if strings.HasPrefix(taint.Key, "node.kubernetes.io/") {
			continue // the API server's own, e.g. not-ready until the kubelet reports Ready
		}
		seen++
		if wantTaints[taint.Key] != taint.Effect {
			t.Errorf("unexpected taint %v", taint)
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		if c, a := node.Status.Capacity[r], got.Status.Capacity[r]; c.Cmp(a) != 0 {
			t.Errorf("node capacity %s = %s, want %s", r, c.String(), a.String())
		}
		if c, a := node.Status.Allocatable[r], got.Status.Allocatable[r]; c.Cmp(a) != 0 {
			t.Errorf("node allocatable %s = %s, want %s", r, c.String(), a.String())
		}
	}
	if seen != len(wantTaints) {
		t.Errorf("taints %v, want %v", node.Spec.Taints, wantTaints)
	}
	// The helper for envtest-only tests plays the kubelet's Ready.
	if err := test.MarkNodeReady(ctx, env.Client, id); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, node); err != nil {
		t.Fatal(err)
	}
	if !nodeReady(node) {
		t.Errorf("node not Ready after MarkNodeReady: %v", node.Status.Conditions)
	}
	// A second pass changes nothing; after the instance goes, its Node goes.
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.provider.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, node); !apierrors.IsNotFound(err) {
		t.Fatalf("node of a deleted instance still there: %v", err)
	}
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestFailedRegistration(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{FailRegistration: true})
	ctx := test.Context(t)
	registrar := f.registrar(0)
	broken, err := f.provider.Create(ctx, f.nodeClaim("never-joins"))
	if err != nil {
		t.Fatal(err)
	}
	// The provider-wide switch fails instances of any class.
	g := newFixture(t, simv1alpha1.SimNodeClassSpec{})
	f.provider.SetFailRegistration(true)
	alsoBroken, err := f.provider.Create(ctx, g.nodeClaim("never-joins-either"))
	if err != nil {
		t.Fatal(err)
	}
	f.provider.SetFailRegistration(false)
	fine, err := f.provider.Create(ctx, g.nodeClaim("joins"))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Step(time.Hour)
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := &corev1.NodeList{}
	if err := env.Client.List(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 || nodes.Items[0].Spec.ProviderID != fine.Status.ProviderID {
		t.Fatalf("nodes %v, want only %s", names(nodes), fine.Status.ProviderID)
	}
	// The instances that never joined still run.
	for _, nc := range []*v1.NodeClaim{broken, alsoBroken} {
		if _, err := f.provider.Get(ctx, nc.Status.ProviderID); err != nil {
			t.Errorf("Get %s: %v", nc.Status.ProviderID, err)
		}
	}
	for _, nc := range []*v1.NodeClaim{broken, alsoBroken, fine} {
		if err := f.provider.Delete(ctx, nc); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
}

func names(nodes *corev1.NodeList) []string {
	var out []string
	for _, n := range nodes.Items {
		out = append(out, n.Name)
	}
	return out
}

func TestInterruption(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{})
	ctx := test.Context(t)
	spot, err := f.provider.Create(ctx, f.nodeClaim("spot", in(v1.CapacityTypeLabelKey, "spot")))
	if err != nil {
		t.Fatal(err)
	}
	calm, err := f.provider.Create(ctx, f.nodeClaim("calm"))
	if err != nil {
		t.Fatal(err)
	}
	if ints, _ := f.provider.Interruptions(ctx); len(ints) != 0 {
		t.Fatalf("interruptions before any: %v", ints)
	}
	f.clock.Step(time.Minute)
	if err := f.provider.Interrupt(ctx, spot.Status.ProviderID); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(time.Minute)
	if err := f.provider.Interrupt(ctx, spot.Status.ProviderID); err != nil {
		t.Fatal(err) // a second notice keeps the first
	}
	ints, err := f.provider.Interruptions(ctx)
	if err != nil || len(ints) != 1 {
		t.Fatalf("Interruptions = %v, %v", ints, err)
	}
	if ints[0].ProviderID != spot.Status.ProviderID || ints[0].NodeClaim != "spot" || !ints[0].Time.Equal(epoch.Add(time.Minute)) {
		t.Errorf("interruption %+v", ints[0])
	}
	if err := f.provider.Interrupt(ctx, "sim:///us-east-1a/i-00000000000000000"); err == nil {
		t.Error("interrupting an unknown instance succeeded")
	}
	for _, nc := range []*v1.NodeClaim{spot, calm} {
		if err := f.provider.Delete(ctx, nc); err != nil {
			t.Fatal(err)
		}
	}
	if ints, _ := f.provider.Interruptions(ctx); len(ints) != 0 {
		t.Fatalf("interruptions of deleted instances remain: %v", ints)
	}
}

func parse(t *testing.T, providerID string) (string, string, error) {
	t.Helper()
	zone, id, err := sim.ParseProviderID(providerID)
	if err != nil {
		t.Fatal(err)
	}
	return zone, id, nil
}

func TestRegistrarStartLoop(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{BootDelay: &metav1.Duration{Duration: 10 * time.Second}})
	ctx := test.Context(t)
	registrar := f.registrar(time.Minute)
	got, err := f.provider.Create(ctx, f.nodeClaim("looped"))
	if err != nil {
		t.Fatal(err)
	}
	_, id, _ := parse(t, got.Status.ProviderID)
	run, stop := contextWithCancel(t)
	stopped := make(chan error, 1)
	go func() { stopped <- registrar.Start(run) }()
	exists := func() bool {
		return !apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Name: id}, &corev1.Node{}))
	}
	test.EventuallyTrue(t, 10*time.Second, "condition", f.clock.HasWaiters) // the first pass is done and waits for the boot, not the minute
	if exists() {
		t.Fatal("node exists before the boot delay")
	}
	f.clock.Step(10 * time.Second)
	test.EventuallyTrue(t, 10*time.Second, "condition", exists)
	if err := f.provider.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	test.EventuallyTrue(t, 10*time.Second, "condition", f.clock.HasWaiters)
	f.clock.Step(time.Minute)
	test.EventuallyTrue(t, 10*time.Second, "condition", func() bool { return !exists() })
	stop()
	if err := <-stopped; err != nil {
		t.Fatalf("Start returned %v", err)
	}
}

// TestBootDelayCountsFromTheLaunchInstant: an instance launched mid-second registers a whole
// boot delay later, also when the provider has reloaded it from the API server. Its launch
// time used to be kept to the second, and such a Node registered up to a second early.
func TestBootDelayCountsFromTheLaunchInstant(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{BootDelay: &metav1.Duration{Duration: 2 * time.Second}})
	ctx := test.Context(t)
	registrar := f.registrar(0)
	f.clock.Step(700 * time.Millisecond)
	got, err := f.provider.Create(ctx, f.nodeClaim("mid-second", in(v1.LabelInstanceType, "m7g.xlarge")))
	if err != nil {
		t.Fatal(err)
	}
	_, id, _ := parse(t, got.Status.ProviderID)
	f.clock.Step(1500 * time.Millisecond) // 2.2 s on the clock: the launch second + 2 s has passed
	if err := f.provider.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := registrar.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next != 500*time.Millisecond {
		t.Errorf("next boot in %v, want 500ms", next)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, &corev1.Node{}); !apierrors.IsNotFound(err) {
		t.Fatalf("node registered 1.5 s after its launch, boot delay 2 s: %v", err)
	}
	f.clock.Step(500 * time.Millisecond)
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, &corev1.Node{}); err != nil {
		t.Fatalf("node not registered once the boot delay passed: %v", err)
	}
	if err := f.provider.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
}

// gatedCreates passes Node creates to the client once want of them are in flight together
// (or a few seconds have passed), and records the most it saw in flight.
type gatedCreates struct {
	client.Client
	want int

	mu                sync.Mutex
	inFlight, maxSeen int
	full              chan struct{}
}

func (g *gatedCreates) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if _, ok := obj.(*corev1.Node); ok {
		g.mu.Lock()
		g.inFlight++
		g.maxSeen = max(g.maxSeen, g.inFlight)
		if g.inFlight == g.want {
			close(g.full)
		}
		g.mu.Unlock()
		select {
		case <-g.full:
		case <-time.After(3 * time.Second):
		}
		defer func() {
			g.mu.Lock()
			g.inFlight--
			g.mu.Unlock()
		}()
	}
	return g.Client.Create(ctx, obj, opts...)
}

// TestInstancesBootedTogetherRegisterTogether: the Nodes of instances that booted in the
// same pass are created concurrently, not one after another (a dozen took over a second on
// a busy API server, and kube-scheduler backed its pods off while they trickled in).
func TestInstancesBootedTogetherRegisterTogether(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{BootDelay: &metav1.Duration{Duration: 2 * time.Second}})
	ctx := test.Context(t)
	const n = 6
	gate := &gatedCreates{Client: env.Client, want: n, full: make(chan struct{})}
	registrar, err := noderegistrar.NewController(noderegistrar.Deps{Client: gate, NodeReader: env.Client, Cloud: f.provider, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	var launched []*v1.NodeClaim
	for i := range n {
		got, err := f.provider.Create(ctx, f.nodeClaim(fmt.Sprintf("together-%d", i), in(v1.LabelInstanceType, "m7g.xlarge")))
		if err != nil {
			t.Fatal(err)
		}
		launched = append(launched, got)
	}
	f.clock.Step(3 * time.Second)
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if gate.maxSeen != n {
		t.Errorf("at most %d Node creates in flight together, want all %d", gate.maxSeen, n)
	}
	nodes := &corev1.NodeList{}
	if err := env.Client.List(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != n {
		t.Errorf("%d Nodes registered, want %d: %v", len(nodes.Items), n, names(nodes))
	}
	for _, nc := range launched {
		if err := f.provider.Delete(ctx, nc); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
}
