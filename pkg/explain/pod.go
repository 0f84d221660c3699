package explain

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
)

// PodReport explains where a pod is or would go.
type PodReport struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Node is the node the pod is bound to; empty while pending.
	Node string `json:"node,omitempty"`
	// Pending is true when no node runs the pod yet.
	Pending bool `json:"pending"`
	// Summary is one sentence: where it runs, where it would go, or the scheduler's reason
	// (the text of its FailedScheduling event).
	Summary string `json:"summary"`
	// NominatedTo is the NodeClaim the controller's last Nominated event names, while that
	// nomination holds.
	NominatedTo *Target `json:"nominatedTo,omitempty"`
	// Placement is where the scheduler would put it now among existing and in-flight capacity.
	Placement *Target `json:"placement,omitempty"`
	// Launch is the new NodeClaim the scheduler would create for it (with other pending pods).
	Launch *Launch `json:"launch,omitempty"`
	// NodePools has one verdict per NodePool, in the order the scheduler tries them.
	NodePools []PoolVerdict `json:"nodePools"`
}

// Target names a node or NodeClaim.
type Target struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Launch describes a NodeClaim the scheduler would create.
type Launch struct {
	NodePool            string  `json:"nodePool"`
	InstanceType        string  `json:"instanceType"`
	CapacityType        string  `json:"capacityType"`
	Zone                string  `json:"zone"`
	PricePerHour        float64 `json:"pricePerHour"`
	InstanceTypeOptions int     `json:"instanceTypeOptions"`
	Pods                int     `json:"pods"`
}

// PoolVerdict is whether one NodePool could launch capacity for the pod, and if not the
// first rule that blocks it.
type PoolVerdict struct {
	NodePool string      `json:"nodePool"`
	Reason   reason.Code `json:"reason"`
	Message  string      `json:"message"`
	// Launch is what this NodePool alone would launch for the pod alone (reason Fits).
	Launch *Launch `json:"launch,omitempty"`
}

// ErrNotFound is returned when the object to explain does not exist.
type ErrNotFound struct{ Kind, Name string }

func (e ErrNotFound) Error() string { return fmt.Sprintf("%s %q not found", e.Kind, e.Name) }

// Pod explains the pod namespace/name.
func Pod(w *World, namespace, name string, now time.Time) (*PodReport, error) {
	pod := w.Pod(namespace, name)
	if pod == nil {
		return nil, ErrNotFound{Kind: "pod", Name: namespace + "/" + name}
	}
	r := &PodReport{Kind: "Pod", Namespace: namespace, Name: name, Node: pod.Spec.NodeName, NodePools: []PoolVerdict{}}
	if pod.Spec.NodeName != "" {
		r.Summary = fmt.Sprintf("bound to node %s", pod.Spec.NodeName)
		return r, nil
	}
	if isTerminal(pod) || pod.DeletionTimestamp != nil {
		r.Summary = "finished or being deleted; nothing to schedule"
		return r, nil
	}
	r.Pending = true
	for nc, pods := range w.Nominations(now) {
		if slices.Contains(pods, pod) {
			r.NominatedTo = &Target{Kind: "NodeClaim", Name: nc}
		}
	}
	snap := w.Snapshot(now, pod)

	// The whole batch, as the provisioner would plan it now, with this pod in it.
	pending := []*corev1.Pod{pod}
	for _, p := range w.Pending(now) {
		if p != pod {
			pending = append(pending, p)
		}
	}
	slices.SortFunc(pending, snapshot.ComparePods)
	plan := scheduling.Solve(snap, pending)
	r.Summary = "no NodePool can launch capacity and no existing node fits"
	for _, e := range plan.ExistingNodes {
		if slices.Contains(e.Pods, pod) {
			kind := "Node"
			if isInFlight(snap, e.Name) {
				kind = "NodeClaim"
			}
			r.Placement = &Target{Kind: kind, Name: e.Name}
			r.Summary = fmt.Sprintf("fits on existing %s %s", kind, e.Name)
		}
	}
	for i := range plan.NewNodeClaims {
		if nc := &plan.NewNodeClaims[i]; slices.Contains(nc.Pods, pod) {
			r.Launch = launchOf(nc)
			r.Summary = fmt.Sprintf("would launch %s (%s, %s) from NodePool %s at $%.4f/h",
				nc.Cheapest.InstanceType, nc.Cheapest.CapacityType, nc.Cheapest.Zone, nc.NodePool, nc.Cheapest.Price)
		}
	}
	for _, u := range plan.Unschedulable {
		if u.Pod == pod {
			r.Summary = u.Reason
		}
	}

	for _, np := range w.NodePools {
		if !launches(w, np) {
			r.NodePools = append(r.NodePools, PoolVerdict{NodePool: np.Name, Reason: reason.NodePoolNotLaunching,
				Message: reason.NotLaunchingMessage(np.Name, notLaunchingWhy(w, np))})
		}
	}
	for i := range snap.NodePools {
		r.NodePools = append(r.NodePools, poolVerdict(snap, i, pod))
	}
	return r, nil
}

func notLaunchingWhy(w *World, np *v1.NodePool) string {
	switch {
	case np.DeletionTimestamp != nil:
		return "it is being deleted"
	case np.Spec.Replicas != nil:
		return "it is static (spec.replicas is set)"
	default:
		return w.InstanceTypeErrors[np.Name].Error()
	}
}

func isInFlight(snap *scheduling.Snapshot, name string) bool {
	for _, n := range snap.Nodes {
		if n.Name == name {
			return n.InFlight
		}
	}
	return false
}

func launchOf(nc *scheduling.NewNodeClaim) *Launch {
	return &Launch{
		NodePool: nc.NodePool, InstanceType: nc.Cheapest.InstanceType, CapacityType: nc.Cheapest.CapacityType,
		Zone: nc.Cheapest.Zone, PricePerHour: nc.Cheapest.Price, InstanceTypeOptions: len(nc.InstanceTypes), Pods: len(nc.Pods),
	}
}

func lastSeen(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
