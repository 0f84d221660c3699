package budget

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// Unlimited is what AllowedDisruptions returns when no budget applies.
const Unlimited = math.MaxInt

// AllowedDisruptions is how many more of a pool's nodes may be disrupted now for the
// reason: the most restrictive active budget that covers the reason, minus the nodes
// already being disrupted, never below zero. total counts all the pool's nodes (those being
// disrupted included); a percentage budget is total × percentage, rounded up.
//
// A budget without a schedule is always active; one with a schedule (cron, UTC) is active
// for duration after each hit. With no active budget the pool is unlimited.
func AllowedDisruptions(pool *v1.NodePool, reason v1.DisruptionReason, total, disrupting int, now time.Time) (int, error) {
	limit, err := Limit(pool, reason, total, now)
	if err != nil || limit == Unlimited {
		return limit, err
	}
	return max(0, limit-disrupting), nil
}

// Limit is the most restrictive active budget covering the reason, as a node count of a
// pool of total nodes (Unlimited when none is active). The nodes already being disrupted
// are not subtracted.
func Limit(pool *v1.NodePool, reason v1.DisruptionReason, total int, now time.Time) (int, error) {
	allowed := Unlimited
	for i, b := range pool.Spec.Disruption.Budgets {
		if len(b.Reasons) > 0 && !slices.Contains(b.Reasons, reason) {
			continue
		}
		active, err := isActive(b, now)
		if err != nil {
			return 0, fmt.Errorf("reading budget %d of nodepool %s: %w", i, pool.Name, err)
		}
		if !active {
			continue
		}
		n, err := budgetNodes(b.Nodes, total)
		if err != nil {
			return 0, fmt.Errorf("reading budget %d of nodepool %s: %w", i, pool.Name, err)
		}
		allowed = min(allowed, n)
	}
	return allowed, nil
}

// budgetNodes turns "5" or "10%" into a node count; percentages round up.
func budgetNodes(nodes string, total int) (int, error) {
	if p, ok := strings.CutSuffix(nodes, "%"); ok {
		pct, err := strconv.Atoi(p)
		if err != nil || pct < 0 || pct > 100 {
			return 0, fmt.Errorf("parsing budget nodes %q: not a percentage", nodes)
		}
		return (total*pct + 99) / 100, nil
	}
	n, err := strconv.Atoi(nodes)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("parsing budget nodes %q: not a count", nodes)
	}
	return n, nil
}

// isActive reports whether the budget's schedule hit within the last duration: the first
// hit after now − duration is not after now.
func isActive(b v1.Budget, now time.Time) (bool, error) {
	if b.Schedule == nil {
		return true, nil
	}
	if b.Duration == nil {
		return false, fmt.Errorf("schedule %q without duration", *b.Schedule)
	}
	sched, err := parseSchedule(*b.Schedule)
	if err != nil {
		return false, fmt.Errorf("parsing schedule %q: %w", *b.Schedule, err)
	}
	now = now.UTC()
	next := sched.Next(now.Add(-b.Duration.Duration))
	return !next.After(now), nil
}
