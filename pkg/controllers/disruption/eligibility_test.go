package disruption

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func explainFixture() Input {
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "pool"}}
	pool.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmptyOrUnderutilized
	pool.Spec.Disruption.ConsolidateAfter = v1.MustParseNillableDuration("30s")
	nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "nc", Labels: map[string]string{v1.NodePoolLabelKey: "pool"},
		CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))}}
	nc.Status.Conditions = []metav1.Condition{{Type: v1.ConditionTypeInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}}
	nc.Status.LastPodEventTime = metav1.NewTime(t0.Add(-time.Minute))
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Labels: map[string]string{"app": "web"},
		Annotations: map[string]string{}}, Spec: corev1.PodSpec{NodeName: "node"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &metav1.Time{Time: t0.Add(-10 * time.Minute)}}}
	return Input{NodeClaim: nc, Node: node, NodePool: pool, Pods: []*corev1.Pod{pod}, Now: t0}
}

func pdb(name string, allowed int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed}}
}

// TestExplain: each rule, alone, yields its reason; the untouched fixture is a candidate.
func TestExplain(t *testing.T) {
	deleting := metav1.NewTime(t0)
	cases := []struct {
		name   string
		mutate func(*Input)
		want   BlockReason
	}{
		{"candidate", func(*Input) {}, ""},
		{"no nodepool label", func(in *Input) { delete(in.NodeClaim.Labels, v1.NodePoolLabelKey) }, BlockNotManaged},
		{"nodepool gone", func(in *Input) { in.NodePool = nil }, BlockNotManaged},
		{"nodeclaim deleting", func(in *Input) { in.NodeClaim.DeletionTimestamp = &deleting }, BlockDeleting},
		{"node deleting", func(in *Input) { in.Node.DeletionTimestamp = &deleting }, BlockDeleting},
		{"not registered", func(in *Input) { in.Node = nil }, BlockNotRegistered},
		{"not initialized", func(in *Input) { in.NodeClaim.Status.Conditions[0].Status = metav1.ConditionFalse }, BlockNotInitialized},
		{"being disrupted", func(in *Input) { in.Node.Spec.Taints = []corev1.Taint{v1.DisruptedNoScheduleTaint} }, BlockBeingDisrupted},
		{"nominated", func(in *Input) { in.Nominated = true }, BlockNominated},
		{"do-not-disrupt node", func(in *Input) { in.Node.Annotations = map[string]string{v1.DoNotDisruptAnnotationKey: "true"} }, BlockDoNotDisruptNode},
		{"do-not-disrupt nodeclaim", func(in *Input) { in.NodeClaim.Annotations = map[string]string{v1.DoNotDisruptAnnotationKey: "true"} }, BlockDoNotDisruptNode},
		{"do-not-disrupt pod", func(in *Input) { in.Pods[0].Annotations[v1.DoNotDisruptAnnotationKey] = "true" }, BlockDoNotDisruptPod},
		{"do-not-disrupt pod duration running", func(in *Input) { in.Pods[0].Annotations[v1.DoNotDisruptAnnotationKey] = "11m" }, BlockDoNotDisruptPod},
		{"do-not-disrupt pod duration expired", func(in *Input) { in.Pods[0].Annotations[v1.DoNotDisruptAnnotationKey] = "9m" }, ""},
		{"do-not-disrupt on a finished pod", func(in *Input) {
			in.Pods[0].Annotations[v1.DoNotDisruptAnnotationKey] = "true"
			in.Pods[0].Status.Phase = corev1.PodSucceeded
		}, ""},
		{"pdb allows none", func(in *Input) { in.PDBs = NewPDBLimits([]*policyv1.PodDisruptionBudget{pdb("a", 0)}) }, BlockPDB},
		{"pdb allows one", func(in *Input) { in.PDBs = NewPDBLimits([]*policyv1.PodDisruptionBudget{pdb("a", 1)}) }, ""},
		{"two pdbs", func(in *Input) { in.PDBs = NewPDBLimits([]*policyv1.PodDisruptionBudget{pdb("a", 5), pdb("b", 5)}) }, BlockPDB},
		{"consolidateAfter not elapsed", func(in *Input) { in.NodeClaim.Status.LastPodEventTime = metav1.NewTime(t0.Add(-10 * time.Second)) }, BlockNoMethod},
		{"consolidateAfter not elapsed but drifted", func(in *Input) {
			in.NodeClaim.Status.LastPodEventTime = metav1.NewTime(t0.Add(-10 * time.Second))
			in.NodeClaim.Status.Conditions = append(in.NodeClaim.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeDrifted, Status: metav1.ConditionTrue})
		}, ""},
		{"consolidateAfter Never", func(in *Input) { in.NodePool.Spec.Disruption.ConsolidateAfter = v1.MustParseNillableDuration(v1.Never) }, BlockNoMethod},
		{"no pod event: counted from initialization", func(in *Input) {
			in.NodeClaim.Status.LastPodEventTime = metav1.Time{}
			in.NodeClaim.Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Add(-5 * time.Second))
		}, BlockNoMethod},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := explainFixture()
			tc.mutate(&in)
			got := Explain(in)
			switch {
			case tc.want == "" && got != nil:
				t.Fatalf("Explain = %v, want a candidate", got)
			case tc.want != "" && (got == nil || got.Reason != tc.want):
				t.Fatalf("Explain = %v, want %s", got, tc.want)
			case got != nil && got.Message == "":
				t.Fatalf("reason %s without a message", got.Reason)
			}
		})
	}
}
