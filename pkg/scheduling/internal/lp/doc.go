// Package lp holds the scheduler's two small dense linear-program solvers: Cover, a revised
// simplex for min c·x s.t. Σ cols·x ≥ 1 (the covering LP behind dual prices, the lower
// bound and the re-pack's configuration LP), and Pack, a bounded-variable primal simplex for
// max c·x s.t. A·x ≤ 1, 0 ≤ x ≤ u (the knapsack oracle's bound). Both return the optimum
// and the row duals; they know nothing of pods or instance types.
package lp
