package scheduling

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// FuzzNodePoolLimits decodes a NodePool whose limits are user quantities (any string the
// API's JSON accepts), turns it into the scheduler's input and solves a small burst: no
// panic, and the independent checker finds the plan within the limits.
func FuzzNodePoolLimits(f *testing.F) {
	f.Add("10", "64Gi", "3")
	f.Add("0", "0", "0")
	f.Add("-1", "1e3", "1")
	f.Add("100m", "1Ei", "")
	f.Add("9223372036854775807", "0.000000001", "1k")
	f.Add("1e-9", "12345678901234567890Ki", "2")
	f.Fuzz(func(t *testing.T, cpu, memory, nodes string) {
		raw, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"name": "fuzz"},
			"spec": map[string]any{
				"template": map[string]any{"spec": map[string]any{"nodeClassRef": map[string]any{"group": "g", "kind": "K", "name": "n"}}},
				"limits":   map[string]string{"cpu": cpu, "memory": memory, "nodes": nodes},
			},
		})
		if err != nil {
			return
		}
		np := &v1.NodePool{}
		if err := json.Unmarshal(raw, np); err != nil {
			return // the API server rejects what does not decode
		}
		snap := &Snapshot{NodePools: []NodePool{NodePoolFromAPI(np, fakeTypes(), nil)}}
		var pods []*corev1.Pod
		for i, cpu := range []string{"500m", "1", "3", "7"} {
			pods = append(pods, mkPod("p-"+strconv.Itoa(i), cpu, "1Gi", nil))
		}
		plan := Solve(snap, pods)
		if negativeLimit(snap.NodePools[0].Limits) {
			// Already over its limits: nothing may be launched (the checker's "0 exceeds -1"
			// says so too strictly).
			if len(plan.NewNodeClaims) != 0 {
				t.Fatalf("limits %v: %d NodeClaims launched", snap.NodePools[0].Limits, len(plan.NewNodeClaims))
			}
			return
		}
		if err := checkPlan(snap, pods, plan); err != nil {
			t.Fatalf("limits cpu=%q memory=%q nodes=%q: %v", cpu, memory, nodes, err)
		}
		if math.IsNaN(plan.Price) || plan.Price < 0 {
			t.Fatalf("price %v", plan.Price)
		}
	})
}

func negativeLimit(limits corev1.ResourceList) bool {
	for _, q := range limits {
		if q.Sign() < 0 {
			return true
		}
	}
	return false
}
