package conditions

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// TestStaticDrift: each static cause of drift, and what is not drift.
func TestStaticDrift(t *testing.T) {
	mk := func() (*v1.NodeClaim, *v1.NodePool) {
		pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{
			v1.NodePoolHashAnnotationKey: "aaa", v1.NodePoolHashVersionAnnotationKey: "v1"}}}
		pool.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
			{Key: v1.CapacityTypeLabelKey, Operator: v1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand}},
			{Key: "team", Operator: v1.NodeSelectorOpIn, Values: []string{"a"}},
		}
		nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc",
			Labels:      map[string]string{v1.CapacityTypeLabelKey: v1.CapacityTypeOnDemand},
			Annotations: map[string]string{v1.NodePoolHashAnnotationKey: "aaa", v1.NodePoolHashVersionAnnotationKey: "v1"}}}
		return nc, pool
	}
	cases := []struct {
		name   string
		mutate func(*v1.NodeClaim, *v1.NodePool)
		want   string
	}{
		{"matching", func(*v1.NodeClaim, *v1.NodePool) {}, ""},
		{"hash changed", func(_ *v1.NodeClaim, p *v1.NodePool) { p.Annotations[v1.NodePoolHashAnnotationKey] = "bbb" }, ReasonNodePoolDrifted},
		{"hash of another version is not drift", func(_ *v1.NodeClaim, p *v1.NodePool) {
			p.Annotations[v1.NodePoolHashAnnotationKey] = "bbb"
			p.Annotations[v1.NodePoolHashVersionAnnotationKey] = "v2"
		}, ""},
		{"requirement no longer met", func(nc *v1.NodeClaim, _ *v1.NodePool) { nc.Labels[v1.CapacityTypeLabelKey] = v1.CapacityTypeSpot }, ReasonRequirementsDrifted},
		{"requirement on a key the nodeclaim lacks is not judged", func(*v1.NodeClaim, *v1.NodePool) {}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, pool := mk()
			tc.mutate(nc, pool)
			if got, msg := Static(nc, pool); got != tc.want {
				t.Fatalf("Static = %q (%s), want %q", got, msg, tc.want)
			}
		})
	}
}
