package scheduling

import "math/bits"

// skipList remembers the nodes a scan may pass over for good: every index below cursor and
// every index set in dead. Nodes only ever lose the ability to take a class (free capacity
// shrinks, requirements narrow, hostname domains fill), so marks are never cleared. Dead
// nodes are skipped 64 at a time, which keeps classes whose permanent failures are not a
// prefix (hostname anti-affinity, hostname spread) linear in the number of pods.
type skipList struct {
	cursor int
	dead   []uint64
}

// kill marks node i as never acceptable again.
func (l *skipList) kill(i int) {
	if i < l.cursor {
		return
	}
	if i == l.cursor {
		l.cursor++
		for l.isDead(l.cursor) {
			l.cursor++
		}
		return
	}
	for len(l.dead) <= i>>6 {
		l.dead = append(l.dead, 0)
	}
	l.dead[i>>6] |= 1 << (i & 63)
}

func (l *skipList) isDead(i int) bool {
	w := i >> 6
	return w < len(l.dead) && l.dead[w]&(1<<(i&63)) != 0
}

// nextAlive returns the first index ≥ i that neither a nor b (which may be nil) marks.
func nextAlive(a, b *skipList, i int) int {
	i = max(i, a.cursor)
	if b != nil {
		i = max(i, b.cursor)
	}
	for {
		w := i >> 6
		var m uint64
		if w < len(a.dead) {
			m = a.dead[w]
		}
		if b != nil && w < len(b.dead) {
			m |= b.dead[w]
		}
		m >>= uint(i & 63)
		if m&1 == 0 {
			return i
		}
		i += bits.TrailingZeros64(^m)
	}
}
