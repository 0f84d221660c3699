package snapshot_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
)

func instanceType(name, cpu string, price float64) *cloudprovider.InstanceType {
	return &cloudprovider.InstanceType{
		Name:     name,
		Labels:   map[string]string{v1.LabelInstanceType: name},
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourcePods: resource.MustParse("110")},
		Offerings: []cloudprovider.Offering{
			{Zone: "zone-a", CapacityType: v1.CapacityTypeOnDemand, PricePerHour: price, Available: true},
		},
	}
}

func node(name string, ready bool, mutate ...func(*corev1.Node)) *corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")},
		},
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func pod(name, nodeName string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: corev1.PodSpec{NodeName: nodeName}}
}

func TestBuild(t *testing.T) {
	its := []*cloudprovider.InstanceType{instanceType("large", "8", 0.4), instanceType("small", "2", 0.1)}
	managed := node("managed", false, func(n *corev1.Node) { n.Spec.ProviderID = "sim:///i-1" })
	count := int32(25)
	cordoned := node("cordoned", true, func(n *corev1.Node) { n.Spec.Unschedulable = true })
	claimOfManaged := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "nc-managed"},
		Spec:       v1.NodeClaimSpec{StartupTaints: []corev1.Taint{{Key: "cni", Effect: corev1.TaintEffectNoSchedule}}},
		Status: v1.NodeClaimStatus{ProviderID: "sim:///i-1",
			Allocatable: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}},
	}
	managed.Spec.Taints = []corev1.Taint{{Key: "cni", Effect: corev1.TaintEffectNoSchedule}}
	inFlight := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "nc-flight", Labels: map[string]string{v1.NodePoolLabelKey: "p"}},
		Spec: v1.NodeClaimSpec{Requirements: []v1.NodeSelectorRequirementWithMinValues{
			{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{"small", "large"}},
		}},
	}
	done := pod("done", "ready")
	done.Status.Phase = corev1.PodSucceeded
	objs := snapshot.Objects{
		Nodes:                  []*corev1.Node{node("ready", true), node("not-ready", false), cordoned, managed},
		NodeClaims:             []*v1.NodeClaim{inFlight, claimOfManaged},
		Pods:                   []*corev1.Pod{pod("b", "ready"), pod("a", "ready"), done, pod("pending", "")},
		Nominated:              map[string][]*corev1.Pod{"nc-flight": {pod("n1", "")}, "nc-managed": {pod("n2", "")}},
		DaemonSets:             []*appsv1.DaemonSet{{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "logs"}}},
		PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "data"}}},
		PersistentVolumes:      []*corev1.PersistentVolume{{ObjectMeta: metav1.ObjectMeta{Name: "pv-1"}}},
		StorageClasses:         []*storagev1.StorageClass{{ObjectMeta: metav1.ObjectMeta{Name: "zonal"}, Provisioner: "ebs.csi.aws.com"}},
		CSINodes: []*storagev1.CSINode{{ObjectMeta: metav1.ObjectMeta{Name: "ready"}, Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{
			{Name: "ebs.csi.aws.com", Allocatable: &storagev1.VolumeNodeResources{Count: &count}}, {Name: "unlimited.csi"}}}}},
	}
	snap := snapshot.Build(objs, nil, its)

	var names []string
	for _, n := range snap.Nodes {
		names = append(names, n.Name)
	}
	// Unmanaged nodes need Ready; a managed one is used while it starts; cordoned ones never.
	if got, want := names, []string{"managed", "ready", "nc-flight"}; !equal(got, want) {
		t.Fatalf("nodes = %v, want %v", got, want)
	}
	managedNode, readyNode, flight := snap.Nodes[0], snap.Nodes[1], snap.Nodes[2]
	if len(managedNode.Taints) != 0 {
		t.Errorf("startup taint kept on an uninitialised node: %v", managedNode.Taints)
	}
	if q := managedNode.Allocatable["example.com/gpu"]; q.Value() != 1 {
		t.Errorf("uninitialised node does not count on the NodeClaim's promised gpu: %v", managedNode.Allocatable)
	}
	if got := podNames(managedNode.Pods); !equal(got, []string{"n2"}) {
		t.Errorf("managed node pods = %v, want the nominated n2", got)
	}
	if got := podNames(readyNode.Pods); !equal(got, []string{"a", "b"}) {
		t.Errorf("ready node pods = %v, want a, b (sorted, finished pod left out)", got)
	}
	if !flight.InFlight || flight.NodePool != "p" || flight.Allocatable.Cpu().Value() != 2 {
		t.Errorf("in-flight NodeClaim = %+v, want sized as its cheapest option (small, 2 cpu)", flight)
	}
	if got := podNames(flight.Pods); !equal(got, []string{"n1"}) {
		t.Errorf("in-flight pods = %v, want n1", got)
	}
	if len(snap.DaemonSets) != 1 || snap.DaemonSets[0].Name != "logs" || snap.DaemonSets[0].Namespace != "kube-system" ||
		metav1.GetControllerOf(snap.DaemonSets[0]).Kind != "DaemonSet" {
		t.Errorf("daemonset pods = %+v", snap.DaemonSets)
	}
	if got := readyNode.VolumeLimits; len(got) != 1 || got["ebs.csi.aws.com"] != 25 {
		t.Errorf("ready node volume limits = %v, want ebs 25 from its CSINode", got)
	}
	if managedNode.VolumeLimits != nil {
		t.Errorf("node without a CSINode has limits %v", managedNode.VolumeLimits)
	}
	if sc := snap.Volumes.StorageClasses["zonal"]; sc == nil || sc.Provisioner != "ebs.csi.aws.com" {
		t.Errorf("storage class provisioner not carried: %+v", sc)
	}
	if snap.Volumes.Claims["default/data"] == nil || snap.Volumes.Volumes["pv-1"] == nil || snap.Volumes.StorageClasses["zonal"] == nil {
		t.Errorf("volumes not indexed: %+v", snap.Volumes)
	}
}

func TestUsage(t *testing.T) {
	its := []*cloudprovider.InstanceType{instanceType("small", "2", 0.1)}
	launched := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "launched", Labels: map[string]string{v1.NodePoolLabelKey: "p"}},
		Status:     v1.NodeClaimStatus{ProviderID: "sim:///i-1", Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16")}},
	}
	pending := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "pending", Labels: map[string]string{v1.NodePoolLabelKey: "p"}},
		Spec: v1.NodeClaimSpec{Requirements: []v1.NodeSelectorRequirementWithMinValues{
			{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{"small"}}}},
	}
	other := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{v1.NodePoolLabelKey: "q"}},
		Status: v1.NodeClaimStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100")}}}
	label := func(n *corev1.Node) { n.Labels[v1.NodePoolLabelKey] = "p" }
	ownedNode := node("owned", true, label, func(n *corev1.Node) { n.Spec.ProviderID = "sim:///i-1" })
	orphan := node("orphan", true, label) // 4 cpu, no NodeClaim (a simulate input)
	used := snapshot.Usage("p", its, []*v1.NodeClaim{launched, pending, other}, []*corev1.Node{ownedNode, orphan, node("unlabelled", true)})
	// 16 (launched) + 2 (pending, cheapest option) + 4 (orphan node); the owned node is its
	// NodeClaim's and is not counted twice.
	if got := used.Cpu().Value(); got != 22 {
		t.Errorf("used cpu = %d, want 22", got)
	}
	if got := used[scheduling.ResourceNodes]; got.Value() != 3 {
		t.Errorf("used nodes = %s, want 3 (two NodeClaims, one orphan Node)", got.String())
	}
}

func podNames(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestListReadsEveryKind(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1.AddToScheme(scheme)
	c := fakeclient.NewClientBuilder().WithScheme(scheme).WithObjects(
		&v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "np"}},
		node("n", true), pod("p", "n"),
		&v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc"}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "ds"}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pvc"}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv"}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "sc"}},
		&storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: "n"}},
	).Build()
	pending := pod("pending", "")
	pending.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	if err := c.Create(context.Background(), pending); err != nil {
		t.Fatal(err)
	}
	snap, waiting, err := snapshot.FromClient(context.Background(), c, func(*v1.NodePool) ([]*cloudprovider.InstanceType, error) {
		return []*cloudprovider.InstanceType{instanceType("small", "2", 0.1)}, nil
	})
	// Nodes: the Node and the NodeClaim in flight (sized as its cheapest option).
	if err != nil || len(snap.NodePools) != 1 || len(snap.NodePools[0].InstanceTypes) != 1 || len(snap.Nodes) != 2 ||
		len(waiting) != 1 || waiting[0].Name != "pending" {
		t.Fatalf("FromClient: err %v, %d pools, %d nodes, waiting %v", err, len(snap.NodePools), len(snap.Nodes), podNames(waiting))
	}
	objs, nps, err := snapshot.List(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(nps) != 1 || len(objs.Nodes) != 1 || len(objs.Pods) != 2 || len(objs.NodeClaims) != 1 || len(objs.DaemonSets) != 1 ||
		len(objs.PersistentVolumeClaims) != 1 || len(objs.PersistentVolumes) != 1 || len(objs.StorageClasses) != 1 || len(objs.CSINodes) != 1 {
		t.Errorf("List missed a kind: nodepools=%d %+v", len(nps), objs)
	}
}
