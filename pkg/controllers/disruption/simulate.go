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
func (p *pass) simulate(cands []*Candidate) simulation { return p.solve(cands, nil) }

// solve is simulate with an optional extra in-flight node (a replacement being checked).
func (p *pass) solve(cands []*Candidate, extra *scheduling.ExistingNode) simulation {
	gone := make(map[string]bool, len(cands)+len(p.goneNodes))
	for name := range p.goneNodes {
		gone[name] = true
	}
	var movers []*corev1.Pod
	for _, c := range cands {
		gone[c.Node.Name] = true
		movers = append(movers, c.Pods()...)
	}
	movers = append(movers, p.moving...)
	return p.run(gone, movers, nil, extra)
}

// run solves the snapshot without the gone nodes (plus extra, if any): movers must find a
// place on the remaining nodes or on new NodeClaims (returned as replacements); others
// (and pending pods) compete for the capacity but may need new NodeClaims of their own.
func (p *pass) run(gone map[string]bool, movers, others []*corev1.Pod, extra *scheduling.ExistingNode) simulation {
	isMover := make(map[types.UID]bool, len(movers))
	toPlace := make([]*corev1.Pod, 0, len(movers)+len(others)+len(p.pending))
	for _, pod := range movers {
		isMover[pod.UID] = true
		toPlace = append(toPlace, p.unbound(pod))
	}
	for _, pod := range others {
		toPlace = append(toPlace, p.unbound(pod))
	}
	toPlace = append(toPlace, p.pending...)
	plan := p.solvedWithout(gone, extra, toPlace)
	for _, u := range plan.Unschedulable {
		if isMover[u.Pod.UID] {
			return simulation{why: fmt.Sprintf("pod %s/%s would fit nowhere: %s", u.Pod.Namespace, u.Pod.Name, u.Reason)}
		}
	}
	sim := simulation{fits: true}
	pendingCost := 0.0
	for _, nc := range plan.NewNodeClaims {
		switch {
		case slices.ContainsFunc(nc.Pods, func(pod *corev1.Pod) bool { return isMover[pod.UID] }):
			sim.replacements = append(sim.replacements, nc)
		case !slices.ContainsFunc(nc.Pods, func(pod *corev1.Pod) bool { return !p.isPending(pod) }):
			// Only pending pods: what the provisioner would launch for them.
			pendingCost += nc.Cheapest.Price
		}
	}
	// The movers must not take room pending pods would have used: that launches for the
	// pending pods what the move saves (a growing cluster churned its half-filled nodes).
	// Upstream refuses any move whose simulation launches for pending pods; here only a
	// move that makes their launches cost more than they do with the candidates in place.
	if base := p.pendingBaseline(); pendingCost > base+priceEpsilon {
		return simulation{why: fmt.Sprintf("pending pods would need $%.4f/h more of new nodes (the candidates' pods take their room)", pendingCost-base)}
	}
	return sim
}

// priceEpsilon absorbs float sums' rounding in price comparisons ($/h).
const priceEpsilon = 1e-9

// pendingBaseline is what the new NodeClaims pending pods need cost with every node in
// place (and the in-flight commands' pods placed too), once per pass.
func (p *pass) pendingBaseline() float64 {
	if len(p.pending) == 0 {
		return 0
	}
	if p.pendingCost >= 0 {
		return p.pendingCost
	}
	toPlace := make([]*corev1.Pod, 0, len(p.moving)+len(p.pending))
	for _, pod := range p.moving {
		toPlace = append(toPlace, p.unbound(pod))
	}
	toPlace = append(toPlace, p.pending...)
	cost := 0.0
	for _, nc := range p.solvedWithout(p.goneNodes, nil, toPlace).NewNodeClaims {
		if !slices.ContainsFunc(nc.Pods, func(pod *corev1.Pod) bool { return !p.isPending(pod) }) {
			cost += nc.Cheapest.Price
		}
	}
	p.pendingCost = cost
	return cost
}

// snapWithout is the pass's snapshot without the gone nodes, plus extra (if any).
func (p *pass) snapWithout(gone map[string]bool, extra *scheduling.ExistingNode) scheduling.Snapshot {
	snap := *p.snap()
	snap.Nodes = appendWithout(make([]scheduling.ExistingNode, 0, len(snap.Nodes)+1), snap.Nodes, gone, extra)
	return snap
}

// solvedWithout is the plan for the pods on the pass's snapshot without the gone nodes,
// plus extra (if any). The snapshot lives only for the solve (a Plan holds none of its
// nodes), so its nodes are copied into the pass's scratch: a fresh array for each of a
// sweep's thousands of simulations (300 KB at 2,000 nodes) was a third of what they
// allocated.
func (p *pass) solvedWithout(gone map[string]bool, extra *scheduling.ExistingNode, pods []*corev1.Pod) *scheduling.Plan {
	snap := *p.snap()
	snap.Nodes = appendWithout(p.nodeScratch[:0], snap.Nodes, gone, extra)
	plan := scheduling.SolveWith(&snap, pods, p.memo)
	clear(snap.Nodes)
	p.nodeScratch = snap.Nodes[:0]
	return plan
}

// appendWithout appends the nodes but the gone ones, then extra (if any), to out.
func appendWithout(out, nodes []scheduling.ExistingNode, gone map[string]bool, extra *scheduling.ExistingNode) []scheduling.ExistingNode {
	for _, n := range nodes {
		if !gone[n.Name] {
			out = append(out, n)
		}
	}
	if extra != nil {
		out = append(out, *extra)
	}
	return out
}

// isPending reports whether the pod is one of the pass's pending pods.
func (p *pass) isPending(pod *corev1.Pod) bool {
	if p.pendingUIDs == nil {
		p.pendingUIDs = make(map[types.UID]bool, len(p.pending))
		for _, q := range p.pending {
			p.pendingUIDs[q.UID] = true
		}
	}
	return p.pendingUIDs[pod.UID]
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

// SpotToSpotRule is upstream's rule for replacing nodes that are all spot by a NodeClaim
// that may be spot: it says why the rule forbids it, or "" when it allows it. The
// SpotToSpotConsolidation feature gate must be on; single-node consolidation also needs at
// least SpotToSpotMinOptions instance types cheaper than the node (the replacement is then
// launched with the 15 cheapest), multi-node consolidation needs no minimum (upstream:
// "we don't have any requirement to check the remaining instance type flexibility").
func SpotToSpotRule(gate bool, nodes, cheaperTypes int) string {
	switch {
	case !gate:
		return "replacing a spot node by a spot node needs the SpotToSpotConsolidation feature gate"
	case nodes == 1 && cheaperTypes < SpotToSpotMinOptions:
		return fmt.Sprintf("spot-to-spot consolidation needs %d cheaper instance types, found %d", SpotToSpotMinOptions, cheaperTypes)
	}
	return ""
}

// CheaperTypes counts the planned NodeClaim's instance types with an available offering its
// requirements allow that costs less than price.
func CheaperTypes(planned scheduling.NewNodeClaim, price float64) int {
	n := 0
	for _, it := range planned.InstanceTypes {
		if cheapestAllowed(it, planned.Requirements) < price {
			n++
		}
	}
	return n
}

// AllowsCapacityType reports whether the planned NodeClaim's requirements let it launch as
// the capacity type.
func AllowsCapacityType(planned scheduling.NewNodeClaim, capacityType string) bool {
	return allows(planned.Requirements, v1.CapacityTypeLabelKey, capacityType)
}

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
		if why := SpotToSpotRule(p.opts.SpotToSpotConsolidation, len(cands), len(cheaper)); why != "" {
			return planned, 0, why
		}
		if len(cands) == 1 {
			cheaper = cheaper[:SpotToSpotMinOptions]
		}
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

// sameTypeRule is upstream's rule for multi-node replacements: when the replacement could be
// of the same type as one of the candidates, it must be strictly cheaper than the most
// expensive such candidate; otherwise deleting the other candidates is the better move.
func sameTypeRule(cands []*Candidate, r scheduling.NewNodeClaim) (scheduling.NewNodeClaim, float64, string) {
	limit := math.Inf(1)
	for _, c := range cands {
		if c.InstanceType != nil && slices.ContainsFunc(r.InstanceTypes, func(it *cloudprovider.InstanceType) bool { return it.Name == c.InstanceType.Name }) {
			if math.IsInf(limit, 1) || c.Price > limit {
				limit = c.Price
			}
		}
	}
	if math.IsInf(limit, 1) {
		return r, r.Cheapest.Price, ""
	}
	out := r
	out.InstanceTypes = nil
	best := math.Inf(1)
	for _, it := range r.InstanceTypes {
		price := cheapestAllowed(it, r.Requirements)
		if price < limit {
			out.InstanceTypes = append(out.InstanceTypes, it)
			best = min(best, price)
		}
	}
	if len(out.InstanceTypes) == 0 {
		return r, 0, fmt.Sprintf("the replacement would be a %s like a candidate; deleting the others is better", r.Cheapest.InstanceType)
	}
	return out, best, ""
}

// cheapestAllowed is the type's cheapest available offering the requirements allow.
func cheapestAllowed(it *cloudprovider.InstanceType, reqs []scheduling.Requirement) float64 {
	best := math.Inf(1)
	for _, o := range it.Offerings {
		if o.Available && allows(reqs, v1.LabelTopologyZone, o.Zone) && allows(reqs, v1.CapacityTypeLabelKey, o.CapacityType) {
			best = min(best, o.PricePerHour)
		}
	}
	return best
}
