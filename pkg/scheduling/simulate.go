package scheduling

import (
	"fmt"
	"slices"
	"strings"
)

// bucket merges, for the sizing simulation only, classes that look the same to it: same
// requests, same per-node limit and same node requirements and tolerations. The diverse mix
// has thousands of classes (labels differ) but about a hundred buckets.
type bucket struct {
	req       vec
	size      float64
	limit     int64 // most pods one node takes (hostname anti-affinity or spread, host ports)
	remaining int64
	skip      skipList // nodes no pod of the bucket can take (variant 0, first alternative)
	c         *class   // a representative, for compatibility
	compat    []*compatSet
	done      []bool
}

// buildBuckets groups the ordered classes into buckets, largest first.
func (s *solver) buildBuckets() {
	index := map[string]*bucket{}
	var b strings.Builder
	for _, c := range s.order {
		limit := simLimit(s, c)
		b.Reset()
		fmt.Fprintf(&b, "%v %d:%s %d %s", c.req.a, len(c.req.x), c.req.x, limit, c.variants[0].alts[0].Signature())
		for i := range c.tols {
			b.WriteString(c.tols[i].String())
		}
		key := b.String()
		bk := index[key]
		if bk == nil {
			bk = &bucket{req: c.req, size: c.size, limit: limit, c: c,
				compat: make([]*compatSet, len(s.pools)), done: make([]bool, len(s.pools))}
			index[key] = bk
			s.buckets = append(s.buckets, bk)
		}
		bk.remaining += int64(len(c.pods))
		s.queued += int64(len(c.pods))
		c.bucket = bk
	}
	slices.SortStableFunc(s.buckets, func(a, b *bucket) int { return cmpFloat(b.size, a.size) })
}

// simLimit is how many pods of c one node takes at most, judged by its strictest variant.
func simLimit(s *solver, c *class) int64 {
	limit := int64(len(c.pods))
	if len(c.ports) > 0 {
		limit = 1
	}
	for _, con := range c.variants[0].topo {
		g := s.groups[con.group]
		switch {
		case g.key != labelHostname:
		case g.kind == kindAnti && con.self:
			limit = 1
		case g.kind == kindSpread:
			limit = min(limit, int64(con.maxSkew))
		}
	}
	return max(limit, 1)
}

// simulate estimates the value (at dual prices) a node of pool p sized as position j would
// hold if the queue were packed into it greedily: class c first, then every bucket from
// the largest down.
func (s *solver) simulate(c *class, p *pool, j int, free vec) float64 {
	first := c.bucket
	k := free.maxCopies(&first.req, min(int64(len(c.pods)-c.next), first.limit))
	if k == 0 {
		return 0
	}
	free.addScaled(&first.req, -k)
	val := float64(k) * first.size
	for _, b := range s.buckets {
		if b.remaining <= 0 {
			continue
		}
		r := b.remaining
		if b == first {
			r -= k
		}
		qc := s.bucketCompat(b, p)
		if r <= 0 || qc == nil || !bitTest(qc.bits, j) {
			continue
		}
		n := free.maxCopies(&b.req, min(r, b.limit))
		if n == 0 {
			continue
		}
		free.addScaled(&b.req, -n)
		val += float64(n) * b.size
		if free.a[dimCPU] < s.minReq.a[dimCPU] || free.a[dimMemory] < s.minReq.a[dimMemory] || free.a[dimPods] < 1 {
			break
		}
	}
	return val
}

func (s *solver) bucketCompat(b *bucket, p *pool) *compatSet {
	i := p.idx
	if b.done[i] {
		return b.compat[i]
	}
	b.done[i] = true
	c := b.c
	if tolerates(c.tols, p.spec.Taints) {
		if x := s.altCompat(c.variants[0], 0, p); x.reason == "" {
			b.compat[i] = x
		}
	}
	return b.compat[i]
}
