package provisioning_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
)

// TestLaunchedOfferingIsThePricedOne is a property test: for random catalogues (prices
// shuffled, offerings unavailable at random), NodePools and pods, every NodeClaim the
// provisioner writes for a plan (NodeClaimFor) launches, under the providers' rule
// (cloudprovider.Candidates, cheapest available), exactly the offering the plan priced.
func TestLaunchedOfferingIsThePricedOne(t *testing.T) {
	const rounds = 150
	claims := 0
	for seed := range uint64(rounds) {
		rng := rand.New(rand.NewPCG(seed, 42))
		its := randomCatalogue(rng)
		np := randomNodePool(rng)
		objs := snapshot.Objects{}
		if rng.IntN(2) == 0 {
			objs.DaemonSets = []*appsv1.DaemonSet{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "agent"},
				Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "agent", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
				}}}}},
			}}
		}
		pools, all, err := snapshot.NodePools([]*v1.NodePool{np}, func(*v1.NodePool) ([]*cloudprovider.InstanceType, error) { return its, nil }, objs)
		if err != nil {
			t.Fatal(err)
		}
		plan := scheduling.Solve(snapshot.Build(objs, pools, all), randomPods(rng))
		cloud := fake.New(fake.Options{InstanceTypes: its})
		for i, planned := range plan.NewNodeClaims {
			nc := provisioning.NodeClaimFor(np, planned)
			nc.Name = fmt.Sprintf("seed-%d-%d", seed, i)
			launched, err := cloud.Create(context.Background(), nc)
			if err != nil {
				t.Fatalf("seed %d: launching planned NodeClaim %d (%+v): %v", seed, i, planned.Cheapest, err)
			}
			got := scheduling.Option{
				InstanceType: launched.Labels[v1.LabelInstanceType],
				Zone:         launched.Labels[v1.LabelTopologyZone],
				CapacityType: launched.Labels[v1.CapacityTypeLabelKey],
			}
			want := planned.Cheapest
			want.Price = 0
			if got != want {
				t.Errorf("seed %d: NodeClaim %d launched %+v, the plan priced %+v at %.4f", seed, i, got, want, planned.Cheapest.Price)
			}
			claims++
		}
	}
	if claims < rounds {
		t.Fatalf("only %d NodeClaims planned in %d rounds: the property was barely exercised", claims, rounds)
	}
}

// randomCatalogue is the default catalogue with every price scaled at random and about a
// fifth of the offerings unavailable.
func randomCatalogue(rng *rand.Rand) []*cloudprovider.InstanceType {
	var out []*cloudprovider.InstanceType
	for _, it := range catalog.Default() {
		c := *it
		c.Offerings = make([]cloudprovider.Offering, len(it.Offerings))
		for i, o := range it.Offerings {
			o.PricePerHour *= 0.5 + rng.Float64()
			o.Available = o.Available && rng.IntN(5) != 0
			c.Offerings[i] = o
		}
		out = append(out, &c)
	}
	return out
}

func randomNodePool(rng *rand.Rand) *v1.NodePool {
	np := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "random", UID: "uid-random"}}
	np.Spec.Template.Spec.NodeClassRef = &v1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"}
	reqs := []v1.NodeSelectorRequirementWithMinValues{}
	if rng.IntN(2) == 0 {
		reqs = append(reqs, v1.NodeSelectorRequirementWithMinValues{Key: v1.CapacityTypeLabelKey, Operator: v1.NodeSelectorOpIn,
			Values: []string{[]string{v1.CapacityTypeOnDemand, v1.CapacityTypeSpot}[rng.IntN(2)]}})
	}
	if rng.IntN(3) == 0 {
		reqs = append(reqs, v1.NodeSelectorRequirementWithMinValues{Key: "karpenter.k8s.aws/instance-category", Operator: v1.NodeSelectorOpIn, Values: []string{"c", "m", "r"}[:1+rng.IntN(3)]})
	}
	if rng.IntN(3) == 0 {
		reqs = append(reqs, v1.NodeSelectorRequirementWithMinValues{Key: v1.LabelTopologyZone, Operator: v1.NodeSelectorOpNotIn, Values: []string{"us-east-1c"}})
	}
	np.Spec.Template.Spec.Requirements = reqs
	return np
}

func randomPods(rng *rand.Rand) []*corev1.Pod {
	cpus := []string{"100m", "250m", "500m", "1", "2", "3500m", "7"}
	mems := []string{"128Mi", "512Mi", "1Gi", "3Gi", "8Gi", "20Gi"}
	zones := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	var pods []*corev1.Pod
	for i := range 1 + rng.IntN(30) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("p-%d", i), UID: types.UID(fmt.Sprint("uid-", i)),
				Labels: map[string]string{"app": fmt.Sprintf("app-%d", rng.IntN(3))}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpus[rng.IntN(len(cpus))]), corev1.ResourceMemory: resource.MustParse(mems[rng.IntN(len(mems))]),
			}}}}},
		}
		switch rng.IntN(6) {
		case 0:
			p.Spec.NodeSelector = map[string]string{v1.LabelTopologyZone: zones[rng.IntN(len(zones))]}
		case 1:
			p.Spec.NodeSelector = map[string]string{v1.LabelArch: []string{"amd64", "arm64"}[rng.IntN(2)]}
		case 2:
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: v1.LabelTopologyZone,
				WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: p.Labels}}}
		case 3:
			p.Spec.NodeSelector = map[string]string{v1.CapacityTypeLabelKey: v1.CapacityTypeSpot}
		}
		pods = append(pods, p)
	}
	return pods
}
