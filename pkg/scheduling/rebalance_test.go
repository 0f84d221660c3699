package scheduling

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// antiAffine gives each pod hostname anti-affinity to its own app's pods.
func antiAffine(pods []*corev1.Pod) []*corev1.Pod {
	for _, p := range pods {
		antiHostnameApp(p)
	}
	return pods
}

// zoneSpreadApp is n pods of app spread over zones with maxSkew skew.
func zoneSpreadApp(app string, n int, cpu, mem string, skew int32) []*corev1.Pod {
	var pods []*corev1.Pod
	for i := range n {
		p := mkPod(fmt.Sprintf("%s-%d", app, i), cpu, mem, map[string]string{"app": app})
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: skew, TopologyKey: corev1.LabelTopologyZone,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}
		pods = append(pods, p)
	}
	return pods
}

// TestZoneSpreadPodsMoveToTheRoomyZone: two workloads spread over the pool's five zones.
// Upstream's first fit, filling its NodeClaims round the zones, ends with 5 + 4-5 pods in
// each zone, five m6g.large ($0.385/h). Placement alone put 6 + 5 in one zone (an
// m6g.xlarge) and 4 + 4 in another ($0.462/h); rebalanceZones moves one pod of the second
// workload over, within its skew of 1 (TestDifferentialZoneSpread, seed 232). In the second
// case the crowded zone's node must lose two pods before it shrinks (seed 1817: 2 + 7 pods of
// 1 CPU on a c6g.4xlarge beside a zone with 5): a move of one pod saves nothing, one of two
// saves a c6g.4xlarge's difference. In the third (seed 2388) two pods of 8Gi beside five of
// 4Gi put one zone's node a size up (an m6g.4xlarge), and no other zone has room for both
// (each holds four or five of 4Gi on a c6g.4xlarge): one goes to each of two zones, within
// the skew of 2, and the five nodes are c6g.4xlarge ($2.72/h, $2.792/h before). In the
// fourth (seed 1865) 30 anti-affine pods stand alone on r6g.medium NodeClaims, six to a zone,
// each with room for one pod of a second spread workload: those went six to a zone on one
// NodeClaim each, an r6g.xlarge; they now go one to each ($1.512/h; before, $1.6128/h, the
// fewest-NodeClaims policy's plan, uneven across zones).
func TestZoneSpreadPodsMoveToTheRoomyZone(t *testing.T) {
	pool := benchPool(catalogTypes(t))
	for _, tc := range []struct {
		name string
		pods []*corev1.Pod
		want float64
	}{
		{"one pod", append(zoneSpreadApp("a", 25, "250m", "256Mi", 2), zoneSpreadApp("b", 22, "100m", "1Gi", 1)...), 0.385},
		{"two pods", append(zoneSpreadApp("a", 6, "1", "1Gi", 2), zoneSpreadApp("b", 29, "1", "1Gi", 2)...), 1.36},
		{"two pods to two zones", append(zoneSpreadApp("a", 22, "2", "4Gi", 1), zoneSpreadApp("b", 3, "250m", "8Gi", 2)...), 2.72},
		{"beside pods alone on their node", append(antiAffine(zoneSpreadApp("a", 30, "500m", "4Gi", 2)), zoneSpreadApp("b", 30, "250m", "2Gi", 1)...), 1.512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := &Snapshot{NodePools: []NodePool{pool}}
			plan := Solve(snap, tc.pods)
			if err := checkPlan(snap, tc.pods, plan); err != nil {
				t.Fatal(err)
			}
			if len(plan.Unschedulable) > 0 {
				t.Fatalf("%d pods unschedulable: %s", len(plan.Unschedulable), plan.Unschedulable[0].Reason)
			}
			if plan.Price > tc.want+1e-9 {
				for _, nc := range plan.NewNodeClaims {
					t.Logf("%s in %s: %d pods", nc.Cheapest.InstanceType, nc.Cheapest.Zone, len(nc.Pods))
				}
				t.Fatalf("plan $%.4f/h, want at most $%.4f/h (upstream's first fit)", plan.Price, tc.want)
			}
		})
	}
}

// TestZoneSpreadTriesUpstreamsOrder: two workloads spread over zones beside two free ones
// (TestDifferentialZoneSpread, seed 2733). The efficient policy planned four m6g.2xlarge and
// a c6g.8xlarge ($2.32/h), dearer than upstream's first fit ($2.2768/h); the fewest-NodeClaims
// policy, upstream's own order, plans four c6g.4xlarge and an r6g.medium ($2.2264/h) but ran
// only for one-per-node pods, several sets of requirements or limits. It runs for zone
// spread too now.
func TestZoneSpreadTriesUpstreamsOrder(t *testing.T) {
	pool := benchPool(catalogTypes(t))
	var pods []*corev1.Pod
	pods = append(pods, zoneSpreadApp("w0", 8, "2", "4Gi", 2)...)
	pods = append(pods, podN(21, "w1", "1", "256Mi", nil)...)
	pods = append(pods, podN(10, "w2", "2", "256Mi", nil)...)
	pods = append(pods, zoneSpreadApp("w3", 17, "250m", "2Gi", 1)...)
	snap := &Snapshot{NodePools: []NodePool{pool}}
	plan := Solve(snap, pods)
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Fatal(err)
	}
	if want := upstreamFFD(t, pool, pods, true); plan.Price > want+1e-9 {
		t.Fatalf("plan $%.4f/h, dearer than upstream's first fit ($%.4f/h)", plan.Price, want)
	}
}
