package pods

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

func owned(kind string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{Kind: kind, Name: "x", Controller: &yes}}
}

func TestPredicates(t *testing.T) {
	now := time.Now()
	old := metav1.NewTime(now.Add(-2 * time.Minute))
	fresh := metav1.NewTime(now.Add(-10 * time.Second))
	cases := []struct {
		name                     string
		pod                      corev1.Pod
		mustDrain, reschedulable bool
	}{
		{"plain", corev1.Pod{}, true, true},
		{"succeeded", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false, false},
		{"daemonset", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("DaemonSet")}}, true, false},
		{"static by owner", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("Node")}}, false, false},
		{"mirror", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}}}, false, false},
		{"tolerates disrupted", corev1.Pod{Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: v1.DisruptedTaintKey, Operator: corev1.TolerationOpExists}}}}, false, true},
		{"tolerates all", corev1.Pod{Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}}, false, true},
		{"tolerates other", corev1.Pod{Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "other", Operator: corev1.TolerationOpExists}}}}, true, true},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &fresh}}, true, false},
		{"stuck terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &old}}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := MustDrain(&c.pod, now); got != c.mustDrain {
				t.Errorf("MustDrain = %v, want %v", got, c.mustDrain)
			}
			if got := IsReschedulable(&c.pod); got != c.reschedulable {
				t.Errorf("IsReschedulable = %v, want %v", got, c.reschedulable)
			}
		})
	}
}

func TestDrainGroupsOrder(t *testing.T) {
	mk := func(name, priority, owner string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{PriorityClassName: priority}}
		if owner != "" {
			p.OwnerReferences = owned(owner)
		}
		return p
	}
	groups := DrainGroups([]*corev1.Pod{
		mk("ds-critical", SystemNodeCritical, "DaemonSet"),
		mk("critical", SystemClusterCritical, "ReplicaSet"),
		mk("ds", "", "DaemonSet"),
		mk("plain", "", ""),
	})
	want := [4]string{"plain", "critical", "ds", "ds-critical"}
	for i, g := range groups {
		if len(g) != 1 || g[0].Name != want[i] {
			t.Fatalf("group %d = %v, want [%s]", i, g, want[i])
		}
	}
}

func TestHasDoNotDisrupt(t *testing.T) {
	if HasDoNotDisrupt(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{v1.DoNotDisruptAnnotationKey: "false"}}}) {
		t.Error("false must not count")
	}
	if !HasDoNotDisrupt(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{v1.DoNotDisruptAnnotationKey: "true"}}}) {
		t.Error("true must count")
	}
}
