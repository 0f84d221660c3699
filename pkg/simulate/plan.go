package simulate

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// Snapshot turns the manifests into the scheduler's input. Every NodePool may use every
// instance type of the catalogue; its requirements narrow them inside the scheduler. The
// capacity of existing nodes labelled with a NodePool counts against that pool's limits.
func Snapshot(in *Input, instanceTypes []*cloudprovider.InstanceType) *scheduling.Snapshot {
	s := &scheduling.Snapshot{}
	used := map[string]corev1.ResourceList{}
	podsByNode := map[string][]*corev1.Pod{}
	for _, p := range in.BoundPods {
		podsByNode[p.Spec.NodeName] = append(podsByNode[p.Spec.NodeName], p)
	}
	for _, n := range in.Nodes {
		pool := n.Labels[v1.NodePoolLabelKey]
		if pool != "" {
			sum := used[pool]
			if sum == nil {
				sum = corev1.ResourceList{}
				used[pool] = sum
			}
			for name, q := range n.Status.Capacity {
				total := sum[name]
				total.Add(q)
				sum[name] = total
			}
		}
		s.Nodes = append(s.Nodes, scheduling.ExistingNode{
			Name:        n.Name,
			Labels:      n.Labels,
			Taints:      n.Spec.Taints,
			Allocatable: n.Status.Allocatable,
			Pods:        podsByNode[n.Name],
			NodePool:    pool,
		})
	}
	for _, np := range in.NodePools {
		s.NodePools = append(s.NodePools, scheduling.NodePoolFromAPI(np, instanceTypes, used[np.Name]))
	}
	for _, ds := range in.DaemonSets {
		s.DaemonSets = append(s.DaemonSets, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: ds.Namespace, Name: ds.Name, Labels: ds.Spec.Template.Labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name}},
			},
			Spec: *ds.Spec.Template.Spec.DeepCopy(),
		})
	}
	s.Volumes = volumeTopology(in)
	return s
}

func volumeTopology(in *Input) scheduling.VolumeTopology {
	v := scheduling.VolumeTopology{
		Claims:         map[string]*corev1.PersistentVolumeClaim{},
		Volumes:        map[string]*corev1.PersistentVolume{},
		StorageClasses: map[string]*scheduling.StorageClass{},
	}
	for _, c := range in.PersistentVolumeClaims {
		v.Claims[c.Namespace+"/"+c.Name] = c
	}
	for _, pv := range in.PersistentVolumes {
		v.Volumes[pv.Name] = pv
	}
	for _, sc := range in.StorageClasses {
		v.StorageClasses[sc.Name] = &scheduling.StorageClass{Name: sc.Name, AllowedTopologies: sc.AllowedTopologies}
	}
	return v
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
