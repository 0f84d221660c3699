package snapshot_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
)

// TestRescheduledZonalVolumePodStaysInItsZone is what consolidation asks of the snapshot:
// moving a pod whose volume lives in zone-a, with room on a node in zone-b, must not put it
// there. Through Build the pod's volume constrains the plan: it lands in zone-a.
func TestRescheduledZonalVolumePodStaysInItsZone(t *testing.T) {
	zoneB := node("in-zone-b", true, func(n *corev1.Node) {
		n.Labels[v1.LabelTopologyZone] = "zone-b"
		n.Labels[v1.LabelHostname] = "in-zone-b"
		n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("50")}
	})
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-a"}, Spec: corev1.PersistentVolumeSpec{
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: v1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"zone-a"}}}}}}}}}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-a"}}
	db := pod("db", "")
	db.Spec.Containers = []corev1.Container{{Name: "db", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}
	db.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}

	its := []*cloudprovider.InstanceType{instanceType("small", "2", 0.1)}
	its[0].Offerings = append(its[0].Offerings, cloudprovider.Offering{Zone: "zone-b", CapacityType: v1.CapacityTypeOnDemand, PricePerHour: 0.1, Available: true})
	objs := snapshot.Objects{Nodes: []*corev1.Node{zoneB}, PersistentVolumes: []*corev1.PersistentVolume{pv}, PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{pvc}}
	pools := []scheduling.NodePool{{Name: "default", InstanceTypes: its}}
	plan := scheduling.Solve(snapshot.Build(objs, pools, its), []*corev1.Pod{db})
	if len(plan.ExistingNodes) != 0 {
		t.Fatalf("the pod was moved to the zone-b node, away from its volume")
	}
	if len(plan.NewNodeClaims) != 1 || plan.NewNodeClaims[0].Cheapest.Zone != "zone-a" {
		t.Fatalf("want one NodeClaim in zone-a, got %+v (unschedulable %d)", plan.NewNodeClaims, len(plan.Unschedulable))
	}
	// Without the volume objects (the controller's snapshot before the adapter carried
	// them) the zone-b node would have taken it: the test would catch their loss.
	plan = scheduling.Solve(snapshot.Build(snapshot.Objects{Nodes: objs.Nodes}, pools, its), []*corev1.Pod{db})
	if len(plan.ExistingNodes) != 1 {
		t.Fatalf("control: without volumes the pod should fit the zone-b node")
	}
}
