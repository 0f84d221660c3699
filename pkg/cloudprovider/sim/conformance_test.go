package sim_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/conformance"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/test"
)

func TestConformance(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	class := &simv1alpha1.SimNodeClass{ObjectMeta: metav1.ObjectMeta{Name: "conformance"}}
	if err := env.Client.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, class) })
	conformance.Run(t, func(t *testing.T) cloudprovider.CloudProvider {
		t.Cleanup(func() { expectNothingLeft(t) })
		p, err := sim.New(sim.Options{Client: env.Client, Clock: testingclock.NewFakeClock(epoch)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}, conformance.Options{
		NodeClassRef: &v1.NodeClassReference{Group: simv1alpha1.Group, Kind: simv1alpha1.KindSimNodeClass, Name: class.Name},
		MakeUnavailable: func(_ *testing.T, p cloudprovider.CloudProvider, it, zone, ct string) {
			p.(*sim.Provider).SetInsufficientCapacity(it, zone, ct, true)
		},
	})
}
