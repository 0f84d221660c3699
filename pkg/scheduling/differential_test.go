package scheduling

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// The wide differentials against the upstream-like reference (the cheaper of its two
// NodeClaim orders), run on demand: SCHED_DIFF_SEEDS=3000 go test -run '^TestDifferential'
// ./pkg/scheduling/ (about a minute and a half each). On 2026-12-02: selectors beside
// existing room 0 of 3,000 dearer; one-per-node mixes 1 of 3,000 (seed 2355, +0.8 %). That
// one is dearer only than the creation-order first fit (one r6g.12xlarge for every pod but
// six spread pods): against upstream's own order, fewest pods first, none of the 3,000 is
// dearer (that order gives $3.95/h on seed 2355, the plan $2.64/h). Zone-spread mixes
// (TestDifferentialZoneSpread, the reference zone-aware since): 68 of 3,000 dearer (worst
// +60 %) before rebalanceZones and zone-pinned merges, 9 after (worst +6.7 %). Weighted pools
// with limits (TestDifferentialWeightedPools): 7 of 3,000 plans broke the limits and 26 were
// dearer before the limits fixes, 0 and 3 after (each dearer only than the creation-order
// first fit). The committed tests keep the cases they found (TestGatherAcrossThreeSets,
// TestMergeOnePerNodeClasses, TestZoneSpreadPodsMoveToTheRoomyZone,
// TestWeightedPoolsStayWithinLimits).

func differentialSeeds(t *testing.T) uint64 {
	n := envSeeds()
	if n == 0 {
		t.Skip("set SCHED_DIFF_SEEDS=3000 to run the differential (about a minute and a half)")
	}
	return n
}

// envSeeds is SCHED_DIFF_SEEDS, 0 when unset or not a positive number.
func envSeeds() uint64 {
	n, _ := strconv.Atoi(os.Getenv("SCHED_DIFF_SEEDS"))
	return uint64(max(n, 0))
}

// TestDifferentialSelectors: selectorCluster's random clusters (existing nodes with room,
// zone, architecture and category selectors).
func TestDifferentialSelectors(t *testing.T) {
	seeds := differentialSeeds(t)
	pool := benchPool(catalogTypes(t))
	dearer, worst := 0, 1.0
	for seed := range seeds {
		nodes, rooms, pods := selectorCluster(seed, pool)
		if d := differentialCase(t, seed, &Snapshot{NodePools: []NodePool{pool}, Nodes: nodes}, pods, upstreamBest(t, pool, rooms, pods)); d > 0 {
			dearer, worst = dearer+1, max(worst, d)
		}
	}
	t.Logf("%d of %d plans dearer than the reference, worst ×%.3f", dearer, seeds, worst)
}

// TestDifferentialOnePerNode: 2-8 workloads of 1-30 replicas, each plain, hostname
// anti-affinity, host port 80 or hostname spread, a third with a node selector.
func TestDifferentialOnePerNode(t *testing.T) { differentialOnEmpty(t, onePerNodeMix) }

// differentialOnEmpty runs the differential over mix's pods, one mix per seed, on an empty
// cluster.
func differentialOnEmpty(t *testing.T, mix func(seed uint64) []*corev1.Pod) {
	seeds := differentialSeeds(t)
	pool := benchPool(catalogTypes(t))
	dearer, worst := 0, 1.0
	for seed := range seeds {
		pods := mix(seed)
		if d := differentialCase(t, seed, &Snapshot{NodePools: []NodePool{pool}}, pods, upstreamBest(t, pool, nil, pods)); d > 0 {
			dearer, worst = dearer+1, max(worst, d)
		}
	}
	t.Logf("%d of %d plans dearer than the reference, worst ×%.3f", dearer, seeds, worst)
}

// TestDifferentialZoneSpread: 2-8 workloads of 1-30 replicas, each plain, spread over
// zones (maxSkew 1 or 2), or spread over zones with hostname anti-affinity; a third of them
// select an architecture or an instance category.
func TestDifferentialZoneSpread(t *testing.T) { differentialOnEmpty(t, zoneSpreadMix) }

// TestDifferentialDaemonSets: 1-3 DaemonSets (50m-500m, 64Mi-512Mi, a third of them on
// one architecture only) beside selectorCluster's workloads on an empty cluster, against
// upstream's first fit reserving each pool's DaemonSet overhead on every NodeClaim.
func TestDifferentialDaemonSets(t *testing.T) {
	seeds := differentialSeeds(t)
	pool := benchPool(catalogTypes(t))
	dearer, worst := 0, 1.0
	for seed := range seeds {
		daemons, pods := daemonSetMix(seed, pool)
		ref := min(upstreamFFDDaemons(t, []NodePool{pool}, daemons, pods, true), upstreamFFDDaemons(t, []NodePool{pool}, daemons, pods, false))
		if d := differentialCase(t, seed, &Snapshot{NodePools: []NodePool{pool}, DaemonSets: daemons}, pods, ref); d > 0 {
			dearer, worst = dearer+1, max(worst, d)
		}
	}
	t.Logf("%d of %d plans dearer than the reference, worst ×%.3f", dearer, seeds, worst)
}

// daemonSetMix draws TestDifferentialDaemonSets' DaemonSets and pods for a seed.
func daemonSetMix(seed uint64, pool NodePool) (daemons, pods []*corev1.Pod) {
	r := rand.New(rand.NewPCG(seed, 103))
	for i := range 1 + r.IntN(3) {
		ds := mkPod(fmt.Sprintf("ds%d", i), pick(r, []string{"50m", "100m", "200m", "500m", "1"}), pick(r, []string{"64Mi", "128Mi", "256Mi", "512Mi", "1Gi"}), nil)
		if r.IntN(3) == 0 {
			ds.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: pick(r, []string{"amd64", "arm64"})}
		}
		daemons = append(daemons, ds)
	}
	_, _, pods = selectorCluster(seed, pool)
	for _, p := range pods {
		p.Spec.Tolerations = nil
	}
	return daemons, pods
}

// zoneSpreadMix draws TestDifferentialZoneSpread's pods for a seed.
func zoneSpreadMix(seed uint64) []*corev1.Pod {
	r := rand.New(rand.NewPCG(seed, 101))
	cpus := []string{"100m", "250m", "500m", "1", "2", "4"}
	mems := []string{"128Mi", "256Mi", "1Gi", "2Gi", "4Gi", "8Gi"}
	selectors := []map[string]string{{corev1.LabelArchStable: "arm64"}, {corev1.LabelArchStable: "amd64"},
		{catalog.LabelInstanceCategory: "c"}, {catalog.LabelInstanceCategory: "m"}, {catalog.LabelInstanceCategory: "r"}}
	var pods []*corev1.Pod
	for w := range 2 + r.IntN(7) {
		cpu, mem, kind := pick(r, cpus), pick(r, mems), r.IntN(5)
		skew := int32(1 + r.IntN(2))
		var sel map[string]string
		if r.IntN(3) == 0 {
			sel = selectors[r.IntN(len(selectors))]
		}
		for i := range 1 + r.IntN(30) {
			app := fmt.Sprint(w)
			p := mkPod(fmt.Sprintf("w%d-%d", w, i), cpu, mem, map[string]string{"app": app})
			p.Spec.NodeSelector = sel
			if kind >= 2 {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: skew, TopologyKey: corev1.LabelTopologyZone,
					WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}
			}
			if kind == 4 {
				antiHostnameApp(p)
			}
			pods = append(pods, p)
		}
	}
	return pods
}

// TestDifferentialWeightedPools: a primary NodePool of weight 100 (spot c and m types,
// on-demand arm64, or spot across c, m and r), limited in CPU or memory, before the
// benchmark pool as an on-demand fallback of weight 10; 1-6 workloads of 1-40 replicas, a
// third of them selecting an architecture. The reference opens NodeClaims as upstream does
// across pools (upstreamFFDPools).
func TestDifferentialWeightedPools(t *testing.T) {
	seeds := differentialSeeds(t)
	its := catalogTypes(t)
	dearer, worst := 0, 1.0
	for seed := range seeds {
		pools, pods := weightedPoolsMix(seed, its)
		ref := min(upstreamFFDPools(t, pools, pods, true), upstreamFFDPools(t, pools, pods, false))
		if d := differentialCase(t, seed, &Snapshot{NodePools: pools}, pods, ref); d > 0 {
			dearer, worst = dearer+1, max(worst, d)
		}
	}
	t.Logf("%d of %d plans dearer than the reference, worst ×%.3f", dearer, seeds, worst)
}

// TestWeightedPoolsStayWithinLimits: the first 800 mixes of TestDifferentialWeightedPools
// (200 with -short). Every plan keeps the primary pool within its limits (checkPlan counts
// each NodeClaim's first type) and costs no more than the reference. Before, a NodeClaim
// growing to a larger type kept its first type's reservation (seed 115: 24 CPUs planned in
// a pool limited to 16), and finalize listed a cheaper type of more capacity first though
// the limits had no room for it (seed 726: 320Gi of memory against 256Gi); 7 of 3,000
// plans broke their pool's limits and 26 cost more than the reference; since, none and 3
// (seeds 2564, 2921 and 2955, each dearer only than the creation-order first fit).
func TestWeightedPoolsStayWithinLimits(t *testing.T) {
	its := catalogTypes(t)
	seeds := uint64(800)
	if testing.Short() {
		seeds = 200
	}
	for seed := range seeds {
		pools, pods := weightedPoolsMix(seed, its)
		ref := min(upstreamFFDPools(t, pools, pods, true), upstreamFFDPools(t, pools, pods, false))
		differentialCase(t, seed, &Snapshot{NodePools: pools}, pods, ref)
	}
}

// weightedPoolsMix draws TestDifferentialWeightedPools' NodePools and pods for a seed.
func weightedPoolsMix(seed uint64, its []*cloudprovider.InstanceType) ([]NodePool, []*corev1.Pod) {
	r := rand.New(rand.NewPCG(seed, 103))
	primaries := [][]Requirement{
		{{Key: labelCapacityType, Operator: "In", Values: []string{"spot"}}, {Key: catalog.LabelInstanceCategory, Operator: "In", Values: []string{"c", "m"}}},
		{{Key: labelCapacityType, Operator: "In", Values: []string{"on-demand"}}, {Key: corev1.LabelArchStable, Operator: "In", Values: []string{"arm64"}}},
		{{Key: labelCapacityType, Operator: "In", Values: []string{"spot"}}, {Key: catalog.LabelInstanceCategory, Operator: "In", Values: []string{"c", "m", "r"}},
			{Key: catalog.LabelInstanceGeneration, Operator: "Gt", Values: []string{"5"}}},
	}
	primary := NodePool{Name: "primary", Weight: 100, InstanceTypes: its, Requirements: primaries[r.IntN(len(primaries))]}
	if r.IntN(4) == 0 {
		primary.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(pick(r, []string{"16Gi", "32Gi", "64Gi", "128Gi", "256Gi"}))}
	} else {
		primary.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(pick(r, []string{"4", "8", "16", "32", "64", "128"}))}
	}
	fallback := benchPool(its)
	fallback.Name, fallback.Weight = "fallback", 10
	cpus := []string{"250m", "500m", "1", "2", "4"}
	mems := []string{"512Mi", "1Gi", "2Gi", "4Gi", "8Gi"}
	var pods []*corev1.Pod
	for w := range 1 + r.IntN(6) {
		cpu, mem := pick(r, cpus), pick(r, mems)
		var sel map[string]string
		if r.IntN(3) == 0 {
			sel = map[string]string{corev1.LabelArchStable: pick(r, []string{"amd64", "arm64"})}
		}
		for i := range 1 + r.IntN(40) {
			p := mkPod(fmt.Sprintf("w%d-%d", w, i), cpu, mem, map[string]string{"app": fmt.Sprint(w)})
			p.Spec.NodeSelector = sel
			pods = append(pods, p)
		}
	}
	return []NodePool{primary, fallback}, pods
}

// differentialCase solves one case and returns the plan's price over ref when it is dearer
// (0 otherwise); an invalid plan or an unplaced pod fails the test.
func differentialCase(t *testing.T, seed uint64, snap *Snapshot, pods []*corev1.Pod, ref float64) float64 {
	plan := Solve(snap, pods)
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if len(plan.Unschedulable) > 0 {
		t.Errorf("seed %d: %s unschedulable: %s", seed, plan.Unschedulable[0].Pod.Name, plan.Unschedulable[0].Reason)
		return 0
	}
	if plan.Price > ref+1e-9 {
		t.Errorf("seed %d: plan $%.4f/h > the reference's $%.4f/h (%d pods, %d NodeClaims)", seed, plan.Price, ref, len(pods), len(plan.NewNodeClaims))
		return plan.Price / ref
	}
	return 0
}

// onePerNodeMix draws TestDifferentialOnePerNode's pods for a seed.
func onePerNodeMix(seed uint64) []*corev1.Pod {
	r := rand.New(rand.NewPCG(seed, 99))
	cpus := []string{"100m", "250m", "500m", "1", "2", "4"}
	mems := []string{"128Mi", "256Mi", "1Gi", "2Gi", "4Gi", "8Gi"}
	muts := []func(*corev1.Pod){nil, nil, nil, antiHostnameApp, hostPort80, spreadHostname}
	var pods []*corev1.Pod
	for w := range 2 + r.IntN(7) {
		cpu, mem, mut := pick(r, cpus), pick(r, mems), muts[r.IntN(len(muts))]
		var sel map[string]string
		if r.IntN(3) == 0 {
			sel = nodeSelectors[r.IntN(len(nodeSelectors))]
		}
		for i := range 1 + r.IntN(30) {
			p := mkPod(fmt.Sprintf("w%d-%d", w, i), cpu, mem, map[string]string{"app": fmt.Sprint(w)})
			p.Spec.NodeSelector = sel
			if mut != nil {
				mut(p)
			}
			pods = append(pods, p)
		}
	}
	return pods
}
