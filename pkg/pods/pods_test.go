package pods

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
		// Only the controller reference counts: a DaemonSet that merely owns the pod, or a
		// controller after a non-controlling DaemonSet reference, does not make it a daemon.
		{"daemonset not controller", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: "x"}}}}, true, true},
		{"controller after daemonset", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: append([]metav1.OwnerReference{{Kind: "DaemonSet", Name: "y"}}, owned("ReplicaSet")...)}}, true, true},
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

// TestDrainGroupsLargestFirst: within a group the largest pods (CPU, then memory) are
// evicted first, so kube-scheduler places them while the most room is left.
func TestDrainGroupsLargestFirst(t *testing.T) {
	mk := func(name, cpu, mem string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
		p.Spec.Containers = []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}
		return p
	}
	groups := DrainGroups([]*corev1.Pod{mk("small", "100m", "1Gi"), mk("b-large", "2", "1Gi"), mk("mid-more-mem", "500m", "4Gi"),
		mk("a-large", "2", "1Gi"), mk("mid", "500m", "1Gi")})
	var got []string
	for _, p := range groups[0] {
		got = append(got, p.Name)
	}
	want := []string{"a-large", "b-large", "mid-more-mem", "mid", "small"}
	if !slices.Equal(got, want) {
		t.Errorf("eviction order %v, want %v", got, want)
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

func TestRequests(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "a", Resources: corev1.ResourceRequirements{Requests: rl("500m", "1Gi")}},
			{Name: "b", Resources: corev1.ResourceRequirements{Limits: rl("250m", "")}}, // request defaults to the limit
		},
		InitContainers: []corev1.Container{
			{Name: "sidecar", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Requests: rl("100m", "")}},
			{Name: "big-init", Resources: corev1.ResourceRequirements{Requests: rl("2", "512Mi")}},
		},
		Overhead: rl("50m", ""),
	}}
	got := Requests(pod)
	// cpu: max(500m+250m+100m, 2+100m) + 50m = 2150m; memory: max(1Gi, 512Mi) = 1Gi.
	for name, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "2150m", corev1.ResourceMemory: "1Gi", corev1.ResourcePods: "1"} {
		if q := got[name]; q.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("%s = %s, want %s", name, q.String(), want)
		}
	}
	// Pod-level resources: its CPU request stands for the containers' (overhead still
	// added); its memory limit is not a request, as the containers request memory.
	pod.Spec.Resources = &corev1.ResourceRequirements{Requests: rl("4", ""), Limits: rl("", "8Gi")}
	got = Requests(pod)
	for name, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "4050m", corev1.ResourceMemory: "1Gi"} {
		if q := got[name]; q.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("with pod-level resources: %s = %s, want %s", name, q.String(), want)
		}
	}
}

// TestOwnerChecksDoNotAllocate: disruption asks them of every pod of the cluster on every
// pass; metav1.GetControllerOf, used before, put a copy of the reference on the heap.
func TestOwnerChecksDoNotAllocate(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("ReplicaSet")}}
	if n := testing.AllocsPerRun(100, func() { _, _ = IsOwnedByDaemonSet(pod), IsStatic(pod) }); n != 0 {
		t.Errorf("%v allocations per check, want 0", n)
	}
}
