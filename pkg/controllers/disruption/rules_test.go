package disruption

import (
	"fmt"
	"math"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// TestBalancedScore: a move is approved when its share of the pool's savings is at least
// half its share of the pool's disruption; a move disrupting nothing always is.
func TestBalancedScore(t *testing.T) {
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	pool.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyBalanced
	cases := []struct {
		name              string
		savings, disrupts float64
		approved          bool
		score             float64
	}{
		// The pool costs $10/h and has 100 units of disruption cost.
		{"saves 4% for 10% of the disruption", 0.4, 10, false, 0.4},
		{"saves 6% for 10% of the disruption", 0.6, 10, true, 0.6},
		{"saves 5% for 10%: exactly half", 0.5, 10, true, 0.5},
		{"disrupts nothing", 0.01, 0, true, math.Inf(1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &pass{poolStatCache: map[string]poolStat{"p": {price: 10, disruption: 100}}}
			cmd := &Command{Savings: tc.savings, Candidates: []*Candidate{{NodeClaim: &v1.NodeClaim{}, NodePool: pool, DisruptionCost: tc.disrupts}}}
			why := p.balanced(cmd)
			if (why == "") != tc.approved {
				t.Fatalf("approved = %v (%s), want %v", why == "", why, tc.approved)
			}
			if !cmd.balanced || math.Abs(cmd.score-tc.score) > 1e-9 && !math.IsInf(tc.score, 1) {
				t.Fatalf("score %v (balanced %v), want %v", cmd.score, cmd.balanced, tc.score)
			}
		})
	}
	t.Run("other policies are not scored", func(t *testing.T) {
		other := pool.DeepCopy()
		other.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmptyOrUnderutilized
		p := &pass{}
		cmd := &Command{Savings: 0.0001, Candidates: []*Candidate{{NodeClaim: &v1.NodeClaim{}, NodePool: other, DisruptionCost: 50}}}
		if why := p.balanced(cmd); why != "" || cmd.balanced {
			t.Fatalf("scored a WhenEmptyOrUnderutilized move: %s", why)
		}
	})
}

// spotTypes returns n instance types priced 0.01, 0.02, ... with a spot and an on-demand
// offering (on-demand 3 times the spot price).
func spotTypes(n int) []*cloudprovider.InstanceType {
	var out []*cloudprovider.InstanceType
	for i := range n {
		price := 0.01 * float64(i+1)
		out = append(out, &cloudprovider.InstanceType{Name: fmt.Sprintf("t%02d", i), Offerings: []cloudprovider.Offering{
			{Zone: "a", CapacityType: v1.CapacityTypeSpot, PricePerHour: price, Available: true},
			{Zone: "a", CapacityType: v1.CapacityTypeOnDemand, PricePerHour: 3 * price, Available: true},
		}})
	}
	return out
}

// TestReplacementCapacityTypeRules: strictly cheaper options only; spot to spot needs the
// feature gate and, for one node, 15 cheaper types (then keeps the 15 cheapest), while
// several spot nodes replaced by one need no minimum (upstream's multi-node rule); on-demand
// to spot is allowed.
func TestReplacementCapacityTypeRules(t *testing.T) {
	planned := func(n int, capacityTypes ...string) scheduling.NewNodeClaim {
		return scheduling.NewNodeClaim{NodePool: "p", InstanceTypes: spotTypes(n),
			Requirements: []scheduling.Requirement{{Key: v1.CapacityTypeLabelKey, Operator: "In", Values: capacityTypes}}}
	}
	spot := &Candidate{NodeClaim: &v1.NodeClaim{}, CapacityType: v1.CapacityTypeSpot, Price: 0.205}
	onDemand := &Candidate{NodeClaim: &v1.NodeClaim{}, CapacityType: v1.CapacityTypeOnDemand, Price: 0.205}
	spotPair := []*Candidate{{NodeClaim: &v1.NodeClaim{}, CapacityType: v1.CapacityTypeSpot, Price: 0.06},
		{NodeClaim: &v1.NodeClaim{}, CapacityType: v1.CapacityTypeSpot, Price: 0.065}}
	cases := []struct {
		name    string
		gate    bool
		cand    *Candidate
		planned scheduling.NewNodeClaim
		want    int // options kept; 0 means rejected
		why     string
		cands   []*Candidate // several nodes replaced by one, instead of cand
	}{
		{"on-demand to cheaper spot", false, onDemand, planned(30, "spot", "on-demand"), 20, "", nil},
		{"spot to spot without the gate", false, spot, planned(30, "spot", "on-demand"), 0, "feature gate", nil},
		{"spot to spot with the gate keeps 15", true, spot, planned(30, "spot", "on-demand"), 15, "", nil},
		{"spot to spot with too few cheaper types", true, spot, planned(12, "spot"), 0, "needs 15", nil},
		{"spot to on-demand only", false, spot, planned(30, "on-demand"), 6, "", nil},
		{"nothing cheaper", false, &Candidate{NodeClaim: &v1.NodeClaim{}, CapacityType: v1.CapacityTypeOnDemand, Price: 0.005}, planned(30, "spot"), 0, "cheaper", nil},
		{"two spot nodes to one spot with 12 cheaper types", true, nil, planned(30, "spot", "on-demand"), 12, "", spotPair},
		{"two spot nodes to one spot without the gate", false, nil, planned(30, "spot", "on-demand"), 0, "feature gate", spotPair},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &pass{opts: &Options{SpotToSpotConsolidation: tc.gate}}
			cands, total := tc.cands, 0.0
			if cands == nil {
				cands = []*Candidate{tc.cand}
			}
			for _, c := range cands {
				total += c.Price
			}
			out, price, why := p.cheaperReplacement(cands, tc.planned)
			if tc.want == 0 {
				if why == "" || !strings.Contains(why, tc.why) {
					t.Fatalf("why = %q, want a rejection mentioning %q", why, tc.why)
				}
				return
			}
			if why != "" || len(out.InstanceTypes) != tc.want {
				t.Fatalf("kept %d options (%s), want %d", len(out.InstanceTypes), why, tc.want)
			}
			if price >= total || out.Cheapest.Price != price {
				t.Fatalf("price %v (cheapest %v) not below %v", price, out.Cheapest.Price, total)
			}
		})
	}
}
