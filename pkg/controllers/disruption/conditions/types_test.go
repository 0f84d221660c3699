package conditions

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// countingCloud counts GetInstanceTypes calls.
type countingCloud struct {
	cloudprovider.CloudProvider
	calls int
}

func (c *countingCloud) GetInstanceTypes(ctx context.Context, np *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
	c.calls++
	return c.CloudProvider.GetInstanceTypes(ctx, np)
}

// The drift check asks the provider for a pool's catalogue once per TypesTTL and version of
// the pool's spec, not once per NodeClaim nor once per status update of the pool.
func TestTypeNamesAreReusedPerPool(t *testing.T) {
	cloud := &countingCloud{CloudProvider: fake.New(fake.Options{InstanceTypes: []*cloudprovider.InstanceType{
		test.InstanceType("small", "2", "4Gi"), test.InstanceType("large", "8", "32Gi"),
	}})}
	clk := clocktesting.NewFakeClock(time.Now())
	c := NewController(Deps{CloudProvider: cloud, Clock: clk})
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p", ResourceVersion: "1", Generation: 1}}
	ctx := context.Background()
	check := func(what string, wantCalls int) {
		t.Helper()
		names, err := c.typeNames(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		if !names["small"] || !names["large"] || names["gone"] {
			t.Errorf("%s: names = %v", what, names)
		}
		if cloud.calls != wantCalls {
			t.Errorf("%s: %d GetInstanceTypes calls, want %d", what, cloud.calls, wantCalls)
		}
	}
	check("first", 1)
	for range 100 {
		check("every NodeClaim of the pool", 1)
	}
	clk.Step(TypesTTL)
	check("after the TTL", 2)
	pool = pool.DeepCopy()
	pool.ResourceVersion = "2" // a status update: same spec
	check("the pool's status changed", 2)
	pool = pool.DeepCopy()
	pool.ResourceVersion, pool.Generation = "3", 2
	check("the pool's spec changed", 3)
	other := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "q", ResourceVersion: "1"}}
	if _, err := c.typeNames(ctx, other); err != nil || cloud.calls != 4 {
		t.Errorf("another pool shares the cache: calls %d, err %v", cloud.calls, err)
	}
}

// A NodePool's status update (every launch patches it) re-checks none of its NodeClaims; a
// new spec or template hash re-checks them all.
func TestPoolSpecChanged(t *testing.T) {
	base := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 3, ResourceVersion: "10",
		Annotations: map[string]string{v1.NodePoolHashAnnotationKey: "h1", v1.NodePoolHashVersionAnnotationKey: "v1"}}}
	for _, tc := range []struct {
		name   string
		change func(*v1.NodePool)
		want   bool
	}{
		{"status only", func(np *v1.NodePool) { np.ResourceVersion = "11"; np.Status.Nodes = new(int64(5)) }, false},
		{"another annotation", func(np *v1.NodePool) { np.Annotations["team"] = "a" }, false},
		{"spec", func(np *v1.NodePool) { np.Generation = 4 }, true},
		{"template hash", func(np *v1.NodePool) { np.Annotations[v1.NodePoolHashAnnotationKey] = "h2" }, true},
		{"hash version", func(np *v1.NodePool) { np.Annotations[v1.NodePoolHashVersionAnnotationKey] = "v2" }, true},
	} {
		updated := base.DeepCopy()
		tc.change(updated)
		if got := poolSpecChanged(event.UpdateEvent{ObjectOld: base, ObjectNew: updated}); got != tc.want {
			t.Errorf("%s: poolSpecChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}
