package scheduling

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// catalogTypes loads ../shared/data/ec2-catalog.json relative to the repository root, or
// skips the test when it is absent.
func catalogTypes(tb testing.TB) []*cloudprovider.InstanceType {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("no go.mod above the package; catalogue not found")
		}
		dir = parent
	}
	// The shared data lives next to main's checkout (../shared/data from the repo root);
	// from a worktree look further up, then at its fixed place.
	path := ""
	for d := dir; ; d = filepath.Dir(d) {
		candidate := filepath.Join(d, "..", "shared", "data", "ec2-catalog.json")
		if _, err := os.Stat(candidate); err == nil {
			path = candidate
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if path == "" {
		path = "/work/shared/data/ec2-catalog.json"
		if _, err := os.Stat(path); err != nil {
			tb.Skipf("catalogue not found above %s nor at %s: %v", dir, path, err)
		}
	}
	its, err := catalog.Load(path, "us-east-1")
	if err != nil {
		tb.Fatal(err)
	}
	return its
}

// benchPool is one NodePool allowing on-demand amd64 and arm64 types of current-generation
// c, m, r and g families.
func benchPool(its []*cloudprovider.InstanceType) NodePool {
	return NodePool{
		Name: "default",
		Requirements: []Requirement{
			{Key: labelCapacityType, Operator: "In", Values: []string{"on-demand"}},
			{Key: corev1.LabelArchStable, Operator: "In", Values: []string{"amd64", "arm64"}},
			{Key: catalog.LabelInstanceCategory, Operator: "In", Values: []string{"c", "m", "r", "g"}},
			{Key: catalog.LabelInstanceGeneration, Operator: "Gt", Values: []string{"4"}},
		},
		InstanceTypes: its,
	}
}

func mkPod(name string, cpu, mem string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels, UID: k8stypes.UID("uid-" + name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
		}}}},
	}
}

var (
	diverseCPU = []string{"100m", "250m", "500m", "1", "1.5"}
	diverseMem = []string{"100Mi", "256Mi", "512Mi", "1Gi", "2Gi", "4Gi"}
)

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

func letter(r *rand.Rand) string { return string(rune('a' + r.IntN(7))) }

// diversePods is upstream Karpenter's benchmark mix: a fifth each of generic pods, zone
// spread, hostname spread, zone self-affinity and hostname anti-affinity.
func diversePods(n int, seed uint64) []*corev1.Pod {
	r := rand.New(rand.NewPCG(seed, 1))
	pods := make([]*corev1.Pod, 0, n)
	for i := range n {
		name := fmt.Sprintf("p-%d", i)
		var p *corev1.Pod
		switch i % 5 {
		case 0:
			p = mkPod(name, pick(r, diverseCPU), pick(r, diverseMem), map[string]string{"my-label": letter(r)})
		case 1, 2:
			key := corev1.LabelTopologyZone
			if i%5 == 2 {
				key = corev1.LabelHostname
			}
			p = mkPod(name, pick(r, diverseCPU), pick(r, diverseMem), map[string]string{"my-label": letter(r)})
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: key,
				WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{"my-label": letter(r)}}}}
		case 3:
			p = mkPod(name, pick(r, diverseCPU), pick(r, diverseMem), map[string]string{"my-affininity": letter(r)})
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelTopologyZone, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"my-affininity": letter(r)}}}}}}
		default:
			p = mkPod(name, pick(r, diverseCPU), pick(r, diverseMem), map[string]string{"app": "nginx"})
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}}}}}}
		}
		pods = append(pods, p)
	}
	return pods
}

// webPods are Deployments of 2-200 replicas with requests from 100m/128Mi to 4/16Gi, a
// third of them spread over zones.
func webPods(n int, seed uint64) []*corev1.Pod {
	r := rand.New(rand.NewPCG(seed, 2))
	cpus := []string{"100m", "250m", "500m", "1", "2", "4"}
	mems := []string{"128Mi", "256Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi", "16Gi"}
	var pods []*corev1.Pod
	for d := 0; len(pods) < n; d++ {
		replicas := min(2+r.IntN(199), n-len(pods))
		cpu, mem := pick(r, cpus), pick(r, mems)
		spread := r.IntN(3) == 0
		app := fmt.Sprintf("web-%d", d)
		for i := range replicas {
			p := mkPod(fmt.Sprintf("%s-%d", app, i), cpu, mem, map[string]string{"app": app})
			if spread {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1,
					TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}
			}
			pods = append(pods, p)
		}
	}
	return pods
}

// selectorPods are Deployments of the web mix's sizes (2-200 replicas) of which two in
// three select nodes: a zone (StatefulSets on zonal volumes), an architecture, an instance
// category, or a zone and an architecture.
func selectorPods(n int, seed uint64) []*corev1.Pod {
	r := rand.New(rand.NewPCG(seed, 6))
	cpus := []string{"100m", "250m", "500m", "1", "2", "4"}
	mems := []string{"128Mi", "256Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi", "16Gi"}
	sels := []map[string]string{nil, nil, nil,
		{corev1.LabelTopologyZone: "us-east-1a"}, {corev1.LabelTopologyZone: "us-east-1b"},
		{corev1.LabelArchStable: "arm64"}, {corev1.LabelArchStable: "amd64"},
		{catalog.LabelInstanceCategory: "c"}, {catalog.LabelInstanceCategory: "m"}, {catalog.LabelInstanceCategory: "r"},
		{corev1.LabelTopologyZone: "us-east-1a", corev1.LabelArchStable: "amd64"}}
	var pods []*corev1.Pod
	for d := 0; len(pods) < n; d++ {
		replicas := min(2+r.IntN(199), n-len(pods))
		cpu, mem, sel := pick(r, cpus), pick(r, mems), sels[r.IntN(len(sels))]
		app := fmt.Sprintf("sel-%d", d)
		for i := range replicas {
			p := mkPod(fmt.Sprintf("%s-%d", app, i), cpu, mem, map[string]string{"app": app})
			p.Spec.NodeSelector = sel
			pods = append(pods, p)
		}
	}
	return pods
}

// batchPods are Jobs of 50-550 identical replicas with realistic batch shapes: 1-8 CPU
// with 2, 4 or 8 GiB per CPU; one Job in ten asks for one GPU per pod (1-3 CPU, 2-4 GiB
// per CPU).
func batchPods(n int, seed uint64) []*corev1.Pod {
	r := rand.New(rand.NewPCG(seed, 3))
	var pods []*corev1.Pod
	for j := 0; len(pods) < n; j++ {
		size := min(50+r.IntN(500), n-len(pods))
		gpu := j%10 == 9
		cpus, perCPU := []int{1, 2, 3, 4, 6, 8}, []int{2, 4, 8}
		if gpu {
			cpus, perCPU = []int{1, 2, 3}, []int{2, 4}
		}
		cpu := cpus[r.IntN(len(cpus))]
		mem := fmt.Sprintf("%dGi", cpu*perCPU[r.IntN(len(perCPU))])
		for i := range size {
			p := mkPod(fmt.Sprintf("job-%d-%d", j, i), fmt.Sprint(cpu), mem, map[string]string{"job": fmt.Sprint(j)})
			if gpu {
				p.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"] = resource.MustParse("1")
			}
			pods = append(pods, p)
		}
	}
	return pods
}

// batchStrandedPods is the first batch mix, kept as a separate, honestly reported case: its
// 16 CPU / 64Gi shape fits only once on most nodes after overhead, so a large part of each
// such node is stranded whatever the packing and the LP bound cannot be approached.
func batchStrandedPods(n int, seed uint64) []*corev1.Pod {
	r := rand.New(rand.NewPCG(seed, 3))
	shapes := [][2]string{{"2", "8Gi"}, {"4", "16Gi"}, {"8", "32Gi"}, {"4", "8Gi"}, {"16", "64Gi"}}
	var pods []*corev1.Pod
	for j := 0; len(pods) < n; j++ {
		size := min(50+r.IntN(500), n-len(pods))
		gpu := j%10 == 9
		sh := shapes[r.IntN(len(shapes))]
		for i := range size {
			p := mkPod(fmt.Sprintf("job-%d-%d", j, i), sh[0], sh[1], map[string]string{"job": fmt.Sprint(j)})
			if gpu {
				p.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"] = resource.MustParse("1")
			}
			pods = append(pods, p)
		}
	}
	return pods
}
