package provisioning_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// TestNodeClaimCarriesTheTemplateHash: a NodeClaim records which template it was made from
// (the NodePool's hash annotations) next to the template's own annotations.
func TestNodeClaimCarriesTheTemplateHash(t *testing.T) {
	np := &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{
			v1.NodePoolHashAnnotationKey: "abc123", v1.NodePoolHashVersionAnnotationKey: "v1", "unrelated": "x",
		}},
		Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{
			ObjectMeta: v1.ObjectMeta{Annotations: map[string]string{"team": "payments"}},
			Spec:       v1.NodeClaimTemplateSpec{NodeClassRef: &v1.NodeClassReference{Group: "g", Kind: "K", Name: "n"}},
		}},
	}
	nc := provisioning.NodeClaimFor(np, scheduling.NewNodeClaim{
		NodePool:      "web",
		InstanceTypes: []*cloudprovider.InstanceType{{Name: "m7i.large"}},
	})
	want := map[string]string{v1.NodePoolHashAnnotationKey: "abc123", v1.NodePoolHashVersionAnnotationKey: "v1", "team": "payments"}
	if len(nc.Annotations) != len(want) {
		t.Errorf("annotations = %v, want %v", nc.Annotations, want)
	}
	for k, v := range want {
		if nc.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, nc.Annotations[k], v)
		}
	}
	if np.Spec.Template.ObjectMeta.Annotations[v1.NodePoolHashAnnotationKey] != "" {
		t.Error("building the NodeClaim wrote into the NodePool's template")
	}
}

func TestNodeClaimForLabelsDeprecatedAliases(t *testing.T) {
	np := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "np"}}
	planned := scheduling.NewNodeClaim{NodePool: "np", Requirements: []scheduling.Requirement{
		{Key: v1.LabelTopologyZone, Operator: "In", Values: []string{"us-east-1b"}},
		{Key: v1.LabelArch, Operator: "In", Values: []string{"arm64"}},
	}}
	nc := provisioning.NodeClaimFor(np, planned)
	for k, want := range map[string]string{"failure-domain.beta.kubernetes.io/zone": "us-east-1b", "beta.kubernetes.io/arch": "arm64", v1.LabelTopologyZone: "us-east-1b"} {
		if got := nc.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
}

func TestInitializedNow(t *testing.T) {
	pending := &v1.NodeClaim{}
	ready := &v1.NodeClaim{Status: v1.NodeClaimStatus{Conditions: []metav1.Condition{{Type: v1.ConditionTypeInitialized, Status: metav1.ConditionTrue}}}}
	for _, tc := range []struct {
		old, updated *v1.NodeClaim
		want         bool
	}{{pending, ready, true}, {ready, ready, false}, {pending, pending, false}, {ready, pending, false}} {
		if got := provisioning.InitializedNow(tc.old, tc.updated); got != tc.want {
			t.Errorf("InitializedNow(%v -> %v) = %v, want %v", tc.old.Status.Conditions, tc.updated.Status.Conditions, got, tc.want)
		}
	}
}
