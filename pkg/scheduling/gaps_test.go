package scheduling

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

func antiHostname(p *corev1.Pod) {
	p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: p.Labels}}}}}
}

// TestNodesLimit: limits.nodes caps how many nodes a NodePool has, counting the ones it
// already has (Used), and the plan respects every other limit as before.
func TestNodesLimit(t *testing.T) {
	cases := []struct {
		name          string
		limit, used   string
		wantClaims    int
		wantUnsched   int
		anotherLimits corev1.ResourceList
	}{
		{name: "no nodes used", limit: "2", wantClaims: 2, wantUnsched: 3},
		{name: "one node used", limit: "2", used: "1", wantClaims: 1, wantUnsched: 4},
		{name: "limit reached", limit: "3", used: "3", wantClaims: 0, wantUnsched: 5},
		{name: "roomy", limit: "10", used: "2", wantClaims: 5},
		{name: "with a cpu limit binding first", limit: "10", wantClaims: 4, wantUnsched: 1,
			anotherLimits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pool := odPool("capped")
			pool.Limits = corev1.ResourceList{ResourceNodes: resource.MustParse(tc.limit)}
			for k, v := range tc.anotherLimits {
				pool.Limits[k] = v
			}
			if tc.used != "" {
				pool.Used = corev1.ResourceList{ResourceNodes: resource.MustParse(tc.used)}
			}
			snap := &Snapshot{NodePools: []NodePool{pool}}
			pods := podN(5, "solo", "1", "1Gi", antiHostname)
			plan := Solve(snap, pods)
			if len(plan.NewNodeClaims) != tc.wantClaims || len(plan.Unschedulable) != tc.wantUnsched {
				t.Fatalf("%d claims, %d unschedulable; want %d and %d", len(plan.NewNodeClaims), len(plan.Unschedulable), tc.wantClaims, tc.wantUnsched)
			}
			if err := checkPlan(snap, pods, plan); err != nil {
				t.Error(err)
			}
			if _, ok := claimRequests(plan)[ResourceNodes]; ok {
				t.Error(`"nodes" leaked into a NodeClaim's requests`)
			}
		})
	}
}

// claimRequests sums the requests of every new NodeClaim.
func claimRequests(p *Plan) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for _, nc := range p.NewNodeClaims {
		addList(sum, nc.Requests)
	}
	return sum
}

// TestDeprecatedLabelAliases: pods selecting nodes by the deprecated aliases of well-known
// labels are planned as if they used the stable names.
func TestDeprecatedLabelAliases(t *testing.T) {
	snap := &Snapshot{NodePools: []NodePool{odPool("default")}}
	zonal := podN(1, "zonal", "1", "1Gi", func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{corev1.LabelFailureDomainBetaZone: "zone-b"}
	})
	arm := podN(1, "arm", "1", "1Gi", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "beta.kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"arm64"}}}}}}}}
	})
	pods := append(zonal, arm...)
	plan := Solve(snap, pods)
	if len(plan.Unschedulable) != 0 {
		t.Fatalf("%d unschedulable, first: %s", len(plan.Unschedulable), plan.Unschedulable[0].Reason)
	}
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Error(err)
	}
	for _, nc := range plan.NewNodeClaims {
		for _, p := range nc.Pods {
			if p.Name == "zonal-0" && nc.Cheapest.Zone != "zone-b" {
				t.Errorf("pod selecting failure-domain zone-b got zone %s", nc.Cheapest.Zone)
			}
			if p.Name == "arm-0" && nc.Cheapest.InstanceType != "arm-large" {
				t.Errorf("pod requiring beta arch arm64 got %s", nc.Cheapest.InstanceType)
			}
		}
	}
	// An existing node labelled with the stable name takes a pod selecting the alias.
	existing := ExistingNode{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1", corev1.LabelTopologyZone: "zone-b"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("10")}}
	plan = Solve(&Snapshot{NodePools: []NodePool{odPool("default")}, Nodes: []ExistingNode{existing}}, zonal)
	if len(plan.ExistingNodes) != 1 || len(plan.NewNodeClaims) != 0 {
		t.Errorf("pod selecting the zone alias not placed on the existing zone-b node: %d existing, %d new", len(plan.ExistingNodes), len(plan.NewNodeClaims))
	}
}

// TestAffinityNamespaceSelector: a pod anti-affinity term counts the pods of the namespaces
// its namespaceSelector selects (by the Namespaces' labels) and of its namespaces list, not
// every namespace.
func TestAffinityNamespaceSelector(t *testing.T) {
	db := mkPod("db", "100m", "128Mi", map[string]string{"app": "db"})
	db.Namespace, db.Spec.NodeName = "team-a", "n1"
	node := ExistingNode{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("10")},
		Pods:        []*corev1.Pod{db}}
	namespaces := map[string]map[string]string{
		"team-a": {"team": "a", corev1.LabelMetadataName: "team-a"},
		"team-b": {"team": "b", corev1.LabelMetadataName: "team-b"},
	}
	awayFromDB := func(sel *metav1.LabelSelector, list ...string) []*corev1.Pod {
		return podN(1, "web", "1", "1Gi", func(p *corev1.Pod) {
			p.Namespace = "web"
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				NamespaceSelector: sel, Namespaces: list}}}}
		})
	}
	cases := []struct {
		name       string
		pods       []*corev1.Pod
		namespaces map[string]map[string]string
		onExisting bool
	}{
		{"selector picks the db's namespace", awayFromDB(&metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}), namespaces, false},
		{"selector picks another namespace", awayFromDB(&metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}), namespaces, true},
		{"selector by the implicit name label", awayFromDB(&metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "team-a"}}), map[string]map[string]string{}, false},
		{"list plus a selector that misses", awayFromDB(&metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}, "team-a"), namespaces, false},
		{"empty selector is every namespace", awayFromDB(&metav1.LabelSelector{}), namespaces, false},
		{"no selector, no list: the pod's own namespace", awayFromDB(nil), namespaces, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := &Snapshot{NodePools: []NodePool{odPool("default")}, Nodes: []ExistingNode{node}, Namespaces: tc.namespaces}
			plan := Solve(snap, tc.pods)
			if got := len(plan.ExistingNodes) == 1; got != tc.onExisting {
				t.Errorf("placed on the db's node = %v, want %v (new claims %d, unschedulable %d)", got, tc.onExisting, len(plan.NewNodeClaims), len(plan.Unschedulable))
			}
		})
	}
}

// TestManyPreferencesKept: a pod with more than eight preferences is planned with all of
// them while they can be met; none is dropped unasked (it used to keep only eight).
func TestManyPreferencesKept(t *testing.T) {
	pods := podN(1, "picky", "1", "1Gi", func(p *corev1.Pod) {
		var terms []corev1.PreferredSchedulingTerm
		// The lowest weight, relaxed first, asks for zone-c (the zones cost the same, so
		// only the preference moves the pod there).
		terms = append(terms, corev1.PreferredSchedulingTerm{Weight: 1, Preference: corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"zone-c"}}}}})
		for i := range 11 {
			terms = append(terms, corev1.PreferredSchedulingTerm{Weight: int32(10 + i), Preference: corev1.NodeSelectorTerm{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}}}}})
		}
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: terms}}
	})
	plan := Solve(&Snapshot{NodePools: []NodePool{odPool("default")}}, pods)
	wantClaims(t, plan, 1)
	if z := plan.NewNodeClaims[0].Cheapest.Zone; z != "zone-c" {
		t.Errorf("zone %s: the twelfth preference (zone-c) was dropped", z)
	}
	// Preferences that cannot all hold are relaxed, lowest weight first, and the pod is
	// still planned.
	pods[0].Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[5].Preference.MatchExpressions[0].Values = []string{"s390x"}
	plan = Solve(&Snapshot{NodePools: []NodePool{odPool("default")}}, pods)
	wantClaims(t, plan, 1)
}

// TestCSIVolumeLimits: an existing node takes no more volumes of a CSI driver than its
// CSINode allows, counting the volumes of the pods already there.
func TestCSIVolumeLimits(t *testing.T) {
	sc := "ebs"
	claim := func(name string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc}}
	}
	withClaim := func(p *corev1.Pod, name string) *corev1.Pod {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}})
		return p
	}
	running := withClaim(mkPod("running", "100m", "128Mi", nil), "c-running")
	running.Spec.NodeName = "n1"
	var pending []*corev1.Pod
	for i := range 3 {
		pending = append(pending, withClaim(mkPod(fmt.Sprintf("db-%d", i), "100m", "128Mi", map[string]string{"app": "db"}), fmt.Sprintf("c-%d", i)))
	}
	volumes := VolumeTopology{
		Claims:         map[string]*corev1.PersistentVolumeClaim{"default/c-running": claim("c-running"), "default/c-0": claim("c-0"), "default/c-1": claim("c-1"), "default/c-2": claim("c-2")},
		StorageClasses: map[string]*StorageClass{sc: {Name: sc, Provisioner: "ebs.csi.aws.com"}},
	}
	for _, tc := range []struct {
		name       string
		limits     map[string]int64
		onExisting int
	}{
		{"no limit", nil, 3},
		{"room for two more", map[string]int64{"ebs.csi.aws.com": 3}, 2},
		{"full", map[string]int64{"ebs.csi.aws.com": 1}, 0},
		{"another driver's limit", map[string]int64{"efs.csi.aws.com": 1}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := ExistingNode{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1"}, VolumeLimits: tc.limits,
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("50")},
				Pods:        []*corev1.Pod{running}}
			plan := Solve(&Snapshot{NodePools: []NodePool{odPool("default")}, Nodes: []ExistingNode{node}, Volumes: volumes}, pending)
			got := 0
			for _, e := range plan.ExistingNodes {
				got += len(e.Pods)
			}
			if got != tc.onExisting || len(plan.Unschedulable) != 0 {
				t.Errorf("%d pods on the existing node (want %d), %d unschedulable", got, tc.onExisting, len(plan.Unschedulable))
			}
		})
	}
}

// TestRegionSelector: catalogue types carry topology.kubernetes.io/region, so a pod that
// selects its region (or the deprecated alias) is planned and one that selects another
// region is not.
func TestRegionSelector(t *testing.T) {
	snap := &Snapshot{NodePools: []NodePool{{Name: "default", InstanceTypes: catalog.Default()}}}
	for _, tc := range []struct {
		key, region string
		ok          bool
	}{
		{corev1.LabelTopologyRegion, catalog.DefaultRegion, true},
		{corev1.LabelFailureDomainBetaRegion, catalog.DefaultRegion, true},
		{corev1.LabelTopologyRegion, "eu-west-1", false},
	} {
		p := mkPod("p", "1", "1Gi", nil)
		p.Spec.NodeSelector = map[string]string{tc.key: tc.region}
		plan := Solve(snap, []*corev1.Pod{p})
		if got := len(plan.Unschedulable) == 0; got != tc.ok {
			t.Errorf("%s=%s: scheduled %v, want %v (%+v)", tc.key, tc.region, got, tc.ok, plan.Unschedulable)
		}
	}
}
