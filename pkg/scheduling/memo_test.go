package scheduling

import (
	"fmt"
	"reflect"
	"slices"
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

// TestMemoReusesNodeArrays: solves through one Memo reuse the arrays of existing nodes
// (and the list and hostname domains sized by them) their earlier solves built (see
// scratch), and that changes no plan. Random clusters of
// 2-7 nodes one after another (so an array is now larger, now smaller than the solve
// needs; nodes with host ports, volume limits and anti-affinity pods, which fill the node
// fields a stale array would keep) each plan as a fresh Solve does, and the plans of the
// earlier solves read the same after every later one.
func TestMemoReusesNodeArrays(t *testing.T) {
	pool := benchPool(catalogTypes(t))
	m := NewMemo()
	var plans []*Plan
	var texts []string
	for seed := range uint64(48) {
		nodes, pending := runningCluster(seed)
		snap := &Snapshot{NodePools: []NodePool{pool}, Nodes: nodes}
		got, want := SolveWith(snap, pending, m), Solve(snap, pending)
		if g, w := planText(got), planText(want); g != w {
			t.Fatalf("seed %d: through the memo\n%s\nfresh\n%s", seed, g, w)
		}
		plans, texts = append(plans, got), append(texts, planText(got))
	}
	for i, p := range plans {
		if planText(p) != texts[i] {
			t.Fatalf("the plan of solve %d changed after later solves reused its arrays:\n%s\nwas\n%s", i, planText(p), texts[i])
		}
	}

	// And the arrays are reused: solving the same snapshot again takes the spare arrays
	// and gives the same ones back, allocating none.
	nodes, pending := runningCluster(3)
	snap := &Snapshot{NodePools: []NodePool{pool}, Nodes: nodes}
	SolveWith(snap, pending, m)
	spares := func() map[*node]bool {
		out := map[*node]bool{}
		for _, tm := range m.byTable {
			for _, sc := range tm.spare {
				out[&sc.nodes[:1][0]] = true
				if len(sc.list) != 0 || sc.hosts == nil || len(sc.hosts.ids) != 0 {
					t.Fatalf("a spare scratch holds %d nodes in its list, hostname domains %v", len(sc.list), sc.hosts)
				}
			}
		}
		return out
	}
	before := spares()
	if len(before) == 0 {
		t.Fatal("no spare node array after a solve through the memo")
	}
	SolveWith(snap, pending, m)
	if after := spares(); !reflect.DeepEqual(after, before) {
		t.Fatalf("the second solve left %d spare arrays, %d of them new; want the %d it took", len(after), len(after)-countIn(after, before), len(before))
	}
}

func countIn(a, b map[*node]bool) int {
	n := 0
	for k := range a {
		if b[k] {
			n++
		}
	}
	return n
}

// TestMemoReusesCompiledPools: solves through one Memo over the same NodePools and
// DaemonSets slices (a disruption pass's simulations) reuse the universe and pools the
// first compiled for the same resource dimensions (see tableMemo.compiled), and plan as fresh
// solves do: random clusters with other nodes and pods each time, pools with and without
// limits (whose budget a stale copy would have spent), and pending pods asking for a GPU
// now and then (other dimensions, so another compilation).
func TestMemoReusesCompiledPools(t *testing.T) {
	types := catalogTypes(t)
	limited := benchPool(types)
	limited.Name, limited.Weight = "limited", 10
	limited.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("24")}
	limited.Used = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}
	pools := []NodePool{limited, benchPool(types)}
	ds := []*corev1.Pod{mkPod("ds", "100m", "128Mi", nil)}
	m := NewMemo()
	gpus := 0
	for seed := range uint64(40) {
		nodes, pending := runningCluster(seed)
		if seed%3 == 1 {
			pending[0].Spec.Containers[0].Resources.Requests["nvidia.com/gpu"] = resource.MustParse("1")
			pending[0].Spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		}
		snap := &Snapshot{NodePools: pools, DaemonSets: ds, Nodes: nodes}
		got := SolveWith(snap, pending, m)
		want := Solve(&Snapshot{NodePools: slices.Clone(pools), DaemonSets: ds, Nodes: nodes}, pending)
		if g, w := planText(got), planText(want); g != w {
			t.Fatalf("seed %d: through the memo\n%s\nfresh\n%s", seed, g, w)
		}
		for _, nc := range got.NewNodeClaims {
			if nc.Pods[0] == pending[0] && seed%3 == 1 {
				gpus++
			}
		}
	}
	if gpus == 0 {
		t.Fatal("no GPU pod got a NodeClaim: the second set of dimensions was never planned for")
	}
	if len(m.byTable) != 2 {
		t.Fatalf("%d compilations kept, want 2 (without and with the GPU dimension)", len(m.byTable))
	}

	// The second solve over the same pools reuses the first's universe.
	tm := m.byTable[""]
	before := tm.base.u
	nodes, pending := runningCluster(5)
	SolveWith(&Snapshot{NodePools: pools, DaemonSets: ds, Nodes: nodes}, pending, m)
	if tm.base.u != before {
		t.Fatal("a solve over the same NodePools and DaemonSets compiled them again")
	}
	// Other NodePools (another slice) are compiled afresh.
	SolveWith(&Snapshot{NodePools: slices.Clone(pools), DaemonSets: ds, Nodes: nodes}, pending, m)
	if tm.base.u == before {
		t.Fatal("a solve over other NodePools reused the universe compiled for the first")
	}
}
