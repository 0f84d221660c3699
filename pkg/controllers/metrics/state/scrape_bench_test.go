package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/state"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// benchEpoch is the benchmarks' clock.
var benchEpoch = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// BenchmarkScrapeNodeFamilies is one scrape of the node families (every 2 s, past
// nodeMemoTTL) at 1,000 nodes and 10,000 pods of 20 Deployments while nothing changes. The
// pods go through the operator's cache transform (state.Compactor), as the controller's do.
func BenchmarkScrapeNodeFamilies(b *testing.B) {
	r := &test.ListReader{}
	r.Nodes, r.Pods = compactedCluster(b, 1000, 10)
	// The controller reads the cluster state's Nodes and pods (state.PodsAndNodes).
	cluster := state.NewCluster(state.Options{})
	for i := range r.Nodes {
		cluster.UpdateNode(&r.Nodes[i])
	}
	for i := range r.Pods {
		cluster.UpdatePod(&r.Pods[i])
	}
	clk := clocktesting.NewFakeClock(benchEpoch)
	reg := prometheus.NewRegistry()
	_, err := NewController(Deps{Client: r, Cluster: cluster, Registerer: reg, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	series := 0
	for b.Loop() {
		clk.Step(2 * time.Second)
		families, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		series = 0
		for _, f := range families {
			series += len(f.GetMetric())
		}
	}
	if series < 1000*7 {
		b.Fatalf("a scrape gave %d series, want the node families of 1,000 nodes", series)
	}
	b.ReportMetric(float64(series), "series")
}

// compactedCluster is nodes nodes with podsPerNode running pods each, of 20 Deployments
// (their requests differ), through the operator's cache transform (state.Compactor) as the
// controller's pods are.
func compactedCluster(b *testing.B, nodes, podsPerNode int) ([]corev1.Node, []corev1.Pod) {
	b.Helper()
	now := benchEpoch
	var ns []corev1.Node
	var ps []corev1.Pod
	for i := range nodes {
		name := fmt.Sprintf("node-%05d", i)
		ns = append(ns, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			Labels: map[string]string{v1.NodePoolLabelKey: "scale", v1.LabelInstanceType: "m5.large", v1.LabelTopologyZone: "us-west-2a"}},
			Status: corev1.NodeStatus{Capacity: rl("2", "8Gi"), Allocatable: rl("1930m", "7Gi")}})
		for j := range podsPerNode {
			cpu := fmt.Sprintf("%dm", 100+10*((i+j)%20))
			ps = append(ps, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "scale", Name: fmt.Sprintf("p-%05d-%d", i, j)},
				Spec:   corev1.PodSpec{NodeName: name, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rl(cpu, "256Mi")}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}})
		}
	}
	compact := state.NewCompactor(0)
	for i := range ps {
		if _, err := compact.Transform(&ps[i]); err != nil {
			b.Fatal(err)
		}
	}
	return ns, ps
}

// BenchmarkNodeSamples is the node families' computation alone, as a scrape runs it once
// the cluster changed, at 2,000 nodes and 20,000 pods. The pods of a template share their
// containers, so their requests and limits are computed once per template (podResourcesMemo):
// 38-43 ms and 37.7 MB (134,000 allocations) a run before, 16-17 ms and 9.3 MB (34,000)
// after (December 2026, this machine).
func BenchmarkNodeSamples(b *testing.B) {
	nodes, pods := compactedCluster(b, 2000, 10)
	c, err := NewController(Deps{Client: &test.ListReader{}, Registerer: prometheus.NewRegistry(), Clock: clocktesting.NewFakeClock(benchEpoch)})
	if err != nil {
		b.Fatal(err)
	}
	refs := make([]state.PodRef, len(pods))
	for i := range pods {
		refs[i] = state.RefOf(&pods[i])
	}
	b.ReportAllocs()
	for b.Loop() {
		c.nodeSamples(state.Pointers(nodes), refs, benchEpoch)
	}
}
