package conditions

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

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
// the pool, not once per NodeClaim.
func TestTypeNamesAreReusedPerPool(t *testing.T) {
	cloud := &countingCloud{CloudProvider: fake.New(fake.Options{InstanceTypes: []*cloudprovider.InstanceType{
		test.InstanceType("small", "2", "4Gi"), test.InstanceType("large", "8", "32Gi"),
	}})}
	clk := clocktesting.NewFakeClock(time.Now())
	c := NewController(Deps{CloudProvider: cloud, Clock: clk})
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p", ResourceVersion: "1"}}
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
	pool.ResourceVersion = "2"
	check("the pool changed", 3)
	other := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "q", ResourceVersion: "1"}}
	if _, err := c.typeNames(ctx, other); err != nil || cloud.calls != 4 {
		t.Errorf("another pool shares the cache: calls %d, err %v", cloud.calls, err)
	}
}
