package scheduling

import (
	"fmt"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mixedCluster draws a random cluster of every kind of rule at once, on the real
// catalogue: the benchmark pool, and half the time a tainted spot pool of weight 50
// (arm64, or c and m of any architecture) limited to 16-128 CPUs; 0-2 DaemonSets; 0-3
// existing nodes with room; 2-8 workloads of 1-25 replicas, each with one rule (zone or
// hostname spread, hostname or zone anti-affinity, zone or hostname affinity to its own
// pods or zone affinity to another workload's, a host port, a preferred zone or capacity
// type, or none), a third with a node selector and a third tolerating the spot pool's
// taint.
func mixedCluster(seed uint64, pool NodePool) (*Snapshot, []*corev1.Pod) {
	r := rand.New(rand.NewPCG(seed, 107))
	snap := &Snapshot{NodePools: []NodePool{pool}}
	if r.IntN(2) == 0 {
		spot := NodePool{Name: "spot", Weight: 50, InstanceTypes: pool.InstanceTypes,
			Requirements: []Requirement{{Key: labelCapacityType, Operator: "In", Values: []string{"spot"}}},
			Taints:       []corev1.Taint{{Key: "team", Value: "a", Effect: corev1.TaintEffectNoSchedule}},
			Limits:       corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(16*(1+r.IntN(8))), resource.DecimalSI)}}
		if r.IntN(2) == 0 {
			spot.Requirements = append(spot.Requirements, Requirement{Key: corev1.LabelArchStable, Operator: "In", Values: []string{"arm64"}})
		} else {
			spot.Requirements = append(spot.Requirements, Requirement{Key: "karpenter.k8s.aws/instance-category", Operator: "In", Values: []string{"c", "m"}})
		}
		snap.NodePools = append(snap.NodePools, spot)
	}
	for i := range r.IntN(3) {
		ds := mkPod(fmt.Sprintf("ds%d", i), pick(r, []string{"50m", "200m", "500m"}), pick(r, []string{"64Mi", "256Mi", "1Gi"}), nil)
		if r.IntN(3) == 0 {
			ds.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: pick(r, []string{"amd64", "arm64"})}
		}
		snap.DaemonSets = append(snap.DaemonSets, ds)
	}
	for i := range r.IntN(4) {
		name := fmt.Sprintf("n%d", i)
		snap.Nodes = append(snap.Nodes, ExistingNode{Name: name, NodePool: pool.Name,
			Labels: map[string]string{corev1.LabelHostname: name, labelCapacityType: "on-demand", corev1.LabelArchStable: "amd64",
				corev1.LabelTopologyZone: pick(r, []string{"us-east-1a", "us-east-1b", "us-east-1c"})},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(500*(1+r.IntN(8))), resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(int64(1<<30)*int64(1+r.IntN(8)), resource.BinarySI),
				corev1.ResourcePods:   resource.MustParse("110")}})
	}
	cpus := []string{"100m", "250m", "500m", "1", "2", "4"}
	mems := []string{"128Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi"}
	var pods []*corev1.Pod
	apps := 2 + r.IntN(7)
	for w := range apps {
		app := fmt.Sprint(w)
		cpu, mem, rule := pick(r, cpus), pick(r, mems), r.IntN(12)
		replicas := 1 + r.IntN(25)
		if rule == 4 { // zone anti-affinity: one pod per zone at most
			replicas = 1 + r.IntN(4)
		}
		var sel map[string]string
		if r.IntN(3) == 0 {
			sel = nodeSelectors[r.IntN(len(nodeSelectors))]
		}
		tolerates, other, skew := r.IntN(3) == 0, fmt.Sprint(r.IntN(apps)), int32(1+r.IntN(2))
		for i := range replicas {
			p := mkPod(fmt.Sprintf("w%d-%d", w, i), cpu, mem, map[string]string{"app": app})
			p.Spec.NodeSelector = sel
			if tolerates {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "team", Operator: corev1.TolerationOpExists}}
			}
			mixedRule(p, rule, app, other, skew)
			pods = append(pods, p)
		}
	}
	return snap, pods
}

// mixedRule gives pod p of app one of mixedCluster's rules (skew: a zone spread's maxSkew).
func mixedRule(p *corev1.Pod, rule int, app, other string, skew int32) {
	own := &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	spread := func(key string, skew int32) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: skew, TopologyKey: key,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: own}}
	}
	affinity := func(key string, sel *metav1.LabelSelector) *corev1.PodAffinity {
		return &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: key, LabelSelector: sel}}}
	}
	switch rule {
	case 1:
		spread(corev1.LabelTopologyZone, skew)
	case 2:
		spread(corev1.LabelHostname, 1)
	case 3:
		antiHostnameApp(p)
	case 4:
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelTopologyZone, LabelSelector: own}}}}
	case 5:
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: affinity(corev1.LabelTopologyZone, own)}
	case 6:
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: affinity(corev1.LabelHostname, own)}
	case 7:
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: affinity(corev1.LabelTopologyZone, &metav1.LabelSelector{MatchLabels: map[string]string{"app": other}})}
	case 8:
		hostPort80(p)
	case 9:
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
			Weight: 50, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-east-1c"}}}}}}}}
	case 10:
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
			Weight: 50, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: labelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{"spot"}}}}}}}}
	}
}

// TestMixedClustersPlanValid: mixedCluster's random clusters, every rule at once. Every plan
// passes the independent checker (checkPlan: each pod once, fits with the DaemonSets, lands
// where its selectors, taints, affinity, anti-affinity and spread allow, limits kept, no
// empty NodeClaim), every pod that is not planned has a reason, and none of them is a pod
// without a pod-level rule. 150 clusters (40 with -short); SCHED_DIFF_SEEDS sets how many.
func TestMixedClustersPlanValid(t *testing.T) {
	seeds := uint64(150)
	if testing.Short() {
		seeds = 40
	}
	if n := envSeeds(); n > 0 {
		seeds = n
	}
	pool := benchPool(catalogTypes(t))
	unsched := 0
	for seed := range seeds {
		snap, pods := mixedCluster(seed, pool)
		plan := Solve(snap, pods)
		if err := checkPlan(snap, pods, plan); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		unsched += len(plan.Unschedulable)
		// A pod with no pod-level rule (node selectors and preferences at most) always has
		// a place: the benchmark pool has no taint, no limit and a type for each selector.
		for _, u := range plan.Unschedulable {
			p := u.Pod
			if a := p.Spec.Affinity; (a == nil || a.PodAffinity == nil && a.PodAntiAffinity == nil) &&
				len(p.Spec.TopologySpreadConstraints) == 0 && len(p.Spec.Containers[0].Ports) == 0 {
				t.Fatalf("seed %d: %s, which has no pod-level rule, left unplanned: %s", seed, p.Name, u.Reason)
			}
		}
	}
	t.Logf("%d clusters, %d pods left unplanned (with their reasons)", seeds, unsched)
}
