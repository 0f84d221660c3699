package conformance

import (
	"context"
	"math"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// Options adapt the suite to a provider.
type Options struct {
	// NodeClassRef is put on every NodeClaim and on the NodePool the suite asks instance
	// types for; the provider's constructor makes sure it exists. Required.
	NodeClassRef *v1.NodeClassReference
	// MakeUnavailable makes one offering impossible to launch, the way the cloud would
	// answer "insufficient capacity". Nil skips the insufficient-capacity case.
	MakeUnavailable func(t *testing.T, p cloudprovider.CloudProvider, instanceType, zone, capacityType string)
}

// Run runs every case as a subtest, each against a fresh provider from newProvider.
func Run(t *testing.T, newProvider func(t *testing.T) cloudprovider.CloudProvider, opts Options) {
	if opts.NodeClassRef == nil {
		t.Fatal("conformance: Options.NodeClassRef is required")
	}
	s := suite{opts: opts}
	cases := []struct {
		name string
		run  func(t *testing.T, p cloudprovider.CloudProvider)
	}{
		{"Identity", s.identity},
		{"InstanceTypes", s.instanceTypes},
		{"Lifecycle", s.lifecycle},
		{"DeleteTwice", s.deleteTwice},
		{"RespectsRequirements", s.respectsRequirements},
		{"InsufficientCapacity", s.insufficientCapacity},
		{"Unsatisfiable", s.unsatisfiable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newProvider(t)
			t.Cleanup(func() { s.expectNoInstances(t, p) })
			c.run(t, p)
		})
	}
}

type suite struct{ opts Options }

// nodePool is the NodePool the suite asks instance types for.
func (s suite) nodePool() *v1.NodePool {
	return &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: "conformance"},
		Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
			NodeClassRef: s.opts.NodeClassRef.DeepCopy(),
			Requirements: []v1.NodeSelectorRequirementWithMinValues{},
		}}},
	}
}

// nodeClaim builds an unsaved NodeClaim with these requirements.
func (s suite) nodeClaim(name string, reqs ...v1.NodeSelectorRequirementWithMinValues) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.NodePoolLabelKey: "conformance"}},
		Spec: v1.NodeClaimSpec{
			Requirements: append(reqs, In(v1.NodePoolLabelKey, "conformance")),
			NodeClassRef: s.opts.NodeClassRef.DeepCopy(),
		},
	}
}

// In is a requirement key In values.
func In(key string, values ...string) v1.NodeSelectorRequirementWithMinValues {
	return v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}
}

// NotIn is a requirement key NotIn values.
func NotIn(key string, values ...string) v1.NodeSelectorRequirementWithMinValues {
	return v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: v1.NodeSelectorOpNotIn, Values: values}
}

// create launches and schedules the instance's deletion at the end of the test.
func (s suite) create(t *testing.T, p cloudprovider.CloudProvider, nc *v1.NodeClaim) *v1.NodeClaim {
	t.Helper()
	before := nc.DeepCopy()
	launched, err := p.Create(t.Context(), nc)
	if err != nil {
		t.Fatalf("creating %s: %v", nc.Name, err)
	}
	t.Cleanup(func() {
		if err := p.Delete(cleanupContext(t), launched); cloudprovider.IgnoreNodeClaimNotFoundError(err) != nil {
			t.Errorf("cleaning up %s: %v", launched.Status.ProviderID, err)
		}
	})
	if !equality.Semantic.DeepEqual(before, nc) {
		t.Errorf("Create modified its argument")
	}
	if launched.Status.ProviderID == "" {
		t.Fatalf("launched NodeClaim has no providerID")
	}
	for _, key := range []string{v1.LabelInstanceType, v1.LabelTopologyZone, v1.CapacityTypeLabelKey} {
		if launched.Labels[key] == "" {
			t.Errorf("launched NodeClaim lacks label %s: %v", key, launched.Labels)
		}
	}
	if launched.Labels[v1.NodePoolLabelKey] != nc.Labels[v1.NodePoolLabelKey] {
		t.Errorf("launched NodeClaim lost its labels: %v", launched.Labels)
	}
	for _, r := range []string{"cpu", "memory", "pods"} {
		if q, ok := launched.Status.Capacity[corev1.ResourceName(r)]; !ok || q.Sign() <= 0 {
			t.Errorf("capacity %s = %v", r, launched.Status.Capacity)
		}
		if q, ok := launched.Status.Allocatable[corev1.ResourceName(r)]; !ok || q.Sign() <= 0 {
			t.Errorf("allocatable %s = %v", r, launched.Status.Allocatable)
		}
	}
	return launched
}

func (s suite) expectNoInstances(t *testing.T, p cloudprovider.CloudProvider) {
	t.Helper()
	left, err := p.List(cleanupContext(t))
	if err != nil {
		t.Errorf("listing at the end: %v", err)
		return
	}
	for _, nc := range left {
		t.Errorf("instance left running: %s", nc.Status.ProviderID)
	}
}

// cleanupContext is for cleanups, which run after t.Context() is cancelled.
func cleanupContext(t *testing.T) context.Context { return context.WithoutCancel(t.Context()) }

func (s suite) identity(t *testing.T, p cloudprovider.CloudProvider) {
	if p.Name() == "" {
		t.Error("Name() is empty")
	}
	ref := s.opts.NodeClassRef
	if !slices.ContainsFunc(p.GetSupportedNodeClasses(), func(g schema.GroupVersionKind) bool { return g.Group == ref.Group && g.Kind == ref.Kind }) {
		t.Errorf("GetSupportedNodeClasses() = %v lacks %s/%s", p.GetSupportedNodeClasses(), ref.Group, ref.Kind)
	}
}

func (s suite) instanceTypes(t *testing.T, p cloudprovider.CloudProvider) {
	its, err := p.GetInstanceTypes(t.Context(), s.nodePool())
	if err != nil {
		t.Fatal(err)
	}
	if len(its) == 0 {
		t.Fatal("no instance types")
	}
	names := map[string]bool{}
	for _, it := range its {
		if it.Name == "" || names[it.Name] {
			t.Errorf("empty or duplicate instance type name %q", it.Name)
		}
		names[it.Name] = true
		if it.Labels[v1.LabelInstanceType] != it.Name || it.Labels[v1.LabelArch] == "" || it.Labels[v1.LabelOS] == "" {
			t.Errorf("%s: labels %v lack instance-type, arch or os", it.Name, it.Labels)
		}
		if len(it.Offerings) == 0 {
			t.Errorf("%s has no offerings", it.Name)
		}
		for _, o := range it.Offerings {
			if o.Zone == "" || o.CapacityType == "" || o.PricePerHour <= 0 || math.IsInf(o.PricePerHour, 0) {
				t.Errorf("%s: bad offering %+v", it.Name, o)
			}
		}
		if q := it.Allocatable()["cpu"]; q.Sign() <= 0 {
			t.Errorf("%s: no allocatable cpu", it.Name)
		}
	}
}

func (s suite) lifecycle(t *testing.T, p cloudprovider.CloudProvider) {
	ctx := t.Context()
	launched := s.create(t, p, s.nodeClaim("lifecycle"))
	id := launched.Status.ProviderID
	got, err := p.Get(ctx, id)
	if err != nil {
		t.Fatalf("getting %s: %v", id, err)
	}
	if got.Status.ProviderID != id {
		t.Errorf("Get(%s) returned providerID %s", id, got.Status.ProviderID)
	}
	for _, key := range []string{v1.LabelInstanceType, v1.LabelTopologyZone, v1.CapacityTypeLabelKey} {
		if got.Labels[key] != launched.Labels[key] {
			t.Errorf("Get label %s = %q, Create said %q", key, got.Labels[key], launched.Labels[key])
		}
	}
	if !s.listed(t, p, id) {
		t.Errorf("List lacks %s", id)
	}
	if err := p.Delete(ctx, launched); err != nil {
		t.Fatalf("deleting: %v", err)
	}
	if _, err := p.Get(ctx, id); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Errorf("Get after Delete: %v, want NodeClaimNotFoundError", err)
	}
	if s.listed(t, p, id) {
		t.Errorf("List still has %s after Delete", id)
	}
}

func (s suite) deleteTwice(t *testing.T, p cloudprovider.CloudProvider) {
	launched := s.create(t, p, s.nodeClaim("delete-twice"))
	if err := p.Delete(t.Context(), launched); err != nil {
		t.Fatalf("first delete: %v", err)
	}
	if err := p.Delete(t.Context(), launched); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Fatalf("second delete: %v, want NodeClaimNotFoundError", err)
	}
	if _, err := p.Get(t.Context(), "nonexistent://nothing"); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Errorf("Get of an unknown provider ID: %v, want NodeClaimNotFoundError", err)
	}
}

func (s suite) listed(t *testing.T, p cloudprovider.CloudProvider, id string) bool {
	t.Helper()
	all, err := p.List(t.Context())
	if err != nil {
		t.Fatalf("listing: %v", err)
	}
	return slices.ContainsFunc(all, func(nc *v1.NodeClaim) bool { return nc.Status.ProviderID == id })
}

func (s suite) unsatisfiable(t *testing.T, p cloudprovider.CloudProvider) {
	nc := s.nodeClaim("unsatisfiable", In(v1.LabelInstanceType, "no-such-type.nano"))
	out, err := p.Create(t.Context(), nc)
	if err == nil {
		_ = p.Delete(t.Context(), out)
		t.Fatalf("launched %s for an instance type that does not exist", out.Labels[v1.LabelInstanceType])
	}
	if cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Errorf("unsatisfiable Create returned NodeClaimNotFoundError: %v", err)
	}
}

func (s suite) insufficientCapacity(t *testing.T, p cloudprovider.CloudProvider) {
	if s.opts.MakeUnavailable == nil {
		t.Skip("the provider offers no way to make an offering unavailable")
	}
	its, err := p.GetInstanceTypes(t.Context(), s.nodePool())
	if err != nil {
		t.Fatal(err)
	}
	it, o, ok := firstAvailable(its)
	if !ok {
		t.Fatal("no available offering")
	}
	s.opts.MakeUnavailable(t, p, it.Name, o.Zone, o.CapacityType)
	nc := s.nodeClaim("ice", In(v1.LabelInstanceType, it.Name), In(v1.LabelTopologyZone, o.Zone), In(v1.CapacityTypeLabelKey, o.CapacityType))
	out, err := p.Create(t.Context(), nc)
	if err == nil {
		_ = p.Delete(t.Context(), out)
		t.Fatalf("launched %s/%s/%s although it was made unavailable", it.Name, o.Zone, o.CapacityType)
	}
	if !cloudprovider.IsInsufficientCapacityError(err) {
		t.Fatalf("Create: %v, want InsufficientCapacityError", err)
	}
	// The next cheapest place is still launchable once the zone is widened.
	var zones []string
	for _, other := range it.Offerings {
		if other.Zone != o.Zone && other.CapacityType == o.CapacityType && other.Available {
			zones = append(zones, other.Zone)
		}
	}
	if len(zones) == 0 {
		return
	}
	wider := s.nodeClaim("ice-wider", In(v1.LabelInstanceType, it.Name), In(v1.CapacityTypeLabelKey, o.CapacityType))
	launched := s.create(t, p, wider)
	if launched.Labels[v1.LabelTopologyZone] == o.Zone {
		t.Errorf("launched into the unavailable zone %s", o.Zone)
	}
}

func firstAvailable(its []*cloudprovider.InstanceType) (*cloudprovider.InstanceType, cloudprovider.Offering, bool) {
	for _, it := range its {
		for _, o := range it.Offerings {
			if o.Available {
				return it, o, true
			}
		}
	}
	return nil, cloudprovider.Offering{}, false
}
