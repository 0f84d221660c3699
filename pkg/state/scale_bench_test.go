package state_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// BenchmarkPlanAt2000Nodes is one provisioning round's planning on a cluster of 2,000
// initialised nodes running 20,000 pods, for a burst of 1,000 pending pods: the state's
// lists, the NodePool conversion, snapshot.Build and Solve (no API server).
// `go test -run '^$' -bench PlanAt2000Nodes -benchtime=3x ./pkg/state/`
func BenchmarkPlanAt2000Nodes(b *testing.B) {
	its := catalog.Default()
	c := state.NewCluster(state.Options{})
	np := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	np.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
		{Key: v1.CapacityTypeLabelKey, Operator: v1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand}}}
	c.UpdateNodePool(np)
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("7910m"), corev1.ResourceMemory: resource.MustParse("29Gi"), corev1.ResourcePods: resource.MustParse("58")}
	for i := range 2000 {
		name := fmt.Sprintf("node-%04d", i)
		zone := []string{"us-east-1a", "us-east-1b", "us-east-1c"}[i%3]
		providerID := "sim:///" + name
		nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc-" + name, UID: types.UID("uid-" + name), Labels: map[string]string{v1.NodePoolLabelKey: "default"}},
			Status: v1.NodeClaimStatus{ProviderID: providerID, NodeName: name, Capacity: alloc, Allocatable: alloc,
				Conditions: []metav1.Condition{{Type: v1.ConditionTypeInitialized, Status: metav1.ConditionTrue}}}}
		c.UpdateNodeClaim(nc)
		c.UpdateNode(&corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.NodePoolLabelKey: "default", v1.LabelHostname: name,
				v1.LabelTopologyZone: zone, v1.LabelInstanceType: "m7i.2xlarge", v1.CapacityTypeLabelKey: v1.CapacityTypeOnDemand}},
			Spec:   corev1.NodeSpec{ProviderID: providerID},
			Status: corev1.NodeStatus{Allocatable: alloc, Capacity: alloc, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		})
		for j := range 10 {
			c.UpdatePod(benchPod(fmt.Sprintf("run-%d-%d", i, j), name, "700m", "2Gi"))
		}
	}
	for i := range 1000 {
		c.UpdatePod(benchPod(fmt.Sprintf("burst-%d", i), "", []string{"100m", "250m", "500m", "1"}[i%4], "512Mi"))
	}
	if got := len(c.PendingPods()); got != 1000 {
		b.Fatalf("%d pending pods, want 1000", got)
	}
	b.ResetTimer()
	var plan *scheduling.Plan
	start := time.Now()
	for range b.N {
		pending := c.PendingPods()
		objs := c.Objects()
		pools, all, err := snapshot.NodePools(c.NodePools(), func(*v1.NodePool) ([]*cloudprovider.InstanceType, error) { return its, nil }, objs)
		if err != nil {
			b.Fatal(err)
		}
		plan = scheduling.Solve(snapshot.Build(objs, pools, all), pending)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/round")
	b.ReportMetric(float64(len(plan.NewNodeClaims)), "nodeclaims")
	placed := 0
	for _, e := range plan.ExistingNodes {
		placed += len(e.Pods)
	}
	b.ReportMetric(float64(placed), "on-existing")
}

func benchPod(name, nodeName, cpu, mem string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}},
	}
	if nodeName == "" {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	} else {
		p.Status.Phase = corev1.PodRunning
	}
	return p
}
