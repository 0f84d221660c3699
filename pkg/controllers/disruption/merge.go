package disruption

import (
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// mergeReplacements turns the several new NodeClaims a simulation planned for the moving
// pods into one, when one node can hold them all: the scheduler minimises the price of the
// whole plan and may split pods over several small nodes, while consolidation replaces by
// one node only. The merge applies when the planned NodeClaims come from one NodePool with
// the same requirements (instance types aside) and no moving pod has a per-node rule
// (pod anti-affinity, topology spread or host ports). The merged NodeClaim offers the
// types every planned one offered that fit the summed requests, cheapest first, and is
// checked by solving again with it as an in-flight node: every moving pod must land on an
// existing node (check solves with the extra node). It returns false when no merge holds.
func (p *pass) mergeReplacements(reps []scheduling.NewNodeClaim, check func(extra *scheduling.ExistingNode) simulation) (scheduling.NewNodeClaim, bool) {
	first := reps[0]
	var pods []*corev1.Pod
	total := corev1.ResourceList{}
	for _, r := range reps {
		if r.NodePool != first.NodePool || !sameRequirements(r.Requirements, first.Requirements) {
			return first, false
		}
		for _, pod := range r.Pods {
			if perNodeRules(pod) {
				return first, false
			}
		}
		pods = append(pods, r.Pods...)
		for name, q := range r.Requests {
			sum := total[name]
			sum.Add(q)
			total[name] = sum
		}
	}
	type option struct {
		it    *cloudprovider.InstanceType
		price float64
		zone  string
		ct    string
	}
	var options []option
	for _, it := range first.InstanceTypes {
		if !slices.ContainsFunc(reps[1:], func(r scheduling.NewNodeClaim) bool {
			return !slices.ContainsFunc(r.InstanceTypes, func(o *cloudprovider.InstanceType) bool { return o.Name == it.Name })
		}) && cloudprovider.Fits(it.Allocatable(), total) {
			best := option{it: it, price: math.Inf(1)}
			for _, o := range it.Offerings {
				if o.Available && o.PricePerHour < best.price && allows(first.Requirements, v1.LabelTopologyZone, o.Zone) && allows(first.Requirements, v1.CapacityTypeLabelKey, o.CapacityType) {
					best.price, best.zone, best.ct = o.PricePerHour, o.Zone, o.CapacityType
				}
			}
			if !math.IsInf(best.price, 1) {
				options = append(options, best)
			}
		}
	}
	if len(options) == 0 {
		return first, false
	}
	slices.SortStableFunc(options, func(a, b option) int { return cmpFloat(a.price, b.price) })
	merged := first
	merged.Pods, merged.Requests = pods, total
	merged.InstanceTypes = make([]*cloudprovider.InstanceType, len(options))
	for i, o := range options {
		merged.InstanceTypes[i] = o.it
	}
	merged.Cheapest = scheduling.Option{InstanceType: options[0].it.Name, Zone: options[0].zone, CapacityType: options[0].ct, Price: options[0].price}
	// Check: the cluster without the candidates, plus the merged node, holds every moving pod.
	labels := map[string]string{v1.LabelTopologyZone: options[0].zone, v1.CapacityTypeLabelKey: options[0].ct, "kubernetes.io/hostname": "merged-replacement"}
	for k, v := range first.Labels {
		labels[k] = v
	}
	for k, v := range options[0].it.Labels {
		labels[k] = v
	}
	for _, r := range first.Requirements {
		if r.Operator == "In" && len(r.Values) == 1 {
			labels[r.Key] = r.Values[0]
		}
	}
	extra := scheduling.ExistingNode{Name: "merged-replacement", Labels: labels, Taints: first.Taints,
		Allocatable: options[0].it.Allocatable(), InFlight: true, NodePool: first.NodePool}
	sim := check(&extra)
	if !sim.fits || len(sim.replacements) > 0 {
		return first, false
	}
	return merged, true
}

// perNodeRules reports whether the pod constrains which pods share its node.
func perNodeRules(pod *corev1.Pod) bool {
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		return true
	}
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		return true
	}
	for _, c := range pod.Spec.Containers {
		for _, port := range c.Ports {
			if port.HostPort != 0 {
				return true
			}
		}
	}
	return false
}

// sameRequirements compares requirements, the instance type requirement aside.
func sameRequirements(a, b []scheduling.Requirement) bool {
	strip := func(rs []scheduling.Requirement) []scheduling.Requirement {
		return slices.DeleteFunc(slices.Clone(rs), func(r scheduling.Requirement) bool { return r.Key == v1.LabelInstanceType })
	}
	return slices.EqualFunc(strip(a), strip(b), func(x, y scheduling.Requirement) bool {
		return x.Key == y.Key && x.Operator == y.Operator && slices.Equal(x.Values, y.Values)
	})
}
