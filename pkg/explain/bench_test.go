package explain

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// benchWorld is a World built in memory: two NodePools on the built-in catalogue, nodes
// m5.2xlarge with podsPerNode 1-CPU pods each, and a few pending pods.
func benchWorld(nodes, podsPerNode int) *World {
	its := catalog.Default()
	w := &World{InstanceTypes: map[string][]*cloudprovider.InstanceType{}, InstanceTypeErrors: map[string]error{}}
	for _, name := range []string{"general", "tainted"} {
		np := nodePool(name)
		if name == "tainted" {
			np.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
		}
		w.NodePools = append(w.NodePools, np)
		w.InstanceTypes[name] = its
	}
	var alloc corev1.ResourceList
	for _, it := range its {
		if it.Name == "m5.2xlarge" {
			alloc = it.Allocatable()
		}
	}
	initialized := []metav1.Condition{{Type: v1.ConditionTypeInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Unix(0, 0))}}
	for i := range nodes {
		name := fmt.Sprintf("node-%04d", i)
		labels := map[string]string{v1.NodePoolLabelKey: "general", v1.LabelInstanceType: "m5.2xlarge", v1.CapacityTypeLabelKey: v1.CapacityTypeOnDemand,
			v1.LabelTopologyZone: catalog.DefaultZones()[i%3], corev1.LabelHostname: name}
		w.NodeClaims = append(w.NodeClaims, &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Status: v1.NodeClaimStatus{ProviderID: "test:///" + name, Allocatable: alloc, Capacity: alloc, Conditions: initialized}})
		w.Nodes = append(w.Nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{ProviderID: "test:///" + name},
			Status: corev1.NodeStatus{Allocatable: alloc, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
		for j := range podsPerNode {
			w.Pods = append(w.Pods, benchPod(fmt.Sprintf("p-%04d-%d", i, j), name, "1"))
		}
	}
	for i := range 20 {
		p := benchPod(fmt.Sprintf("pending-%02d", i), "", "3")
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
		w.Pods = append(w.Pods, p)
	}
	return w
}

func benchPod(name, node, cpu string) *corev1.Pod {
	truth := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "bench"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "bench", Controller: &truth}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

// BenchmarkExplain times explain on clusters of 100 and 1,000 nodes (6 pods each) with 20
// pending pods: `go test -run '^$' -bench Explain -benchtime=3x ./pkg/explain/`.
func BenchmarkExplain(b *testing.B) {
	now := time.Unix(3600, 0)
	for _, nodes := range []int{100, 1000} {
		w := benchWorld(nodes, 6)
		b.Run(fmt.Sprintf("pod/%d-nodes", nodes), func(b *testing.B) {
			for b.Loop() {
				r, err := Pod(w, "default", "pending-00", now)
				if err != nil || len(r.NodePools) != 2 {
					b.Fatalf("%v %+v", err, r)
				}
			}
		})
		b.Run(fmt.Sprintf("node/%d-nodes", nodes), func(b *testing.B) {
			for b.Loop() {
				if _, err := Node(w, ControllerEligibility{}, "node", "node-0000", now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
