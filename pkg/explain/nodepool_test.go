package explain

import (
	"bytes"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// TestNodePoolReport checks usage against limits, the budgets allowed now per reason
// (a scheduled budget active now and one that is not) and the conditions.
func TestNodePoolReport(t *testing.T) {
	c := newCluster(t)
	old := c.now.Add(-2 * time.Hour)
	always, never := "* * * * *", "0 0 1 1 *"
	np := nodePool("general", func(np *v1.NodePool) {
		np.Spec.Limits = v1.Limits{corev1.ResourceCPU: resource.MustParse("32")}
		np.Spec.Disruption.Budgets = []v1.Budget{
			{Nodes: "50%"},
			{Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonDrifted}},
			{Nodes: "1", Reasons: []v1.DisruptionReason{v1.DisruptionReasonEmpty}, Schedule: &always, Duration: &metav1.Duration{Duration: time.Hour}},
			{Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonUnderutilized}, Schedule: &never, Duration: &metav1.Duration{Duration: time.Minute}},
		}
	})
	c.create(np)
	meta.SetStatusCondition(&np.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeReady, Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.NewTime(old)})
	if err := c.c.Status().Update(c.ctx, np); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		c.managedNode("np-"+n, "general", "m5.2xlarge", old) // 8 vCPU each
	}
	r := must[*NodePoolReport](t)(NodePool(c.world(), "general", c.now))
	if r.NodeClaims != 3 || !r.Launching {
		t.Errorf("nodeClaims %d launching %v", r.NodeClaims, r.Launching)
	}
	var cpu *ResourceUsage
	for i := range r.Resources {
		if r.Resources[i].Resource == "cpu" {
			cpu = &r.Resources[i]
		}
	}
	if cpu == nil || cpu.Used != "24" || cpu.Limit != "32" || cpu.Percent != 75 {
		t.Errorf("cpu usage %+v, want 24 of 32 (75%%)", cpu)
	}
	// 50% of 3 rounds up to 2; Empty's hourly budget is active (1); Underutilized's is not.
	want := map[string]int{"Empty": 1, "Underutilized": 2, "Drifted": 0}
	for _, b := range r.Budgets {
		if b.Allowed != want[b.Reason] || b.Error != "" {
			t.Errorf("budget %s: allowed %d (%s), want %d", b.Reason, b.Allowed, b.Error, want[b.Reason])
		}
	}
	if len(r.Conditions) != 1 || r.Conditions[0].Type != "Ready" || r.Conditions[0].Status != "True" {
		t.Errorf("conditions %+v", r.Conditions)
	}
	var out bytes.Buffer
	if err := WriteTable(&out, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"cpu", "24", "32", "75%", "Underutilized", "Ready"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
	c.create(nodePool("broken"))
	if b := must[*NodePoolReport](t)(NodePool(c.world(), "broken", c.now)); b.Launching || !strings.Contains(b.Message, "broken-class") {
		t.Errorf("broken: launching %v %q", b.Launching, b.Message)
	}
}
