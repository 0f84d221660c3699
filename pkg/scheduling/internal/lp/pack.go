package lp

// Pack solves the packing LP max c·x s.t. A·x ≤ 1 (every row; scale rows beforehand),
// 0 ≤ x ≤ u, with c, A, u ≥ 0, by the bounded-variable primal simplex on a dense tableau
// (m rows, n structural columns plus m slacks). It returns the optimum and the row duals.
// The knapsack oracle's LP has one row per resource (≤ 8) and one column per shape, so a
// tableau is tiny and the solve takes microseconds. tab is scratch of any length.
func Pack(a [][]float64, c, u []float64, tab []float64) (float64, []float64, []float64) {
	m, n := len(a), len(c)
	w := n + m + 1 // structural, slack, right-hand side
	tab = append(tab[:0], make([]float64, (m+1)*w)...)
	row := func(i int) []float64 { return tab[i*w : (i+1)*w] }
	for i := range m {
		r := row(i)
		copy(r, a[i])
		r[n+i] = 1
		r[w-1] = 1
	}
	obj := row(m) // reduced costs, kept as c_j − z_j; obj[w-1] is −value
	copy(obj, c)
	basis := make([]int, m)
	for i := range basis {
		basis[i] = n + i
	}
	upper := make([]bool, n) // nonbasic structural at its upper bound
	ub := func(j int) float64 {
		if j < n {
			return u[j]
		}
		return 1e300
	}
	for iter := 0; iter < 20*(n+m); iter++ {
		enter, best := -1, 1e-12
		for j := range n + m {
			rc := obj[j]
			if j < n && upper[j] {
				rc = -rc
			}
			if rc > best && !isBasic(basis, j) {
				enter, best = j, rc
			}
		}
		if enter < 0 {
			break
		}
		dir := 1.0 // +1: the entering variable rises from 0; −1: falls from its bound
		if enter < n && upper[enter] {
			dir = -1
		}
		theta, leave, toUpper := ub(enter), -1, false
		for i := range m {
			r := row(i)
			t := r[enter] * dir
			switch {
			case t > 1e-12:
				if q := r[w-1] / t; q < theta {
					theta, leave, toUpper = q, i, false
				}
			case t < -1e-12:
				if q := (ub(basis[i]) - r[w-1]) / -t; q < theta {
					theta, leave, toUpper = q, i, true
				}
			}
		}
		if theta >= 1e299 {
			break // unbounded: cannot happen with A ≥ 0 and finite u
		}
		for i := range m + 1 {
			r := row(i)
			r[w-1] -= theta * dir * r[enter]
		}
		if leave < 0 {
			upper[enter] = !upper[enter] // bound flip
			continue
		}
		// The entering variable's value after the step, written into the pivot row's rhs.
		val := theta
		if dir < 0 {
			val = u[enter] - theta
		}
		if lv := basis[leave]; lv < n {
			upper[lv] = toUpper
		}
		pr := row(leave)
		piv := pr[enter]
		for j := range w - 1 {
			pr[j] /= piv
		}
		pr[w-1] = val
		for i := range m + 1 {
			if i == leave {
				continue
			}
			r := row(i)
			if f := r[enter]; f != 0 {
				for j := range w - 1 {
					r[j] -= f * pr[j]
				}
			}
		}
		basis[leave] = enter
		if enter < n {
			upper[enter] = false
		}
	}
	y := make([]float64, m)
	for i := range m {
		y[i] = -obj[n+i]
	}
	x := make([]float64, n)
	for j := range n {
		if upper[j] {
			x[j] = u[j]
		}
	}
	for i, b := range basis {
		if b < n {
			x[b] = row(i)[w-1]
		}
	}
	v := 0.0
	for j := range n {
		v += c[j] * x[j]
	}
	return v, y, x
}

func isBasic(basis []int, j int) bool {
	for _, b := range basis {
		if b == j {
			return true
		}
	}
	return false
}
