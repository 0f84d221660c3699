package sim_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/test"
)

func TestCreateGetListDelete(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{Zones: []string{"us-east-1b"}, ImageID: "img-7"})
	ctx := test.Context(t)
	nc := f.nodeClaim("a", in(v1.LabelInstanceType, "m7i.large", "c7i.large"), in(v1.CapacityTypeLabelKey, "on-demand"))
	got, err := f.provider.Create(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	// c7i.large is cheaper than m7i.large on demand; the class allows zone b only.
	if got.Labels[v1.LabelInstanceType] != "c7i.large" || got.Labels[v1.LabelTopologyZone] != "us-east-1b" || got.Labels[v1.CapacityTypeLabelKey] != "on-demand" {
		t.Fatalf("launched %v", got.Labels)
	}
	if got.Labels[v1.NodePoolLabelKey] != "default" || got.Labels[catalog.LabelInstanceFamily] != "c7i" {
		t.Errorf("labels %v lack the nodepool or catalogue labels", got.Labels)
	}
	zone, id, err := sim.ParseProviderID(got.Status.ProviderID)
	if err != nil || zone != "us-east-1b" || got.Status.ImageID != "img-7" {
		t.Fatalf("providerID %q imageID %q: %v", got.Status.ProviderID, got.Status.ImageID, err)
	}
	if cpu := got.Status.Capacity[corev1.ResourceCPU]; cpu.String() != "2" {
		t.Errorf("capacity cpu = %s", cpu.String())
	}
	if alloc, capa := got.Status.Allocatable[corev1.ResourceMemory], got.Status.Capacity[corev1.ResourceMemory]; alloc.Cmp(capa) >= 0 {
		t.Errorf("allocatable memory %s not below capacity %s", alloc.String(), capa.String())
	}
	// The instance is in the API server.
	inst := &simv1alpha1.SimInstance{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: id}, inst); err != nil {
		t.Fatalf("SimInstance %s not persisted: %v", id, err)
	}
	if inst.Spec.NodeClaim != "a" || inst.Spec.NodeClaimUID != string(nc.UID) || inst.Spec.PricePerHour == "" {
		t.Errorf("persisted spec %+v", inst.Spec)
	}
	read, err := f.provider.Get(ctx, got.Status.ProviderID)
	if err != nil || read.Name != "a" || read.Labels[v1.LabelInstanceType] != "c7i.large" || read.Spec.NodeClassRef.Name != f.class.Name {
		t.Fatalf("Get = %+v, %v", read, err)
	}
	if list, err := f.provider.List(ctx); err != nil || len(list) != 1 || list[0].Status.ProviderID != got.Status.ProviderID {
		t.Fatalf("List = %v, %v", list, err)
	}
	if reason, err := f.provider.IsDrifted(ctx, got); err != nil || reason != "" {
		t.Fatalf("IsDrifted = %q, %v", reason, err)
	}
	if err := f.provider.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := f.provider.Get(ctx, got.Status.ProviderID); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := f.provider.Delete(ctx, got); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestRestartLosesNothing(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{})
	ctx := test.Context(t)
	nc := f.nodeClaim("restart")
	before, err := f.provider.Create(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.provider.Interrupt(ctx, before.Status.ProviderID); err != nil {
		t.Fatal(err)
	}
	restarted := f.newProvider()
	list, err := restarted.List(ctx)
	if err != nil || len(list) != 1 || list[0].Status.ProviderID != before.Status.ProviderID || list[0].Name != "restart" {
		t.Fatalf("after restart List = %v, %v", list, err)
	}
	if got, err := restarted.Get(ctx, before.Status.ProviderID); err != nil || got.Labels[v1.LabelInstanceType] != before.Labels[v1.LabelInstanceType] {
		t.Fatalf("after restart Get = %v, %v", got, err)
	}
	if ints, err := restarted.Interruptions(ctx); err != nil || len(ints) != 1 || ints[0].ProviderID != before.Status.ProviderID {
		t.Fatalf("after restart Interruptions = %v, %v", ints, err)
	}
	// A launch repeated after the restart (same NodeClaim UID) finds the first instance.
	again, err := restarted.Create(ctx, nc)
	if err != nil || again.Status.ProviderID != before.Status.ProviderID {
		t.Fatalf("repeated Create = %v, %v; want %s", again, err, before.Status.ProviderID)
	}
	if list, _ := restarted.List(ctx); len(list) != 1 {
		t.Fatalf("repeated Create launched a second instance: %d", len(list))
	}
	if err := restarted.Delete(ctx, again); err != nil {
		t.Fatal(err)
	}
	// The first provider still has it in memory until it resyncs.
	if err := f.provider.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if list, err := f.provider.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("after resync List = %v, %v", list, err)
	}
}

func TestInsufficientCapacity(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{})
	ctx := test.Context(t)
	reqs := []v1.NodeSelectorRequirementWithMinValues{in(v1.LabelInstanceType, "m7i.large"), in(v1.CapacityTypeLabelKey, "on-demand")}
	f.provider.SetInsufficientCapacity("m7i.large", "us-east-1a", "on-demand", true)
	// The cheapest pool (zone a sorts first at equal price) is out: the launch fails over.
	got, err := f.provider.Create(ctx, f.nodeClaim("failover", reqs...))
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels[v1.LabelTopologyZone] != "us-east-1b" {
		t.Errorf("failed over to %s, want us-east-1b", got.Labels[v1.LabelTopologyZone])
	}
	t.Cleanup(func() { _ = f.provider.Delete(ctx, got) })
	if available(t, f.provider, "m7i.large", "us-east-1a", "on-demand") {
		t.Error("the exhausted pool is still reported available")
	}
	// Pinned to the exhausted pool: insufficient capacity, and nothing launched.
	_, err = f.provider.Create(ctx, f.nodeClaim("pinned", append(reqs, in(v1.LabelTopologyZone, "us-east-1a"))...))
	if !cloudprovider.IsInsufficientCapacityError(err) {
		t.Fatalf("pinned Create: %v, want InsufficientCapacityError", err)
	}
	if list, _ := f.provider.List(ctx); len(list) != 1 {
		t.Fatalf("%d instances, want 1", len(list))
	}
	// After the TTL the pool is offered again (still exhausted, so launches fail over again).
	f.clock.Step(sim.DefaultUnavailableOfferingsTTL)
	if !available(t, f.provider, "m7i.large", "us-east-1a", "on-demand") {
		t.Error("the pool is still unavailable after the TTL")
	}
	f.provider.SetInsufficientCapacity("m7i.large", "us-east-1a", "on-demand", false)
	refilled, err := f.provider.Create(ctx, f.nodeClaim("refilled", append(reqs, in(v1.LabelTopologyZone, "us-east-1a"))...))
	if err != nil {
		t.Fatalf("Create after refilling: %v", err)
	}
	if err := f.provider.Delete(ctx, refilled); err != nil {
		t.Fatal(err)
	}
}

func available(t *testing.T, p *sim.Provider, it, zone, ct string) bool {
	t.Helper()
	its, err := p.GetInstanceTypes(test.Context(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range its {
		for _, o := range i.Offerings {
			if i.Name == it && o.Zone == zone && o.CapacityType == ct {
				return o.Available
			}
		}
	}
	t.Fatalf("no offering %s %s %s", it, zone, ct)
	return false
}

func TestLaunchDelay(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{LaunchDelay: &metav1.Duration{Duration: 30 * time.Second}})
	ctx := test.Context(t)
	type result struct {
		nc  *v1.NodeClaim
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := f.provider.Create(ctx, f.nodeClaim("slow"))
		done <- result{nc, err}
	}()
	test.EventuallyTrue(t, 10*time.Second, "condition", f.clock.HasWaiters)
	f.clock.Step(29 * time.Second)
	select {
	case r := <-done:
		t.Fatalf("Create returned before the launch delay: %v", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	if list, _ := f.provider.List(ctx); len(list) != 0 {
		t.Fatal("the instance exists before the launch delay passed")
	}
	f.clock.Step(time.Second)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := f.provider.Delete(ctx, r.nc); err != nil {
		t.Fatal(err)
	}
	// The provider-wide delay applies to classes that set none, and ends with the context.
	g := newFixture(t, simv1alpha1.SimNodeClassSpec{})
	g.provider.SetLaunchDelay(time.Minute)
	short, cancel := contextWithCancel(t)
	go func() {
		for !g.clock.HasWaiters() {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	if _, err := g.provider.Create(short, g.nodeClaim("cancelled")); !errors.Is(err, errContextCanceled) {
		t.Fatalf("Create with a cancelled context: %v", err)
	}
}

func TestNodeClassErrorsAndDrift(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{ImageID: "img-1", Zones: []string{"us-east-1a", "us-east-1c"}})
	ctx := test.Context(t)
	missing := f.nodeClaim("missing-class")
	missing.Spec.NodeClassRef.Name = "does-not-exist"
	if _, err := f.provider.Create(ctx, missing); !cloudprovider.IsNodeClassNotReadyError(err) {
		t.Fatalf("Create with a missing class: %v", err)
	}
	other := f.nodeClaim("other-kind")
	other.Spec.NodeClassRef.Kind = "EC2NodeClass"
	if _, err := f.provider.Create(ctx, other); !cloudprovider.IsCreateError(err) {
		t.Fatalf("Create with another kind: %v", err)
	}
	got, err := f.provider.Create(ctx, f.nodeClaim("drifting"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.provider.Delete(ctx, got) })
	if z := got.Labels[v1.LabelTopologyZone]; z != "us-east-1a" && z != "us-east-1c" {
		t.Fatalf("launched in %s outside the class's zones", z)
	}
	patchClass(t, f.class, func(c *simv1alpha1.SimNodeClass) { c.Spec.ImageID = "img-2" })
	if reason, err := f.provider.IsDrifted(ctx, got); err != nil || reason != sim.DriftImage {
		t.Fatalf("IsDrifted after the image changed = %q, %v", reason, err)
	}
	patchClass(t, f.class, func(c *simv1alpha1.SimNodeClass) {
		c.Spec.ImageID = "img-1"
		c.Spec.Zones = []string{"us-east-1b"}
	})
	if reason, err := f.provider.IsDrifted(ctx, got); err != nil || reason != sim.DriftZone {
		t.Fatalf("IsDrifted after the zones changed = %q, %v", reason, err)
	}
	// A class whose Ready condition is False launches nothing.
	f.class.Status.Conditions = nil
	meta.SetStatusCondition(&f.class.Status.Conditions, metav1.Condition{Type: simv1alpha1.ConditionTypeReady, Status: metav1.ConditionFalse, Reason: "Test", Message: "broken"})
	if err := env.Client.Status().Update(ctx, f.class); err != nil {
		t.Fatal(err)
	}
	if _, err := f.provider.Create(ctx, f.nodeClaim("not-ready")); !cloudprovider.IsNodeClassNotReadyError(err) {
		t.Fatalf("Create with a not-ready class: %v", err)
	}
}

func patchClass(t *testing.T, class *simv1alpha1.SimNodeClass, change func(*simv1alpha1.SimNodeClass)) {
	t.Helper()
	base := class.DeepCopy()
	change(class)
	if err := env.Client.Patch(test.Context(t), class, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
}

func TestCatalogueFile(t *testing.T) {
	root, err := test.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "..", "shared", "data", "ec2-catalog.json")
	p, err := sim.New(sim.Options{Client: fakeClient{}, CatalogPath: path, Region: "us-west-2"})
	if err != nil {
		t.Skipf("no catalogue file: %v", err)
	}
	its, err := p.GetInstanceTypes(test.Context(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(its) <= len(catalog.Default()) {
		t.Fatalf("%d instance types from the file, no more than the built-in %d", len(its), len(catalog.Default()))
	}
	for _, o := range its[0].Offerings {
		if len(o.Zone) < len("us-west-2") || o.Zone[:len("us-west-2")] != "us-west-2" {
			t.Fatalf("offering zone %s is not in us-west-2", o.Zone)
		}
	}
	if _, err := sim.New(sim.Options{Client: fakeClient{}, CatalogPath: filepath.Join(t.TempDir(), "none.json")}); err == nil {
		t.Fatal("a missing catalogue file was accepted")
	}
	if _, err := sim.New(sim.Options{}); err == nil {
		t.Fatal("a provider without a client was built")
	}
}
