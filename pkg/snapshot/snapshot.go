package snapshot

import (
	"cmp"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/pods"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// Objects are the cluster objects a plan is made from. Every list may be empty and in any
// order; Build sorts what it needs to make its output deterministic.
type Objects struct {
	Nodes      []*corev1.Node
	NodeClaims []*v1.NodeClaim
	// Pods may hold every pod of the cluster: those bound to a node (spec.nodeName) and
	// not finished count on that node; the others are ignored.
	Pods []*corev1.Pod
	// Running lists more pods bound to nodes, by node name, as their parts (unfinished,
	// in namespace and name order): a caller that keeps pods in another form (the cluster
	// state's records) gives them here rather than building a Pod for each. A node's count
	// after its Pods.
	Running map[string][]scheduling.RunningPod
	// Nominated lists, by NodeClaim name, the pending pods expected on that NodeClaim; they
	// count on it as if bound.
	Nominated  map[string][]*corev1.Pod
	DaemonSets []*appsv1.DaemonSet

	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	PersistentVolumes      []*corev1.PersistentVolume
	StorageClasses         []*storagev1.StorageClass
	CSINodes               []*storagev1.CSINode
	// Namespaces give the labels pod affinity namespaceSelectors match.
	Namespaces []*corev1.Namespace
}

// ephemeralTaintKeys are put on nodes by Kubernetes itself while they start; they go away
// on their own, so a node that is still initialising is scheduled as if they were gone.
var ephemeralTaintKeys = []string{
	corev1.TaintNodeNotReady,
	corev1.TaintNodeUnreachable,
	"node.cloudprovider.kubernetes.io/uninitialized",
	v1.UnregisteredTaintKey,
}

// Build makes the scheduler's input: nodePools as given (see NodePools), and as existing
// nodes every schedulable Node (Karpenter's, and others that are Ready) and every NodeClaim
// that has no Node yet (in flight). A NodeClaim that has not launched is sized as the
// cheapest available of its instance type options, looked up in instanceTypes; one with no
// option there is left out. Each node lists its bound, unfinished pods and then the pods
// nominated to its NodeClaim. Nodes and NodeClaims being deleted are left out.
func Build(objs Objects, nodePools []scheduling.NodePool, instanceTypes []*cloudprovider.InstanceType) *scheduling.Snapshot {
	bound := map[string][]*corev1.Pod{}
	for _, p := range objs.Pods {
		if p.Spec.NodeName != "" && !pods.IsTerminal(p) {
			bound[p.Spec.NodeName] = append(bound[p.Spec.NodeName], p)
		}
	}
	claimByProviderID := map[string]*v1.NodeClaim{}
	for _, nc := range objs.NodeClaims {
		if nc.Status.ProviderID != "" {
			claimByProviderID[nc.Status.ProviderID] = nc
		}
	}
	nodeByProviderID := map[string]*corev1.Node{}
	for _, n := range objs.Nodes {
		if n.Spec.ProviderID != "" {
			nodeByProviderID[n.Spec.ProviderID] = n
		}
	}

	snap := &scheduling.Snapshot{NodePools: nodePools}
	volumeLimits := VolumeLimits(objs.CSINodes)
	for _, node := range sortedByName(objs.Nodes) {
		var nc *v1.NodeClaim
		if node.Spec.ProviderID != "" {
			nc = claimByProviderID[node.Spec.ProviderID]
		}
		if en, ok := existingFromNode(node, nc); ok {
			en.VolumeLimits = volumeLimits[node.Name]
			en.Pods = append(sortPods(bound[node.Name]), nominatedFor(nc, objs.Nominated)...)
			en.Running = objs.Running[node.Name]
			snap.Nodes = append(snap.Nodes, en)
		}
	}
	for _, nc := range sortedByName(objs.NodeClaims) {
		if nc.DeletionTimestamp != nil || (nc.Status.ProviderID != "" && nodeByProviderID[nc.Status.ProviderID] != nil) {
			continue
		}
		if en, ok := inFlight(nc, instanceTypes); ok {
			en.Pods = nominatedFor(nc, objs.Nominated)
			snap.Nodes = append(snap.Nodes, en)
		}
	}
	for _, ds := range sortedByKey(objs.DaemonSets) {
		snap.DaemonSets = append(snap.DaemonSets, DaemonSetPod(ds))
	}
	snap.Volumes = Volumes(objs.PersistentVolumeClaims, objs.PersistentVolumes, objs.StorageClasses)
	snap.Namespaces = make(map[string]map[string]string, len(objs.Namespaces))
	for _, ns := range objs.Namespaces {
		l := make(map[string]string, len(ns.Labels)+1)
		maps.Copy(l, ns.Labels)
		l[corev1.LabelMetadataName] = ns.Name // the API server sets it; manifests may not
		snap.Namespaces[ns.Name] = l
	}
	return snap
}

// DaemonSetPod is the pod a DaemonSet would run on a new node: its template, named and
// namespaced as the DaemonSet and owned by it.
func DaemonSetPod(ds *appsv1.DaemonSet) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: *ds.Spec.Template.ObjectMeta.DeepCopy(),
		Spec:       *ds.Spec.Template.Spec.DeepCopy(),
	}
	pod.Namespace, pod.Name = ds.Namespace, ds.Name
	pod.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: new(true),
	}}
	return pod
}

// existingFromNode describes a Node to the scheduler, or reports false when pods cannot go
// there: it is being deleted or cordoned, its NodeClaim is being deleted, or it is not
// Karpenter's and not Ready.
func existingFromNode(node *corev1.Node, nc *v1.NodeClaim) (scheduling.ExistingNode, bool) {
	if node.DeletionTimestamp != nil || node.Spec.Unschedulable {
		return scheduling.ExistingNode{}, false
	}
	if nc == nil && !NodeReady(node) {
		return scheduling.ExistingNode{}, false
	}
	if nc != nil && nc.DeletionTimestamp != nil {
		return scheduling.ExistingNode{}, false
	}
	en := scheduling.ExistingNode{
		Name:        node.Name,
		Labels:      node.Labels,
		Taints:      node.Spec.Taints,
		Allocatable: node.Status.Allocatable,
		NodePool:    node.Labels[v1.NodePoolLabelKey],
	}
	if nc != nil && !Initialized(nc) {
		// Until it is initialised, count on what the NodeClaim promised: its startup and
		// ephemeral taints will go, and extended resources may not be advertised yet.
		en.Taints = withoutTaints(node.Spec.Taints, nc.Spec.StartupTaints)
		alloc := nc.Status.Allocatable.DeepCopy()
		if alloc == nil {
			alloc = corev1.ResourceList{}
		}
		maps.Copy(alloc, node.Status.Allocatable)
		en.Allocatable = alloc
	}
	return en, true
}

// inFlight describes a NodeClaim without a Node to the scheduler.
func inFlight(nc *v1.NodeClaim, instanceTypes []*cloudprovider.InstanceType) (scheduling.ExistingNode, bool) {
	labels := map[string]string{}
	for _, r := range nc.Spec.Requirements {
		if r.Operator == v1.NodeSelectorOpIn && len(r.Values) == 1 {
			labels[r.Key] = r.Values[0]
		}
	}
	maps.Copy(labels, nc.Labels)
	alloc := nc.Status.Allocatable
	if len(alloc) == 0 {
		it, ok := CheapestOption(nc, instanceTypes)
		if !ok {
			return scheduling.ExistingNode{}, false
		}
		alloc = it.Allocatable()
	}
	return scheduling.ExistingNode{
		Name:        nc.Name,
		Labels:      labels,
		Taints:      nc.Spec.Taints,
		Allocatable: alloc,
		InFlight:    true,
		NodePool:    nc.Labels[v1.NodePoolLabelKey],
	}, true
}

// CheapestOption is the instance type a not yet launched NodeClaim will most likely get:
// the cheapest available candidate, or the cheapest candidate when none is available.
func CheapestOption(nc *v1.NodeClaim, instanceTypes []*cloudprovider.InstanceType) (*cloudprovider.InstanceType, bool) {
	candidates := cloudprovider.Candidates(instanceTypes, nc)
	if len(candidates) == 0 {
		return nil, false
	}
	if c, err := cloudprovider.Cheapest(candidates); err == nil {
		return c.InstanceType, true
	}
	return candidates[0].InstanceType, true
}

// NodeReady reports whether the Node's Ready condition is True.
func NodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Initialized reports whether the NodeClaim's Initialized condition is True.
func Initialized(nc *v1.NodeClaim) bool {
	return meta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionTypeInitialized)
}

func nominatedFor(nc *v1.NodeClaim, nominated map[string][]*corev1.Pod) []*corev1.Pod {
	if nc == nil {
		return nil
	}
	return sortPods(slices.Clone(nominated[nc.Name]))
}

func sortPods(pods []*corev1.Pod) []*corev1.Pod {
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return pods
}

type named interface {
	GetNamespace() string
	GetName() string
}

func sortedByName[T named](objs []T) []T {
	out := slices.Clone(objs)
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out
}

func sortedByKey[T named](objs []T) []T {
	out := slices.Clone(objs)
	slices.SortFunc(out, func(a, b T) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return out
}

func withoutTaints(taints, startup []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if slices.Contains(ephemeralTaintKeys, t.Key) || slices.ContainsFunc(startup, func(s corev1.Taint) bool { return s.MatchTaint(&t) }) {
			continue
		}
		out = append(out, t)
	}
	return out
}
