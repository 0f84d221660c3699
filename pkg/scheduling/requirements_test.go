package scheduling

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// TestExportedRequirementsKeepBounds: a NodeClaim's exported requirements allow exactly
// the values its pods and pool allow on an integer label: a pool's Gt with a pod's Lt keeps
// both bounds, and a pod's In list narrowed by a pool's Gt stays a list.
func TestExportedRequirementsKeepBounds(t *testing.T) {
	const key = "example.com/gen"
	var types []*cloudprovider.InstanceType
	for gen := 3; gen <= 9; gen++ {
		it := fakeType(fmt.Sprintf("g%d", gen), "amd64", 4, 16, 0.1*float64(gen))
		it.Labels[key] = fmt.Sprint(gen)
		types = append(types, it)
	}
	for _, tc := range []struct {
		name string
		pod  corev1.NodeSelectorRequirement
		want []string // the values 3..9 the NodeClaim must allow
	}{
		{"Gt and Lt", corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpLt, Values: []string{"7"}}, []string{"5", "6"}},
		{"In and Gt", corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{"3", "6", "8"}}, []string{"6", "8"}},
		{"NotIn and Gt", corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"6"}}, []string{"5", "7", "8", "9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := NodePool{Name: "p", InstanceTypes: types, Requirements: []Requirement{{Key: key, Operator: "Gt", Values: []string{"4"}}}}
			pods := podN(1, "p", "1", "1Gi", func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{tc.pod}}}}}}
			})
			plan := Solve(&Snapshot{NodePools: []NodePool{pool}}, pods)
			if len(plan.NewNodeClaims) != 1 {
				t.Fatalf("%d NodeClaims, %d unschedulable", len(plan.NewNodeClaims), len(plan.Unschedulable))
			}
			var onKey []Requirement
			for _, r := range plan.NewNodeClaims[0].Requirements {
				if r.Key == key {
					onKey = append(onKey, r)
				}
			}
			got, err := compileRequirements(onKey)
			if err != nil {
				t.Fatal(err)
			}
			var allowed []string
			for gen := 3; gen <= 9; gen++ {
				if got.MatchesLabels(map[string]string{key: fmt.Sprint(gen)}) {
					allowed = append(allowed, fmt.Sprint(gen))
				}
			}
			if fmt.Sprint(allowed) != fmt.Sprint(tc.want) {
				t.Errorf("exported %v allows %v, want %v", onKey, allowed, tc.want)
			}
		})
	}
}
