package scheduling

import (
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"
)

const (
	// mergeMaxKinds bounds the kinds of NodeClaim mergeClaims pairs up (it tries every
	// pair of kinds each round).
	mergeMaxKinds = 48
	// mergeMaxRounds bounds its rounds: each merges every NodeClaim of one kind it can
	// into one of another.
	mergeMaxRounds = 64
)

// mergeClaims merges two NodeClaims into one when a type that both allow holds the pods of
// both for less than the two cost, and no rule keeps the pods apart. The passes before
// move only pods that may go anywhere; pods that must be alone on a node among their own
// (host ports, hostname anti-affinity, hostname spread) each opened a NodeClaim of their
// own class's requirements, and two such classes of different selectors (one of category
// c, one of any category) ended on separate nodes that one node of the narrower set holds:
// 29 host-port pods alone on c6g.large NodeClaims beside 20 c6g.2xlarge NodeClaims of spread
// pods, 19 of them with room for one, where upstream's first fit put them together.
//
// One of the two must hold pods that are not free to move (repack and crossRepack re-pack
// the others, and merging their NodeClaims into fewer, larger ones made the demo's sale end
// further above the whole-node bound: consolidation replaces one node by one node only).
// NodeClaims holding the same classes, counts and sets are one kind; each round prices
// merging a NodeClaim of one kind into one of another (or of the same), and applies the
// best saving to as many pairs of the two kinds as there are. Only NodeClaims whose every
// class counts in hostname-keyed groups alone take part (a pod counted in a zone's group
// would change its zone's counts with its node, unless both are pinned to its zone: see
// mergeable), without volumes, in pools without limits.
func (s *solver) mergeClaims() {
	maxSkew := s.hostnameSpreadSkews()
	zoneSpreads := s.zoneSpreadSkews()
	var cands []*node
	for _, n := range s.nodes[s.existing:] {
		if s.mergeable(n, zoneSpreads) {
			cands = append(cands, n)
		}
	}
	if len(cands) < 2 {
		return
	}
	removed := map[*node]bool{}
	// A kind's price and counts, and what merging a NodeClaim of one kind into one of
	// another costs, depend on the kinds alone: a round merges two kinds, and the others
	// are priced and counted once.
	mergedPrices := map[[2]string]float64{}
	kindOf := map[*node]string{}
	priceOf := map[string]float64{}
	countsOf := map[string]hostCounts{}
	for range mergeMaxRounds {
		kinds, keys := s.claimKinds(cands, removed, kindOf)
		if len(kinds) > mergeMaxKinds {
			return
		}
		prices := make([]float64, len(kinds))
		counts := make([]hostCounts, len(kinds))
		pinned := make([]bool, len(kinds))
		for i, k := range kinds {
			pinned[i] = slices.ContainsFunc(k[0].runs, func(r run) bool { return !r.c.free })
			p, ok := priceOf[keys[i]]
			if !ok {
				p = s.claimsPrice(k[:1])
				priceOf[keys[i]] = p
			}
			prices[i] = p
			h, ok := countsOf[keys[i]]
			if !ok {
				h = s.hostCountsOf(k[0])
				countsOf[keys[i]] = h
			}
			counts[i] = h
		}
		bestSaving, bx, by := 1e-9, -1, -1
		for x, kx := range kinds {
			for y := x; y < len(kinds); y++ {
				ky := kinds[y]
				if x == y && len(kx) < 2 || !pinned[x] && !pinned[y] {
					continue // NodeClaims of movable pods alone are repack's
				}
				// The merged NodeClaim costs at least the dearer of the two.
				if min(prices[x], prices[y]) <= bestSaving || !mayShare(counts[x], counts[y], maxSkew) {
					continue
				}
				b := ky[0]
				if x == y {
					b = kx[1]
				}
				merged, ok := mergedPrices[[2]string{keys[x], keys[y]}]
				if !ok {
					merged = s.mergedPrice(kx[0], b)
					mergedPrices[[2]string{keys[x], keys[y]}] = merged
				}
				if saving := prices[x] + prices[y] - merged; saving > bestSaving {
					bestSaving, bx, by = saving, x, y
				}
			}
		}
		if bx < 0 {
			break
		}
		from, into := kinds[bx], kinds[by]
		if bx == by {
			half := len(from) / 2
			from, into = from[:half], from[half:2*half]
		}
		for i := range min(len(from), len(into)) {
			s.mergeInto(from[i], into[i])
			removed[from[i]] = true
			delete(kindOf, into[i])
		}
	}
	if len(removed) == 0 {
		return
	}
	s.keepClaims(nil, func(n *node) bool { return !removed[n] })
}

// mergeable reports whether NodeClaim n may take part in mergeClaims; zoneSpreads are the
// zone spread groups whose counts a NodeClaim's type does not change (zoneSpreadSkews).
func (s *solver) mergeable(n *node, zoneSpreads map[int]int32) bool {
	if n.pool.err != nil || n.pool.limitedAny() || len(n.runs) == 0 {
		return false
	}
	// A zone spread counts a pod by its node's zone: NodeClaims pinned to one zone can only
	// merge with one of the same zone (or one allowing it whose pods no zone group
	// counts), so the counts do not change.
	pinned := bits.OnesCount64(n.zm) == 1
	counted := func(gi int) bool {
		_, zoneOK := zoneSpreads[gi]
		return s.groups[gi].key == labelHostname || pinned && zoneOK
	}
	for _, r := range n.runs {
		c := r.c
		if c.err != nil || len(c.vols) > 0 {
			return false
		}
		for _, v := range c.variants {
			for _, con := range v.topo {
				if s.groups[con.group].kind == kindAffinity || !counted(con.group) {
					return false
				}
			}
			for _, gi := range v.owns {
				if s.groups[gi].key != labelHostname {
					return false
				}
			}
		}
		for _, gi := range c.matched {
			if !counted(gi) {
				return false
			}
		}
		for _, gi := range c.owns {
			if s.groups[gi].key != labelHostname {
				return false
			}
		}
	}
	return true
}

// hostnameSpreadSkews returns, per hostname-keyed spread group, the smallest maxSkew of
// the constraints counting in it: no node may hold more of its pods than that after a
// merge (however many nodes hold none).
func (s *solver) hostnameSpreadSkews() map[int]int32 {
	out := map[int]int32{}
	for _, c := range s.classes {
		for _, v := range c.variants {
			for _, con := range v.topo {
				if g := s.groups[con.group]; g.key == labelHostname && g.kind == kindSpread {
					if cur, ok := out[con.group]; !ok || con.maxSkew < cur {
						out[con.group] = con.maxSkew
					}
				}
			}
		}
	}
	return out
}

// claimKinds groups the NodeClaims of cands not removed by kind (pool, zones, capacity
// types, compatible types and classes with their counts; kindOf caches them), in the order
// first seen, and returns each kind's key.
func (s *solver) claimKinds(cands []*node, removed map[*node]bool, kindOf map[*node]string) ([][]*node, []string) {
	var kinds [][]*node
	var keys []string
	index := map[string]int{}
	for _, n := range cands {
		if removed[n] {
			continue
		}
		key, ok := kindOf[n]
		if !ok {
			key = s.kindKey(n)
			kindOf[n] = key
		}
		i, ok := index[key]
		if !ok {
			i = len(kinds)
			index[key] = i
			kinds = append(kinds, nil)
			keys = append(keys, key)
		}
		kinds[i] = append(kinds[i], n)
	}
	return kinds, keys
}

// kindKey is NodeClaim n's kind for mergeClaims.
func (s *solver) kindKey(n *node) string {
	counts := map[int]int{}
	for _, r := range n.runs {
		counts[r.c.id] += r.k
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%x/%x/%x", n.pool.idx, n.zm, n.cm, n.bits)
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&b, "/%d:%d", id, counts[id])
	}
	return b.String()
}

// hostCounts are the pods of one NodeClaim counted in each hostname-keyed group, and
// those owning each anti-affinity group (under any variant of their class), by group.
type hostCounts struct {
	counts, owners map[int]int32
}

// hostCountsOf counts NodeClaim n's pods in the hostname-keyed groups, from their classes
// (NodeClaims re-packed from movable pods have no hostname domain of their own).
func (s *solver) hostCountsOf(n *node) hostCounts {
	h := hostCounts{counts: map[int]int32{}, owners: map[int]int32{}}
	for _, r := range n.runs {
		for _, gi := range r.c.matched {
			if s.groups[gi].key == labelHostname {
				h.counts[gi] += int32(r.k)
			}
		}
		owned := slices.Clone(r.c.owns)
		for _, v := range r.c.variants {
			owned = append(owned, v.owns...)
		}
		slices.Sort(owned)
		for _, gi := range slices.Compact(owned) {
			h.owners[gi] += int32(r.k)
		}
	}
	return h
}

// mayShare reports whether the pods of two NodeClaims counted as a and b may share a node:
// no anti-affinity term of one matches a pod of the other, and no hostname spread group
// would hold more than its smallest maxSkew of pods on it.
func mayShare(a, b hostCounts, maxSkew map[int]int32) bool {
	for _, pair := range [2][2]hostCounts{{a, b}, {b, a}} {
		for gi, k := range pair[0].owners {
			if k > 0 && pair[1].counts[gi] > 0 {
				return false
			}
		}
	}
	for gi, ca := range a.counts {
		if limit, ok := maxSkew[gi]; ok && ca > 0 && b.counts[gi] > 0 && ca+b.counts[gi] > limit {
			return false
		}
	}
	return true
}

// mergedPrice is the price of NodeClaim a and b as one (their sets met, their requests
// added), or +Inf when no type holds both or their sets do not meet.
func (s *solver) mergedPrice(a, b *node) float64 {
	if a.pool != b.pool || a.zm&b.zm == 0 || a.cm&b.cm == 0 || portsConflict(a.ports, b.ports) {
		return math.Inf(1)
	}
	if _, bad := b.reqs.And(a.reqs); bad != "" {
		return math.Inf(1)
	}
	m := s.merged(a, b)
	pos, _ := s.cheapestOption(m)
	if pos < 0 {
		return math.Inf(1)
	}
	return m.pool.pricesIn(s.u, m.zm, m.cm)[pos].price
}

// merged is NodeClaim b with a's sets and requests added, for pricing (not its pods).
func (s *solver) merged(a, b *node) *node {
	bits := slices.Clone(b.bits)
	for i := range bits {
		bits[i] &= a.bits[i]
	}
	m := &node{pool: b.pool, zm: a.zm & b.zm, cm: a.cm & b.cm, bits: bits, used: b.used}
	m.used.add(&a.used)
	return m
}

// mergeInto moves NodeClaim a's pods onto b (mergeClaims priced it cheaper).
func (s *solver) mergeInto(a, b *node) {
	m := s.merged(a, b)
	b.zm, b.cm, b.bits, b.used = m.zm, m.cm, m.bits, m.used
	b.reqs, _ = b.reqs.And(a.reqs)
	for _, cs := range a.applied {
		if !slices.Contains(b.applied, cs) {
			b.applied = append(b.applied, cs)
		}
	}
	b.pods = append(b.pods, a.pods...)
	b.runs = append(b.runs, a.runs...)
	b.ports = append(b.ports, a.ports...)
	target, _ := s.cheapestOption(b)
	s.setTarget(b, target)
	// The groups' per-domain counts are left as they are: only settleOntoExisting runs
	// after this pass, and it moves only pods no group counts.
}
