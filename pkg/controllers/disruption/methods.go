package disruption

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// Consolidation types, the consolidation_type label of the decision metrics.
const (
	TypeEmpty  = "empty"
	TypeSingle = "single"
	TypeMulti  = "multi"
	TypeNone   = ""
)

// Method is one way of disrupting nodes. Compute looks at the pass's candidates and
// returns the command it would execute, or nil when it has nothing to do. It takes its
// nodes from the pass's ledger only through the returned command (the controller takes
// them).
type Method interface {
	// Name names the method in logs and the method label of the evaluation metric.
	Name() string
	// Reason is the budget reason the method draws from.
	Reason() v1.DisruptionReason
	// ConsolidationType is the consolidation_type label of its decisions.
	ConsolidationType() string
	Compute(ctx context.Context, p *pass) (*Command, error)
}

// Command is one decision: delete the candidates, after launching the replacements.
type Command struct {
	Method            string
	Reason            v1.DisruptionReason
	ConsolidationType string
	Candidates        []*Candidate
	// Replacements are launched and must initialize before the candidates are deleted.
	Replacements []scheduling.NewNodeClaim
	// Savings is the $/h the command saves (negative for drift replacements that cost more).
	Savings float64
	// Why is a human sentence saying why.
	Why string
	// balanced is set when a Balanced pool scored the move; score is its score.
	balanced bool
	score    float64
}

// Decision is the decision label: "replace" when it launches replacements, else "delete".
func (c *Command) Decision() string {
	if len(c.Replacements) > 0 {
		return "replace"
	}
	return "delete"
}

func (c *Command) names() string {
	names := make([]string, len(c.Candidates))
	for i, cand := range c.Candidates {
		names[i] = cand.Name()
	}
	return strings.Join(names, ", ")
}

// withinBudget keeps the candidates, in order, that the ledger's budget for the reason
// allows, counting those kept before them.
func withinBudget(p *pass, cands []*Candidate, reason v1.DisruptionReason) []*Candidate {
	taken := map[string]int{}
	var out []*Candidate
	for _, c := range cands {
		pool := c.NodePool.Name
		if allowed := p.ledger.Allowed(pool, reason); allowed != budget.Unlimited && taken[pool] >= allowed {
			continue
		}
		taken[pool]++
		out = append(out, c)
	}
	return out
}

// Emptiness deletes empty nodes whose NodePool consolidates (any policy) once
// consolidateAfter has passed since their last pod event, as many as the Empty budget
// allows, in one command.
type Emptiness struct{}

func (Emptiness) Name() string                { return "emptiness" }
func (Emptiness) Reason() v1.DisruptionReason { return v1.DisruptionReasonEmpty }
func (Emptiness) ConsolidationType() string   { return TypeEmpty }
func (m Emptiness) Compute(_ context.Context, p *pass) (*Command, error) {
	var empty []*Candidate
	for _, c := range p.candidates {
		if c.NumPods() == 0 && c.Consolidatable && c.NodePool.Spec.Disruption.ConsolidationPolicy != "" {
			empty = append(empty, c)
		}
	}
	empty = withinBudget(p, empty, m.Reason())
	if len(empty) == 0 {
		return nil, nil
	}
	cmd := &Command{Method: m.Name(), Reason: m.Reason(), ConsolidationType: TypeEmpty, Candidates: empty,
		Why: "Empty: the node runs no pods that would need rescheduling"}
	for _, c := range empty {
		cmd.Savings += c.Price
	}
	return cmd, nil
}

// Drift replaces nodes whose Drifted condition is True: empty ones first (all the Drifted
// budget allows, deleted without replacement), then the oldest, one per pass, with its
// replacements launched and initialized before it drains.
type Drift struct{}

func (Drift) Name() string                { return "drift" }
func (Drift) Reason() v1.DisruptionReason { return v1.DisruptionReasonDrifted }
func (Drift) ConsolidationType() string   { return TypeNone }
func (m Drift) Compute(_ context.Context, p *pass) (*Command, error) {
	var drifted []*Candidate
	for _, c := range p.candidates {
		if IsDrifted(c.NodeClaim) {
			drifted = append(drifted, c)
		}
	}
	slices.SortStableFunc(drifted, func(a, b *Candidate) int {
		return cmp.Or(cmp.Compare(a.NumPods(), b.NumPods()),
			a.NodeClaim.CreationTimestamp.Compare(b.NodeClaim.CreationTimestamp.Time), cmp.Compare(a.Name(), b.Name()))
	})
	drifted = withinBudget(p, drifted, m.Reason())
	var empty []*Candidate
	for _, c := range drifted {
		if c.NumPods() == 0 {
			empty = append(empty, c)
		}
	}
	if len(empty) > 0 {
		return &Command{Method: m.Name(), Reason: m.Reason(), Candidates: empty,
			Why: "Drifted: " + driftReason(empty[0].NodeClaim) + "; the node is empty"}, nil
	}
	for _, c := range drifted {
		sim := p.simulate([]*Candidate{c})
		if !sim.fits {
			p.note(c, BlockNoMethod, "drifted, but "+sim.why)
			continue
		}
		cmd := &Command{Method: m.Name(), Reason: m.Reason(), Candidates: []*Candidate{c}, Replacements: sim.replacements,
			Why: "Drifted: " + driftReason(c.NodeClaim)}
		cmd.Savings = c.Price
		for _, r := range sim.replacements {
			cmd.Savings -= r.Cheapest.Price
		}
		return cmd, nil
	}
	return nil, nil
}

func driftReason(nc *v1.NodeClaim) string {
	for _, c := range nc.Status.Conditions {
		if c.Type == v1.ConditionTypeDrifted {
			if c.Message != "" {
				return c.Reason + " (" + c.Message + ")"
			}
			return c.Reason
		}
	}
	return "drifted"
}

// consolidating reports whether the candidate is one consolidation may move: its pool's
// policy consolidates under-utilised nodes and consolidateAfter has passed.
func consolidating(c *Candidate) bool {
	pol := c.NodePool.Spec.Disruption.ConsolidationPolicy
	return c.Consolidatable && (pol == v1.ConsolidationPolicyWhenEmptyOrUnderutilized || pol == v1.ConsolidationPolicyBalanced)
}

// consolidationCandidates are the pass's candidates consolidation may move, cheapest to
// disrupt first, within the Underutilized budget: a set of them never exceeds it.
func consolidationCandidates(p *pass) []*Candidate {
	return withinBudget(p, movable(p), v1.DisruptionReasonUnderutilized)
}

// singleCandidates are the candidates single-node consolidation may move, cheapest to
// disrupt first: every one whose pool's Underutilized budget allows one more node, as
// upstream checks it per candidate. (consolidationCandidates keeps only as many as the
// budget allows in all, the first ones: with a budget of 1 that was the one node holding
// the fewest pods, whatever the others would save.)
func singleCandidates(p *pass) []*Candidate {
	return slices.DeleteFunc(movable(p), func(c *Candidate) bool {
		allowed := p.ledger.Allowed(c.NodePool.Name, v1.DisruptionReasonUnderutilized)
		return allowed != budget.Unlimited && allowed < 1
	})
}

func movable(p *pass) []*Candidate {
	var out []*Candidate
	for _, c := range p.candidates {
		if consolidating(c) {
			out = append(out, c)
		}
	}
	return out
}

// consolidate turns a simulation of removing cands into a command: delete when their pods
// fit on what remains, replace when they need exactly one strictly cheaper new NodeClaim.
// It returns nil and why not otherwise, or when a Balanced pool rejects the move.
func (p *pass) consolidate(method, ctype string, cands []*Candidate) (*Command, string) {
	sim := p.simulate(cands)
	if !sim.fits {
		return nil, sim.why
	}
	total := 0.0
	for _, c := range cands {
		total += c.Price
	}
	cmd := &Command{Method: method, Reason: v1.DisruptionReasonUnderutilized, ConsolidationType: ctype, Candidates: cands}
	if len(sim.replacements) > 1 {
		check := func(extra *scheduling.ExistingNode) simulation { return p.solve(cands, extra) }
		if merged, ok := p.mergeReplacements(sim.replacements, check); ok {
			sim.replacements = []scheduling.NewNodeClaim{merged}
		}
	}
	switch len(sim.replacements) {
	case 0:
		cmd.Savings = total
		cmd.Why = fmt.Sprintf("Underutilized: the pods of %d node(s) fit on other nodes, saving $%.4f/h", len(cands), total)
	case 1:
		r, price, why := p.cheaperReplacement(cands, sim.replacements[0])
		if why != "" {
			return nil, why
		}
		if len(cands) > 1 {
			if r, price, why = sameTypeRule(cands, r); why != "" {
				return nil, why
			}
		}
		cmd.Replacements = []scheduling.NewNodeClaim{r}
		cmd.Savings = total - price
		cmd.Why = fmt.Sprintf("Underutilized: %d node(s) at $%.4f/h replaced by one %s at $%.4f/h", len(cands), total, r.Cheapest.InstanceType, price)
	default:
		return nil, fmt.Sprintf("the pods would need %d new nodes; a node is never replaced by several", len(sim.replacements))
	}
	if cmd.Savings <= 0 && len(cmd.Replacements) > 0 {
		return nil, "the replacement is not cheaper"
	}
	if why := p.balanced(cmd); why != "" {
		return nil, why
	}
	return cmd, ""
}

// noteMulti records why multi-node consolidation passed over a candidate; single-node
// consolidation's reason, about the node alone, wins over it (see explainBlocked).
func (p *pass) noteMulti(c *Candidate, msg string) {
	if p.passedOverMulti == nil {
		p.passedOverMulti = map[string]*Blocker{}
	}
	if _, ok := p.passedOverMulti[c.Name()]; !ok {
		p.passedOverMulti[c.Name()] = &Blocker{Reason: BlockNoMethod, Message: "multi-node consolidation: " + msg}
	}
}

// note records why a candidate was passed over by a method (the first reason wins).
func (p *pass) note(c *Candidate, reason BlockReason, msg string) {
	if p.passedOver == nil {
		p.passedOver = map[string]*Blocker{}
	}
	if _, ok := p.passedOver[c.Name()]; !ok {
		p.passedOver[c.Name()] = &Blocker{Reason: reason, Message: msg}
	}
}
