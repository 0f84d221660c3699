package predicates_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/gokarpenter/karpenter/pkg/predicates"
)

func node() *corev1.Node {
	created := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", ResourceVersion: "10", Labels: map[string]string{"karpenter.sh/nodepool": "p"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kwok", Operation: metav1.ManagedFieldsOperationUpdate}}},
		Spec: corev1.NodeSpec{ProviderID: "sim:///z/i-1"},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1930m")},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: created, LastTransitionTime: created},
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: created, LastTransitionTime: created},
			},
		},
	}
}

// heartbeat is what a kubelet's status update writes when nothing changed: new heartbeat
// times, a new resource version, new managed fields.
func heartbeat(n *corev1.Node) *corev1.Node {
	out := n.DeepCopy()
	out.ResourceVersion = "11"
	out.ManagedFields[0].Time = &metav1.Time{Time: time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)}
	for i := range out.Status.Conditions {
		out.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC))
	}
	return out
}

func TestHeartbeatOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*corev1.Node)
		want   bool
	}{
		{"heartbeat", func(*corev1.Node) {}, true},
		{"ready turns false", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, false},
		{"condition reason", func(n *corev1.Node) { n.Status.Conditions[1].Reason = "Pressure" }, false},
		{"transition time", func(n *corev1.Node) { n.Status.Conditions[1].LastTransitionTime = metav1.Now() }, false},
		{"condition added", func(n *corev1.Node) {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeDiskPressure})
		}, false},
		{"taint", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "karpenter.sh/disrupted", Effect: corev1.TaintEffectNoSchedule}}
		}, false},
		{"label", func(n *corev1.Node) { n.Labels["x"] = "y" }, false},
		{"allocatable", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("2") }, false},
		{"deleting", func(n *corev1.Node) { now := metav1.Now(); n.DeletionTimestamp = &now }, false},
		{"resync (same version)", func(n *corev1.Node) { n.ResourceVersion = "10" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := node()
			updated := heartbeat(old)
			tc.change(updated)
			if got := predicates.HeartbeatOnly(old, updated); got != tc.want {
				t.Errorf("HeartbeatOnly = %v, want %v", got, tc.want)
			}
			if got := predicates.IgnoreNodeHeartbeats().Update(event.UpdateEvent{ObjectOld: old, ObjectNew: updated}); got == tc.want {
				t.Errorf("IgnoreNodeHeartbeats passes the update: %v, want %v", got, !tc.want)
			}
			// The cached objects are left as they were.
			if old.ResourceVersion != "10" || len(old.ManagedFields) != 1 || len(updated.Status.Conditions) < 2 {
				t.Errorf("HeartbeatOnly changed its arguments: %+v", old.ObjectMeta)
			}
		})
	}
	if predicates.HeartbeatOnly(&corev1.Pod{}, &corev1.Pod{}) {
		t.Error("a pod update is no node heartbeat")
	}
	n := node()
	if !predicates.IgnoreNodeHeartbeats().Create(event.CreateEvent{Object: n}) || !predicates.IgnoreNodeHeartbeats().Delete(event.DeleteEvent{Object: n}) {
		t.Error("creates and deletes must pass")
	}
}
