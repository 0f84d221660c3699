package scheduling

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// fakeType is an instance type with no overhead, offered on-demand and spot in zones a-c.
func fakeType(name, arch string, cpu, memGi int64, price float64) *cloudprovider.InstanceType {
	it := &cloudprovider.InstanceType{
		Name:   name,
		Labels: map[string]string{labelInstanceType: name, corev1.LabelArchStable: arch, "size-cpu": fmt.Sprint(cpu)},
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU: *resource.NewQuantity(cpu, resource.DecimalSI), corev1.ResourceMemory: *resource.NewQuantity(memGi<<30, resource.BinarySI),
			corev1.ResourcePods: *resource.NewQuantity(110, resource.DecimalSI),
		},
	}
	for _, z := range []string{"zone-a", "zone-b", "zone-c"} {
		it.Offerings = append(it.Offerings,
			cloudprovider.Offering{Zone: z, CapacityType: "on-demand", PricePerHour: price, Available: true},
			cloudprovider.Offering{Zone: z, CapacityType: "spot", PricePerHour: price * 0.4, Available: true})
	}
	return it
}

func fakeTypes() []*cloudprovider.InstanceType {
	return []*cloudprovider.InstanceType{
		fakeType("small", "amd64", 2, 4, 0.1), fakeType("medium", "amd64", 4, 8, 0.2),
		fakeType("large", "amd64", 16, 32, 0.8), fakeType("arm-large", "arm64", 16, 32, 0.7),
	}
}

func odPool(name string) NodePool {
	return NodePool{Name: name, InstanceTypes: fakeTypes(),
		Requirements: []Requirement{{Key: labelCapacityType, Operator: "In", Values: []string{"on-demand"}}}}
}

func podN(n int, prefix, cpu, mem string, mut func(*corev1.Pod)) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range n {
		p := mkPod(fmt.Sprintf("%s-%d", prefix, i), cpu, mem, map[string]string{"app": prefix})
		if mut != nil {
			mut(p)
		}
		out = append(out, p)
	}
	return out
}

func zoneOf(nc NewNodeClaim) string { return nc.Cheapest.Zone }

func TestSolveTable(t *testing.T) {
	anti := func(key string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: p.Labels}}}}}
		}
	}
	spread := func(key string, how corev1.UnsatisfiableConstraintAction) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: key,
				WhenUnsatisfiable: how, LabelSelector: &metav1.LabelSelector{MatchLabels: p.Labels}}}
		}
	}
	cases := []struct {
		name   string
		snap   *Snapshot
		pods   []*corev1.Pod
		verify func(t *testing.T, plan *Plan)
	}{
		{"packs small pods on one cheap node", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(3, "web", "500m", "1Gi", nil), func(t *testing.T, plan *Plan) {
				wantClaims(t, plan, 1)
				if plan.NewNodeClaims[0].Cheapest.InstanceType != "small" || plan.Price != 0.1 {
					t.Errorf("want one small node at 0.1, got %+v", plan.NewNodeClaims[0].Cheapest)
				}
			}},
		{"nodeSelector arch picks arm", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(1, "a", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: "arm64"} }),
			func(t *testing.T, plan *Plan) {
				wantClaims(t, plan, 1)
				if got := plan.NewNodeClaims[0].Cheapest.InstanceType; got != "arm-large" {
					t.Errorf("got %s", got)
				}
			}},
		{"incompatible arch has a per-pool reason", &Snapshot{NodePools: []NodePool{{Name: "amd", InstanceTypes: fakeTypes(),
			Requirements: []Requirement{{Key: corev1.LabelArchStable, Operator: "In", Values: []string{"amd64"}}}}}},
			podN(1, "a", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: "arm64"} }),
			func(t *testing.T, plan *Plan) {
				wantUnsched(t, plan, 1, `incompatible with NodePool "amd": requires kubernetes.io/arch In [arm64], NodePool allows kubernetes.io/arch In [amd64]`)
			}},
		{"too big for any type", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(1, "big", "64", "1Gi", nil), func(t *testing.T, plan *Plan) {
				wantUnsched(t, plan, 1, "no instance type has 64 cpu after overhead")
			}},
		{"Gt on a type label", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(1, "g", "1", "1Gi", func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "size-cpu", Operator: corev1.NodeSelectorOpGt, Values: []string{"4"}}}}}}}}
			}), func(t *testing.T, plan *Plan) {
				wantClaims(t, plan, 1)
				if got := plan.NewNodeClaims[0].Cheapest.InstanceType; got != "arm-large" {
					t.Errorf("got %s", got)
				}
			}},
		{"hostname anti-affinity: one pod per node", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(4, "db", "100m", "128Mi", anti(corev1.LabelHostname)), func(t *testing.T, plan *Plan) { wantClaims(t, plan, 4) }},
		{"zone spread over three zones", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(6, "web", "1", "1Gi", spread(corev1.LabelTopologyZone, corev1.DoNotSchedule)), func(t *testing.T, plan *Plan) {
				zones := map[string]int{}
				for _, nc := range plan.NewNodeClaims {
					zones[zoneOf(nc)] += len(nc.Pods)
				}
				if len(zones) != 3 || zones["zone-a"] != 2 || zones["zone-b"] != 2 {
					t.Errorf("zones %v", zones)
				}
			}},
		{"taint not tolerated", &Snapshot{NodePools: []NodePool{func() NodePool {
			p := odPool("gpu")
			p.Taints = []corev1.Taint{{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
			return p
		}()}}, podN(1, "x", "1", "1Gi", nil), func(t *testing.T, plan *Plan) {
			wantUnsched(t, plan, 1, "does not tolerate taint gpu=true:NoSchedule")
		}},
		{"limits stop new capacity", &Snapshot{NodePools: []NodePool{func() NodePool {
			p := odPool("capped")
			p.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
			return p
		}()}}, podN(3, "x", "1500m", "1Gi", nil), func(t *testing.T, plan *Plan) {
			if len(plan.Unschedulable) == 0 {
				t.Fatalf("expected limits to leave pods unschedulable")
			}
			if !strings.Contains(plan.Unschedulable[0].Reason, `exceeds NodePool "capped" limits`) {
				t.Errorf("reason %q", plan.Unschedulable[0].Reason)
			}
		}},
		{"weight: heavier pool first", &Snapshot{NodePools: []NodePool{odPool("light"), func() NodePool {
			p := odPool("heavy")
			p.Weight = 10
			return p
		}()}}, podN(1, "x", "1", "1Gi", nil), func(t *testing.T, plan *Plan) {
			wantClaims(t, plan, 1)
			if plan.NewNodeClaims[0].NodePool != "heavy" {
				t.Errorf("got pool %s", plan.NewNodeClaims[0].NodePool)
			}
		}},
		{"existing node filled first", &Snapshot{NodePools: []NodePool{odPool("default")}, Nodes: []ExistingNode{{
			Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1"},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("10")}}}},
			podN(3, "x", "1", "1Gi", nil), func(t *testing.T, plan *Plan) {
				wantClaims(t, plan, 0)
				if len(plan.ExistingNodes) != 1 || len(plan.ExistingNodes[0].Pods) != 3 {
					t.Errorf("existing %+v", plan.ExistingNodes)
				}
			}},
		{"existing pod's anti-affinity repels the new pod", &Snapshot{NodePools: []NodePool{odPool("default")}, Nodes: []ExistingNode{{
			Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1"},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("10")},
			Pods:        podN(1, "db", "100m", "128Mi", anti(corev1.LabelHostname))}}},
			podN(1, "db", "100m", "128Mi", nil), func(t *testing.T, plan *Plan) { wantClaims(t, plan, 1) }},
		{"sidecar and init containers", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(1, "init", "100m", "128Mi", func(p *corev1.Pod) {
				always := corev1.ContainerRestartPolicyAlways
				p.Spec.InitContainers = []corev1.Container{
					{Name: "side", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}},
					{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}},
				}
			}), func(t *testing.T, plan *Plan) {
				wantClaims(t, plan, 1)
				if got := plan.NewNodeClaims[0].Requests.Cpu().MilliValue(); got != 3000 {
					t.Errorf("requests cpu %dm, want 3000m (init 2 + sidecar 1)", got)
				}
			}},
		{"preferred node affinity relaxed when impossible", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(1, "p", "1", "1Gi", func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
					Weight: 1, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"s390x"}}}}}}}}
			}), func(t *testing.T, plan *Plan) { wantClaims(t, plan, 1) }},
		{"host ports conflict", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(2, "hp", "100m", "128Mi", func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 8080, ContainerPort: 8080}}
			}), func(t *testing.T, plan *Plan) { wantClaims(t, plan, 2) }},
		// On the host network a container port is a host port, though a manifest does not say
		// so (the API server fills hostPort in).
		{"host network ports conflict", &Snapshot{NodePools: []NodePool{odPool("default")}},
			podN(2, "hn", "100m", "128Mi", func(p *corev1.Pod) {
				p.Spec.HostNetwork = true
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9100}}
			}), func(t *testing.T, plan *Plan) { wantClaims(t, plan, 2) }},
		{"bound volume pins the zone", &Snapshot{NodePools: []NodePool{odPool("default")}, Volumes: VolumeTopology{
			Claims: map[string]*corev1.PersistentVolumeClaim{"default/data": {Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}}},
			Volumes: map[string]*corev1.PersistentVolume{"pv1": {ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{
				Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: labelZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"zone-c"}}}}}}}}}},
		}}, podN(1, "v", "1", "1Gi", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
		}), func(t *testing.T, plan *Plan) {
			wantClaims(t, plan, 1)
			if z := zoneOf(plan.NewNodeClaims[0]); z != "zone-c" {
				t.Errorf("zone %s", z)
			}
		}},
		{"daemonset overhead counted", &Snapshot{NodePools: []NodePool{odPool("default")}, DaemonSets: podN(1, "ds", "1500m", "1Gi", nil)},
			podN(1, "x", "1", "1Gi", nil), func(t *testing.T, plan *Plan) {
				wantClaims(t, plan, 1)
				if got := plan.NewNodeClaims[0].Cheapest.InstanceType; got != "medium" {
					t.Errorf("got %s, want medium (2.5 cpu with the DaemonSet)", got)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := Solve(tc.snap, tc.pods)
			if err := checkPlan(tc.snap, tc.pods, plan); err != nil {
				t.Fatalf("invalid plan: %v", err)
			}
			tc.verify(t, plan)
		})
	}
}

func wantClaims(t *testing.T, plan *Plan, n int) {
	t.Helper()
	if len(plan.NewNodeClaims) != n || len(plan.Unschedulable) != 0 {
		t.Fatalf("want %d claims and none unschedulable, got %d claims, unschedulable %+v", n, len(plan.NewNodeClaims), plan.Unschedulable)
	}
}

func wantUnsched(t *testing.T, plan *Plan, n int, reason string) {
	t.Helper()
	if len(plan.Unschedulable) != n {
		t.Fatalf("want %d unschedulable, got %d", n, len(plan.Unschedulable))
	}
	if !strings.Contains(plan.Unschedulable[0].Reason, reason) {
		t.Errorf("reason %q does not contain %q", plan.Unschedulable[0].Reason, reason)
	}
}

func TestDeterministic(t *testing.T) {
	its := catalogTypes(t)
	snap := &Snapshot{NodePools: []NodePool{benchPool(its)}}
	pods := diversePods(500, 3)
	a, b := Solve(snap, pods), Solve(snap, pods)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two solves of the same input differ")
	}
}

func TestLowerBoundBelowPlan(t *testing.T) {
	snap := &Snapshot{NodePools: []NodePool{odPool("default")}}
	pods := podN(40, "w", "700m", "1500Mi", nil)
	plan := Solve(snap, pods)
	lb := LowerBound(snap, pods)
	if lb <= 0 || lb > plan.Price+1e-9 {
		t.Fatalf("lower bound %f, plan %f", lb, plan.Price)
	}
	// 28 cpu at 0.7/16-cpu (arm-large) is 1.225; memory 58.6Gi at 0.7/32Gi is 1.28.
	if lb < 1.2 || lb > 1.4 {
		t.Errorf("lower bound %f outside the hand-computed range", lb)
	}
}

// TestInstanceTypeLabels: a NodePool requirement on a provider label (karpenter.k8s.aws/...)
// chooses among instance types, as upstream's well-known labels do: a type without the
// label fails In and meets NotIn, and a label no type carries leaves the pool nothing, with
// the requirement named. A key no type carries outside that domain stays a label the pool
// gives its nodes.
func TestInstanceTypeLabels(t *testing.T) {
	const cpuMaker, gpuName = "karpenter.k8s.aws/instance-cpu-manufacturer", "karpenter.k8s.aws/instance-gpu-name"
	types := func() []*cloudprovider.InstanceType {
		graviton, intel, bare := fakeType("graviton", "amd64", 4, 8, 0.1), fakeType("intel", "amd64", 4, 8, 0.2), fakeType("bare", "amd64", 4, 8, 0.05)
		graviton.Labels[cpuMaker], intel.Labels[cpuMaker] = "aws", "intel"
		intel.Labels[gpuName] = "t4"
		return []*cloudprovider.InstanceType{graviton, intel, bare}
	}
	solve := func(reqs ...Requirement) *Plan {
		pool := NodePool{Name: "default", InstanceTypes: types(),
			Requirements: append([]Requirement{{Key: labelCapacityType, Operator: "In", Values: []string{"on-demand"}}}, reqs...)}
		snap := &Snapshot{NodePools: []NodePool{pool}}
		pods := podN(1, "web", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"team": "a"} })
		plan := Solve(snap, pods)
		if err := checkPlan(snap, pods, plan); err != nil {
			t.Fatalf("invalid plan: %v", err)
		}
		return plan
	}
	team := Requirement{Key: "team", Operator: "In", Values: []string{"a"}}
	for _, tc := range []struct {
		name string
		req  Requirement
		want string // the type chosen, or the unschedulable reason's text
	}{
		{"In drops types without the label", Requirement{Key: cpuMaker, Operator: "In", Values: []string{"intel"}}, "intel"},
		{"NotIn keeps them", Requirement{Key: cpuMaker, Operator: "NotIn", Values: []string{"aws"}}, "bare"},
		{"DoesNotExist keeps only them", Requirement{Key: gpuName, Operator: "DoesNotExist"}, "bare"},
		{"a label no type carries", Requirement{Key: "karpenter.k8s.aws/instance-network-bandwidth", Operator: "Gt", Values: []string{"100"}},
			"none of its instance types satisfies its requirement karpenter.k8s.aws/instance-network-bandwidth"},
		// A pod selecting the pool's own label on a pool left with no type: compatFor read
		// the first of no types and panicked.
		{"no type at all", Requirement{Key: labelInstanceType, Operator: "In", Values: []string{"none"}},
			"none of its instance types satisfies its requirement node.kubernetes.io/instance-type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := solve(team, tc.req)
			switch {
			case len(plan.Unschedulable) > 0:
				if !strings.Contains(plan.Unschedulable[0].Reason, tc.want) {
					t.Errorf("unschedulable: %s; want %s", plan.Unschedulable[0].Reason, tc.want)
				}
			case len(plan.NewNodeClaims) != 1:
				t.Fatalf("%d NodeClaims", len(plan.NewNodeClaims))
			case plan.NewNodeClaims[0].Cheapest.InstanceType != tc.want:
				t.Errorf("launched %s, want %s", plan.NewNodeClaims[0].Cheapest.InstanceType, tc.want)
			}
		})
	}
}

// TestSolveSurvivesItsOwnFault: a fault inside the solver (here a nil instance type, which
// it dereferences) is no panic for the caller: every pod is unschedulable with the reason
// and Err holds the panic with its stack.
func TestSolveSurvivesItsOwnFault(t *testing.T) {
	pool := NodePool{Name: "broken", InstanceTypes: []*cloudprovider.InstanceType{nil}}
	pods := podN(3, "web", "1", "1Gi", nil)
	plan := Solve(&Snapshot{NodePools: []NodePool{pool}}, pods)
	if plan.Err == nil || !strings.Contains(plan.Err.Error(), "planning panicked") || !strings.Contains(plan.Err.Error(), "goroutine") {
		t.Fatalf("Err %v, want the panic with its stack", plan.Err)
	}
	if len(plan.Unschedulable) != len(pods) || len(plan.NewNodeClaims) != 0 {
		t.Fatalf("%d unschedulable and %d NodeClaims, want every pod unschedulable", len(plan.Unschedulable), len(plan.NewNodeClaims))
	}
	if r := plan.Unschedulable[0].Reason; !strings.HasPrefix(r, "scheduler error") || strings.Contains(r, "\n") {
		t.Errorf("reason %q, want one line naming the scheduler error", r)
	}
}

// TestNodeNameFields: a pod whose node affinity names a node (matchFields metadata.name, as
// a DaemonSet's pods and some operators' do) goes to that node or nowhere: a new NodeClaim's
// name is not known, so none is launched for it. NotIn a name still admits new nodes.
func TestNodeNameFields(t *testing.T) {
	existing := ExistingNode{Name: "worker-1", Labels: map[string]string{labelHostname: "worker-1", corev1.LabelArchStable: "amd64"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("10")}}
	pinned := func(op corev1.NodeSelectorOperator, cpu string) *corev1.Pod {
		return podN(1, "pinned", cpu, "1Gi", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: op, Values: []string{"worker-1"}}}}}}}}
		})[0]
	}
	for _, tc := range []struct {
		name                 string
		pod                  *corev1.Pod
		onExisting, newClaim int
		unschedulable        int
	}{
		{"In, fits the node", pinned(corev1.NodeSelectorOpIn, "1"), 1, 0, 0},
		{"In, too big for the node", pinned(corev1.NodeSelectorOpIn, "3"), 0, 0, 1},
		{"NotIn", pinned(corev1.NodeSelectorOpNotIn, "1"), 0, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := &Snapshot{NodePools: []NodePool{odPool("default")}, Nodes: []ExistingNode{existing}}
			plan := Solve(snap, []*corev1.Pod{tc.pod})
			if err := checkPlan(snap, []*corev1.Pod{tc.pod}, plan); err != nil {
				t.Fatalf("invalid plan: %v", err)
			}
			on := 0
			for _, e := range plan.ExistingNodes {
				on += len(e.Pods)
			}
			if on != tc.onExisting || len(plan.NewNodeClaims) != tc.newClaim || len(plan.Unschedulable) != tc.unschedulable {
				t.Errorf("%d on worker-1, %d NodeClaims, %d unschedulable; want %d, %d, %d",
					on, len(plan.NewNodeClaims), len(plan.Unschedulable), tc.onExisting, tc.newClaim, tc.unschedulable)
			}
			// The reason says why no NodeClaim was planned: the name, not "no instance type".
			for _, u := range plan.Unschedulable {
				if !strings.Contains(u.Reason, "metadata.name In [worker-1]") || !strings.Contains(u.Reason, "name is not known before it launches") {
					t.Errorf("reason %q does not say the pod is pinned to worker-1 by name", u.Reason)
				}
			}
		})
	}
}
