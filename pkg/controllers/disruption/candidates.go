package disruption

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// Candidate is a NodeClaim every shared eligibility rule lets disrupt, with what it runs
// and what it costs.
type Candidate struct {
	NodeClaim *v1.NodeClaim
	Node      *corev1.Node
	NodePool  *v1.NodePool
	// pods are the pods that need a place elsewhere when the node goes (see Pods); load
	// reads them on first use (nil once read, or when they were given), podCount is how
	// many there are.
	pods     []*corev1.Pod
	load     func() []*corev1.Pod
	podCount int
	// InstanceType is the node's type in its pool's catalogue; nil when the type is gone.
	InstanceType *cloudprovider.InstanceType
	// CapacityType and Zone are the node's.
	CapacityType, Zone string
	// Price is the node's $/h (its offering's, else the type's cheapest); 0 when unknown.
	Price float64
	// DisruptionCost orders candidates: cheapest to disrupt first (see disruptionCost).
	DisruptionCost float64
	// Consolidatable: consolidateAfter has passed since the last pod event and the pool
	// consolidates.
	Consolidatable bool
}

// Name is the candidate NodeClaim's name.
func (c *Candidate) Name() string { return c.NodeClaim.Name }

// Pods are the pods that need a place elsewhere when the node goes (active, not
// DaemonSet, not static), read only. A pass builds them from the cluster state when first
// asked for (as they were when the pass was built): a pass that simulates nothing, as a
// quiet cluster's do, then holds no Pod for the 20,000 pods of its candidates.
func (c *Candidate) Pods() []*corev1.Pod {
	if c.load != nil {
		c.pods, c.load = c.load(), nil
	}
	return c.pods
}

// NumPods is len(Pods()), without building them.
func (c *Candidate) NumPods() int {
	if c.load != nil {
		return c.podCount
	}
	return len(c.pods)
}

// setPods gives the candidate its pods.
func (c *Candidate) setPods(pods []*corev1.Pod) { c.pods, c.load, c.podCount = pods, nil, len(pods) }

// pass is what one disruption pass sees: built once, shared by every method.
type pass struct {
	now    time.Time
	pools  map[string]*v1.NodePool
	claims []*v1.NodeClaim
	// nodeOf maps a NodeClaim's name to its Node.
	nodeOf map[string]*corev1.Node
	// refs are the pods bound to each node, by node name (see podsOn); podsByNode are
	// the pods a test built the pass with instead.
	refs       map[string][]state.PodRef
	podsByNode map[string][]*corev1.Pod
	// scratch holds the pods of the node buildCandidates last looked at (see lookAtPods).
	scratch     []corev1.Pod
	scratchPods []*corev1.Pod
	pdbs        *PDBLimits
	// instanceTypes are each pool's instance types; all is their union.
	instanceTypes map[string][]*cloudprovider.InstanceType
	all           []*cloudprovider.InstanceType
	schedPools    []scheduling.NodePool
	// snapshot is built on first use (snap): a pass that simulates nothing needs none.
	snapshot      *scheduling.Snapshot
	buildSnapshot func() *scheduling.Snapshot
	// pending are provisionable pods not nominated anywhere.
	pending []*corev1.Pod
	// pendingCost is what the new NodeClaims pending pods need on the whole cluster cost
	// (computed on first use; negative until then): a move must not raise it.
	pendingCost float64
	// pendingUIDs are the pending pods' UIDs (built on first use).
	pendingUIDs map[types.UID]bool
	// nominated names the nodes and NodeClaims pending pods are nominated to.
	nominated map[string]bool
	ledger    *Ledger
	// candidates pass every shared rule, cheapest to disrupt first.
	candidates []*Candidate
	// blocked says why each NodeClaim that is not a candidate is not.
	blocked map[string]*Blocker
	// busy are the NodeClaims held by in-flight commands (candidates and replacements).
	busy map[string]bool
	// released are the candidates given up after a refused delete, with until when.
	released map[string]time.Time
	// deferrals are, per NodePool, when single-node consolidation began waiting for a
	// better move (see betterSoon).
	deferrals map[string]time.Time
	// moving are the pods of in-flight commands' candidates: they will need a place.
	moving []*corev1.Pod
	// goneNodes are the Nodes in-flight commands remove.
	goneNodes map[string]bool
	// passedOver says why methods passed over candidates (for events).
	passedOver map[string]*Blocker
	// passedOverMulti says why multi-node consolidation passed over candidates, when it
	// found nothing; used for those single-node consolidation did not explain.
	passedOverMulti map[string]*Blocker
	// rejectedScores are the Balanced scores of rejected moves.
	rejectedScores []scored
	poolStatCache  map[string]poolStat
	// unboundPods caches unbound copies of pods for the simulations of the pass.
	unboundPods map[types.UID]*corev1.Pod
	// memo reads each running pod's requests once for all the simulations of the pass
	// (its pods and snapshot do not change during the pass).
	memo *scheduling.Memo
	// nodeScratch holds the nodes of the snapshot of the simulation being solved (see
	// solvedWithout).
	nodeScratch []scheduling.ExistingNode
	// options of the engine (feature gates, time budgets).
	opts *Options
	// cursor is the candidate single-node consolidation tried last when its time ran
	// out; kept by the controller between passes.
	cursor *string
	// sweptAll: single-node consolidation tried every candidate this pass.
	sweptAll bool
	// tried are the candidates single-node consolidation tried and found nothing for, and
	// why not.
	tried map[string]string
	// swept are the candidates earlier passes of the same sweep tried and found nothing
	// for, and why not (see sweep): single-node consolidation does not try them again.
	swept map[string]string
	// pdbList are the PodDisruptionBudgets the pass was built with.
	pdbList []*policyv1.PodDisruptionBudget
	// target is the consolidation the pass would take without the Underutilized budget
	// (nil when the budget keeps no candidate out, or none consolidates); targetDone says
	// it was computed. See consolidationTarget.
	target     *Command
	targetDone bool
	// virtual counts the moves played forward in memory to reach this pass (0 for the
	// real one; see after).
	virtual int
	// ends are the end prices of the look-ahead's rollouts by the states they went
	// through (see rollout); shared by the virtual passes of one look-ahead.
	ends map[string]float64
	// lookaheadRun says what the pass's look-ahead did (nil when it did not run), for the
	// controller's log.
	lookaheadRun *lookaheadRun
	// unhealthy are the Nodes not Ready or carrying the node lifecycle controller's
	// taints (see quiet.go).
	unhealthy map[string]bool
	// nodeList are the cluster state's Nodes; nodeByName indexes them (built on first use).
	nodeList   []*corev1.Node
	nodeByName map[string]*corev1.Node
}

// node returns the Node of that name, or nil.
func (p *pass) node(name string) *corev1.Node {
	if p.nodeByName == nil {
		p.nodeByName = make(map[string]*corev1.Node, len(p.nodeList))
		for _, n := range p.nodeList {
			p.nodeByName[n.Name] = n
		}
	}
	return p.nodeByName[name]
}

// observe builds the pass from the cluster state (its pods too), the PodDisruptionBudgets in
// the client's cache, and each pool's instance types. The pass only reads the pods and
// PodDisruptionBudgets, so it takes the cache's own objects: a deep copy of 20,000 pods
// every ten seconds was most of a quiet cluster's garbage, and even a List without the
// deep copy copied each pod's struct (25 MB at 20,000 pods).
func (c *Controller) observe(ctx context.Context, now time.Time) (*pass, error) {
	pdbList := &policyv1.PodDisruptionBudgetList{}
	if err := c.kube.List(ctx, pdbList, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing poddisruptionbudgets: %w", err)
	}
	pdbs := make([]*policyv1.PodDisruptionBudget, len(pdbList.Items))
	for i := range pdbList.Items {
		pdbs[i] = &pdbList.Items[i]
	}
	return c.newPass(ctx, now, nil, pdbs), nil
}

// newPass builds the pass from the cluster state, the given pods (nil: the state's bound
// pods, see podsOn) and PodDisruptionBudgets, and each pool's instance types.
func (c *Controller) newPass(ctx context.Context, now time.Time, podList []*corev1.Pod, pdbs []*policyv1.PodDisruptionBudget) *pass {
	p := &pass{
		now: now, pools: map[string]*v1.NodePool{}, claims: c.cluster.NodeClaims(),
		nodeOf:        map[string]*corev1.Node{},
		instanceTypes: map[string][]*cloudprovider.InstanceType{}, nominated: map[string]bool{},
		blocked: map[string]*Blocker{}, busy: map[string]bool{}, opts: &c.opts, cursor: &c.singleCursor,
		memo: scheduling.NewMemo(), pendingCost: -1,
	}
	p.pdbs, p.pdbList = NewPDBLimits(pdbs), pdbs
	if podList == nil {
		p.refs = c.cluster.BoundPods()
	} else {
		p.podsByNode = map[string][]*corev1.Pod{}
		for _, pod := range podList {
			if pod.Spec.NodeName != "" {
				p.podsByNode[pod.Spec.NodeName] = append(p.podsByNode[pod.Spec.NodeName], pod)
			}
		}
	}
	byProviderID := map[string]*corev1.Node{}
	p.unhealthy = map[string]bool{}
	p.nodeList = c.cluster.Nodes()
	for _, n := range p.nodeList {
		if unhealthy(n) {
			p.unhealthy[n.Name] = true
		}
		if n.Spec.ProviderID != "" {
			byProviderID[n.Spec.ProviderID] = n
		}
	}
	var ledgerNodes []LedgerNode
	for _, nc := range p.claims {
		if nc.Status.ProviderID != "" {
			if n := byProviderID[nc.Status.ProviderID]; n != nil {
				p.nodeOf[nc.Name] = n
			}
		}
		if nc.Labels[v1.NodePoolLabelKey] != "" {
			ledgerNodes = append(ledgerNodes, LedgerNode{NodeClaim: nc, Node: p.nodeOf[nc.Name]})
		}
	}
	var pools []*v1.NodePool
	seen := map[string]bool{}
	for _, np := range c.cluster.NodePools() {
		p.pools[np.Name] = np
		pools = append(pools, np)
		if !np.DeletionTimestamp.IsZero() || c.cloud == nil {
			continue
		}
		its, err := c.cloud.GetInstanceTypes(ctx, np)
		if err != nil {
			log.FromContext(ctx).Error(err, "leaving nodepool out of the simulation, listing its instance types failed", "nodePool", klog.KObj(np))
			continue
		}
		p.instanceTypes[np.Name] = its
		if np.Spec.Replicas == nil {
			p.schedPools = append(p.schedPools, scheduling.NodePoolFromAPI(np, its, c.cluster.NodePoolUsage(np.Name, its)))
		}
		for _, it := range its {
			if !seen[it.Name] {
				seen[it.Name] = true
				p.all = append(p.all, it)
			}
		}
	}
	p.ledger = NewLedger(pools, ledgerNodes, now)
	// The one place disruption builds the scheduler's view of the cluster, when a method
	// first simulates: building it for 20,000 pods was most of a quiet pass.
	p.buildSnapshot = func() *scheduling.Snapshot { return c.cluster.Snapshot(p.schedPools, p.all) }
	p.nominated = c.cluster.NominatedTargets()
	p.pending = c.cluster.PendingPods()
	return p
}

// podsOn returns the pods bound to the node when the pass was built, read only, for a
// caller that keeps them (a candidate's movers, an in-flight command's). From the state,
// each call builds the slice anew (the Pods themselves are shared while anything holds
// them): the pass keeps refs, not a Pod for each of 20,000 pods (25 MB, held by every
// pass before). A caller that keeps nothing uses lookAtPods.
func (p *pass) podsOn(node string) []*corev1.Pod {
	if p.refs == nil {
		return p.podsByNode[node]
	}
	refs := p.refs[node]
	if len(refs) == 0 {
		return nil
	}
	out := make([]*corev1.Pod, len(refs))
	for i, r := range refs {
		out[i] = r.Pod()
	}
	return out
}

// lookAtPods is podsOn for a look that keeps none of them: they are written into the pass's
// scratch and valid until the next call. buildCandidates reads every node's pods once for
// the rules and the disruption cost; building a Pod each was 25 MB at 20,000 pods, every
// pass, all garbage at its end.
func (p *pass) lookAtPods(node string) []*corev1.Pod {
	if p.refs == nil {
		return p.podsByNode[node]
	}
	refs := p.refs[node]
	if len(refs) > len(p.scratch) {
		p.scratch = make([]corev1.Pod, len(refs))
		p.scratchPods = make([]*corev1.Pod, len(refs))
	}
	out := p.scratchPods[:len(refs)]
	for i, r := range refs {
		r.Into(&p.scratch[i])
		out[i] = &p.scratch[i]
	}
	return out
}

// snap is the pass's scheduling snapshot, built on first use.
func (p *pass) snap() *scheduling.Snapshot {
	if p.snapshot == nil && p.buildSnapshot != nil {
		p.snapshot = p.buildSnapshot()
	}
	return p.snapshot
}

// buildCandidates applies the shared rules to every NodeClaim not held by a command.
func (p *pass) buildCandidates() {
	for _, nc := range p.claims {
		if p.busy[nc.Name] {
			p.blocked[nc.Name] = &Blocker{BlockBeingDisrupted, fmt.Sprintf("nodeclaim %s is part of a disruption command in progress", nc.Name)}
			continue
		}
		if until, ok := p.released[nc.Name]; ok {
			p.blocked[nc.Name] = &Blocker{BlockDeleteRefused, fmt.Sprintf("its delete was refused; not a candidate again before %s", until.UTC().Format(time.RFC3339))}
			continue
		}
		node := p.nodeOf[nc.Name]
		pool := p.pools[nc.Labels[v1.NodePoolLabelKey]]
		in := Input{NodeClaim: nc, Node: node, NodePool: pool, PDBs: p.pdbs, Now: p.now}
		if node != nil {
			in.Pods = p.lookAtPods(node.Name) // kept by nothing below: the candidate loads its own
			in.Nominated = p.nominated[node.Name] || p.nominated[nc.Name]
		}
		if b := Eligible(in); b != nil {
			p.blocked[nc.Name] = b
			continue
		}
		if err := p.ledger.PoolError(pool.Name); err != nil {
			p.blocked[nc.Name] = &Blocker{BlockNotManaged, fmt.Sprintf("the disruption budgets of nodepool %s cannot be read: %v", pool.Name, err)}
			continue
		}
		cand := &Candidate{NodeClaim: nc, Node: node, NodePool: pool}
		moving := reschedulable(in.Pods)
		cand.podCount = len(moving)
		if len(moving) > 0 {
			cand.load = func() []*corev1.Pod { return reschedulable(p.podsOn(node.Name)) }
		}
		cand.Consolidatable, _ = Consolidatable(nc, pool, p.now)
		p.price(cand)
		cand.DisruptionCost = disruptionCost(moving, nc, p.now)
		p.candidates = append(p.candidates, cand)
	}
	slices.SortStableFunc(p.candidates, func(a, b *Candidate) int {
		return cmp.Or(cmp.Compare(a.DisruptionCost, b.DisruptionCost), cmp.Compare(a.Name(), b.Name()))
	})
}

// reschedulable are the pods that need a place elsewhere when their node goes.
func reschedulable(on []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, pod := range on {
		if pods.IsReschedulable(pod) {
			out = append(out, pod)
		}
	}
	return out
}

// price finds the candidate's instance type, capacity type, zone and price.
func (p *pass) price(c *Candidate) {
	name := c.NodeClaim.Labels[v1.LabelInstanceType]
	c.CapacityType = c.NodeClaim.Labels[v1.CapacityTypeLabelKey]
	c.Zone = c.NodeClaim.Labels[v1.LabelTopologyZone]
	for _, it := range p.instanceTypes[c.NodePool.Name] {
		if it.Name == name {
			c.InstanceType = it
			break
		}
	}
	if c.InstanceType == nil {
		return
	}
	cheapest := math.Inf(1)
	for _, o := range c.InstanceType.Offerings {
		if o.CapacityType == c.CapacityType && o.Zone == c.Zone {
			c.Price = o.PricePerHour
			return
		}
		cheapest = min(cheapest, o.PricePerHour)
	}
	if !math.IsInf(cheapest, 1) {
		c.Price = cheapest
	}
}

// disruptionCost is upstream's ordering of how much disrupting the NodeClaim's node hurts,
// moving the given pods (its reschedulable ones): each pod costs 1, plus its controller.kubernetes.io/pod-deletion-cost and priority scaled into
// small fractions, and the sum shrinks with the fraction of the node's lifetime
// (expireAfter) already spent. An empty node costs 0.
func disruptionCost(moving []*corev1.Pod, nc *v1.NodeClaim, now time.Time) float64 {
	cost := 0.0
	for _, p := range moving {
		cost += 1
		if v, ok := p.Annotations[corev1.PodDeletionCost]; ok {
			var dc float64
			if _, err := fmt.Sscan(v, &dc); err == nil {
				cost += math.Max(-1, math.Min(1, dc/math.Pow(2, 27)))
			}
		}
		if p.Spec.Priority != nil {
			cost += float64(*p.Spec.Priority) / math.Pow(2, 25)
		}
	}
	return math.Max(0, cost) * lifetimeRemaining(nc, now)
}

// lifetimeRemaining is the fraction of expireAfter the NodeClaim has left, 1 without one.
func lifetimeRemaining(nc *v1.NodeClaim, now time.Time) float64 {
	if nc.Spec.ExpireAfter.Duration == nil || *nc.Spec.ExpireAfter.Duration <= 0 {
		return 1
	}
	total := nc.Spec.ExpireAfter.Duration.Seconds()
	left := total - now.Sub(nc.CreationTimestamp.Time).Seconds()
	return math.Max(0, math.Min(1, left/total))
}

// initialized reports whether the NodeClaim is Initialized.
func initialized(nc *v1.NodeClaim) bool {
	return meta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionTypeInitialized)
}
