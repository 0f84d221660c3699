package disruption

import (
	"fmt"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// simulation is what the scheduler says of removing some candidates.
type simulation struct {
	// fits: every pod that must move has a place on the remaining nodes, in-flight
	// NodeClaims, or the new NodeClaims in replacements.
	fits bool
	// why is the reason when it does not fit.
	why string
	// replacements are the planned new NodeClaims holding pods that must move.
	replacements []scheduling.NewNodeClaim
}

// simulate solves, with the provisioner's scheduler, the cluster without the candidates'
// nodes (and without the nodes in-flight commands are removing): the candidates' pods and
// the in-flight commands' pods must find a place; pending pods compete for the same
// capacity but may need new NodeClaims (the provisioner launches those anyway).
func (p *pass) simulate(cands []*Candidate) simulation {
	gone := make(map[string]bool, len(cands)+len(p.goneNodes))
	for name := range p.goneNodes {
		gone[name] = true
	}
	movers := make(map[types.UID]bool, len(p.moving))
	toPlace := make([]*corev1.Pod, 0, len(p.moving)+len(p.pending))
	for _, c := range cands {
		gone[c.Node.Name] = true
		for _, pod := range c.Pods {
			movers[pod.UID] = true
			toPlace = append(toPlace, p.unbound(pod))
		}
	}
	for _, pod := range p.moving {
		movers[pod.UID] = true
		toPlace = append(toPlace, p.unbound(pod))
	}
	toPlace = append(toPlace, p.pending...)
	snap := *p.snapshot
	snap.Nodes = make([]scheduling.ExistingNode, 0, len(p.snapshot.Nodes))
	for _, n := range p.snapshot.Nodes {
		if !gone[n.Name] {
			snap.Nodes = append(snap.Nodes, n)
		}
	}
	plan := scheduling.Solve(&snap, toPlace)
	for _, u := range plan.Unschedulable {
		if movers[u.Pod.UID] {
			return simulation{why: fmt.Sprintf("pod %s/%s would fit nowhere: %s", u.Pod.Namespace, u.Pod.Name, u.Reason)}
		}
	}
	sim := simulation{fits: true}
	for _, nc := range plan.NewNodeClaims {
		if slices.ContainsFunc(nc.Pods, func(pod *corev1.Pod) bool { return movers[pod.UID] }) {
			sim.replacements = append(sim.replacements, nc)
		}
	}
	return sim
}

// unbound returns a copy of the pod as it is once evicted and recreated: not bound. The
// copy is shallow (only the node name differs) and kept for the pass.
func (p *pass) unbound(pod *corev1.Pod) *corev1.Pod {
	if u, ok := p.unboundPods[pod.UID]; ok {
		return u
	}
	u := *pod
	u.Spec.NodeName = ""
	if p.unboundPods == nil {
		p.unboundPods = map[types.UID]*corev1.Pod{}
	}
	p.unboundPods[pod.UID] = &u
	return &u
}

// SpotToSpotMinOptions is how many cheaper instance types a spot node's spot replacement
// must have (upstream's rule: fewer would chase the cheapest pools into interruptions).
const SpotToSpotMinOptions = 15

// cheaperReplacement restricts a planned replacement to the options strictly cheaper than
// the candidates together and applies upstream's capacity type rules. It returns the
// restricted NodeClaim and its price, or why no replacement is worth it.
func (p *pass) cheaperReplacement(cands []*Candidate, planned scheduling.NewNodeClaim) (scheduling.NewNodeClaim, float64, string) {
	total := 0.0
	allSpot := true
	for _, c := range cands {
		if c.Price <= 0 {
			return planned, 0, fmt.Sprintf("the price of nodeclaim %s is unknown", c.Name())
		}
		total += c.Price
		allSpot = allSpot && c.CapacityType == v1.CapacityTypeSpot
	}
	type priced struct {
		i     int
		price float64
		spot  bool
	}
	var cheaper []priced
	for i, it := range planned.InstanceTypes {
		best, spot := math.Inf(1), false
		for _, o := range it.Offerings {
			if !o.Available || !allows(planned.Requirements, v1.LabelTopologyZone, o.Zone) || !allows(planned.Requirements, v1.CapacityTypeLabelKey, o.CapacityType) {
				continue
			}
			if o.PricePerHour < best {
				best, spot = o.PricePerHour, o.CapacityType == v1.CapacityTypeSpot
			}
		}
		if best < total {
			cheaper = append(cheaper, priced{i, best, spot})
		}
	}
	if len(cheaper) == 0 {
		return planned, 0, fmt.Sprintf("no instance type for the pods is cheaper than $%.4f/h", total)
	}
	slices.SortStableFunc(cheaper, func(a, b priced) int { return cmpFloat(a.price, b.price) })
	if allSpot && allows(planned.Requirements, v1.CapacityTypeLabelKey, v1.CapacityTypeSpot) {
		if !p.opts.SpotToSpotConsolidation {
			return planned, 0, "replacing a spot node by a spot node needs the SpotToSpotConsolidation feature gate"
		}
		if len(cheaper) < SpotToSpotMinOptions {
			return planned, 0, fmt.Sprintf("spot-to-spot consolidation needs %d cheaper instance types, found %d", SpotToSpotMinOptions, len(cheaper))
		}
		cheaper = cheaper[:SpotToSpotMinOptions]
	}
	out := planned
	out.InstanceTypes = make([]*cloudprovider.InstanceType, 0, len(cheaper))
	for _, c := range cheaper {
		out.InstanceTypes = append(out.InstanceTypes, planned.InstanceTypes[c.i])
	}
	if i := slices.IndexFunc(planned.Requirements, func(r scheduling.Requirement) bool { return r.Key == v1.LabelInstanceType }); i >= 0 {
		if mv := planned.Requirements[i].MinValues; mv != nil && len(out.InstanceTypes) < *mv {
			return planned, 0, fmt.Sprintf("only %d cheaper instance types, minValues needs %d", len(out.InstanceTypes), *mv)
		}
	}
	out.Cheapest.Price = cheaper[0].price
	out.Cheapest.InstanceType = out.InstanceTypes[0].Name
	return out, cheaper[0].price, ""
}

// allows reports whether the requirements let key take value (a key they do not mention
// may take any value).
func allows(reqs []scheduling.Requirement, key, value string) bool {
	for _, r := range reqs {
		if r.Key != key {
			continue
		}
		switch r.Operator {
		case "In":
			if !slices.Contains(r.Values, value) {
				return false
			}
		case "NotIn":
			if slices.Contains(r.Values, value) {
				return false
			}
		case "DoesNotExist":
			return false
		}
	}
	return true
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
