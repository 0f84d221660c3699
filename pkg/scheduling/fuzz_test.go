package scheduling

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fuzzBytes hands out small numbers from the fuzzer's input (zeros once it runs out).
type fuzzBytes struct {
	b []byte
	i int
}

func (f *fuzzBytes) n(k int) int {
	if f.i >= len(f.b) {
		return 0
	}
	f.i++
	return int(f.b[f.i-1]) % k
}

// fuzzSnapshot builds one or two NodePools over the fake types (arch, capacity type, taint
// and limit chosen by the input), maybe an existing node, and up to 24 pods with random
// requests and constraints.
func fuzzSnapshot(f *fuzzBytes) (*Snapshot, []*corev1.Pod) {
	snap := &Snapshot{}
	for i := range 1 + f.n(2) {
		p := NodePool{Name: fmt.Sprintf("pool-%d", i), Weight: int32(f.n(3)), InstanceTypes: fakeTypes()}
		if f.n(2) == 0 {
			p.Requirements = append(p.Requirements, Requirement{Key: labelCapacityType, Operator: "In", Values: []string{[]string{"on-demand", "spot"}[f.n(2)]}})
		}
		if f.n(3) == 0 {
			p.Requirements = append(p.Requirements, Requirement{Key: corev1.LabelArchStable, Operator: "In", Values: []string{"arm64"}})
		}
		if f.n(3) == 0 {
			p.Taints = []corev1.Taint{{Key: "team", Value: "a", Effect: corev1.TaintEffectNoSchedule}}
		}
		if f.n(3) == 0 {
			p.Limits = corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(4+f.n(40)), resource.DecimalSI)}
		}
		snap.NodePools = append(snap.NodePools, p)
	}
	if f.n(2) == 0 {
		snap.Nodes = []ExistingNode{{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1", labelZone: "zone-a", corev1.LabelArchStable: "amd64"},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("20")}}}
	}
	cpus := []string{"100m", "500m", "1", "3", "7"}
	mems := []string{"128Mi", "1Gi", "4Gi", "12Gi"}
	var pods []*corev1.Pod
	for i := range f.n(25) {
		app := fmt.Sprintf("app-%d", f.n(3))
		p := mkPod(fmt.Sprintf("p-%d", i), cpus[f.n(len(cpus))], mems[f.n(len(mems))], map[string]string{"app": app})
		fuzzConstraints(f, p, app)
		pods = append(pods, p)
	}
	return snap, pods
}

func fuzzConstraints(f *fuzzBytes, p *corev1.Pod, app string) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	switch f.n(6) {
	case 1:
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: []string{labelZone, labelHostname}[f.n(2)],
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: sel}}
	case 2:
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: []string{labelHostname, labelZone}[f.n(2)], LabelSelector: sel}}}}
	case 3:
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: labelZone, LabelSelector: sel}}}}
	case 4:
		p.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: []string{"amd64", "arm64"}[f.n(2)]}
	case 5:
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 8080, ContainerPort: 8080}}
	}
	if f.n(3) == 0 {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "team", Operator: corev1.TolerationOpExists}}
	}
	if f.n(4) == 0 {
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}
	}
}

// FuzzSolve checks every plan of a random small snapshot with the independent checker, and
// that solving twice gives the same price.
func FuzzSolve(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 1, 0, 1, 0, 20, 1, 1, 1, 3, 2, 0, 2, 2, 1, 3, 1, 2, 0, 0, 4, 3, 5})
	f.Add([]byte{2, 1, 1, 0, 1, 0, 0, 0, 1, 0, 2, 0, 10, 24, 0, 4, 3, 1, 1, 2, 1, 1, 2, 3, 0, 1, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, pods := fuzzSnapshot(&fuzzBytes{b: data})
		plan := Solve(snap, pods)
		if err := checkPlan(snap, pods, plan); err != nil {
			t.Fatalf("%d pods: %v", len(pods), err)
		}
		if again := Solve(snap, pods); again.Price != plan.Price || len(again.Unschedulable) != len(plan.Unschedulable) {
			t.Fatalf("not deterministic: %f/%d then %f/%d", plan.Price, len(plan.Unschedulable), again.Price, len(again.Unschedulable))
		}
	})
}
