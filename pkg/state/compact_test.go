package state_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// decoded is obj as an informer holds it before the transform: a fresh decode of its JSON,
// sharing nothing with any other object.
func decoded[T any](t *testing.T, obj *T) *T {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func same(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == vb.Kind() && !va.IsNil() && va.UnsafePointer() == vb.UnsafePointer()
}

// The compacted objects hold what StripForCache leaves, and the pods of one ReplicaSet
// share their labels, owners, containers (with their requests and limits), tolerations,
// affinity and spread, the Nodes and NodeClaims of one instance type their capacity and
// allocatable.
func TestCompactorShares(t *testing.T) {
	c := state.NewCompactor(0)
	workloadsN := 5
	var pods []*corev1.Pod
	for i := range 2 * workloadsN {
		p := decoded(t, realisticPod(i, nodeName(i)))
		want, _ := state.StripForCache(decoded(t, p))
		got, err := c.Transform(p)
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(got, want) {
			t.Fatalf("pod %d: compacted pod differs from the stripped one:\n%+v\n%+v", i, got, want)
		}
		pods = append(pods, got.(*corev1.Pod))
	}
	for i := range workloadsN {
		a, b := pods[i], pods[i+workloadsN] // the same workload
		checks := map[string][2]any{
			"labels": {a.Labels, b.Labels}, "owners": {a.OwnerReferences, b.OwnerReferences},
			"requests":    {a.Spec.Containers[0].Resources.Requests, b.Spec.Containers[0].Resources.Requests},
			"limits":      {a.Spec.Containers[0].Resources.Limits, b.Spec.Containers[0].Resources.Limits},
			"tolerations": {a.Spec.Tolerations, b.Spec.Tolerations},
			"containers":  {a.Spec.Containers, b.Spec.Containers},
		}
		if a.Spec.Affinity != nil {
			checks["affinity"] = [2]any{a.Spec.Affinity, b.Spec.Affinity}
		}
		if a.Spec.TopologySpreadConstraints != nil {
			checks["spread"] = [2]any{a.Spec.TopologySpreadConstraints, b.Spec.TopologySpreadConstraints}
		}
		for what, pair := range checks {
			if !same(pair[0], pair[1]) {
				t.Errorf("workload %d: the pods' %s are not shared", i, what)
			}
		}
		if same(pods[i].Labels, pods[(i+1)%workloadsN].Labels) {
			t.Errorf("pods of workloads %d and %d share their labels", i, (i+1)%workloadsN)
		}
	}

	var nodes []*corev1.Node
	var claims []*v1.NodeClaim
	for i := range 2 {
		n := decoded(t, realisticNode(i))
		want, _ := state.StripForCache(decoded(t, n))
		got, _ := c.Transform(n)
		if !equality.Semantic.DeepEqual(got, want) {
			t.Fatalf("node %d: compacted node differs from the stripped one", i)
		}
		nodes = append(nodes, got.(*corev1.Node))
		nc := decoded(t, realisticNodeClaim(i))
		wantClaim, _ := state.StripForCache(decoded(t, nc))
		gotClaim, _ := c.Transform(nc)
		if !equality.Semantic.DeepEqual(gotClaim, wantClaim) {
			t.Fatalf("nodeclaim %d: compacted NodeClaim differs from the stripped one", i)
		}
		claims = append(claims, gotClaim.(*v1.NodeClaim))
	}
	if !same(nodes[0].Status.Allocatable, nodes[1].Status.Allocatable) || !same(claims[0].Status.Capacity, claims[1].Status.Capacity) {
		t.Error("the capacity of Nodes or NodeClaims of one instance type is not shared")
	}
	if same(nodes[0].Labels, nodes[1].Labels) {
		t.Error("two Nodes share their labels")
	}
	if bad := c.Corrupted(); len(bad) > 0 {
		t.Errorf("nothing was written, yet Corrupted reports %v", bad)
	}
}

// A reader writing into a shared value changes every object holding it; Corrupted names it.
func TestCompactorCorrupted(t *testing.T) {
	c := state.NewCompactor(0)
	a, _ := c.Transform(decoded(t, realisticPod(0, "n1")))
	b, _ := c.Transform(decoded(t, realisticPod(len(workloads), "n2")))
	a.(*corev1.Pod).Labels["tier"] = "frontend"
	if b.(*corev1.Pod).Labels["tier"] != "frontend" {
		t.Fatal("the two pods do not share their labels")
	}
	bad := c.Corrupted()
	if len(bad) != 1 || !strings.Contains(bad[0], `"tier":"frontend"`) {
		t.Errorf("Corrupted = %q, want the labels now carrying tier=frontend", bad)
	}
}

// A full table starts afresh: objects compacted before keep their (shared) values, and new
// objects are shared again among themselves.
func TestCompactorLimit(t *testing.T) {
	c := state.NewCompactor(2)
	pod := func(workload int) *corev1.Pod {
		p, _ := c.Transform(decoded(t, realisticPod(workload, "n1")))
		return p.(*corev1.Pod)
	}
	a1, a2 := pod(0), pod(0)
	if !same(a1.Labels, a2.Labels) {
		t.Fatal("two pods of one workload do not share their labels")
	}
	pod(1)
	pod(2) // the third label set: the table is full and starts afresh
	a3, a4 := pod(0), pod(0)
	if same(a3.Labels, a1.Labels) {
		t.Error("a table of 2 still held the first of 3 label sets")
	}
	if !same(a3.Labels, a4.Labels) {
		t.Error("after starting afresh, two pods of one workload do not share their labels")
	}
	for _, p := range []*corev1.Pod{a1, a2, a3, a4} {
		if want := realisticPod(0, "").Labels; !reflect.DeepEqual(p.Labels, want) {
			t.Errorf("labels %v, want %v", p.Labels, want)
		}
	}
}

// BenchmarkTransformPod is the CPU one pod event costs in the cache transform: the stripped
// pod alone ("strip") and compacted ("compact"), from a fresh decode each time.
//
//	go test -run '^$' -bench TransformPod -benchmem ./pkg/state/
func BenchmarkTransformPod(b *testing.B) {
	docs := make([][]byte, 100)
	for i := range docs {
		docs[i], _ = json.Marshal(realisticPod(i, nodeName(i)))
	}
	for _, tr := range []struct {
		name      string
		transform func(any) (any, error)
	}{{"strip", state.StripForCache}, {"compact", state.NewCompactor(0).Transform}} {
		b.Run(tr.name, func(b *testing.B) {
			pods := make([]*corev1.Pod, b.N)
			for i := range pods {
				pods[i] = &corev1.Pod{}
				if err := json.Unmarshal(docs[i%len(docs)], pods[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := tr.transform(pods[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Pods with the same conditions (their times to the second) share one slice; a pod whose
// conditions differ in any field keeps its own; a write into the shared slice is reported.
func TestCompactorSharesPodConditions(t *testing.T) {
	c := state.NewCompactor(0)
	at := metav1.Unix(1_800_000_000, 0)
	pod := func(i int, readyAt metav1.Time) *corev1.Pod {
		p := decoded(t, realisticPod(i, "n1"))
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: at},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: readyAt},
		}
		got, err := c.Transform(decoded(t, p))
		if err != nil {
			t.Fatal(err)
		}
		return got.(*corev1.Pod)
	}
	a, b := pod(0, at), pod(1, at)
	later := pod(2, metav1.NewTime(at.Add(time.Second)))
	if len(a.Status.Conditions) != 2 || !same(a.Status.Conditions, b.Status.Conditions) {
		t.Fatalf("pods with equal conditions do not share them: %v %v", a.Status.Conditions, b.Status.Conditions)
	}
	if same(a.Status.Conditions, later.Status.Conditions) || !later.Status.Conditions[1].LastTransitionTime.Equal(&metav1.Time{Time: at.Add(time.Second)}) {
		t.Errorf("a pod ready a second later shares the others' conditions: %v", later.Status.Conditions)
	}
	if bad := c.Corrupted(); len(bad) > 0 {
		t.Fatalf("nothing was written, yet Corrupted reports %v", bad)
	}
	a.Status.Conditions[1].Status = corev1.ConditionFalse
	if bad := c.Corrupted(); len(bad) != 1 || !strings.Contains(bad[0], "pod conditions") {
		t.Errorf("Corrupted = %q, want the shared pod conditions", bad)
	}
}

// The simulated cloud's instances of one instance type share their capacity, allocatable
// and taints; their labels, which name their hosts, stay their own.
func TestCompactorSharesSimInstances(t *testing.T) {
	c := state.NewCompactor(0)
	instance := func(i int) *simv1alpha1.SimInstance {
		name := fmt.Sprintf("i-%08x", i)
		inst := &simv1alpha1.SimInstance{
			ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: fmt.Sprint(100 + i), ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "karpenter"}}},
			Spec: simv1alpha1.SimInstanceSpec{InstanceType: "m7i.large", Zone: "zone-a", CapacityType: "on-demand", PricePerHour: "0.1008",
				NodeClaim: fmt.Sprintf("default-%d", i), NodeClass: "default", ImageID: "ami-1",
				Labels:      map[string]string{"node.kubernetes.io/instance-type": "m7i.large", "kubernetes.io/hostname": name},
				Taints:      []corev1.Taint{{Key: "karpenter.sh/unregistered", Effect: corev1.TaintEffectNoExecute}},
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi")},
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1930m"), corev1.ResourceMemory: resource.MustParse("7Gi")},
				LaunchTime:  simv1alpha1.NewInstant(time.Unix(1_800_000_000, 0))},
		}
		want, _ := state.StripForCache(decoded(t, inst))
		got, err := c.Transform(decoded(t, inst))
		if err != nil {
			t.Fatal(err)
		}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if string(gotJSON) != string(wantJSON) { // (equality.Semantic has no rule for an Instant)
			t.Fatalf("instance %d: compacted instance differs from the stripped one:\n%s\n%s", i, gotJSON, wantJSON)
		}
		return got.(*simv1alpha1.SimInstance)
	}
	a, b := instance(1), instance(2)
	for what, pair := range map[string][2]any{"capacity": {a.Spec.Capacity, b.Spec.Capacity},
		"allocatable": {a.Spec.Allocatable, b.Spec.Allocatable}, "taints": {a.Spec.Taints, b.Spec.Taints}} {
		if !same(pair[0], pair[1]) {
			t.Errorf("two instances of one type do not share their %s", what)
		}
	}
	if same(a.Spec.Labels, b.Spec.Labels) || a.Spec.Labels["kubernetes.io/hostname"] != a.Name {
		t.Errorf("instances share their labels, or lost their host: %v %v", a.Spec.Labels, b.Spec.Labels)
	}
}
