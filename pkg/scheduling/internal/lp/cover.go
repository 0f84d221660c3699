package lp

import "math"

// Cover solves min c·x s.t. Σ_t cols[t]·x_t ≥ 1 (every row), x ≥ 0 with a revised
// simplex over the m rows, using big-M artificial variables for the starting basis. It
// returns the optimum and the row duals.
func Cover(cols [][]float64, c []float64) (float64, []float64) {
	val, y, _, _ := CoverBasis(cols, c)
	return val, y
}

// CoverBasis is Cover that also returns the final basis (variable indices;
// structural when < len(cols)) and the basic variables' values, the primal solution.
func CoverBasis(cols [][]float64, c []float64) (float64, []float64, []int, []float64) {
	m := len(cols[0])
	bigM := 1.0
	for _, p := range c {
		bigM = max(bigM, p)
	}
	bigM *= 1e4
	// Variables: structural 0..n-1, surplus n..n+m-1 (column -e_r), artificial n+m.. (e_r).
	n := len(cols)
	column := func(j int, out []float64) float64 {
		clear(out)
		switch {
		case j < n:
			copy(out, cols[j])
			return c[j]
		case j < n+m:
			out[j-n] = -1
			return 0
		}
		out[j-n-m] = 1
		return bigM
	}
	basis := make([]int, m)
	binv := make([][]float64, m)
	xb := make([]float64, m)
	cb := make([]float64, m)
	for i := range m {
		basis[i] = n + m + i
		binv[i] = make([]float64, m)
		binv[i][i] = 1
		xb[i] = 1
		cb[i] = bigM
	}
	y, a, d := make([]float64, m), make([]float64, m), make([]float64, m)
	for iter := 0; iter < 50*(n+m); iter++ {
		for r := range m {
			y[r] = 0
			for i := range m {
				y[r] += cb[i] * binv[i][r]
			}
		}
		enter, best := -1, -1e-9
		for j := 0; j < n+2*m; j++ {
			cost := column(j, a)
			rc := cost
			for r := range m {
				rc -= y[r] * a[r]
			}
			if rc < best {
				enter, best = j, rc
			}
		}
		if enter < 0 {
			break
		}
		cost := column(enter, a)
		for i := range m {
			d[i] = 0
			for r := range m {
				d[i] += binv[i][r] * a[r]
			}
		}
		leave, ratio := -1, math.Inf(1)
		for i := range m {
			if d[i] > 1e-12 && xb[i]/d[i] < ratio {
				leave, ratio = i, xb[i]/d[i]
			}
		}
		if leave < 0 {
			break // unbounded: cannot happen with non-negative prices
		}
		piv := d[leave]
		for r := range m {
			binv[leave][r] /= piv
		}
		xb[leave] /= piv
		for i := range m {
			if i == leave || d[i] == 0 {
				continue
			}
			f := d[i]
			for r := range m {
				binv[i][r] -= f * binv[leave][r]
			}
			xb[i] -= f * xb[leave]
		}
		basis[leave], cb[leave] = enter, cost
	}
	val := 0.0
	for i := range m {
		val += cb[i] * xb[i]
	}
	return val, y, basis, xb
}
