package scheduling

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/pods"
)

// Snapshot is everything Solve needs, as plain data. It is read, never modified.
type Snapshot struct {
	// NodePools are the candidates for new capacity, tried by descending Weight, then Name.
	NodePools []NodePool
	// Nodes are existing nodes and in-flight NodeClaims; they are filled before new ones open.
	Nodes []ExistingNode
	// DaemonSets holds one pod template per DaemonSet (namespace/name set); each new node
	// reserves the requests of the DaemonSets that would run on it.
	DaemonSets []*corev1.Pod
	// Pods are running pods that are not listed in any ExistingNode's Pods or Running. Those whose
	// Spec.NodeName names an entry of Nodes are treated as running there (topology counting,
	// anti-affinity, host ports, used resources); the rest are ignored.
	Pods []*corev1.Pod
	// Volumes resolves pod volumes to topology requirements; optional.
	Volumes VolumeTopology
	// Namespaces maps namespace names to their labels, for the namespaceSelector of pod
	// (anti-)affinity terms. A namespace missing from a non-nil map has only the
	// kubernetes.io/metadata.name label; with a nil map a namespaceSelector matches every
	// namespace.
	Namespaces map[string]map[string]string
}

// ResourceNodes is the NodePool limit on the number of nodes: each node or NodeClaim of the
// pool counts one (pass their number in NodePool.Used).
const ResourceNodes corev1.ResourceName = "nodes"

// Requirement is one node selector requirement, with an optional minimum number of distinct
// values a NodeClaim's instance types must keep for Key (karpenter.sh/v1 minValues).
// Operators: In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte.
type Requirement struct {
	Key       string
	Operator  string
	Values    []string
	MinValues *int
}

// NodePool is a template for new capacity.
type NodePool struct {
	Name         string
	Weight       int32
	Requirements []Requirement
	// Labels are the template labels every node of the pool carries.
	Labels map[string]string
	// Taints must be tolerated by the pods placed on the pool's nodes.
	Taints []corev1.Taint
	// StartupTaints are removed once a node is initialised; scheduling ignores them.
	StartupTaints []corev1.Taint
	// Limits cap the total capacity of the pool's nodes; nil means unlimited. The resource
	// "nodes" (ResourceNodes) caps how many nodes the pool has.
	Limits corev1.ResourceList
	// Used is the capacity the pool's nodes already have; the plan uses at most Limits-Used.
	Used corev1.ResourceList
	// InstanceTypes are the shapes the pool may launch, with their offerings.
	InstanceTypes []*cloudprovider.InstanceType
}

// ExistingNode is a node, or a NodeClaim that has been launched but not registered yet.
type ExistingNode struct {
	Name   string
	Labels map[string]string
	// Taints are the node's effective taints; pass in-flight NodeClaims' taints without
	// their startup taints.
	Taints      []corev1.Taint
	Allocatable corev1.ResourceList
	// Pods are the pods bound to (or nominated for) the node, DaemonSet pods included.
	Pods []*corev1.Pod
	// Running are more pods bound to the node, as their parts (RunningPod): a caller that
	// keeps pods in another form than a corev1.Pod (the controller's cluster state) lists
	// them here rather than building a Pod for each. They count as Pods do.
	Running  []RunningPod
	InFlight bool
	NodePool string
	// VolumeLimits caps, per CSI driver, how many volumes the node can attach (its
	// CSINode's allocatable counts); a driver not listed is unlimited.
	VolumeLimits map[string]int64
}

// RunningPod is a pod on an existing node as the scheduler reads it: its metadata and its
// spec (its node name aside). A finished pod (Succeeded or Failed) must not be listed.
type RunningPod struct {
	Meta *metav1.ObjectMeta
	Spec *corev1.PodSpec
}

// RunningPodOf is the pod as a RunningPod, sharing its fields.
func RunningPodOf(pod *corev1.Pod) RunningPod {
	return RunningPod{Meta: &pod.ObjectMeta, Spec: &pod.Spec}
}

// eachPod calls f with every unfinished pod listed on the node: Pods, then Running.
func (en *ExistingNode) eachPod(f func(RunningPod)) {
	for _, p := range en.Pods {
		if !pods.IsTerminal(p) {
			f(RunningPodOf(p))
		}
	}
	for _, r := range en.Running {
		f(r)
	}
}

// VolumeTopology resolves persistent volume claims to node requirements. All maps are
// optional; keys are "namespace/name" for claims and plain names for volumes and classes.
type VolumeTopology struct {
	Claims         map[string]*corev1.PersistentVolumeClaim
	Volumes        map[string]*corev1.PersistentVolume
	StorageClasses map[string]*StorageClass
}

// StorageClass is the part of a storage.k8s.io/v1 StorageClass the scheduler reads.
type StorageClass struct {
	Name string
	// Provisioner is the CSI driver that provisions the class's volumes.
	Provisioner string
	// AllowedTopologies are ORed; each is an AND of In requirements.
	AllowedTopologies []corev1.TopologySelectorTerm
}

// Plan is the outcome of Solve.
type Plan struct {
	NewNodeClaims []NewNodeClaim
	ExistingNodes []ExistingPlacement
	Unschedulable []Unschedulable
	// Price is the sum of every new NodeClaim's cheapest option, in US dollars per hour.
	Price float64
	// Err is set when planning failed on a fault of the scheduler's own (a panic, with its
	// stack): every pod is then Unschedulable with the reason, so a bad input stops neither
	// the caller nor the pods of the next batch.
	Err error
}

// NewNodeClaim is a machine to launch.
type NewNodeClaim struct {
	NodePool string
	// Requirements are the NodeClaim's requirements: the pool's, the pods', and
	// node.kubernetes.io/instance-type In InstanceTypes (in price order).
	Requirements []Requirement
	// Labels are the pool's template labels (the node will carry them).
	Labels map[string]string
	Taints []corev1.Taint
	// InstanceTypes are every compatible type the pods fit on, cheapest available
	// compatible offering first.
	InstanceTypes []*cloudprovider.InstanceType
	// Requests is the sum of the pods' requests plus the DaemonSet overhead.
	Requests corev1.ResourceList
	Pods     []*corev1.Pod
	// Cheapest is the cheapest available offering among InstanceTypes.
	Cheapest Option
}

// Option is one launchable choice: an instance type in a zone with a capacity type.
type Option struct {
	InstanceType string
	Zone         string
	CapacityType string
	Price        float64
}

// ExistingPlacement lists the pods placed on one existing or in-flight node.
type ExistingPlacement struct {
	Name string
	Pods []*corev1.Pod
}

// Unschedulable is a pod the plan cannot place, with the reason.
type Unschedulable struct {
	Pod    *corev1.Pod
	Reason string
}
