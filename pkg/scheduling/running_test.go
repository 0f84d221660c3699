package scheduling

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRunningCountsAsPods: pods given to existing nodes as Running (the controller's
// cluster state gives its bound pods so, without building a Pod each) are counted exactly
// as the same pods in Pods: resources, host ports, hostname and zone anti-affinity, zone
// and hostname spread, volume attach limits, a pod whose requests cannot be read. On random
// clusters of nodes already running such pods, with more of them pending, the plans are
// the same; a finished pod in Pods is ignored, as it must be left out of Running.
func TestRunningCountsAsPods(t *testing.T) {
	pool := benchPool(catalogTypes(t))
	differ, placedOnExisting := 0, 0
	for seed := range uint64(48) {
		nodes, pending := runningCluster(seed)
		asPods := &Snapshot{NodePools: []NodePool{pool}, Nodes: nodes}
		asRunning := &Snapshot{NodePools: []NodePool{pool}, Nodes: make([]ExistingNode, len(nodes))}
		for i, n := range nodes {
			n.Running = nil
			for _, p := range n.Pods {
				if p.Status.Phase != corev1.PodSucceeded {
					n.Running = append(n.Running, RunningPodOf(p))
				}
			}
			n.Pods = nil
			asRunning.Nodes[i] = n
		}
		want, got := Solve(asPods, pending), Solve(asRunning, pending)
		if w, g := planText(want), planText(got); w != g {
			differ++
			if differ <= 3 {
				t.Errorf("seed %d: with Pods\n%s\nwith Running\n%s", seed, w, g)
			}
		}
		for _, e := range want.ExistingNodes {
			placedOnExisting += len(e.Pods)
		}
		// And the memo reads them as Solve does: a second solve through one memo agrees.
		m := NewMemo()
		SolveWith(asRunning, pending, m)
		if again := SolveWith(asRunning, pending, m); planText(again) != planText(got) {
			t.Errorf("seed %d: a memo's second solve with Running differs from the first", seed)
		}
	}
	if differ > 0 {
		t.Errorf("%d of 48 plans differ", differ)
	}
	if placedOnExisting < 100 {
		t.Fatalf("only %d pending pods went to existing nodes: the existing pods are barely read", placedOnExisting)
	}
}

// runningCluster draws 2-7 nodes over two zones running 0-6 pods of 4 apps each (plain,
// host port 80, hostname anti-affinity, zone spread) and 5-40 pending pods of the same
// apps. A node in three has a CSI attach limit its pods' volumes count against; some
// running pods are finished, one now and then has a request that cannot be read.
func runningCluster(seed uint64) ([]ExistingNode, []*corev1.Pod) {
	r := rand.New(rand.NewPCG(seed, 7))
	app := func(name string, kind int) *corev1.Pod {
		p := mkPod(name, pick(r, []string{"250m", "500m", "1", "2"}), pick(r, []string{"512Mi", "1Gi", "2Gi", "4Gi"}), map[string]string{"app": fmt.Sprint(kind)})
		switch kind {
		case 1:
			hostPort80(p)
		case 2:
			antiHostnameApp(p)
		case 3:
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
				WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "3"}}}}
		}
		if r.IntN(4) == 0 {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "ebs.csi.aws.com"}}}}
		}
		return p
	}
	var nodes []ExistingNode
	for i := range 2 + r.IntN(6) {
		name := fmt.Sprintf("n%d", i)
		n := ExistingNode{Name: name, NodePool: "default",
			Labels: map[string]string{corev1.LabelHostname: name, labelCapacityType: "on-demand", corev1.LabelArchStable: "amd64",
				corev1.LabelTopologyZone: []string{"us-east-1a", "us-east-1b"}[r.IntN(2)]},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(4+4*r.IntN(4)), resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(int64(8+8*r.IntN(4))<<30, resource.BinarySI), corev1.ResourcePods: resource.MustParse("110")}}
		if r.IntN(3) == 0 {
			n.VolumeLimits = map[string]int64{"ebs.csi.aws.com": int64(1 + r.IntN(3))}
		}
		for j := range r.IntN(7) {
			p := app(fmt.Sprintf("%s-run%d", name, j), r.IntN(4))
			p.Spec.NodeName = name
			switch r.IntN(12) {
			case 0:
				p.Status.Phase = corev1.PodSucceeded
			case 1:
				p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1e30")
			}
			n.Pods = append(n.Pods, p)
		}
		nodes = append(nodes, n)
	}
	var pending []*corev1.Pod
	for i := range 5 + r.IntN(36) {
		pending = append(pending, app(fmt.Sprintf("p%d", i), r.IntN(4)))
	}
	return nodes, pending
}

// planText is a plan as text: where each pod goes, what each NodeClaim is, why pods wait.
func planText(p *Plan) string {
	var b strings.Builder
	for _, e := range p.ExistingNodes {
		fmt.Fprintf(&b, "existing %s: %s\n", e.Name, podNames(e.Pods))
	}
	for _, nc := range p.NewNodeClaims {
		fmt.Fprintf(&b, "new %s %s/%s $%.4f: %s\n", nc.NodePool, nc.Cheapest.InstanceType, nc.Cheapest.Zone, nc.Cheapest.Price, podNames(nc.Pods))
	}
	for _, u := range p.Unschedulable {
		fmt.Fprintf(&b, "unschedulable %s: %s\n", u.Pod.Name, u.Reason)
	}
	fmt.Fprintf(&b, "price $%.4f", p.Price)
	return b.String()
}

func podNames(pods []*corev1.Pod) string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}
