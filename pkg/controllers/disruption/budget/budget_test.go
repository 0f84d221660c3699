package budget

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

func TestAllowedDisruptions(t *testing.T) {
	str := func(s string) *string { return &s }
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	// Wednesday 2025-01-15 09:30 UTC.
	now := time.Date(2025, 1, 15, 9, 30, 0, 0, time.UTC)
	cases := []struct {
		name              string
		budgets           []v1.Budget
		total, disrupting int
		want              int
	}{
		{"count", []v1.Budget{{Nodes: "2"}}, 10, 0, 2},
		{"count minus disrupting", []v1.Budget{{Nodes: "2"}}, 10, 1, 1},
		{"never negative", []v1.Budget{{Nodes: "2"}}, 10, 5, 0},
		{"percentage rounds up", []v1.Budget{{Nodes: "20%"}}, 19, 0, 4},
		{"10% of 5 is 1", []v1.Budget{{Nodes: "10%"}}, 5, 0, 1},
		{"0% blocks", []v1.Budget{{Nodes: "0%"}}, 50, 0, 0},
		{"100%", []v1.Budget{{Nodes: "100%"}}, 7, 2, 5},
		{"most restrictive wins", []v1.Budget{{Nodes: "50%"}, {Nodes: "3"}}, 10, 0, 3},
		{"no budgets: unlimited", nil, 10, 3, Unlimited},
		{"other reason only: unlimited", []v1.Budget{{Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonDrifted}}}, 10, 0, Unlimited},
		{"reason matches", []v1.Budget{{Nodes: "1", Reasons: []v1.DisruptionReason{v1.DisruptionReasonDrifted, v1.DisruptionReasonEmpty}}}, 10, 0, 1},
		{"schedule active (hit 30m ago, lasts 1h)", []v1.Budget{{Nodes: "10"}, {Nodes: "0", Schedule: str("0 9 * * *"), Duration: dur(time.Hour)}}, 10, 0, 0},
		{"schedule over (hit 30m ago, lasted 20m)", []v1.Budget{{Nodes: "10"}, {Nodes: "0", Schedule: str("0 9 * * *"), Duration: dur(20 * time.Minute)}}, 10, 0, 10},
		{"schedule hits exactly now", []v1.Budget{{Nodes: "10"}, {Nodes: "0", Schedule: str("30 9 * * *"), Duration: dur(time.Minute)}}, 10, 0, 0},
		{"schedule not yet", []v1.Budget{{Nodes: "10"}, {Nodes: "0", Schedule: str("0 10 * * *"), Duration: dur(8 * time.Hour)}}, 10, 0, 10},
		{"weekday schedule", []v1.Budget{{Nodes: "10"}, {Nodes: "0", Schedule: str("0 0 * * 1-5"), Duration: dur(12 * time.Hour)}}, 10, 0, 0},
		{"weekend schedule", []v1.Budget{{Nodes: "10"}, {Nodes: "0", Schedule: str("0 0 * * 0,6"), Duration: dur(24 * time.Hour)}}, 10, 0, 10},
		{"@daily", []v1.Budget{{Nodes: "1", Schedule: str("@daily"), Duration: dur(10 * time.Hour)}}, 10, 0, 1},
		{"only inactive schedules: unlimited", []v1.Budget{{Nodes: "1", Schedule: str("@daily"), Duration: dur(time.Hour)}}, 10, 0, Unlimited},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool := &v1.NodePool{Spec: v1.NodePoolSpec{Disruption: v1.Disruption{Budgets: c.budgets}}}
			got, err := AllowedDisruptions(pool, v1.DisruptionReasonEmpty, c.total, c.disrupting, now)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("allowed = %d, want %d", got, c.want)
			}
		})
	}
}

func TestAllowedDisruptionsErrors(t *testing.T) {
	bad := "not a cron"
	for _, b := range []v1.Budget{
		{Nodes: "many"},
		{Nodes: "150%"},
		{Nodes: "1", Schedule: &bad, Duration: &metav1.Duration{Duration: time.Hour}},
	} {
		pool := &v1.NodePool{Spec: v1.NodePoolSpec{Disruption: v1.Disruption{Budgets: []v1.Budget{b}}}}
		if _, err := AllowedDisruptions(pool, v1.DisruptionReasonEmpty, 10, 0, time.Now()); err == nil {
			t.Errorf("budget %+v must be rejected", b)
		}
	}
}
