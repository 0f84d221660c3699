package scheduling

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// isFree reports whether a class's pods need no topology bookkeeping: one variant with one
// requirement alternative, no topology rule, no host ports, and no topology group counts
// them. Such pods can be mixed freely onto any NodeClaim that accepts them.
func (s *solver) isFree(c *class) bool {
	if c.err != nil || len(c.variants) != 1 || len(c.ports) > 0 || len(c.matched) > 0 {
		return false
	}
	v := c.variants[0]
	return len(v.alts) == 1 && len(v.topo) == 0
}

// mixFill fills a new NodeClaim with pods of free classes, one pod at a time, always taking
// the class whose requests best match what the node has left: the largest dot product of
// request and free capacity, both relative to the node's allocatable (the vector bin-packing
// "dot product" rule). Filling a node with one class until one resource runs out strands
// the others (a CPU-heavy job leaves 40 % of the memory idle); mixing CPU-heavy and
// memory-heavy pods on the same node is what brings a plan close to the LP bound.
// Score range: [0, numFixed] (overflow dimensions are left out); ties keep the earlier
// (larger-valued) class. A class's pods reserved for existing nodes' room are not taken: a
// new NodeClaim filled with pods that fit room already paid for costs more than it needs.
func (s *solver) mixFill(n *node) {
	t := &s.u.types[n.pool.types[n.target]]
	var scale [numFixed]float64
	for d := range scale {
		if t.alloc.a[d] > 0 {
			scale[d] = 1 / float64(t.alloc.a[d])
		}
	}
	for {
		var best *class
		bestScore := -1.0
		live := s.free[:0]
		for _, c := range s.free {
			if c.next >= len(c.pods) {
				continue
			}
			live = append(live, c)
			if c.next >= len(c.pods)-c.reserved {
				continue // the rest is expected to fit existing nodes at the class's turn
			}
			if !(n.free.fitsFixed(&c.req) && (s.fixedOnly || n.free.fits(&c.req))) {
				continue
			}
			score := 0.0
			for d := range c.req.a {
				score += float64(c.req.a[d]) * float64(n.free.a[d]) * scale[d] * scale[d]
			}
			if score <= bestScore || !s.claimAccepts(n, c, s.altCompat(c.variants[0], 0, n.pool)) {
				continue
			}
			best, bestScore = c, score
		}
		s.free = live
		if best == nil {
			return
		}
		k, _ := s.fitNode(best, best.variants[0], 0, n, 1)
		if k == 0 {
			return
		}
		best.next += k
	}
}

// simulateMix is simulate for a NodeClaim that mixFill will fill: one pod of c, then, pod by
// pod, the queued bucket with the best dot-product score (the value of what it would hold
// at dual prices). Buckets stand in for free classes: same requests and requirements.
func (s *solver) simulateMix(c *class, p *pool, j int, free vec) float64 {
	first := c.bucket
	if !free.fits(&first.req) {
		return 0
	}
	t := &s.u.types[p.types[j]]
	var scale [numFixed]float64
	for d := range scale {
		if t.alloc.a[d] > 0 {
			scale[d] = 1 / float64(t.alloc.a[d])
		}
	}
	s.simRem = s.simRem[:0]
	for _, b := range s.buckets {
		r := b.remaining
		if qc := s.bucketCompat(b, p); qc == nil || !bitTest(qc.bits, j) {
			r = 0
		}
		s.simRem = append(s.simRem, r)
	}
	free.sub(&first.req)
	val := first.size
	for i, b := range s.buckets {
		if b == first {
			s.simRem[i]--
		}
	}
	for {
		best, bestScore := -1, -1.0
		for i, b := range s.buckets {
			if s.simRem[i] <= 0 || !(free.fitsFixed(&b.req) && (s.fixedOnly || free.fits(&b.req))) {
				continue
			}
			score := 0.0
			for d := range b.req.a {
				score += float64(b.req.a[d]) * float64(free.a[d]) * scale[d] * scale[d]
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			return val
		}
		b := s.buckets[best]
		// Take a run of the winner: as many as keep at least half of the room it found.
		k := max(free.maxCopies(&b.req, s.simRem[best])/2, 1)
		free.addScaled(&b.req, -k)
		s.simRem[best] -= k
		val += float64(k) * b.size
	}
}

// settleOntoExisting moves pods of free classes (no volumes) from new NodeClaims onto
// existing nodes that may take them and still have room once every class has had its turn,
// and drops the NodeClaims left empty. A class tries the existing nodes first at its turn,
// but its pods may have been mixed onto a NodeClaim before it (beyond the estimate mixFill
// reserves), and room it found full may have been left by a class placed later. Moving a
// pod off a NodeClaim never makes it dearer.
func (s *solver) settleOntoExisting() {
	if s.existing == 0 || len(s.nodes) == s.existing || !slices.ContainsFunc(s.classes, settles) {
		return
	}
	emptied := false
	for _, n := range s.nodes[s.existing:] {
		var pods []*corev1.Pod
		var runs []run
		i := 0
		for _, r := range n.runs {
			for _, p := range n.pods[i : i+r.k] {
				if settles(r.c) && s.settleOne(p, r.c) {
					n.free.add(&r.c.req)
					n.used.sub(&r.c.req)
					continue
				}
				pods = append(pods, p)
				if l := len(runs); l > 0 && runs[l-1].c == r.c {
					runs[l-1].k++
				} else {
					runs = append(runs, run{c: r.c, k: 1})
				}
			}
			i += r.k
		}
		n.pods, n.runs = pods, runs
		emptied = emptied || len(pods) == 0
	}
	if !emptied {
		return
	}
	s.keepClaims(nil, func(n *node) bool { return len(n.pods) > 0 })
}

// settles reports whether settleOntoExisting may move class c's placed pods: a free class
// without volumes.
func settles(c *class) bool { return c.free && len(c.vols) == 0 && c.next > 0 }

// settleOne places pod p of free class c on the first existing node that may take it and
// has room, and reports whether it found one.
func (s *solver) settleOne(p *corev1.Pod, c *class) bool {
	for _, en := range s.nodes[:s.existing] {
		if !en.free.fitsFixed(&c.req) || !(s.fixedOnly || en.free.fits(&c.req)) {
			continue
		}
		if _, ok := s.mayTake(en, c); !ok {
			continue
		}
		en.pods = append(en.pods, p)
		en.free.sub(&c.req)
		return true
	}
	return false
}
