package disruption

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"time"
)

// ConsolidationRecheck is how long a cluster found to hold nothing to consolidate is
// trusted while nothing changes (upstream's consolidation state times out after the same
// five minutes): what no fingerprint here covers is looked at again at least that often.
const ConsolidationRecheck = 5 * time.Minute

// quietState is what the consolidation methods last found nothing in: the cluster state's
// generation and the fingerprint of what else they read.
type quietState struct {
	generation  uint64
	fingerprint uint64
	at          time.Time
}

// sweep gathers the candidates single-node consolidation tried, across passes (its time
// budget covers a few hundred candidates a pass), while the state stays the same.
type sweep struct {
	generation  uint64
	fingerprint uint64
	tried       map[string]bool
}

// consolidationSkipped reports whether the methods that consolidate may be skipped this
// pass: an earlier sweep of every candidate found nothing, in this same state, less than
// ConsolidationRecheck ago. A quiet cluster of thousands of nodes then costs a pass no
// simulation at all instead of the methods' whole time budgets every ten seconds.
func (c *Controller) consolidationSkipped(generation, fingerprint uint64, now time.Time) bool {
	q := c.quiet
	return q != nil && q.generation == generation && q.fingerprint == fingerprint && now.Sub(q.at) < ConsolidationRecheck
}

// recordSweep adds the candidates single-node consolidation tried in the pass to the sweep
// of this state (a new sweep when the state changed), and once every consolidation
// candidate was tried in it with no command found, remembers the state as quiet.
func (c *Controller) recordSweep(p *pass, generation, fingerprint uint64, found bool) {
	if found {
		c.sweep, c.quiet = nil, nil
		return
	}
	if c.sweep == nil || c.sweep.generation != generation || c.sweep.fingerprint != fingerprint {
		c.sweep = &sweep{generation: generation, fingerprint: fingerprint, tried: map[string]bool{}}
	}
	for _, name := range p.tried {
		c.sweep.tried[name] = true
	}
	for _, cand := range consolidationCandidates(p) {
		if !c.sweep.tried[cand.Name()] {
			return
		}
	}
	c.quiet = &quietState{generation: generation, fingerprint: fingerprint, at: p.now}
}

// isConsolidation reports whether m is one of the methods that simulate moving pods.
func isConsolidation(m Method) bool {
	t := m.ConsolidationType()
	return t == TypeMulti || t == TypeSingle
}

// fingerprint hashes what the consolidation methods read besides the cluster state: the
// candidates they may move, in order (eligibility, consolidateAfter, do-not-disrupt
// durations and budgets change with time alone), the PodDisruptionBudgets, and every
// offering's price and availability.
func (p *pass) fingerprint() uint64 {
	h := fnv.New64a()
	var buf [8]byte
	word := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		_, _ = h.Write(buf[:])
	}
	str := func(s string) {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	for _, cand := range consolidationCandidates(p) {
		str(cand.Name())
	}
	word(uint64(len(p.pdbList)))
	for _, pdb := range p.pdbList {
		str(pdb.Namespace)
		str(pdb.Name)
		str(pdb.ResourceVersion)
		word(uint64(pdb.Status.DisruptionsAllowed))
	}
	for _, it := range p.all {
		str(it.Name)
		for _, of := range it.Offerings {
			str(of.Zone)
			str(of.CapacityType)
			word(math.Float64bits(of.PricePerHour))
			if of.Available {
				word(1)
			} else {
				word(0)
			}
		}
	}
	return h.Sum64()
}
