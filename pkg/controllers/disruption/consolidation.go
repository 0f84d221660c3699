package disruption

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
)

// MultiNodeConsolidation removes several under-utilised nodes at once: deleted when their
// pods fit elsewhere, or replaced by one strictly cheaper node.
//
// Like upstream it binary-searches the largest prefix of the candidates (cheapest to
// disrupt first, within the Underutilized budget) that consolidates; unlike upstream it
// searches every candidate rather than the first 100, and then, while its time budget
// lasts, tries to add each candidate after that prefix in turn, keeping those that raise
// the savings: a candidate that blocks the prefix no longer hides the ones after it.
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
	var best *Command
	bestK := 0
	lo, hi := 2, len(cands)
	for lo <= hi && !over() {
		mid := (lo + hi) / 2
		if cmd, _ := p.consolidate(m.Name(), TypeMulti, cands[:mid]); cmd != nil {
			best, bestK = cmd, mid
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	if best == nil {
		// Fall back to the best pair among the first candidates: upstream would stop here.
		for i := 0; i+1 < len(cands) && i < 8 && !over(); i++ {
			if cmd, _ := p.consolidate(m.Name(), TypeMulti, []*Candidate{cands[i], cands[i+1]}); cmd != nil {
				best, bestK = cmd, 0
				break
			}
		}
		if best == nil {
			return nil, nil
		}
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
	return best, nil
}

// SingleNodeConsolidation removes or replaces one under-utilised node: the first, cheapest
// to disrupt first, that consolidates, within its time budget. When the budget runs out it
// remembers where it stopped and the next pass goes on from there, so every candidate is
// tried in turn however large the cluster.
type SingleNodeConsolidation struct{}

func (SingleNodeConsolidation) Name() string                { return "single-node consolidation" }
func (SingleNodeConsolidation) Reason() v1.DisruptionReason { return v1.DisruptionReasonUnderutilized }
func (SingleNodeConsolidation) ConsolidationType() string   { return TypeSingle }
func (m SingleNodeConsolidation) Compute(_ context.Context, p *pass) (*Command, error) {
	start := p.opts.Stopwatch()
	cands := consolidationCandidates(p)
	// Resume after the candidate the last pass stopped at, wrapping around.
	first := 0
	if p.cursor != nil && *p.cursor != "" {
		if i := slices.IndexFunc(cands, func(c *Candidate) bool { return c.Name() == *p.cursor }); i >= 0 {
			first = (i + 1) % max(1, len(cands))
		}
	}
	order := append(slices.Clone(cands[first:]), cands[:first]...)
	for i, c := range order {
		if i > 0 && p.opts.Stopwatch()-start > p.opts.SingleNodeTimeBudget {
			if p.cursor != nil {
				*p.cursor = order[i-1].Name()
			}
			return nil, nil
		}
		cmd, why := p.consolidate(m.Name(), TypeSingle, []*Candidate{c})
		if cmd != nil {
			return cmd, nil
		}
		p.note(c, BlockNoMethod, "not consolidatable: "+why)
		p.tried = append(p.tried, c.Name())
	}
	if p.cursor != nil {
		*p.cursor = ""
	}
	p.sweptAll = true
	return nil, nil
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
		for _, pod := range p.podsByNode[node.Name] {
			if pods.IsReschedulable(pod) {
				c.Pods = append(c.Pods, pod)
			}
		}
		p.price(c)
		s.price += c.Price
		s.disruption += disruptionCost(c, p.now)
	}
	if p.poolStatCache == nil {
		p.poolStatCache = map[string]poolStat{}
	}
	p.poolStatCache[pool] = s
	return s
}

// Stopwatch measures compute time for the methods' time budgets.
type Stopwatch func() time.Duration
