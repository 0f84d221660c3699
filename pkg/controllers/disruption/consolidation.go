package disruption

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
)

// MultiNodeConsolidation removes several under-utilised nodes at once: deleted when their
// pods fit elsewhere, or replaced by one strictly cheaper node.
//
// Like upstream it binary-searches the largest prefix of the candidates (cheapest to
// disrupt first, within the Underutilized budget) that consolidates; unlike upstream it
// searches every candidate rather than the first 100, and then, while its time budget
// lasts, tries to add each candidate after that prefix in turn, keeping those that raise
// the savings: a candidate that blocks the prefix no longer hides the ones after it. When
// the budget cut the candidates, it searches the most expensive ones it allows as well.
type MultiNodeConsolidation struct{}

func (MultiNodeConsolidation) Name() string                { return "multi-node consolidation" }
func (MultiNodeConsolidation) Reason() v1.DisruptionReason { return v1.DisruptionReasonUnderutilized }
func (MultiNodeConsolidation) ConsolidationType() string   { return TypeMulti }
func (m MultiNodeConsolidation) Compute(_ context.Context, p *pass) (*Command, error) {
	cands := consolidationCandidates(p)
	if len(cands) < 2 {
		return nil, nil
	}
	start := p.opts.Stopwatch()
	over := func() bool { return p.opts.Stopwatch()-start > p.opts.MultiNodeTimeBudget }
	// why remembers, per candidate, why the first set holding it that failed did not
	// consolidate; it becomes the candidate's Unconsolidatable reason when no set does.
	why := map[string]string{}
	best := m.search(p, cands, over, why, true)
	// When the budget keeps only the first candidates by disruption cost, the most
	// expensive ones it allows are searched too and the set saving more wins: the cheap,
	// nearly empty nodes first would pile their pods onto the expensive ones.
	if alt := expensiveFirst(p); len(alt) >= 2 && !sameCandidates(alt, cands) && !over() {
		// It gets a quarter of the time budget, so a decision stays within a second.
		altStart := p.opts.Stopwatch()
		altOver := func() bool { return over() || p.opts.Stopwatch()-altStart > p.opts.MultiNodeTimeBudget/4 }
		if cmd := m.search(p, alt, altOver, why, false); cmd != nil && (best == nil || better(cmd, best)) {
			best = cmd
		}
	}
	// When the budget keeps some candidates out, the moves it allows are steps towards the
	// consolidation it would take without the budget (the target): a set within the
	// target wins over one that is not, whatever either saves now.
	if target := p.consolidationTarget(over); target != nil && !over() && (best == nil || !within(best, target)) && target.Savings > savingsOf(best)+priceEpsilon {
		inTarget := withinBudget(p, expensive(target.Candidates), v1.DisruptionReasonUnderutilized)
		if len(inTarget) >= 2 {
			if cmd := m.search(p, inTarget, over, why, true); cmd != nil {
				best = cmd
			}
		}
	}
	if best == nil {
		for _, c := range cands {
			if msg, ok := why[c.Name()]; ok {
				p.noteMulti(c, msg)
			}
		}
	}
	return best, nil
}

// consolidationTarget is the consolidation the pass would take if the Underutilized budget
// allowed every candidate (multi-node consolidation's search, most expensive candidates
// first, then bestKeep), computed once per pass, or nil when the budget keeps no candidate
// out or nothing consolidates. A budget of one node at a time makes consolidation a
// sequence of small moves, and the move saving the most now can lead to a dearer end: on
// in-memory replays of hack/demo's sale with spot-to-spot consolidation (replay_test.go,
// seed 11) it deleted and replaced nodes until the 20 pods sat on seven small ones, 13.8 %
// above the whole-node bound; stepping towards the target it ends on a c6g.large, a
// c6g.xlarge and an m6g.2xlarge, 3.6 % above it. The methods take their moves within the
// target when one is found: its nodes are those the cluster is better off without.
//
// The search gets half of multi-node consolidation's time budget (less when the caller's
// runs out first), and runs only for at most TargetCandidates candidates.
func (p *pass) consolidationTarget(over func() bool) *Command {
	if p.targetDone {
		return p.target
	}
	p.targetDone = true
	all := movable(p)
	if len(all) < 2 || len(all) > TargetCandidates || len(withinBudget(p, all, v1.DisruptionReasonUnderutilized)) == len(all) {
		return nil
	}
	start := p.opts.Stopwatch()
	limit := p.opts.MultiNodeTimeBudget / 2
	stop := func() bool { return (over != nil && over()) || p.opts.Stopwatch()-start > limit }
	p.target = MultiNodeConsolidation{}.search(p, expensive(all), stop, map[string]string{}, true)
	p.target = bestKeep(p, all, p.target, stop)
	return p.target
}

// TargetCandidates is the most candidates a consolidation target is searched for (the
// search over the sets to keep is exhaustive, within the time budget). Above it the moves
// the budget allows are many nodes each, and each pass takes the one saving the most.
const TargetCandidates = 32

// bestKeep searches the sets of candidates to keep, cheapest first, for the consolidation
// of all the others saving the most: a move's pods may only fit once the pods of more
// nodes are free to move too (a kept node's pods stay where they are), so the largest
// prefix that consolidates, with candidates added one at a time, misses sets a cheaper
// end keeps. A set is not widened once it costs more than the best consolidation found
// leaves (every set holding it saves less).
func bestKeep(p *pass, all []*Candidate, best *Command, stop func() bool) *Command {
	byPrice := slices.Clone(all)
	slices.SortStableFunc(byPrice, func(a, b *Candidate) int { return cmpFloat(a.Price, b.Price) })
	total := 0.0
	for _, c := range byPrice {
		total += c.Price
	}
	keep := make([]bool, len(byPrice))
	var rec func(from int, kept float64)
	rec = func(from int, kept float64) {
		if stop() {
			return
		}
		var gone []*Candidate
		for i, c := range byPrice {
			if !keep[i] {
				gone = append(gone, c)
			}
		}
		if len(gone) > 0 {
			if cmd, _ := p.consolidate(MultiNodeConsolidation{}.Name(), TypeMulti, expensive(gone)); cmd != nil && cmd.Savings > savingsOf(best)+priceEpsilon {
				best = cmd
			}
		}
		for i := from; i < len(byPrice); i++ {
			if total-(kept+byPrice[i].Price) <= savingsOf(best)+priceEpsilon {
				return // the later candidates cost as much or more
			}
			keep[i] = true
			rec(i+1, kept+byPrice[i].Price)
			keep[i] = false
		}
	}
	rec(0, 0)
	return best
}

// expensive sorts a copy of the candidates most expensive first (stable: equal prices keep
// their disruption-cost order).
func expensive(cands []*Candidate) []*Candidate {
	out := slices.Clone(cands)
	slices.SortStableFunc(out, func(a, b *Candidate) int { return cmpFloat(b.Price, a.Price) })
	return out
}

// within reports whether every candidate of cmd is one of target's.
func within(cmd, target *Command) bool {
	in := make(map[string]bool, len(target.Candidates))
	for _, c := range target.Candidates {
		in[c.Name()] = true
	}
	for _, c := range cmd.Candidates {
		if !in[c.Name()] {
			return false
		}
	}
	return true
}

func savingsOf(cmd *Command) float64 {
	if cmd == nil {
		return 0
	}
	return cmd.Savings
}

// expensiveFirst are the candidates consolidation may move, most expensive first, within
// the Underutilized budget.
func expensiveFirst(p *pass) []*Candidate {
	return withinBudget(p, expensive(movable(p)), v1.DisruptionReasonUnderutilized)
}

func sameCandidates(a, b []*Candidate) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[string]bool{}
	for _, c := range a {
		in[c.Name()] = true
	}
	for _, c := range b {
		if !in[c.Name()] {
			return false
		}
	}
	return true
}

// search binary-searches the largest prefix of cands that consolidates, falls back to the
// first pairs, then, when widen, widens the set found with the later candidates that raise
// the savings (a solve each: the second ordering skips it to stay within a second).
func (m MultiNodeConsolidation) search(p *pass, cands []*Candidate, over func() bool, why map[string]string, widen bool) *Command {
	attempt := func(set []*Candidate) *Command {
		cmd, reason := p.consolidate(m.Name(), TypeMulti, set)
		if cmd == nil {
			for _, c := range set {
				if _, ok := why[c.Name()]; !ok {
					why[c.Name()] = fmt.Sprintf("not consolidatable with %d other node(s): %s", len(set)-1, reason)
				}
			}
		}
		return cmd
	}
	var best *Command
	bestK := 0
	lo, hi := 2, len(cands)
	for lo <= hi && !over() {
		mid := (lo + hi) / 2
		if cmd := attempt(cands[:mid]); cmd != nil {
			best, bestK = cmd, mid
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	if best == nil {
		// Fall back to the best pair among the first candidates: upstream would stop here.
		for i := 0; i+1 < len(cands) && i < 8 && !over(); i++ {
			if cmd := attempt([]*Candidate{cands[i], cands[i+1]}); cmd != nil {
				best, bestK = cmd, 0
				break
			}
		}
		if best == nil {
			return nil
		}
	}
	if !widen {
		return best
	}
	// Widen: try each later candidate on top of the chosen set while time remains.
	chosen := append([]*Candidate(nil), best.Candidates...)
	in := map[string]bool{}
	for _, c := range chosen {
		in[c.Name()] = true
	}
	for _, c := range cands[bestK:] {
		if over() {
			break
		}
		if in[c.Name()] {
			continue
		}
		try := append(chosen[:len(chosen):len(chosen)], c)
		if cmd, _ := p.consolidate(m.Name(), TypeMulti, try); cmd != nil && cmd.Savings > best.Savings+1e-9 {
			best, chosen = cmd, try
			in[c.Name()] = true
		}
	}
	return best
}

// SingleNodeConsolidation removes or replaces one under-utilised node. It tries the
// candidates cheapest to disrupt first, as upstream, within its time budget; when the budget
// runs out before any consolidates it remembers where it stopped and the next pass goes on
// from there, so every candidate is tried in turn however large the cluster.
//
// Unlike upstream, which takes the first candidate that consolidates, it goes on trying the
// others for SingleNodeImproveBudget more and takes the move saving the most (the least
// disruptive of equal ones; the Balanced policy weighs disruption), or the best within the
// consolidation target, and on small clusters the move whose rollout ends cheapest
// (lookahead.go). Taking the first one deletes the small
// nodes first (they hold the fewest pods) and piles their pods onto the large ones: on
// hack/demo's sale it deleted an m6g.2xlarge holding 2 pods and kept 12xlarges, ending on a
// c6g.4xlarge 10 % above the whole-node bound; deleting the expensive nodes first keeps
// the small ones, which the fresh plan would also use.
type SingleNodeConsolidation struct{}

func (SingleNodeConsolidation) Name() string                { return "single-node consolidation" }
func (SingleNodeConsolidation) Reason() v1.DisruptionReason { return v1.DisruptionReasonUnderutilized }
func (SingleNodeConsolidation) ConsolidationType() string   { return TypeSingle }
func (m SingleNodeConsolidation) Compute(_ context.Context, p *pass) (*Command, error) {
	target := p.consolidationTarget(nil)
	start := p.opts.Stopwatch()
	cands := singleCandidates(p)
	// Resume after the candidate the last pass stopped at, wrapping around.
	first := 0
	if p.cursor != nil && *p.cursor != "" {
		if i := slices.IndexFunc(cands, func(c *Candidate) bool { return c.Name() == *p.cursor }); i >= 0 {
			first = (i + 1) % max(1, len(cands))
		}
	}
	order := append(slices.Clone(cands[first:]), cands[:first]...)
	var best, bestInTarget *Command
	var found time.Duration
	var cmds []*Command
	// A move within the consolidation target wins over a move saving more now but
	// deleting a node the target keeps (see consolidationTarget).
	steer := func() {
		if bestInTarget != nil && target.Savings > best.Savings+priceEpsilon {
			best = bestInTarget
		}
	}
	simulated := 0
	for i, c := range order {
		// A candidate an earlier pass of the sweep tried is not simulated again (see sweep).
		if why, ok := p.swept[c.Name()]; ok {
			p.note(c, BlockNoMethod, "not consolidatable: "+why)
			continue
		}
		elapsed := p.opts.Stopwatch() - start
		if best != nil && (elapsed-found > p.opts.SingleNodeImproveBudget || elapsed > p.opts.SingleNodeTimeBudget) {
			steer()
			return p.lookahead(cmds, best, p.opts.Stopwatch()), nil
		}
		if best == nil && simulated > 0 && elapsed > p.opts.SingleNodeTimeBudget {
			if p.cursor != nil {
				*p.cursor = order[i-1].Name()
			}
			return nil, nil
		}
		simulated++
		cmd, why := p.consolidate(m.Name(), TypeSingle, []*Candidate{c})
		if cmd == nil {
			p.note(c, BlockNoMethod, "not consolidatable: "+why)
			if p.tried == nil {
				p.tried = map[string]string{}
			}
			p.tried[c.Name()] = why
			continue
		}
		cmds = append(cmds, cmd)
		if best == nil {
			found = p.opts.Stopwatch() - start
		}
		if best == nil || better(cmd, best) {
			best = cmd
		}
		if target != nil && within(cmd, target) && (bestInTarget == nil || better(cmd, bestInTarget)) {
			bestInTarget = cmd
		}
	}
	steer()
	if best != nil {
		// Waiting is decided on the move the engine found (the look-ahead's pick may save
		// less now), and a pass that waits spends nothing on the look-ahead.
		if c := p.betterSoon(m.Name(), best, start); c != nil {
			for _, cand := range best.Candidates {
				p.note(cand, BlockNoMethod, fmt.Sprintf("waiting: consolidating nodeclaim %s saves more once its consolidateAfter ends", c.Name()))
			}
			return nil, nil
		}
		delete(p.deferrals, best.Candidates[0].NodePool.Name) // a new streak may wait again
		return p.lookahead(cmds, best, p.opts.Stopwatch()), nil
	}
	if p.cursor != nil {
		*p.cursor = ""
	}
	p.sweptAll = true
	return nil, nil
}

// betterSoon returns a candidate that only its consolidateAfter keeps from consolidating
// and whose move would save more than best, or nil. Evicted pods land on the least
// allocated nodes, the large ones, whose pod events then keep them unconsolidatable while
// the small nodes, consolidatable, are deleted one after the other and their pods piled on
// the large ones: on the demo the last node left was the m6g.8xlarge, replaced at last by a
// c6g.4xlarge 10 % above the bound. Waiting for the better move avoids that. A pool waits
// at most twice its consolidateAfter from the first wait until a move is taken, so pod
// events that never stop cannot stall consolidation.
func (p *pass) betterSoon(method string, best *Command, start time.Duration) *Candidate {
	for _, c := range p.candidates {
		pol := c.NodePool.Spec.Disruption.ConsolidationPolicy
		after := c.NodePool.Spec.Disruption.ConsolidateAfter.Duration
		if c.Consolidatable || c.NumPods() == 0 || c.Price <= best.Savings || after == nil ||
			(pol != v1.ConsolidationPolicyWhenEmptyOrUnderutilized && pol != v1.ConsolidationPolicyBalanced) {
			continue
		}
		if first, ok := p.deferrals[c.NodePool.Name]; ok && p.now.Sub(first) > 2**after {
			continue
		}
		if allowed := p.ledger.Allowed(c.NodePool.Name, v1.DisruptionReasonUnderutilized); allowed != budget.Unlimited && allowed < 1 {
			continue
		}
		if p.opts.Stopwatch()-start > p.opts.SingleNodeTimeBudget {
			return nil
		}
		if cmd, _ := p.consolidate(method, TypeSingle, []*Candidate{c}); cmd != nil && better(cmd, best) {
			if _, ok := p.deferrals[c.NodePool.Name]; !ok && p.deferrals != nil {
				p.deferrals[c.NodePool.Name] = p.now
			}
			return c
		}
	}
	return nil
}

// better reports whether a saves more than b, or as much for less disruption.
func better(a, b *Command) bool {
	if math.Abs(a.Savings-b.Savings) > 1e-9 {
		return a.Savings > b.Savings
	}
	return disruptionOf(a) < disruptionOf(b)
}

func disruptionOf(cmd *Command) float64 {
	cost := 0.0
	for _, c := range cmd.Candidates {
		cost += c.DisruptionCost
	}
	return cost
}

// BalancedThreshold is the lowest score a Balanced pool approves: a move's share of the
// pool's cost it saves must be at least half its share of the pool's disruption cost
// (upstream v1.14, k = 2).
const BalancedThreshold = 0.5

// balanced scores the command for the Balanced pools among its candidates' pools, and says
// why it is rejected, or "" when approved (or no pool is Balanced). The score of a move is
// (savings / the pools' total price) / (its disruption cost / the pools' total disruption
// cost); a move that disrupts nothing scores +Inf.
func (p *pass) balanced(cmd *Command) string {
	pools := map[string]*v1.NodePool{}
	isBalanced := false
	for _, c := range cmd.Candidates {
		pools[c.NodePool.Name] = c.NodePool
		isBalanced = isBalanced || c.NodePool.Spec.Disruption.ConsolidationPolicy == v1.ConsolidationPolicyBalanced
	}
	if !isBalanced {
		return ""
	}
	poolCost, poolDisruption := 0.0, 0.0
	for name := range pools {
		stats := p.poolStats(name)
		poolCost += stats.price
		poolDisruption += stats.disruption
	}
	moveDisruption := 0.0
	for _, c := range cmd.Candidates {
		moveDisruption += c.DisruptionCost
	}
	score := math.Inf(1)
	if moveDisruption > 0 && poolDisruption > 0 && poolCost > 0 {
		score = (cmd.Savings / poolCost) / (moveDisruption / poolDisruption)
	}
	cmd.score = score
	cmd.balanced = true
	if score < BalancedThreshold {
		p.rejectedScores = append(p.rejectedScores, scored{pool: cmd.Candidates[0].NodePool.Name, score: score})
		return fmt.Sprintf("the Balanced policy rejects the move: score %.2f < %.2f (saves $%.4f/h of $%.4f/h, disrupts %.1f of %.1f)",
			score, BalancedThreshold, cmd.Savings, poolCost, moveDisruption, poolDisruption)
	}
	return ""
}

type scored struct {
	pool  string
	score float64
}

type poolStat struct{ price, disruption float64 }

// poolStats sums the price and disruption cost of the pool's live nodes.
func (p *pass) poolStats(pool string) poolStat {
	if s, ok := p.poolStatCache[pool]; ok {
		return s
	}
	var s poolStat
	np := p.pools[pool]
	for _, nc := range p.claims {
		node := p.nodeOf[nc.Name]
		if np == nil || nc.Labels[v1.NodePoolLabelKey] != pool || node == nil || !nc.DeletionTimestamp.IsZero() {
			continue
		}
		c := &Candidate{NodeClaim: nc, Node: node, NodePool: np}
		p.price(c)
		s.price += c.Price
		s.disruption += disruptionCost(reschedulable(p.lookAtPods(node.Name)), nc, p.now)
	}
	if p.poolStatCache == nil {
		p.poolStatCache = map[string]poolStat{}
	}
	p.poolStatCache[pool] = s
	return s
}

// Stopwatch measures compute time for the methods' time budgets.
type Stopwatch func() time.Duration
