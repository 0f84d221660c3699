package scheduling

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestMemoSameAsFresh solves a sequence of snapshots that reuse node names with other pods
// (a prefix of the same slice, another slice of the same length, pods that finish, a pod
// whose requests cannot be read, another Allocatable) through one Memo, and checks every plan is the one a
// fresh Solve finds. A memo keyed by node name alone would keep n1 full after its pods
// changed and plan a new NodeClaim for the pending pod.
func TestMemoSameAsFresh(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	labels := func(name string) map[string]string {
		return map[string]string{labelHostname: name, labelZone: "zone-a", labelCapacityType: "on-demand", labelInstanceType: "medium"}
	}
	running := func(prefix string, n int, cpu string) []*corev1.Pod {
		ps := podN(n, prefix, cpu, "100Mi", nil)
		for _, p := range ps {
			p.Spec.NodeName = "n1"
		}
		return ps
	}
	full := running("full", 2, "1900m") // n1 has 200m left
	other := running("other", 2, "500m")
	finished := running("done", 2, "1900m")
	for _, p := range finished {
		p.Status.Phase = corev1.PodSucceeded
	}
	bad := running("bad", 1, "100m")
	bad[0].Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("-1")
	larger := alloc.DeepCopy()
	larger[corev1.ResourceCPU] = resource.MustParse("8")
	snapOf := func(n1 []*corev1.Pod, alloc corev1.ResourceList) *Snapshot {
		return &Snapshot{NodePools: []NodePool{odPool("default")},
			Nodes: []ExistingNode{{Name: "n1", Labels: labels("n1"), Allocatable: alloc, Pods: n1}}}
	}
	pending := podN(1, "pending", "1", "100Mi", nil)
	memo := NewMemo()
	cases := []struct {
		n1    []*corev1.Pod
		alloc corev1.ResourceList
		room  bool // the pending pod fits on n1
	}{{full, alloc, false}, {full[:1], alloc, true}, {full, alloc, false}, {other, alloc, true}, {finished, alloc, true},
		{append(bad, other...), alloc, false}, {other, alloc, true}, {nil, alloc, true}, {full, alloc, false},
		{full, larger, true}, {full, alloc, false}}
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got := SolveWith(snapOf(tc.n1, tc.alloc), pending, memo)
			want := Solve(snapOf(tc.n1, tc.alloc), pending)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("with the memo: %d new NodeClaims, %d existing nodes used; fresh: %d, %d",
					len(got.NewNodeClaims), len(got.ExistingNodes), len(want.NewNodeClaims), len(want.ExistingNodes))
			}
			if onN1 := len(want.ExistingNodes) > 0; onN1 != tc.room {
				t.Fatalf("pending pod on n1 = %v, want %v", onN1, tc.room)
			}
		})
	}
}
