package state_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// The generation moves on every change a decision could depend on, and stays put for what
// a quiet cluster of thousands of nodes keeps sending: node heartbeats and resyncs.
func TestGeneration(t *testing.T) {
	c := state.NewCluster(state.Options{})
	at := func(minute int) metav1.Time { return metav1.NewTime(time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC)) }
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "1"},
		Spec:       corev1.NodeSpec{ProviderID: "sim:///z/n1"},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: at(0), LastTransitionTime: at(0)}},
		},
	}
	pod := pendingPod("p1")
	pod.ResourceVersion = "1"
	nc := nodeClaim("nc1", "small")
	nc.ResourceVersion = "1"

	steps := []struct {
		name  string
		do    func()
		moves bool
	}{
		{"node added", func() { c.UpdateNode(node) }, true},
		{"node resync", func() { c.UpdateNode(node.DeepCopy()) }, false},
		{"node heartbeat", func() {
			n := node.DeepCopy()
			n.ResourceVersion = "2"
			n.Status.Conditions[0].LastHeartbeatTime = at(10)
			c.UpdateNode(n)
		}, false},
		{"node turns NotReady", func() {
			n := node.DeepCopy()
			n.ResourceVersion = "3"
			n.Status.Conditions[0].Status = corev1.ConditionFalse
			c.UpdateNode(n)
		}, true},
		{"node tainted", func() {
			n := node.DeepCopy()
			n.ResourceVersion = "4"
			n.Spec.Taints = []corev1.Taint{v1.DisruptedNoScheduleTaint}
			c.UpdateNode(n)
		}, true},
		{"pod added", func() { c.UpdatePod(pod) }, true},
		{"pod resync", func() { c.UpdatePod(pod.DeepCopy()) }, false},
		{"pod bound", func() {
			p := pod.DeepCopy()
			p.ResourceVersion, p.Spec.NodeName = "2", "n1"
			c.UpdatePod(p)
		}, true},
		{"nodeclaim created", func() { c.UpdateNodeClaim(nc) }, true},
		{"nodeclaim from the informer, same version", func() { c.UpdateNodeClaim(nc.DeepCopy()) }, false},
		{"nodeclaim status", func() {
			n := nc.DeepCopy()
			n.ResourceVersion, n.Status.NodeName = "2", "n1"
			c.UpdateNodeClaim(n)
		}, true},
		{"nodepool", func() {
			c.UpdateNodePool(&v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default", ResourceVersion: "1"}})
		}, true},
		{"nodepool resync", func() {
			c.UpdateNodePool(&v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default", ResourceVersion: "1"}})
		}, false},
		{"pod deleted", func() { c.DeletePod(types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}) }, true},
		{"nodeclaim deleted", func() { c.DeleteNodeClaim(nc.Name) }, true},
		{"node deleted", func() { c.DeleteNode(node.Name) }, true},
		{"namespace", func() {
			c.UpdateNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", ResourceVersion: "7"}})
		}, true},
	}
	for _, s := range steps {
		before := c.Generation()
		s.do()
		if moved := c.Generation() != before; moved != s.moves {
			t.Errorf("%s: generation moved = %v, want %v", s.name, moved, s.moves)
		}
	}
}

// NominatedTargets names the NodeClaim a pending pod is nominated to and the Node it
// registered as, and nothing once the pod is bound.
func TestNominatedTargets(t *testing.T) {
	c := state.NewCluster(state.Options{})
	nc := nodeClaim("nc1", "small")
	nc.Status.NodeName = "n1"
	c.UpdateNodeClaim(nc)
	c.UpdateNodeClaim(nodeClaim("nc2", "small"))
	pod := pendingPod("p1")
	c.UpdatePod(pod)
	if got := c.NominatedTargets(); len(got) != 0 {
		t.Errorf("no nomination yet: %v", got)
	}
	if c.Nominate("nc1", []*corev1.Pod{pod}) != 1 {
		t.Fatal("nomination refused")
	}
	if got := c.NominatedTargets(); len(got) != 2 || !got["nc1"] || !got["n1"] {
		t.Errorf("NominatedTargets = %v, want nc1 and its node n1", got)
	}
	bound := pod.DeepCopy()
	bound.Spec.NodeName, bound.Status.Conditions = "n1", nil
	c.UpdatePod(bound)
	if got := c.NominatedTargets(); len(got) != 0 {
		t.Errorf("a bound pod keeps its nomination: %v", got)
	}
}

// The placement generation stays put while nodes flap Ready, NotReady (with the node
// lifecycle controller's taints) and Ready again and their pods' Ready conditions follow,
// and moves with everything else, as the generation does.
func TestPlacementGeneration(t *testing.T) {
	c := state.NewCluster(state.Options{})
	at := func(minute int) metav1.Time { return metav1.NewTime(time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC)) }
	rv := 1
	version := func() string { rv++; return fmt.Sprint(rv) }
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "1"},
		Spec:       corev1.NodeSpec{ProviderID: "sim:///z/n1"},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: at(0), LastTransitionTime: at(0)}},
		},
	}
	pod := pendingPod("p1")
	pod.ResourceVersion = "1"
	nodeWith := func(change func(*corev1.Node)) func() {
		return func() {
			n := node.DeepCopy()
			n.ResourceVersion = version()
			change(n)
			node = n
			c.UpdateNode(n)
		}
	}
	podWith := func(change func(*corev1.Pod)) func() {
		return func() {
			p := pod.DeepCopy()
			p.ResourceVersion = version()
			change(p)
			pod = p
			c.UpdatePod(p)
		}
	}
	notReady := func(n *corev1.Node) {
		n.Status.Conditions[0].Status, n.Status.Conditions[0].LastTransitionTime = corev1.ConditionUnknown, at(5)
	}
	unreachable := func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints,
			corev1.Taint{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoSchedule},
			corev1.Taint{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: at(5).Time}})
	}
	podReady := func(status corev1.ConditionStatus) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: at(6)}}
		}
	}
	steps := []struct {
		name              string
		do                func()
		moves, placements bool
	}{
		{"node added", func() { c.UpdateNode(node) }, true, true},
		{"pod added", func() { c.UpdatePod(pod) }, true, true},
		{"pod bound", podWith(func(p *corev1.Pod) { p.Spec.NodeName = "n1" }), true, true},
		{"pod Ready", podWith(podReady(corev1.ConditionTrue)), true, false},
		{"node heartbeat", nodeWith(func(n *corev1.Node) { n.Status.Conditions[0].LastHeartbeatTime = at(4) }), false, false},
		{"node NotReady", nodeWith(notReady), true, false},
		{"node tainted unreachable", nodeWith(unreachable), true, false},
		{"pod not Ready on it", podWith(podReady(corev1.ConditionFalse)), true, false},
		{"node Ready again, untainted", nodeWith(func(n *corev1.Node) {
			n.Status.Conditions[0].Status = corev1.ConditionTrue
			n.Spec.Taints = nil
		}), true, false},
		{"node's addresses reported", nodeWith(func(n *corev1.Node) {
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.255.0.1"}}
		}), true, false},
		{"node's addresses dropped (KWOK on resuming)", nodeWith(func(n *corev1.Node) { n.Status.Addresses = nil }), true, false},
		{"node tainted by someone else", nodeWith(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
		}), true, true},
		{"node NotReady and relabelled", nodeWith(func(n *corev1.Node) { notReady(n); n.Labels = map[string]string{"x": "y"} }), true, true},
		{"node allocatable", nodeWith(func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("4") }), true, true},
		{"pod status phase", podWith(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), true, true},
		{"pod annotated", podWith(func(p *corev1.Pod) { p.Annotations = map[string]string{"karpenter.sh/do-not-disrupt": "true"} }), true, true},
		{"pod unbound conditions", func() {
			p := pendingPod("p2")
			p.ResourceVersion = version()
			c.UpdatePod(p)
			p = p.DeepCopy()
			p.ResourceVersion = version()
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
			c.UpdatePod(p)
		}, true, true},
		{"node deleted", func() { c.DeleteNode(node.Name) }, true, true},
	}
	for _, s := range steps {
		before, beforePlacement := c.Generation(), c.PlacementGeneration()
		s.do()
		if moved := c.Generation() != before; moved != s.moves {
			t.Errorf("%s: generation moved = %v, want %v", s.name, moved, s.moves)
		}
		if moved := c.PlacementGeneration() != beforePlacement; moved != s.placements {
			t.Errorf("%s: placement generation moved = %v, want %v", s.name, moved, s.placements)
		}
	}
}
