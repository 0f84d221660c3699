package disruption

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
)

// Reasons are the disruption reasons budgets are kept for.
var reasons = [...]v1.DisruptionReason{v1.DisruptionReasonEmpty, v1.DisruptionReasonDrifted, v1.DisruptionReasonUnderutilized}

// Ledger is one pass's view of every NodePool's disruption budgets. Each pool has one count
// of nodes being disrupted (deleting, NotReady, or held by a disruption command), shared by
// every reason: a node disrupted for one reason counts against the budgets of all reasons,
// so two methods together can never exceed a budget. It is not safe for concurrent use.
type Ledger struct {
	pools map[string]*poolLedger
}

type poolLedger struct {
	total, disrupting int
	limits            map[v1.DisruptionReason]int
	// err is why the pool's budgets cannot be read; the pool is then blocked.
	err error
}

// LedgerNode is what the ledger needs to know about one of a pool's NodeClaims.
type LedgerNode struct {
	NodeClaim *v1.NodeClaim
	// Node is nil when none registered.
	Node *corev1.Node
}

// NewLedger counts each pool's NodeClaims and those being disrupted: NodeClaims or Nodes
// being deleted, initialized Nodes not Ready, and Nodes carrying the
// karpenter.sh/disrupted taint. A pool whose budgets cannot be read (a bad schedule or
// count) allows nothing; PoolError says why.
func NewLedger(pools []*v1.NodePool, nodes []LedgerNode, now time.Time) *Ledger {
	l := &Ledger{pools: map[string]*poolLedger{}}
	for _, n := range nodes {
		name := n.NodeClaim.Labels[v1.NodePoolLabelKey]
		pl := l.pools[name]
		if pl == nil {
			pl = &poolLedger{}
			l.pools[name] = pl
		}
		pl.total++
		if disrupting(n) {
			pl.disrupting++
		}
	}
	for _, pool := range pools {
		pl := l.pools[pool.Name]
		if pl == nil {
			pl = &poolLedger{}
			l.pools[pool.Name] = pl
		}
		pl.limits = map[v1.DisruptionReason]int{}
		for _, r := range reasons {
			n, err := budget.Limit(pool, r, pl.total, now)
			if err != nil {
				pl.err = err
				break
			}
			pl.limits[r] = n
		}
	}
	return l
}

func disrupting(n LedgerNode) bool {
	if !n.NodeClaim.DeletionTimestamp.IsZero() {
		return true
	}
	if n.Node == nil {
		return false
	}
	// A node not Ready before initialization is still starting, not disrupted.
	notReady := !nodeReady(n.Node) && meta.IsStatusConditionTrue(n.NodeClaim.Status.Conditions, v1.ConditionTypeInitialized)
	return !n.Node.DeletionTimestamp.IsZero() || HasDisruptedTaint(n.Node) || notReady
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Allowed is how many more of the pool's nodes may be disrupted for the reason now; 0 for
// an unknown pool or one whose budgets cannot be read.
func (l *Ledger) Allowed(pool string, reason v1.DisruptionReason) int {
	pl := l.pools[pool]
	if pl == nil || pl.err != nil || pl.limits == nil {
		return 0
	}
	limit := pl.limits[reason]
	if limit == budget.Unlimited {
		return budget.Unlimited
	}
	return max(0, limit-pl.disrupting)
}

// Take records that n more of the pool's nodes are being disrupted, whatever the reason.
func (l *Ledger) Take(pool string, n int) {
	if pl := l.pools[pool]; pl != nil {
		pl.disrupting += n
	}
}

// Overdrawn reports whether the pool has more nodes being disrupted than the reason's budget
// allows (or its budgets cannot be read).
func (l *Ledger) Overdrawn(pool string, reason v1.DisruptionReason) bool {
	pl := l.pools[pool]
	if pl == nil || pl.err != nil || pl.limits == nil {
		return true
	}
	return pl.disrupting > pl.limits[reason]
}

// PoolError is why the pool's budgets cannot be read, or nil.
func (l *Ledger) PoolError(pool string) error {
	if pl := l.pools[pool]; pl != nil {
		return pl.err
	}
	return nil
}
