package disruption

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
)

func ledgerNodes(pool string, n int, mutate func(i int, nc *v1.NodeClaim, node *corev1.Node)) []LedgerNode {
	var out []LedgerNode
	for i := range n {
		nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: pool + string(rune('a'+i)), Labels: map[string]string{v1.NodePoolLabelKey: pool}}}
		nc.Status.Conditions = []metav1.Condition{{Type: v1.ConditionTypeInitialized, Status: metav1.ConditionTrue}}
		node := &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		if mutate != nil {
			mutate(i, nc, node)
		}
		out = append(out, LedgerNode{NodeClaim: nc, Node: node})
	}
	return out
}

// TestLedger: counts and percentages (rounded up), reasons, schedule windows (UTC), nodes
// deleting, tainted or NotReady counted for every reason, Take shared by all reasons, and an
// unreadable budget blocking only its own pool.
func TestLedger(t *testing.T) {
	str := func(s string) *string { return &s }
	// Wednesday 2025-01-15 09:30 UTC.
	now := time.Date(2025, 1, 15, 9, 30, 0, 0, time.UTC)
	pool := func(name string, budgets ...v1.Budget) *v1.NodePool {
		return &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.NodePoolSpec{Disruption: v1.Disruption{Budgets: budgets}}}
	}
	deleting := metav1.NewTime(now)
	cases := []struct {
		name   string
		pool   *v1.NodePool
		nodes  []LedgerNode
		reason v1.DisruptionReason
		want   int
	}{
		{"count", pool("p", v1.Budget{Nodes: "3"}), ledgerNodes("p", 10, nil), v1.DisruptionReasonEmpty, 3},
		{"percent rounds up", pool("p", v1.Budget{Nodes: "10%"}), ledgerNodes("p", 11, nil), v1.DisruptionReasonEmpty, 2},
		{"no budget is unlimited", pool("p"), ledgerNodes("p", 3, nil), v1.DisruptionReasonDrifted, budget.Unlimited},
		{"reason-scoped budget applies", pool("p", v1.Budget{Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonDrifted}}), ledgerNodes("p", 3, nil), v1.DisruptionReasonDrifted, 0},
		{"reason-scoped budget skips other reasons", pool("p", v1.Budget{Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonDrifted}}), ledgerNodes("p", 3, nil), v1.DisruptionReasonEmpty, budget.Unlimited},
		{"schedule active", pool("p", v1.Budget{Nodes: "0", Schedule: str("0 9 * * *"), Duration: &metav1.Duration{Duration: time.Hour}}, v1.Budget{Nodes: "5"}), ledgerNodes("p", 10, nil), v1.DisruptionReasonEmpty, 0},
		{"schedule inactive", pool("p", v1.Budget{Nodes: "0", Schedule: str("0 9 * * *"), Duration: &metav1.Duration{Duration: 20 * time.Minute}}, v1.Budget{Nodes: "5"}), ledgerNodes("p", 10, nil), v1.DisruptionReasonEmpty, 5},
		{"deleting counts", pool("p", v1.Budget{Nodes: "3"}), ledgerNodes("p", 5, func(i int, nc *v1.NodeClaim, _ *corev1.Node) {
			if i == 0 {
				nc.DeletionTimestamp = &deleting
			}
		}), v1.DisruptionReasonEmpty, 2},
		{"tainted counts", pool("p", v1.Budget{Nodes: "3"}), ledgerNodes("p", 5, func(i int, _ *v1.NodeClaim, n *corev1.Node) {
			if i < 2 {
				n.Spec.Taints = []corev1.Taint{v1.DisruptedNoScheduleTaint}
			}
		}), v1.DisruptionReasonDrifted, 1},
		{"NotReady counts once initialized", pool("p", v1.Budget{Nodes: "3"}), ledgerNodes("p", 5, func(i int, nc *v1.NodeClaim, n *corev1.Node) {
			n.Status.Conditions[0].Status = corev1.ConditionFalse
			if i > 0 {
				nc.Status.Conditions = nil // still starting: not disrupted
			}
		}), v1.DisruptionReasonUnderutilized, 2},
		{"unreadable budget blocks", pool("p", v1.Budget{Nodes: "0", Schedule: str("not a cron"), Duration: &metav1.Duration{Duration: time.Hour}}), ledgerNodes("p", 5, nil), v1.DisruptionReasonEmpty, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			other := pool("other", v1.Budget{Nodes: "1"})
			l := NewLedger([]*v1.NodePool{tc.pool, other}, append(tc.nodes, ledgerNodes("other", 2, nil)...), now)
			if got := l.Allowed("p", tc.reason); got != tc.want {
				t.Fatalf("Allowed = %d, want %d", got, tc.want)
			}
			if got := l.Allowed("other", tc.reason); got != 1 {
				t.Fatalf("the other pool's budget moved: %d", got)
			}
		})
	}
	t.Run("take is shared by every reason", func(t *testing.T) {
		l := NewLedger([]*v1.NodePool{pool("p", v1.Budget{Nodes: "2"})}, ledgerNodes("p", 10, nil), now)
		l.Take("p", 1)
		if l.Allowed("p", v1.DisruptionReasonDrifted) != 1 || l.Allowed("p", v1.DisruptionReasonEmpty) != 1 {
			t.Fatal("an empty-node disruption must count against the drift budget too")
		}
		l.Take("p", 2)
		if !l.Overdrawn("p", v1.DisruptionReasonUnderutilized) {
			t.Fatal("3 disrupting with a budget of 2 is overdrawn")
		}
	})
	t.Run("unreadable budget is reported", func(t *testing.T) {
		l := NewLedger([]*v1.NodePool{pool("p", v1.Budget{Nodes: "1", Schedule: str("bad"), Duration: &metav1.Duration{Duration: time.Hour}})}, nil, now)
		if l.PoolError("p") == nil {
			t.Fatal("no error for an unreadable schedule")
		}
	})
}
