package explain

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// NodeReport explains whether a node (or NodeClaim) is a voluntary disruption candidate.
type NodeReport struct {
	// Kind is what was asked about: Node or NodeClaim.
	Kind         string  `json:"kind"`
	Name         string  `json:"name"`
	Node         string  `json:"node,omitempty"`
	NodeClaim    string  `json:"nodeClaim,omitempty"`
	NodePool     string  `json:"nodePool,omitempty"`
	InstanceType string  `json:"instanceType,omitempty"`
	CapacityType string  `json:"capacityType,omitempty"`
	Zone         string  `json:"zone,omitempty"`
	PricePerHour float64 `json:"pricePerHour"`
	// Pods counts the pods that would have to move (DaemonSet and static pods left out).
	Pods int `json:"pods"`
	// Candidate is true when no rule keeps the node and consolidation would remove or
	// replace it.
	Candidate bool        `json:"candidate"`
	Reason    reason.Code `json:"reason"`
	Message   string      `json:"message"`
	// Cheapest is the cheapest new node from its NodePool its pods fit on, alone.
	Cheapest *Launch `json:"cheapest,omitempty"`
	// Replacement is what consolidation would do with its pods: the price of the new
	// capacity they need once the node is gone (0 when they fit on other nodes).
	Replacement *Replacement `json:"replacement,omitempty"`
}

// Replacement is where a node's pods would go without it.
type Replacement struct {
	// Fits is false when some pod would fit nowhere.
	Fits bool `json:"fits"`
	// PricePerHour is the price of the NodeClaims the pods need; 0 means none.
	PricePerHour float64  `json:"pricePerHour"`
	NodeClaims   []Launch `json:"nodeClaims"`
}

// Node explains the node (kind "node") or NodeClaim (kind "nodeclaim") of that name.
func Node(w *World, elig Eligibility, kind, name string, now time.Time) (*NodeReport, error) {
	var node *corev1.Node
	var nc *v1.NodeClaim
	r := &NodeReport{Name: name}
	switch kind {
	case "node":
		r.Kind = "Node"
		if node = w.Node(name); node == nil {
			return nil, ErrNotFound{Kind: "node", Name: name}
		}
		nc = w.NodeClaimFor(node)
	case "nodeclaim":
		r.Kind = "NodeClaim"
		if nc = w.NodeClaim(name); nc == nil {
			return nil, ErrNotFound{Kind: "nodeclaim", Name: name}
		}
		node = w.NodeFor(nc)
	default:
		return nil, fmt.Errorf("kind %q: want node or nodeclaim", kind)
	}
	labels := map[string]string{}
	if nc != nil {
		r.NodeClaim = nc.Name
		for k, v := range nc.Labels {
			labels[k] = v
		}
	}
	var pods []*corev1.Pod
	if node != nil {
		r.Node = node.Name
		for k, v := range node.Labels {
			labels[k] = v
		}
		pods = reschedulable(w.PodsOn(node.Name))
	}
	r.NodePool, r.InstanceType = labels[v1.NodePoolLabelKey], labels[v1.LabelInstanceType]
	r.CapacityType, r.Zone = labels[v1.CapacityTypeLabelKey], labels[v1.LabelTopologyZone]
	r.PricePerHour = price(w, r)
	r.Pods = len(pods)

	r.Reason, r.Message = elig.Check(w, nc, node, now)
	if node == nil || nc == nil {
		return r, nil
	}
	snap := w.Snapshot(now, nil)
	moved := make([]*corev1.Pod, len(pods))
	for i, p := range pods {
		moved[i] = p.DeepCopy()
		moved[i].Spec.NodeName = ""
	}
	without := *snap
	without.Nodes = slices.DeleteFunc(slices.Clone(snap.Nodes), func(n scheduling.ExistingNode) bool {
		return n.Name == node.Name || n.Name == nc.Name
	})
	if i := slices.IndexFunc(snap.NodePools, func(p scheduling.NodePool) bool { return p.Name == r.NodePool }); i >= 0 && len(moved) > 0 {
		pool := snap.NodePools[i]
		pool.Limits = nil
		one := *isolated(&without)
		one.NodePools = []scheduling.NodePool{pool}
		if plan := scheduling.Solve(&one, moved); len(plan.Unschedulable) == 0 && len(plan.NewNodeClaims) == 1 {
			r.Cheapest = launchOf(&plan.NewNodeClaims[0])
		}
	}
	plan := scheduling.Solve(&without, moved)
	rep := &Replacement{Fits: len(plan.Unschedulable) == 0, PricePerHour: plan.Price, NodeClaims: []Launch{}}
	for i := range plan.NewNodeClaims {
		rep.NodeClaims = append(rep.NodeClaims, *launchOf(&plan.NewNodeClaims[i]))
	}
	r.Replacement = rep
	if r.Reason != reason.Candidate {
		return r, nil
	}
	if isDrifted(nc) {
		r.Candidate = true
		r.Message = "it has drifted from its NodePool or node class: disruption replaces it whatever the price"
		return r, nil
	}
	switch {
	case !rep.Fits:
		r.Reason, r.Message = reason.NoCheaperReplacement, "some of its pods would fit nowhere else: "+plan.Unschedulable[0].Reason
	case len(rep.NodeClaims) == 0:
		r.Candidate = true
		r.Message = "its pods fit on other nodes: consolidation may delete it"
	case len(rep.NodeClaims) > 1:
		// Consolidation replaces one node by at most one.
		r.Reason, r.Message = reason.NoCheaperReplacement, fmt.Sprintf("its pods would need %d new nodes", len(rep.NodeClaims))
	case r.PricePerHour > 0 && rep.PricePerHour < r.PricePerHour:
		// The controller's capacity-type rule (disruption.SpotToSpotRule): a spot node
		// replaced by a NodeClaim that may launch as spot.
		planned := plan.NewNodeClaims[0]
		if r.CapacityType == v1.CapacityTypeSpot && disruption.AllowsCapacityType(planned, v1.CapacityTypeSpot) {
			cheaper := disruption.CheaperTypes(planned, r.PricePerHour)
			if why := disruption.SpotToSpotRule(w.SpotToSpotConsolidation, 1, cheaper); why != "" {
				r.Reason = reason.SpotToSpot
				r.Message = fmt.Sprintf("a cheaper replacement exists ($%.4f/h against $%.4f/h, %d cheaper instance types), but the node is spot: %s",
					rep.PricePerHour, r.PricePerHour, cheaper, why)
				return r, nil
			}
		}
		r.Candidate = true
		r.Message = fmt.Sprintf("a cheaper replacement exists ($%.4f/h against $%.4f/h): consolidation may replace it", rep.PricePerHour, r.PricePerHour)
	default:
		r.Reason, r.Message = reason.NoCheaperReplacement, reason.NoCheaperReplacementMessage(r.PricePerHour, rep.PricePerHour)
	}
	return r, nil
}

// price is the node's offering price from its NodePool's instance types; 0 when unknown.
func price(w *World, r *NodeReport) float64 {
	for _, it := range w.InstanceTypes[r.NodePool] {
		if it.Name != r.InstanceType {
			continue
		}
		for _, o := range it.Offerings {
			if o.Zone == r.Zone && o.CapacityType == r.CapacityType {
				return o.PricePerHour
			}
		}
	}
	return 0
}
