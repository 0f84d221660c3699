package scheduling

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func ctr(req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

// TestPodRequests: requests default to limits (containers, init and sidecar containers),
// the init/sidecar rule and pod overhead.
func TestPodRequests(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := func(c corev1.Container) corev1.Container { c.RestartPolicy = &always; return c }
	const gpu = "nvidia.com/gpu"
	for _, tc := range []struct {
		name      string
		spec      corev1.PodSpec
		cpu, gpus int64 // milli-CPU, GPUs
		memMi     int64
	}{
		{"requests only", corev1.PodSpec{Containers: []corev1.Container{ctr(rl("cpu", "1", "memory", "1Gi"), nil)}}, 1000, 0, 1024},
		{"GPU limit without request", corev1.PodSpec{Containers: []corev1.Container{ctr(rl("cpu", "3", "memory", "12Gi"), rl(gpu, "1"))}}, 3000, 1, 12 << 10},
		{"limits only", corev1.PodSpec{Containers: []corev1.Container{ctr(nil, rl("cpu", "2", "memory", "2Gi", gpu, "2"))}}, 2000, 2, 2048},
		{"request below limit wins", corev1.PodSpec{Containers: []corev1.Container{ctr(rl("cpu", "500m"), rl("cpu", "4", "memory", "1Gi"))}}, 500, 0, 1024},
		{"two containers, one defaulted", corev1.PodSpec{Containers: []corev1.Container{
			ctr(rl("cpu", "1"), nil), ctr(nil, rl("cpu", "1", gpu, "1"))}}, 2000, 1, 0},
		{"init container limit", corev1.PodSpec{
			InitContainers: []corev1.Container{ctr(nil, rl("cpu", "4", gpu, "1"))},
			Containers:     []corev1.Container{ctr(rl("cpu", "1"), nil)}}, 4000, 1, 0},
		{"sidecar limit adds to app and to later init", corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar(ctr(nil, rl("cpu", "1", "memory", "1Gi"))), ctr(rl("cpu", "2"), nil)},
			Containers:     []corev1.Container{ctr(nil, rl("cpu", "500m", gpu, "1"))}}, 3000, 1, 1024},
		{"overhead", corev1.PodSpec{Overhead: rl("cpu", "250m"), Containers: []corev1.Container{ctr(nil, rl("cpu", "1"))}}, 1250, 0, 0},
		// Pod-level resources (spec.resources) replace the containers' CPU and memory only.
		{"pod-level requests", corev1.PodSpec{Resources: &corev1.ResourceRequirements{Requests: rl("cpu", "3", "memory", "2Gi")}, Overhead: rl("cpu", "100m"),
			Containers: []corev1.Container{ctr(rl("cpu", "1"), rl(gpu, "1"))}}, 3100, 1, 2048},
		{"pod-level limit, containers request none", corev1.PodSpec{Resources: &corev1.ResourceRequirements{Limits: rl("cpu", "2", "memory", "1Gi")},
			Containers: []corev1.Container{ctr(nil, nil)}}, 2000, 0, 1024},
		{"pod-level limit, containers request", corev1.PodSpec{Resources: &corev1.ResourceRequirements{Limits: rl("cpu", "4", "memory", "4Gi")},
			Containers: []corev1.Container{ctr(rl("cpu", "1"), nil)}}, 1000, 0, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res resTable
			pod := &corev1.Pod{Spec: tc.spec}
			res.intern([][]*corev1.Pod{{pod}}, nil)
			v, err := res.podRequests(&pod.Spec)
			if err != nil {
				t.Fatal(err)
			}
			var gotGPU int64
			if slot, ok := res.slot(gpu); ok {
				gotGPU = v.get(slot)
			}
			if v.a[dimCPU] != tc.cpu || gotGPU != tc.gpus || v.a[dimMemory] != tc.memMi<<20 || v.a[dimPods] != 1 {
				t.Errorf("got cpu %dm gpu %d mem %dMi pods %d; want %dm %d %dMi 1", v.a[dimCPU], gotGPU, v.a[dimMemory]>>20, v.a[dimPods], tc.cpu, tc.gpus, tc.memMi)
			}
			// The independent checker must agree.
			want := checkRequests(&corev1.Pod{Spec: tc.spec})
			if q := want[corev1.ResourceCPU]; q.MilliValue() != v.a[dimCPU] {
				t.Errorf("checker cpu %s, solver %dm", q.String(), v.a[dimCPU])
			}
			if q := want[gpu]; q.Value() != gotGPU {
				t.Errorf("checker gpu %s, solver %d", q.String(), gotGPU)
			}
		})
	}
}

// TestGPULimitOnlyPods: four pods that limit (but do not request) one GPU each never share a
// one-GPU node.
func TestGPULimitOnlyPods(t *testing.T) {
	gpuType := fakeType("gpu1", "amd64", 16, 64, 0.5)
	gpuType.Capacity["nvidia.com/gpu"] = resource.MustParse("1")
	quad := fakeType("gpu4", "amd64", 48, 192, 3)
	quad.Capacity["nvidia.com/gpu"] = resource.MustParse("4")
	snap := &Snapshot{NodePools: []NodePool{{Name: "gpu", InstanceTypes: []*cloudprovider.InstanceType{gpuType, quad}}}}
	pods := podN(4, "train", "3", "12Gi", func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits = rl("nvidia.com/gpu", "1")
	})
	plan := Solve(snap, pods)
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Fatal(err)
	}
	gpus := int64(0)
	for _, nc := range plan.NewNodeClaims {
		q := nc.InstanceTypes[0].Capacity["nvidia.com/gpu"]
		gpus += q.Value()
	}
	if len(plan.Unschedulable) != 0 || gpus < 4 {
		t.Errorf("4 GPU pods on %d GPUs (%d unschedulable)", gpus, len(plan.Unschedulable))
	}
}
