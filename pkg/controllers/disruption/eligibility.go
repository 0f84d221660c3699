package disruption

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
)

// BlockReason is the typed code of why a node is not a disruption candidate. Its values are
// stable: `karpenter explain` and events print them.
type BlockReason string

// Reasons a node is not a disruption candidate, in the order Explain checks them.
const (
	// BlockNotManaged: the NodeClaim has no karpenter.sh/nodepool label or its NodePool is
	// gone.
	BlockNotManaged BlockReason = "NotManaged"
	// BlockDeleting: the NodeClaim or its Node is being deleted.
	BlockDeleting BlockReason = "Deleting"
	// BlockNotRegistered: no Node has registered for the NodeClaim yet.
	BlockNotRegistered BlockReason = "NotRegistered"
	// BlockNotInitialized: the NodeClaim is not Initialized.
	BlockNotInitialized BlockReason = "NotInitialized"
	// BlockBeingDisrupted: a disruption command already holds the node (it carries the
	// karpenter.sh/disrupted taint).
	BlockBeingDisrupted BlockReason = "BeingDisrupted"
	// BlockNominated: pending pods are nominated to the node; they would lose their place.
	BlockNominated BlockReason = "Nominated"
	// BlockDoNotDisruptNode: karpenter.sh/do-not-disrupt on the Node or NodeClaim.
	BlockDoNotDisruptNode BlockReason = "DoNotDisruptNode"
	// BlockDoNotDisruptPod: a pod on the node carries karpenter.sh/do-not-disrupt ("true",
	// or a duration since the pod started that has not elapsed).
	BlockDoNotDisruptPod BlockReason = "DoNotDisruptPod"
	// BlockPDB: a PodDisruptionBudget allows no eviction of a pod on the node now, or the
	// pod is selected by two or more PodDisruptionBudgets (the Eviction API refuses those).
	BlockPDB BlockReason = "PodDisruptionBudget"
	// BlockNoMethod: the node is eligible but no method applies: not drifted, and
	// consolidation is off or consolidateAfter has not elapsed since the last pod event.
	BlockNoMethod BlockReason = "NotConsolidatable"
	// BlockDeleteRefused: a command gave the node up after its delete was refused for
	// Options.DeleteTimeout; it is not a candidate again for as long.
	BlockDeleteRefused BlockReason = "DeleteRefused"
)

// Blocker says why a node is not a disruption candidate.
type Blocker struct {
	Reason BlockReason
	// Message is a human sentence naming the object and the rule.
	Message string
}

func (b *Blocker) String() string { return string(b.Reason) + ": " + b.Message }

// Input is what Explain needs to know about one NodeClaim. It is plain data: Explain reads
// no clock and no client.
type Input struct {
	// NodeClaim is required.
	NodeClaim *v1.NodeClaim
	// Node is the NodeClaim's Node; nil when none registered.
	Node *corev1.Node
	// NodePool is the NodeClaim's NodePool; nil when it does not exist.
	NodePool *v1.NodePool
	// Pods are the pods bound to the Node.
	Pods []*corev1.Pod
	// PDBs are the cluster's PodDisruptionBudgets, compiled by NewPDBLimits; nil means none.
	PDBs *PDBLimits
	// Nominated reports that pending pods are nominated to the NodeClaim or its Node.
	Nominated bool
	// Now is the time the rules are evaluated at (do-not-disrupt durations,
	// consolidateAfter).
	Now time.Time
}

// Explain returns the first reason the NodeClaim is not a disruption candidate, or nil when
// it is one: it passes every eligibility rule (see Eligible) and at least one method applies
// (it is Drifted, or its NodePool consolidates and consolidateAfter has elapsed since its
// last pod event). Budgets are not part of it: they depend on the whole pool (see Ledger).
func Explain(in Input) *Blocker {
	if b := Eligible(in); b != nil {
		return b
	}
	if IsDrifted(in.NodeClaim) {
		return nil
	}
	if ok, msg := Consolidatable(in.NodeClaim, in.NodePool, in.Now); !ok {
		return &Blocker{Reason: BlockNoMethod, Message: msg}
	}
	return nil
}

// Eligible applies the rules every method shares, in order, and returns the first that
// fails, or nil: managed, not deleting, registered, initialized, not already being
// disrupted, not nominated, no do-not-disrupt on the node or an active pod, no pod a
// PodDisruptionBudget protects.
func Eligible(in Input) *Blocker { return eligible(in, false) }

// eligible is Eligible; ownTaint skips the karpenter.sh/disrupted rule for a command
// validating its own candidates.
func eligible(in Input, ownTaint bool) *Blocker {
	nc := in.NodeClaim
	pool := nc.Labels[v1.NodePoolLabelKey]
	switch {
	case pool == "":
		return &Blocker{BlockNotManaged, fmt.Sprintf("nodeclaim %s has no %s label", nc.Name, v1.NodePoolLabelKey)}
	case in.NodePool == nil:
		return &Blocker{BlockNotManaged, fmt.Sprintf("nodepool %s of nodeclaim %s does not exist", pool, nc.Name)}
	case !nc.DeletionTimestamp.IsZero():
		return &Blocker{BlockDeleting, fmt.Sprintf("nodeclaim %s is being deleted", nc.Name)}
	case in.Node == nil:
		return &Blocker{BlockNotRegistered, fmt.Sprintf("nodeclaim %s has no registered node", nc.Name)}
	case !in.Node.DeletionTimestamp.IsZero():
		return &Blocker{BlockDeleting, fmt.Sprintf("node %s is being deleted", in.Node.Name)}
	case !meta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionTypeInitialized):
		return &Blocker{BlockNotInitialized, fmt.Sprintf("nodeclaim %s is not initialized", nc.Name)}
	case !ownTaint && HasDisruptedTaint(in.Node):
		return &Blocker{BlockBeingDisrupted, fmt.Sprintf("node %s carries the %s taint: a disruption is in progress", in.Node.Name, v1.DisruptedTaintKey)}
	case in.Nominated:
		return &Blocker{BlockNominated, fmt.Sprintf("pending pods are nominated to node %s", in.Node.Name)}
	}
	for _, obj := range []metav1.Object{in.Node, nc} {
		if v, ok := obj.GetAnnotations()[v1.DoNotDisruptAnnotationKey]; ok && protects(v, obj.GetCreationTimestamp().Time, in.Now) {
			return &Blocker{BlockDoNotDisruptNode, fmt.Sprintf("%s %s carries %s=%s", kindOf(obj), obj.GetName(), v1.DoNotDisruptAnnotationKey, v)}
		}
	}
	for _, p := range in.Pods {
		if !evictable(p) {
			continue
		}
		if v, ok := p.Annotations[v1.DoNotDisruptAnnotationKey]; ok && protects(v, podStart(p), in.Now) {
			return &Blocker{BlockDoNotDisruptPod, fmt.Sprintf("pod %s/%s carries %s=%s", p.Namespace, p.Name, v1.DoNotDisruptAnnotationKey, v)}
		}
	}
	for _, p := range in.Pods {
		if !evictable(p) {
			continue
		}
		if msg := in.PDBs.blocking(p); msg != "" {
			return &Blocker{BlockPDB, msg}
		}
	}
	return nil
}

// IsDrifted reports whether the NodeClaim's Drifted condition is True.
func IsDrifted(nc *v1.NodeClaim) bool {
	return meta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionTypeDrifted)
}

// Consolidatable reports whether the pool's consolidation applies to the NodeClaim at now:
// the pool has a consolidation policy, consolidateAfter is not Never, and consolidateAfter
// has passed since the NodeClaim's last pod event (status.lastPodEventTime, or its
// initialization when no pod event was recorded). When not, the message says why.
func Consolidatable(nc *v1.NodeClaim, pool *v1.NodePool, now time.Time) (bool, string) {
	if pool == nil {
		return false, "no nodepool"
	}
	d := pool.Spec.Disruption
	if d.ConsolidateAfter.IsNever() || d.ConsolidateAfter.Duration == nil {
		return false, fmt.Sprintf("nodepool %s has consolidateAfter: Never", pool.Name)
	}
	at := ConsolidatableAt(nc, *d.ConsolidateAfter.Duration)
	if now.Before(at) {
		return false, fmt.Sprintf("nodeclaim %s had a pod event at %s; consolidateAfter %s ends at %s",
			nc.Name, LastPodEvent(nc).UTC().Format(time.RFC3339), d.ConsolidateAfter.String(), at.UTC().Format(time.RFC3339))
	}
	return true, ""
}

// LastPodEvent is status.lastPodEventTime, or the NodeClaim's initialization (then its
// creation) when no pod event was recorded.
func LastPodEvent(nc *v1.NodeClaim) time.Time {
	if t := nc.Status.LastPodEventTime.Time; !t.IsZero() {
		return t
	}
	if c := meta.FindStatusCondition(nc.Status.Conditions, v1.ConditionTypeInitialized); c != nil && c.Status == metav1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return nc.CreationTimestamp.Time
}

// ConsolidatableAt is when consolidateAfter ends for the NodeClaim.
func ConsolidatableAt(nc *v1.NodeClaim, consolidateAfter time.Duration) time.Time {
	return LastPodEvent(nc).Add(consolidateAfter)
}

// HasDisruptedTaint reports whether the node carries karpenter.sh/disrupted:NoSchedule.
func HasDisruptedTaint(node *corev1.Node) bool {
	if node == nil {
		return false
	}
	for i := range node.Spec.Taints {
		if node.Spec.Taints[i].MatchTaint(&v1.DisruptedNoScheduleTaint) {
			return true
		}
	}
	return false
}

// protects reports whether a do-not-disrupt value still protects: "true" always; a Go
// duration ("30m") until that long after since; anything else always (a value nobody can
// read is taken at its word rather than ignored).
func protects(value string, since, now time.Time) bool {
	if value == "true" {
		return true
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return true
	}
	return now.Before(since.Add(d))
}

// DoNotDisruptUntil is when a pod's do-not-disrupt duration ends; ok is false when the
// pod has no duration-valued annotation.
func DoNotDisruptUntil(p *corev1.Pod) (time.Time, bool) {
	d, err := time.ParseDuration(p.Annotations[v1.DoNotDisruptAnnotationKey])
	if err != nil {
		return time.Time{}, false
	}
	return podStart(p).Add(d), true
}

// podStart is the pod's status.startTime, or its creation when it has not started.
func podStart(p *corev1.Pod) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}

// evictable: the pod is one a drain would evict, so the rules about pods apply to it: it is
// neither finished, nor being deleted already, nor a static pod.
func evictable(p *corev1.Pod) bool {
	return !pods.IsTerminal(p) && !pods.IsTerminating(p) && !pods.IsStatic(p)
}

func kindOf(obj metav1.Object) string {
	if _, ok := obj.(*corev1.Node); ok {
		return "node"
	}
	return "nodeclaim"
}

// PDBLimits are the cluster's PodDisruptionBudgets with their selectors compiled once.
type PDBLimits struct {
	byNamespace map[string][]compiledPDB
}

type compiledPDB struct {
	pdb *policyv1.PodDisruptionBudget
	sel labels.Selector // nil: the selector does not parse
}

// NewPDBLimits compiles the PodDisruptionBudgets' selectors.
func NewPDBLimits(pdbs []*policyv1.PodDisruptionBudget) *PDBLimits {
	l := &PDBLimits{byNamespace: map[string][]compiledPDB{}}
	for _, pdb := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			sel = nil
		}
		l.byNamespace[pdb.Namespace] = append(l.byNamespace[pdb.Namespace], compiledPDB{pdb: pdb, sel: sel})
	}
	return l
}

// selecting returns the PodDisruptionBudgets selecting the pod. A selector that does not
// parse is taken as selecting it: better keep a node than break a budget.
func (l *PDBLimits) selecting(p *corev1.Pod) []*policyv1.PodDisruptionBudget {
	if l == nil {
		return nil
	}
	var out []*policyv1.PodDisruptionBudget
	for _, c := range l.byNamespace[p.Namespace] {
		if c.sel == nil || c.sel.Matches(labels.Set(p.Labels)) {
			out = append(out, c.pdb)
		}
	}
	return out
}

// blocking says why the PodDisruptionBudgets keep the pod from being evicted now, or "".
func (l *PDBLimits) blocking(p *corev1.Pod) string {
	sel := l.selecting(p)
	switch {
	case len(sel) > 1:
		return fmt.Sprintf("pod %s/%s is selected by %d poddisruptionbudgets (%s, %s, ...); the eviction API refuses it",
			p.Namespace, p.Name, len(sel), sel[0].Name, sel[1].Name)
	case len(sel) == 1 && sel[0].Status.DisruptionsAllowed <= 0:
		return fmt.Sprintf("poddisruptionbudget %s/%s allows no disruption of pod %s now", sel[0].Namespace, sel[0].Name, p.Name)
	}
	return ""
}
