package nodesview

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/pods"
)

// Row is one node.
type Row struct {
	Name         string
	NodePool     string // empty: not Karpenter's
	InstanceType string
	CapacityType string
	Zone         string
	// PricePerHour is 0 when unknown.
	PricePerHour float64
	// CPU and memory in milli-CPU and bytes.
	CPURequested, CPUAllocatable int64
	MemRequested, MemAllocatable int64
	Pods                         int
	// Status is Ready, NotReady, Cordoned, Deleting, or Launching for a NodeClaim with no
	// node yet.
	Status  string
	Created time.Time
}

// Pricer gives the hourly price of an instance type's offering; ok is false when unknown.
type Pricer interface {
	Price(instanceType, zone, capacityType string) (float64, bool)
}

// Frame is what one frame shows.
type Frame struct {
	// Rows are the nodes, then the NodeClaims launching without a node yet (Status
	// "Launching"), sorted by NodePool then name.
	Rows []Row
	// Pending counts the pods no node runs yet (not finished, not being deleted).
	Pending int
}

// Read lists nodes, NodeClaims and pods into a frame.
func Read(ctx context.Context, r client.Reader, prices Pricer) (Frame, error) {
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes); err != nil {
		return Frame{}, fmt.Errorf("listing nodes: %w", err)
	}
	var claims v1.NodeClaimList
	if err := r.List(ctx, &claims); err != nil {
		return Frame{}, fmt.Errorf("listing nodeclaims: %w", err)
	}
	var podList corev1.PodList
	if err := r.List(ctx, &podList); err != nil {
		return Frame{}, fmt.Errorf("listing pods: %w", err)
	}
	var f Frame
	byNode := map[string][]*corev1.Pod{}
	for i := range podList.Items {
		p := &podList.Items[i]
		switch {
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		case p.Spec.NodeName != "":
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		case p.DeletionTimestamp == nil:
			f.Pending++
		}
	}
	providerIDs := map[string]bool{}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		providerIDs[n.Spec.ProviderID] = true
		f.Rows = append(f.Rows, rowOf(n, byNode[n.Name], prices))
	}
	for i := range claims.Items {
		if nc := &claims.Items[i]; nc.Status.ProviderID == "" || !providerIDs[nc.Status.ProviderID] {
			f.Rows = append(f.Rows, launchingRow(nc, prices))
		}
	}
	slices.SortFunc(f.Rows, func(a, b Row) int { return cmp.Or(cmp.Compare(a.NodePool, b.NodePool), cmp.Compare(a.Name, b.Name)) })
	return f, nil
}

// launchingRow describes a NodeClaim that has no node yet: its type, zone and capacity type
// once launched (labels), its allocatable once known.
func launchingRow(nc *v1.NodeClaim, prices Pricer) Row {
	r := Row{
		Name: nc.Name, NodePool: nc.Labels[v1.NodePoolLabelKey], InstanceType: nc.Labels[v1.LabelInstanceType],
		CapacityType: nc.Labels[v1.CapacityTypeLabelKey], Zone: nc.Labels[v1.LabelTopologyZone],
		CPUAllocatable: milli(nc.Status.Allocatable, corev1.ResourceCPU), MemAllocatable: value(nc.Status.Allocatable, corev1.ResourceMemory),
		Status: "Launching", Created: nc.CreationTimestamp.Time,
	}
	if nc.DeletionTimestamp != nil {
		r.Status = "Deleting"
	}
	if prices != nil {
		r.PricePerHour, _ = prices.Price(r.InstanceType, r.Zone, r.CapacityType)
	}
	return r
}

func rowOf(n *corev1.Node, onNode []*corev1.Pod, prices Pricer) Row {
	r := Row{
		Name: n.Name, NodePool: n.Labels[v1.NodePoolLabelKey], InstanceType: n.Labels[v1.LabelInstanceType],
		CapacityType: n.Labels[v1.CapacityTypeLabelKey], Zone: n.Labels[v1.LabelTopologyZone],
		CPUAllocatable: milli(n.Status.Allocatable, corev1.ResourceCPU), MemAllocatable: value(n.Status.Allocatable, corev1.ResourceMemory),
		Pods: len(onNode), Created: n.CreationTimestamp.Time, Status: "NotReady",
	}
	if prices != nil {
		r.PricePerHour, _ = prices.Price(r.InstanceType, r.Zone, r.CapacityType)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			r.Status = "Ready"
		}
	}
	switch {
	case n.DeletionTimestamp != nil:
		r.Status = "Deleting"
	case n.Spec.Unschedulable:
		r.Status = "Cordoned"
	}
	// What kube-scheduler counts: sidecars, limits standing in for requests, pod-level
	// requests and overhead.
	for _, p := range onNode {
		req := pods.Requests(p)
		r.CPURequested += milli(req, corev1.ResourceCPU)
		r.MemRequested += value(req, corev1.ResourceMemory)
	}
	return r
}

func milli(l corev1.ResourceList, name corev1.ResourceName) int64 {
	q, ok := l[name]
	if !ok {
		return 0
	}
	return q.MilliValue()
}

func value(l corev1.ResourceList, name corev1.ResourceName) int64 {
	q, ok := l[name]
	if !ok {
		return 0
	}
	return q.Value()
}
