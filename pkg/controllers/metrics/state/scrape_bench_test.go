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

// BenchmarkScrapeNodeFamilies is one scrape of the node families (every 2 s, past
// nodeMemoTTL) at 1,000 nodes and 10,000 pods while nothing changes.
func BenchmarkScrapeNodeFamilies(b *testing.B) {
	r := &test.ListReader{}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		name := fmt.Sprintf("node-%05d", i)
		r.Nodes = append(r.Nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			Labels: map[string]string{v1.NodePoolLabelKey: "scale", v1.LabelInstanceType: "m5.large", v1.LabelTopologyZone: "us-west-2a"}},
			Status: corev1.NodeStatus{Capacity: rl("2", "8Gi"), Allocatable: rl("1930m", "7Gi")}})
		for j := range 10 {
			r.Pods = append(r.Pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "scale", Name: fmt.Sprintf("p-%05d-%d", i, j)},
				Spec:   corev1.PodSpec{NodeName: name, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rl("180m", "256Mi")}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}})
		}
	}
	// The controller reads the cluster state's Nodes and pods (state.PodsAndNodes).
	cluster := state.NewCluster(state.Options{})
	for i := range r.Nodes {
		cluster.UpdateNode(&r.Nodes[i])
	}
	for i := range r.Pods {
		cluster.UpdatePod(&r.Pods[i])
	}
	clk := clocktesting.NewFakeClock(now)
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
