package simulate

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	k8spods "github.com/gokarpenter/karpenter/pkg/pods"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
)

// Objects are the manifests as the cluster objects snapshot.Build reads. A Node whose
// status has no Ready condition is taken as Ready (manifests written by hand rarely carry
// one); the objects are otherwise shared with in.
func Objects(in *Input) snapshot.Objects {
	objs := snapshot.Objects{
		Pods:                   in.BoundPods,
		NodeClaims:             in.NodeClaims,
		DaemonSets:             in.DaemonSets,
		PersistentVolumeClaims: in.PersistentVolumeClaims,
		PersistentVolumes:      in.PersistentVolumes,
		StorageClasses:         in.StorageClasses,
		CSINodes:               in.CSINodes,
		Namespaces:             in.Namespaces,
	}
	for _, n := range in.Nodes {
		if !slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool { return c.Type == corev1.NodeReady }) {
			n = n.DeepCopy()
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue})
		}
		objs.Nodes = append(objs.Nodes, n)
	}
	return objs
}

// PendingPods are the pods the controller would plan for (pods.IsProvisionable: not gated,
// for the default scheduler or marked unschedulable by their own, not finished, not
// terminating, not a DaemonSet's), in the order it plans them (snapshot.ComparePods), so
// simulate and the controller make the same plan.
func PendingPods(in *Input) []*corev1.Pod {
	pods := make([]*corev1.Pod, 0, len(in.Pods))
	for _, p := range in.Pods {
		if k8spods.IsProvisionable(p) {
			pods = append(pods, p)
		}
	}
	slices.SortStableFunc(pods, snapshot.ComparePods)
	return pods
}

// Snapshot turns the manifests into the scheduler's input with the controller's adapter,
// snapshot.Build. Every NodePool may use every instance type of the catalogue; its
// requirements narrow them inside the scheduler. The capacity of existing nodes labelled
// with a NodePool counts against that pool's limits.
func Snapshot(in *Input, instanceTypes []*cloudprovider.InstanceType) *scheduling.Snapshot {
	objs := Objects(in)
	ofClass := classTypes(in.EC2NodeClasses, instanceTypes)
	// The catalogue cannot fail to list, so there is no error to report.
	pools, _, _ := snapshot.NodePools(in.NodePools, func(np *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
		return ofClass(np.Spec.Template.Spec.NodeClassRef), nil
	}, objs)
	return snapshot.Build(objs, pools, instanceTypes)
}

// classTypes returns the types a NodePool's node class launches: the catalogue's, shaped by
// the EC2NodeClass it names when the input holds it (kubelet maxPods, podsPerCore, reserved
// resources and eviction thresholds, root volume size), as the AWS provider shapes them.
func classTypes(classes []*awsv1.EC2NodeClass, catalogue []*cloudprovider.InstanceType) func(*v1.NodeClassReference) []*cloudprovider.InstanceType {
	shaped := map[string][]*cloudprovider.InstanceType{}
	return func(ref *v1.NodeClassReference) []*cloudprovider.InstanceType {
		if ref == nil || ref.Group != awsv1.Group || ref.Kind != "EC2NodeClass" {
			return catalogue
		}
		if its, ok := shaped[ref.Name]; ok {
			return its
		}
		i := slices.IndexFunc(classes, func(c *awsv1.EC2NodeClass) bool { return c.Name == ref.Name })
		if i < 0 {
			return catalogue
		}
		o := awsprovider.ClassOptions(classes[i], awsprovider.BuildOptions{VMMemoryOverheadPercent: awsprovider.DefaultVMMemoryOverheadPercent})
		its := make([]*cloudprovider.InstanceType, len(catalogue))
		for j, it := range catalogue {
			its[j] = awsprovider.Reshape(it, o)
		}
		shaped[ref.Name] = its
		return its
	}
}

// Result renders a plan in the output shape. lowerBound is scheduling.LowerBound for the
// same input; solve is how long Solve took.
func NewResult(plan *scheduling.Plan, pods int, lowerBound float64, solve time.Duration) *Result {
	r := &Result{Summary: Summary{
		Pods:                   pods,
		NodeClaims:             len(plan.NewNodeClaims),
		PricePerHour:           plan.Price,
		LowerBoundPricePerHour: lowerBound,
		SolveSeconds:           solve.Seconds(),
	}}
	for _, nc := range plan.NewNodeClaims {
		r.NodeClaims = append(r.NodeClaims, NodeClaim{
			NodePool:            nc.NodePool,
			InstanceType:        nc.Cheapest.InstanceType,
			CapacityType:        nc.Cheapest.CapacityType,
			Zone:                nc.Cheapest.Zone,
			PricePerHour:        nc.Cheapest.Price,
			InstanceTypeOptions: len(nc.InstanceTypes),
			Pods:                qualifiedNames(nc.Pods),
		})
		r.Summary.Scheduled += len(nc.Pods)
	}
	for _, e := range plan.ExistingNodes {
		if len(e.Pods) == 0 {
			continue
		}
		r.ExistingNodes = append(r.ExistingNodes, ExistingNode{Name: e.Name, Pods: qualifiedNames(e.Pods)})
		r.Summary.Scheduled += len(e.Pods)
	}
	for _, u := range plan.Unschedulable {
		r.Unschedulable = append(r.Unschedulable, Unschedulable{Pod: u.Pod.Namespace + "/" + u.Pod.Name, Reason: u.Reason})
	}
	return r
}

func qualifiedNames(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Namespace + "/" + p.Name
	}
	return out
}
