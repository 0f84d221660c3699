package scheduling

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
// (larger-valued) class.
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
