package disruption

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	k8spods "github.com/gokarpenter/karpenter/pkg/pods"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// Look-ahead. With a budget of one node at a time consolidation is a sequence of moves, and
// the move saving the most now can lead to a dear end: deleting a large node piles its pods
// onto another large node (kube-scheduler puts evicted pods on the least allocated nodes),
// whose replacement (one node, never several) is then sized for them all and takes the
// small nodes' pods too (a live hack/demo run ended on one c6g.4xlarge 10.1 % above the
// whole-node bound, an in-memory replay on one m6g.4xlarge 24.7 % above it). So, on small
// clusters, single-node consolidation plays each move it found forward in memory (the
// pass's snapshot with the move applied, the moved pods placed as kube-scheduler's default
// scoring would place them), then the moves the engine itself would take, one after the
// other, to the end (a rollout), and executes the move whose rollout ends cheapest. It also
// plays, for each node it would delete, its replacement by the cheapest node holding its
// pods alone. Every move of a rollout is one the engine could take (same simulation, same
// replacement rules: strictly cheaper, one node by one node, spot rules), and the move the
// engine would take without the look-ahead is among those compared, its rollout
// approximating what the engine would go on to do. Only approximating: rollouts play
// single-node moves only (no emptiness or multi-node consolidation), steer by what is left
// of the consolidation target found at the start instead of searching it again, ignore
// consolidateAfter, and place evicted pods by a model of kube-scheduler's scoring. So a
// pick can end dearer than the engine alone would; on the replays below it rarely does.
// It runs on clusters of at most 2*LookaheadCandidates nodes, with no pending pods and no
// command whose candidates are still there.
//
// On 60 in-memory replays of the demo's sale (TestDemoReplaySeeds) rolling the engine's own
// moves forward matters: rollouts of the move saving the most at each step (ignoring the
// consolidation target the engine steers by) left 4 sales above 10 % and made 9 worse than
// without the look-ahead; rolling the engine's moves leaves 3 (+10.1 to +10.5 %), makes 33
// better and 6 worse (mean +4.4 % -> +2.3 %, worst +24.7 % -> +10.5 %). Since the drain
// evicts the largest pods first (pods.LargestFirst, played by spread and the replays),
// kube-scheduler leaves a pod without room in none of the 60, against 9 before; without the
// look-ahead 52 end within 10 % (mean +5.1 %, worst +24.7 %), with it 58 (mean +1.8 %,
// worst +10.5 %). A rollout counts the node the provisioner launches for a pod left without
// room anyway (our packing would have found it a place).

// LookaheadCandidates is the most candidates single-node consolidation rolls moves forward
// for (each rollout solves about candidates² times).
const LookaheadCandidates = 32

// DefaultLookaheadBudget is the CPU time the rollouts of one pass may take; when it runs
// out the best move among those played wins (the move saving the most, or stepping
// towards the consolidation target, is played first).
const DefaultLookaheadBudget = time.Second

// lookaheadNodePrefix begins the names of the nodes a rollout launches in memory.
const lookaheadNodePrefix = "lookahead-"

// lookaheadSteps caps a rollout's moves.
const lookaheadSteps = 2 * LookaheadCandidates

// lookahead returns the move among cmds (and, for each delete among them, the candidate's
// replacement by the cheapest node holding its pods alone: a node whose pods fit elsewhere
// may still be better replaced than piled onto a large node) whose rollout ends cheapest,
// or def when the look-ahead cannot be played (pending pods or commands in flight change
// the cluster anyway) or none ends cheaper than def's. Ties go to the move saving more now.
func (p *pass) lookahead(cmds []*Command, def *Command, start time.Duration) *Command {
	// A command whose candidates are still there changes the cluster anyway; one whose
	// candidates are gone only protects its replacements while the pods land (Settle,
	// 30 s, longer than the time between two moves live), and must not stop it.
	if p.opts.noLookahead || len(cmds) == 0 || len(p.pending) > 0 || len(p.goneNodes) > 0 || len(p.moving) > 0 ||
		len(movable(p)) > LookaheadCandidates || len(p.snap().Nodes) > 2*LookaheadCandidates {
		return def
	}
	over := func() bool { return p.opts.Stopwatch()-start > p.opts.LookaheadBudget }
	p.ends = map[string]float64{}
	// The moves to compare, saving the most first: when the time budget runs out, the
	// best of those played wins.
	var moves []*Command
	for _, cmd := range cmds {
		if over() {
			break
		}
		if cmd != def {
			moves = append(moves, cmd)
		}
		if len(cmd.Replacements) == 0 && len(cmd.Candidates) == 1 {
			if alt := p.replaceAlone(cmd.Candidates[0]); alt != nil {
				moves = append(moves, alt)
			}
		}
	}
	slices.SortStableFunc(moves, func(a, b *Command) int { return cmpFloat(b.Savings, a.Savings) })
	best, bestEnd := def, p.rollout(def, over)
	defEnd := bestEnd
	played := 1
	for _, cmd := range moves {
		if over() {
			break
		}
		end := p.rollout(cmd, over)
		if over() {
			break // a rollout cut short ends dearer than it would
		}
		played++
		if end < bestEnd-priceEpsilon || (end < bestEnd+priceEpsilon && better(cmd, best)) {
			best, bestEnd = cmd, end
		}
	}
	p.lookaheadRun = &lookaheadRun{moves: len(moves) + 1, played: played, states: len(p.ends),
		cpu: p.opts.Stopwatch() - start, kept: best == def, end: bestEnd, engineEnd: defEnd}
	if best != def {
		// Said in the decision's log line and events: why not the move saving more now.
		picked := *best
		picked.Why = fmt.Sprintf("%s; look-ahead: played forward the cluster ends at $%.4f/h, at $%.4f/h after the move it would take otherwise (%s)",
			best.Why, bestEnd, defEnd, def.Why)
		return &picked
	}
	return best
}

// lookaheadRun is what one look-ahead did: the moves it had to compare, how many it played
// to the end within its time, the states it went through, its CPU time, whether it kept
// the engine's move, and the end prices of its pick and of the engine's move.
type lookaheadRun struct {
	moves, played, states int
	cpu                   time.Duration
	kept                  bool
	end, engineEnd        float64
}

// alone is the cheapest replacement holding the candidate's pods on a node of their own,
// within the replacement rules, and its price.
func (p *pass) alone(c *Candidate) (scheduling.NewNodeClaim, float64, bool) {
	if c.NumPods() == 0 {
		return scheduling.NewNodeClaim{}, 0, true
	}
	pods := make([]*corev1.Pod, c.NumPods())
	for i, pod := range c.Pods() {
		pods[i] = p.unbound(pod)
	}
	snap := scheduling.Snapshot{NodePools: p.snap().NodePools, DaemonSets: p.snap().DaemonSets, Namespaces: p.snap().Namespaces, Volumes: p.snap().Volumes}
	plan := scheduling.SolveWith(&snap, pods, p.memo)
	if len(plan.Unschedulable) > 0 || len(plan.NewNodeClaims) == 0 {
		return scheduling.NewNodeClaim{}, 0, false
	}
	planned := plan.NewNodeClaims[0]
	if len(plan.NewNodeClaims) > 1 {
		// The scheduler split them over several nodes; one must hold them all.
		check := func(extra *scheduling.ExistingNode) simulation {
			with := snap
			with.Nodes = []scheduling.ExistingNode{*extra}
			check := scheduling.SolveWith(&with, pods, p.memo)
			return simulation{fits: len(check.Unschedulable) == 0, replacements: check.NewNodeClaims}
		}
		merged, ok := p.mergeReplacements(plan.NewNodeClaims, check)
		if !ok {
			return scheduling.NewNodeClaim{}, 0, false
		}
		planned = merged
	}
	r, price, why := p.cheaperReplacement([]*Candidate{c}, planned)
	return r, price, why == ""
}

// replaceAlone is the command replacing the candidate by the cheapest node holding its
// pods alone, or nil when the replacement rules allow none.
func (p *pass) replaceAlone(c *Candidate) *Command {
	if c.NumPods() == 0 {
		return nil
	}
	// alone plans the pods on an empty cluster: where they must be spread from, or kept
	// with or away from, other pods, it cannot tell where the replacement may go.
	for _, pod := range c.Pods() {
		if a := pod.Spec.Affinity; len(pod.Spec.TopologySpreadConstraints) > 0 || (a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)) {
			return nil
		}
	}
	r, price, ok := p.alone(c)
	if !ok || price >= c.Price {
		return nil
	}
	cmd := &Command{Method: SingleNodeConsolidation{}.Name(), Reason: v1.DisruptionReasonUnderutilized, ConsolidationType: TypeSingle,
		Candidates: []*Candidate{c}, Replacements: []scheduling.NewNodeClaim{r}, Savings: c.Price - price,
		Why: fmt.Sprintf("Underutilized: 1 node(s) at $%.4f/h replaced by one %s at $%.4f/h (right-sized: the cluster can end cheaper than by moving its pods onto other nodes)", c.Price, r.Cheapest.InstanceType, price)}
	// Scored for comparison only: a rejection is not a move the engine passed over.
	rejected := len(p.rejectedScores)
	defer func() { p.rejectedScores = p.rejectedScores[:rejected] }()
	if why := p.balanced(cmd); why != "" {
		return nil
	}
	return cmd
}

// after is the pass as it would be once cmd is done: its candidates gone, its replacement
// (launched at its cheapest option) in place, the moved pods where the scheduler puts
// them, and the nodes the provisioner would launch for those it leaves without room. It
// returns nil when no such placement is found. The returned pass is for
// simulations only: it records no events and shares the parent's memo and pod copies.
func (p *pass) after(cmd *Command) *pass {
	gone := make(map[string]bool, len(cmd.Candidates))
	var movers []*corev1.Pod
	for _, c := range cmd.Candidates {
		gone[c.Node.Name] = true
		for _, pod := range c.Pods() {
			movers = append(movers, p.unbound(pod))
		}
	}
	var extra *scheduling.ExistingNode
	var added *Candidate
	if len(cmd.Replacements) == 1 {
		pool := p.pools[cmd.Replacements[0].NodePool]
		if pool == nil {
			pool = cmd.Candidates[0].NodePool
		}
		n, c, ok := p.launched(cmd.Replacements[0], pool)
		if !ok {
			return nil
		}
		extra, added = &n, c
	}
	snap := p.snapWithout(gone, extra)
	// The evicted pods land where kube-scheduler puts them; where that cannot be told
	// (pods with per-node or node affinity rules), where our scheduler would.
	placed, stranded, ok := spread(snap.Nodes, movers)
	if !ok {
		plan := scheduling.SolveWith(&snap, movers, p.memo)
		if len(plan.Unschedulable) > 0 || len(plan.NewNodeClaims) > 0 {
			return nil
		}
		placed = make(map[string][]*corev1.Pod, len(plan.ExistingNodes))
		for _, e := range plan.ExistingNodes {
			placed[e.Name] = e.Pods
		}
	}
	for name, on := range placed {
		placed[name] = boundTo(on, name)
	}
	for i, n := range snap.Nodes {
		if add := placed[n.Name]; len(add) > 0 {
			snap.Nodes[i].Pods = append(slices.Clip(n.Pods), add...)
		}
	}
	// Pods kube-scheduler finds no room for stay pending, and the provisioner launches
	// nodes for them: the move costs those nodes too.
	var pending []*Candidate
	if len(stranded) > 0 {
		plan := scheduling.SolveWith(&snap, stranded, p.memo)
		if len(plan.Unschedulable) > 0 {
			return nil
		}
		// Room on a node spread did not admit them to (the two disagree on a label or
		// taint): taken as our scheduler would.
		for _, e := range plan.ExistingNodes {
			i := slices.IndexFunc(snap.Nodes, func(n scheduling.ExistingNode) bool { return n.Name == e.Name })
			if i < 0 {
				return nil
			}
			bound := boundTo(e.Pods, e.Name)
			snap.Nodes[i].Pods = append(slices.Clip(snap.Nodes[i].Pods), bound...)
			placed[e.Name] = append(placed[e.Name], bound...)
		}
		for i, nc := range plan.NewNodeClaims {
			pool := p.pools[nc.NodePool]
			if pool == nil {
				return nil
			}
			n, c, ok := p.launched(nc, pool)
			if !ok {
				return nil
			}
			n.Name = fmt.Sprintf("%s-pending-%d", n.Name, i)
			c.Node.Name, c.NodeClaim.Name, c.NodeClaim.UID = n.Name, n.Name, types.UID(n.Name)
			n.Labels[corev1.LabelHostname] = n.Name // shared with the candidate's
			n.Pods = boundTo(nc.Pods, n.Name)
			c.setPods(n.Pods)
			c.DisruptionCost = disruptionCost(n.Pods, c.NodeClaim, p.now)
			snap.Nodes = append(snap.Nodes, n)
			pending = append(pending, c)
		}
	}
	child := *p
	child.snapshot, child.buildSnapshot = &snap, nil
	child.candidates = make([]*Candidate, 0, len(p.candidates))
	for _, c := range p.candidates {
		if gone[c.Node.Name] {
			continue
		}
		if add := placed[c.Node.Name]; len(add) > 0 {
			cp := *c
			cp.setPods(append(slices.Clip(c.Pods()), add...))
			cp.DisruptionCost = disruptionCost(cp.pods, cp.NodeClaim, p.now)
			c = &cp
		}
		child.candidates = append(child.candidates, c)
	}
	if added != nil {
		added.setPods(placed[added.Node.Name])
		added.DisruptionCost = disruptionCost(added.pods, added.NodeClaim, p.now)
		child.candidates = append(child.candidates, added)
	}
	child.candidates = append(child.candidates, pending...)
	child.passedOver, child.passedOverMulti, child.rejectedScores, child.tried = map[string]*Blocker{}, nil, nil, nil
	child.poolStatCache, child.cursor, child.deferrals, child.nodeScratch = nil, nil, nil, nil
	child.target, child.targetDone = p.targetAfter(cmd), true
	child.virtual = p.virtual + 1
	return &child
}

// boundTo returns copies of the pods bound to the node, in a new slice (pods may be a
// plan's, or the snapshot's).
func boundTo(pods []*corev1.Pod, node string) []*corev1.Pod {
	out := make([]*corev1.Pod, len(pods))
	for i, pod := range pods {
		bound := *pod
		bound.Spec.NodeName = node
		out[i] = &bound
	}
	return out
}

// targetAfter is the pass's consolidation target once cmd is done, as the rollouts take it
// (searching it again for every state played would cost most of the look-ahead's time):
// the target without cmd's candidates, saving what is left of its savings when cmd took
// some of its nodes, or nil when nothing of it is left.
func (p *pass) targetAfter(cmd *Command) *Command {
	target := p.consolidationTarget(nil)
	if target == nil {
		return nil
	}
	gone := make(map[string]bool, len(cmd.Candidates))
	for _, c := range cmd.Candidates {
		gone[c.Name()] = true
	}
	left := &Command{Method: target.Method, Reason: target.Reason, ConsolidationType: target.ConsolidationType, Savings: target.Savings}
	for _, c := range target.Candidates {
		if !gone[c.Name()] {
			left.Candidates = append(left.Candidates, c)
		}
	}
	if len(left.Candidates) < len(target.Candidates) {
		left.Savings -= cmd.Savings
	}
	if len(left.Candidates) == 0 || left.Savings <= priceEpsilon {
		return nil
	}
	return left
}

// launched is the replacement as a node of its cheapest option, and as a candidate.
func (p *pass) launched(r scheduling.NewNodeClaim, pool *v1.NodePool) (scheduling.ExistingNode, *Candidate, bool) {
	i := slices.IndexFunc(r.InstanceTypes, func(it *cloudprovider.InstanceType) bool { return it.Name == r.Cheapest.InstanceType })
	if i < 0 {
		return scheduling.ExistingNode{}, nil, false
	}
	it := r.InstanceTypes[i]
	name := fmt.Sprintf("%s%d", lookaheadNodePrefix, p.virtual)
	labels := map[string]string{v1.NodePoolLabelKey: r.NodePool, corev1.LabelHostname: name,
		v1.LabelTopologyZone: r.Cheapest.Zone, v1.CapacityTypeLabelKey: r.Cheapest.CapacityType}
	for k, v := range r.Labels {
		labels[k] = v
	}
	for k, v := range it.Labels {
		labels[k] = v
	}
	for _, req := range r.Requirements {
		if req.Operator == "In" && len(req.Values) == 1 {
			labels[req.Key] = req.Values[0]
		}
	}
	labels[v1.LabelInstanceType] = it.Name
	// The node's DaemonSet pods are not played: their requests (the planned claim's
	// requests beyond its pods') come off its allocatable instead.
	allocatable := it.Allocatable().DeepCopy()
	overhead := r.Requests.DeepCopy()
	for _, pod := range r.Pods {
		for name, q := range k8spods.Requests(pod) {
			left := overhead[name]
			left.Sub(q)
			overhead[name] = left
		}
	}
	for name, q := range overhead {
		if a, ok := allocatable[name]; ok && q.Sign() > 0 {
			a.Sub(q)
			allocatable[name] = a
		}
	}
	node := scheduling.ExistingNode{Name: name, Labels: labels, Taints: r.Taints, Allocatable: allocatable, NodePool: r.NodePool}
	c := &Candidate{
		NodeClaim:      &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), Labels: labels}},
		Node:           &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}},
		NodePool:       pool,
		InstanceType:   it,
		CapacityType:   r.Cheapest.CapacityType,
		Zone:           r.Cheapest.Zone,
		Price:          r.Cheapest.Price,
		Consolidatable: true,
	}
	return node, c, true
}

// spread places the pods one by one as kube-scheduler's default profile scores nodes: among
// the nodes with room whose taints the pod tolerates and whose labels its node selector
// matches, the highest NodeResourcesFit (LeastAllocated, CPU and memory) plus
// NodeResourcesBalancedAllocation score (kube-scheduler takes one of the tied nodes at
// random, the model the first; the default profile's soft topology spread is not
// played). Evicted pods go to
// the least allocated nodes, the large ones and fresh replacements: a move that our
// scheduler would pack onto small nodes' room piles onto the large ones live. It returns
// false when a pod has affinity, topology spread or host port rules (kube-scheduler's
// choice then depends on more than resources). The pods are placed largest first, the
// order the drain evicts them in. The pods that fit on no node (kube-scheduler leaves them
// pending) are returned apart.
func spread(nodes []scheduling.ExistingNode, movers []*corev1.Pod) (map[string][]*corev1.Pod, []*corev1.Pod, bool) {
	type use struct{ cpu, mem, pods, acpu, amem, apods int64 }
	used := make([]use, len(nodes))
	for i, n := range nodes {
		u := use{acpu: n.Allocatable.Cpu().MilliValue(), amem: n.Allocatable.Memory().Value(), apods: math.MaxInt64}
		if q, ok := n.Allocatable[corev1.ResourcePods]; ok {
			u.apods = q.Value()
		}
		take := func(r corev1.ResourceList) {
			u.cpu += r.Cpu().MilliValue()
			u.mem += r.Memory().Value()
			u.pods++
		}
		for _, pod := range n.Pods {
			if !k8spods.IsTerminal(pod) {
				take(k8spods.Requests(pod))
			}
		}
		for _, pod := range n.Running {
			take(k8spods.SpecRequests(pod.Spec))
		}
		used[i] = u
	}
	// They reach kube-scheduler in the order the drain evicts them.
	movers = slices.Clone(movers)
	k8spods.LargestFirst(movers)
	out := map[string][]*corev1.Pod{}
	var stranded []*corev1.Pod
	for _, pod := range movers {
		if perNodeRules(pod) || pod.Spec.Affinity != nil {
			return nil, nil, false
		}
		r := k8spods.Requests(pod)
		for name := range r {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory && name != corev1.ResourcePods && name != corev1.ResourceEphemeralStorage {
				return nil, nil, false // extended resources: left to the scheduler
			}
		}
		cpu, mem := r.Cpu().MilliValue(), r.Memory().Value()
		best, bestScore := -1, -1.0
		for i, n := range nodes {
			u := used[i]
			if u.cpu+cpu > u.acpu || u.mem+mem > u.amem || u.pods+1 > u.apods || u.acpu == 0 || u.amem == 0 || !admits(n, pod) {
				continue
			}
			fc, fm := float64(u.cpu+cpu)/float64(u.acpu), float64(u.mem+mem)/float64(u.amem)
			least := math.Trunc(((1-fc)*100 + (1-fm)*100) / 2)
			balanced := math.Trunc((1 - math.Abs(fc-fm)/2) * 100)
			if score := least + balanced; score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			stranded = append(stranded, pod)
			continue
		}
		used[best].cpu += cpu
		used[best].mem += mem
		used[best].pods++
		out[nodes[best].Name] = append(out[nodes[best].Name], pod)
	}
	return out, stranded, true
}

// admits reports whether the pod may run on the node as far as spread can tell: the pod
// tolerates the node's NoSchedule and NoExecute taints, and its node selector matches the
// node's labels. Every pod carries the not-ready and unreachable NoExecute tolerations the
// DefaultTolerationSeconds admission plugin adds, so tolerations alone must not send a pod
// to the scheduler's packing instead.
func admits(n scheduling.ExistingNode, pod *corev1.Pod) bool {
	if !k8spods.Tolerates(pod.Spec.Tolerations, n.Taints) {
		return false
	}
	for k, v := range pod.Spec.NodeSelector {
		if n.Labels[k] != v {
			return false
		}
	}
	return true
}

// rollout plays cmd and then, one after the other, the moves the engine would take (next),
// in memory, and returns the price of the consolidatable nodes at the end (+Inf when cmd
// cannot be played). Rollouts of different moves often reach the same cluster (deleting A
// then B, or B then A): the end of every state a complete rollout went through is kept in
// p.ends, and a rollout reaching one of them stops there.
func (p *pass) rollout(cmd *Command, over func() bool) float64 {
	cur := p.after(cmd)
	if cur == nil {
		return math.Inf(1)
	}
	var path []string
	for range lookaheadSteps {
		if over() {
			return cur.movablePrice() // cut short: dearer than it would end, not kept
		}
		key := cur.stateKey()
		if end, ok := p.ends[key]; ok {
			p.keepEnds(path, end)
			return end
		}
		path = append(path, key)
		move := cur.next(over)
		if over() {
			return cur.movablePrice()
		}
		if move == nil {
			break
		}
		after := cur.after(move)
		if after == nil {
			break
		}
		cur = after
	}
	end := cur.movablePrice()
	p.keepEnds(path, end)
	return end
}

// keepEnds records end as the end of the rollouts from each state of path.
func (p *pass) keepEnds(path []string, end float64) {
	if p.ends == nil {
		return
	}
	for _, key := range path {
		p.ends[key] = end
	}
}

// next is the single-node move the engine would take from the pass: the one saving the
// most, or the best within the consolidation target when the target saves more
// (SingleNodeConsolidation's steering), or nil. Most expensive candidates first: none
// saves more than its price. It returns nil, too, when over (which may be nil) says the
// time is up. Rolling the engine's own choices forward keeps the rollouts close to what
// the engine would go on to do (TestLookaheadRollsTheEnginesMoves).
func (p *pass) next(over func() bool) *Command {
	target := p.consolidationTarget(over)
	var best, bestInTarget *Command
	for _, c := range expensive(singleCandidates(p)) {
		if over != nil && over() {
			return nil
		}
		if best != nil && best.Savings > c.Price+priceEpsilon && (target == nil || (bestInTarget != nil && bestInTarget.Savings > c.Price+priceEpsilon)) {
			break
		}
		cmd, _ := p.consolidate(SingleNodeConsolidation{}.Name(), TypeSingle, []*Candidate{c})
		if cmd == nil {
			continue
		}
		if best == nil || better(cmd, best) {
			best = cmd
		}
		if target != nil && within(cmd, target) && (bestInTarget == nil || better(cmd, bestInTarget)) {
			bestInTarget = cmd
		}
	}
	if bestInTarget != nil && target.Savings > best.Savings+priceEpsilon {
		best = bestInTarget
	}
	return best
}

// movablePrice is the price of the pass's consolidatable nodes.
func (p *pass) movablePrice() float64 {
	end := 0.0
	for _, c := range movable(p) {
		end += c.Price
	}
	return end
}

// stateKey names the cluster a virtual pass holds: each node (a replacement played in
// memory by its instance type, zone and capacity type) and the pods on it.
func (p *pass) stateKey() string {
	nodes := p.snap().Nodes
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		name := n.Name
		if strings.HasPrefix(name, lookaheadNodePrefix) {
			name = "+" + n.NodePool + "/" + n.Labels[v1.LabelInstanceType] + "/" + n.Labels[v1.LabelTopologyZone] + "/" + n.Labels[v1.CapacityTypeLabelKey]
		}
		uids := make([]string, 0, len(n.Pods)+len(n.Running))
		for _, pod := range n.Pods {
			uids = append(uids, string(pod.UID))
		}
		for _, pod := range n.Running {
			uids = append(uids, string(pod.Meta.UID))
		}
		slices.Sort(uids)
		parts = append(parts, name+"="+strings.Join(uids, ","))
	}
	slices.Sort(parts)
	// The moves played from a state depend on the consolidation target it is steered by.
	if p.target != nil {
		names := make([]string, 0, len(p.target.Candidates))
		for _, c := range p.target.Candidates {
			names = append(names, c.Name())
		}
		slices.Sort(names)
		parts = append(parts, fmt.Sprintf("target=%s/%.6f", strings.Join(names, ","), p.target.Savings))
	}
	return strings.Join(parts, ";")
}
