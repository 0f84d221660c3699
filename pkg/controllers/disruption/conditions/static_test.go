package conditions

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
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

// TestSameConditions: sameConditions agrees with equality.Semantic.DeepEqual, which it
// replaces, on conditions that differ in each field or not at all, times in other zones
// and nil against empty lists.
func TestSameConditions(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	base := metav1.Condition{Type: "Drifted", Status: metav1.ConditionTrue, ObservedGeneration: 3,
		LastTransitionTime: metav1.NewTime(at), Reason: "NodePoolDrifted", Message: "the template changed"}
	variants := []func(c *metav1.Condition){
		func(c *metav1.Condition) {},
		func(c *metav1.Condition) { c.Type = "Consolidatable" },
		func(c *metav1.Condition) { c.Status = metav1.ConditionFalse },
		func(c *metav1.Condition) { c.ObservedGeneration = 4 },
		func(c *metav1.Condition) { c.LastTransitionTime = metav1.NewTime(at.Add(time.Second)) },
		func(c *metav1.Condition) { c.LastTransitionTime = metav1.NewTime(at.In(time.FixedZone("x", 3600))) },
		func(c *metav1.Condition) { c.Reason = "Other" },
		func(c *metav1.Condition) { c.Message = "" },
	}
	lists := [][]metav1.Condition{nil, {}, {base}, {base, base}}
	for _, v := range variants {
		c := base
		v(&c)
		lists = append(lists, []metav1.Condition{c}, []metav1.Condition{base, c})
	}
	for i, a := range lists {
		for j, b := range lists {
			if got, want := sameConditions(a, b), equality.Semantic.DeepEqual(a, b); got != want {
				t.Errorf("lists %d and %d: sameConditions %v, Semantic.DeepEqual %v", i, j, got, want)
			}
		}
	}
}

// TestSettledAgreesWithSetStatusCondition: a check copies a NodeClaim's conditions only to
// change them, so settled must say "nothing to do" exactly when SetStatusCondition would
// change nothing, over random conditions that differ from the one set in each field.
func TestSettledAgreesWithSetStatusCondition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	pick := func(options ...string) string { return options[rng.IntN(len(options))] }
	random := func() metav1.Condition {
		return metav1.Condition{Type: pick("Drifted", "Consolidatable", "Ready"), Status: metav1.ConditionStatus(pick("True", "False")),
			Reason: pick("A", "B"), Message: pick("", "m"), ObservedGeneration: int64(rng.IntN(2)),
			LastTransitionTime: metav1.Unix(int64(rng.IntN(2)), 0)}
	}
	for i := range 2000 {
		var conds []metav1.Condition
		for range rng.IntN(3) {
			if c := random(); meta.FindStatusCondition(conds, c.Type) == nil {
				conds = append(conds, c)
			}
		}
		cond := random()
		copied := slices.Clone(conds)
		changed := meta.SetStatusCondition(&copied, cond)
		if settled(conds, cond) == changed {
			t.Fatalf("case %d: settled(%+v, %+v) = %v, SetStatusCondition changed %v", i, conds, cond, !changed, changed)
		}
	}
}
