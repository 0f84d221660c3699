package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim/noderegistrar"
)

// TestBurstBaseline is TestBurst's floor on this machine: what kube-scheduler, the API
// server and KWOK take once the nodes exist, with no autoscaler at all. BURST_BASELINE=N
// creates N burst pods at once with no node to hold them, then, when a perfect autoscaler's
// nodes would appear (the batch idle second after the last pod, plus the boot delay), creates
// the Nodes of a fresh plan of those pods (scheduling.Solve, as TestBurst compares against)
// as KWOK nodes in one go. It reports, from the last pod, when the nodes were created, when
// kube-scheduler bound the first and the last pod, and how many pods it bound by the
// boot delay + 5 s (TestBurst's target) and in all: pods that kube-scheduler places apart from
// the plan can be left with no room, which only an autoscaler would fix. The controller runs
// only to install the CRDs and is stopped before the pods are created. It asserts only that
// the nodes took pods; the figures are the point.
//
//	BURST_BASELINE=1000 go test -count=1 -timeout 10m -run '^TestBurstBaseline$' -v ./test/e2e/
func TestBurstBaseline(t *testing.T) {
	v := os.Getenv("BURST_BASELINE")
	if v == "" {
		t.Skip("set BURST_BASELINE=N: kube-scheduler's own time to bind a burst on ready nodes")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("BURST_BASELINE=%q: want a pod count", v)
	}
	const boot = 2 * time.Second
	c := startCluster(t)
	ctl := c.startController(t, buildKarpenter(t, c.root))
	ctl.waitReady(t)
	c.kubectl(t, burstNodePool(boot), "apply", "-f", "-")
	_ = ctl.cmd.Process.Signal(os.Interrupt)
	_ = ctl.cmd.Wait()

	kube, informers := burstClients(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := baselineNodes(ctx, t, kube, n)
	times := newBurstTimes()
	times.watch(ctx, t, informers)

	createAll(ctx, t, kube, 32, n, func(i int) client.Object { return burstPod("default", i) })
	lastPod := time.Now()
	time.Sleep(time.Until(lastPod.Add(time.Second + boot)))
	nodesAt := time.Now()
	createAll(ctx, t, kube, 16, len(nodes), func(i int) client.Object { return nodes[i] })
	nodesDone := time.Now()

	// Wait until every pod is bound, or none has been for 10 s (the rest have no room).
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		times.mu.Lock()
		_, last := span(times.bound)
		done := len(times.bound) == n || (!last.IsZero() && time.Since(last) > 10*time.Second)
		times.mu.Unlock()
		if done {
			break
		}
	}
	times.mu.Lock()
	first, last := span(times.bound)
	target := lastPod.Add(boot + 5*time.Second)
	byTarget := 0
	for _, at := range times.bound {
		if !at.After(target) {
			byTarget++
		}
	}
	bound := len(times.bound)
	times.mu.Unlock()
	since := func(at time.Time) time.Duration { return at.Sub(lastPod).Round(10 * time.Millisecond) }
	t.Logf("baseline burst of %d pods on %d ready-made nodes (boot %v): last pod -> nodes created %v..%v, -> first bound %v, -> last bound %v; bound by boot delay + 5s: %d/%d; bound in all: %d/%d",
		n, len(nodes), boot, since(nodesAt), since(nodesDone), since(first), since(last), byTarget, n, bound, n)
	times.logNodes(t, lastPod)
	if bound == 0 {
		t.Fatal("no pod was bound to the baseline's nodes")
	}
}

// baselineNodes plans n burst pods on an empty cluster and returns a KWOK Node for each
// planned NodeClaim, of its cheapest offering, labelled and sized as the simulated cloud
// registers one.
func baselineNodes(ctx context.Context, t *testing.T, kube client.Client, n int) []*corev1.Node {
	t.Helper()
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		pods[i] = burstPod("default", i)
		pods[i].UID = types.UID("uid-" + strconv.Itoa(i)) // the solver keys pods by UID
		pods[i].CreationTimestamp = metav1.Now()
	}
	plan := planOnEmpty(ctx, t, kube, pods)
	nodes := make([]*corev1.Node, 0, len(plan.NewNodeClaims))
	for i, nc := range plan.NewNodeClaims {
		idx := slices.IndexFunc(nc.InstanceTypes, func(it *cloudprovider.InstanceType) bool { return it.Name == nc.Cheapest.InstanceType })
		if idx < 0 {
			t.Fatalf("NodeClaim %d: cheapest type %s is not among its types", i, nc.Cheapest.InstanceType)
		}
		it := nc.InstanceTypes[idx]
		name := fmt.Sprintf("baseline-%02d", i)
		labels := map[string]string{
			v1.NodePoolLabelKey: nc.NodePool, v1.LabelInstanceType: it.Name, v1.LabelTopologyZone: nc.Cheapest.Zone,
			v1.CapacityTypeLabelKey: nc.Cheapest.CapacityType, corev1.LabelHostname: name,
		}
		for k, v := range it.Labels {
			if _, set := labels[k]; !set {
				labels[k] = v
			}
		}
		nodes = append(nodes, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels,
				Annotations: map[string]string{noderegistrar.KWOKAnnotationKey: noderegistrar.KWOKAnnotationValue}},
			Status: corev1.NodeStatus{Capacity: it.Capacity.DeepCopy(), Allocatable: it.Allocatable(), Phase: corev1.NodeRunning},
		})
	}
	return nodes
}
