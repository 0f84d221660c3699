package predicates_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/predicates"
)

func TestPodEventOnly(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	base := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "nc", ResourceVersion: "10", Labels: map[string]string{v1.NodePoolLabelKey: "p"}},
		Status: v1.NodeClaimStatus{
			NodeName:         "n",
			LastPodEventTime: at,
			Capacity:         corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Conditions: []metav1.Condition{
				{Type: v1.ConditionTypeInitialized, Status: metav1.ConditionTrue, LastTransitionTime: at},
				{Type: v1.ConditionTypeConsolidatable, Status: metav1.ConditionFalse, LastTransitionTime: at},
			},
		},
	}
	later := metav1.NewTime(at.Add(time.Minute))
	for _, tc := range []struct {
		name   string
		change func(*v1.NodeClaim)
		want   bool
	}{
		{"pod event time", func(nc *v1.NodeClaim) { nc.Status.LastPodEventTime = later }, true},
		{"consolidatable flips", func(nc *v1.NodeClaim) {
			nc.Status.Conditions[1].Status, nc.Status.Conditions[1].LastTransitionTime = metav1.ConditionTrue, later
		}, true},
		{"consolidatable removed", func(nc *v1.NodeClaim) { nc.Status.Conditions = nc.Status.Conditions[:1] }, true},
		{"initialized flips", func(nc *v1.NodeClaim) { nc.Status.Conditions[0].Status = metav1.ConditionFalse }, false},
		{"drifted added", func(nc *v1.NodeClaim) {
			nc.Status.Conditions = append(nc.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeDrifted, Status: metav1.ConditionTrue})
		}, false},
		{"label", func(nc *v1.NodeClaim) { nc.Labels["x"] = "y" }, false},
		{"annotation", func(nc *v1.NodeClaim) { nc.Annotations = map[string]string{v1.DoNotDisruptAnnotationKey: "true"} }, false},
		{"capacity", func(nc *v1.NodeClaim) { nc.Status.Capacity[corev1.ResourceCPU] = resource.MustParse("4") }, false},
		{"node name", func(nc *v1.NodeClaim) { nc.Status.NodeName = "m" }, false},
		{"deleting", func(nc *v1.NodeClaim) { nc.DeletionTimestamp = &later }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			updated := base.DeepCopy()
			updated.ResourceVersion = "11"
			tc.change(updated)
			if got := predicates.PodEventOnly(base, updated); got != tc.want {
				t.Errorf("PodEventOnly = %v, want %v", got, tc.want)
			}
			if base.Status.LastPodEventTime != at || len(base.Status.Conditions) != 2 {
				t.Errorf("PodEventOnly changed its argument: %+v", base.Status)
			}
		})
	}
	same := base.DeepCopy()
	same.Status.LastPodEventTime = later
	if predicates.PodEventOnly(base, same) {
		t.Error("the same resource version (a resync) is not an update")
	}
}
