package pod

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/state"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestPodLifecycle: a pending pod has state, unbound and unstarted series; once bound, running
// and ready its bound and startup durations are observed once and the per-pod gauges go; once
// deleted nothing of it is left.
func TestPodLifecycle(t *testing.T) {
	created := time.Now().Add(-time.Minute).Truncate(time.Second)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1", CreationTimestamp: metav1.NewTime(created),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}},
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{
		v1.NodePoolLabelKey: "default", v1.LabelTopologyZone: "z1", v1.LabelArch: "arm64", v1.CapacityTypeLabelKey: "spot", v1.LabelInstanceType: "m7g.large"}}}
	kube := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(pod, node).WithStatusSubresource(pod).Build()
	clk := clocktesting.NewFakeClock(created.Add(10 * time.Second))
	c, err := NewController(Deps{Client: kube, Registerer: prometheus.NewRegistry(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "web-1"}}
	rec := func() {
		t.Helper()
		if _, err := c.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	rec()
	id := prometheus.Labels{"name": "web-1", "namespace": "ns"}
	if got := testutil.ToFloat64(c.metrics.UnboundTime.With(id)); got != 10 {
		t.Errorf("unbound time = %v, want 10", got)
	}
	if got := testutil.ToFloat64(c.metrics.UnstartedTime.With(id)); got != 10 {
		t.Errorf("unstarted time = %v, want 10", got)
	}
	clk.Step(5 * time.Second)
	rec()
	if got := testutil.ToFloat64(c.metrics.ProvisioningUnboundTime.With(id)); got != 5 {
		t.Errorf("provisioning unbound time = %v, want 5 (seen waiting 5s ago)", got)
	}
	if got := StateLabels(pod, &corev1.Node{})["owner"]; got != "/apis/apps/v1/namespaces/ns/replicasets/web" {
		t.Errorf("owner = %q", got)
	}

	if err := kube.Get(ctx, req.NamespacedName, pod); err != nil {
		t.Fatal(err)
	}
	pod.Spec.NodeName = "n1"
	if err := kube.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(created.Add(20 * time.Second))},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(created.Add(45 * time.Second))},
	}}
	if err := kube.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	rec()
	rec()
	if n := testutil.CollectAndCount(c.metrics.UnboundTime) + testutil.CollectAndCount(c.metrics.UnstartedTime); n != 0 {
		t.Errorf("%d per-pod gauges left for a running pod", n)
	}
	// Computed when scraped: the one series, with its node's labels, the Pending one gone.
	if err := testutil.CollectAndCompare(c.metrics.State, strings.NewReader(`
# HELP karpenter_pods_state Pod state is the current state of pods, labelled by the pod name, namespace, owner, node, nodepool name, zone, architecture, capacity type, instance type and pod phase.
# TYPE karpenter_pods_state gauge
karpenter_pods_state{arch="arm64",capacity_type="spot",instance_type="m7g.large",name="web-1",namespace="ns",node="n1",nodepool="default",owner="/apis/apps/v1/namespaces/ns/replicasets/web",phase="Running",zone="z1"} 1
`)); err != nil {
		t.Error(err)
	}
	if err := testutil.CollectAndCompare(c.metrics.StartupDuration, strings.NewReader(`
# HELP karpenter_pods_startup_duration_seconds The time from pod creation until the pod is running.
# TYPE karpenter_pods_startup_duration_seconds summary
karpenter_pods_startup_duration_seconds{quantile="0"} 45
karpenter_pods_startup_duration_seconds{quantile="0.5"} 45
karpenter_pods_startup_duration_seconds{quantile="0.9"} 45
karpenter_pods_startup_duration_seconds{quantile="0.99"} 45
karpenter_pods_startup_duration_seconds{quantile="1"} 45
karpenter_pods_startup_duration_seconds_sum 45
karpenter_pods_startup_duration_seconds_count 1
`)); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(c.metrics.BoundDuration); got != 1 {
		t.Errorf("bound duration series = %d", got)
	}
	// Seen waiting at +10s: bound at +20s, ready at +45s.
	for name, tc := range map[string]struct {
		h    prometheus.Histogram
		want float64
	}{"provisioning bound": {c.metrics.ProvisioningBoundDuration, 10}, "provisioning startup": {c.metrics.ProvisioningStartupDuration, 35}} {
		count, sum, err := test.HistogramOf(tc.h)
		if err != nil {
			t.Fatal(err)
		}
		if count != 1 || sum != tc.want {
			t.Errorf("%s: %d observations summing %v, want one of %v", name, count, sum, tc.want)
		}
	}
	if n := testutil.CollectAndCount(c.metrics.ProvisioningUnboundTime) + testutil.CollectAndCount(c.metrics.ProvisioningUnstartedTime); n != 0 {
		t.Errorf("%d provisioning gauges left for a running pod", n)
	}

	if err := kube.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	rec()
	if n := testutil.CollectAndCount(c.metrics.State); n != 0 {
		t.Errorf("pod state series = %d after the pod is gone", n)
	}
}

// TestStateIsComputedWhenScraped: karpenter_pods_state is read from the client's pods when
// scraped, so it costs no stored series per pod (about 40 MiB at 20,000 pods): a pod no
// reconcile has seen is reported, and a pod gone is not.
func TestStateIsComputedWhenScraped(t *testing.T) {
	var objs []client.Object
	for i := range 3 {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("p-%d", i)},
			Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	}
	objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{v1.NodePoolLabelKey: "default"}}})
	kube := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).Build()
	c, err := NewController(Deps{Client: kube, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c.metrics.State); n != 3 {
		t.Errorf("pod state series = %d before any reconcile, want 3", n)
	}
	if err := kube.Delete(context.Background(), objs[0]); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c.metrics.State); n != 2 {
		t.Errorf("pod state series = %d after a delete, want 2", n)
	}
}

// With a cluster state, a scrape reads its pods and Nodes (the informers' objects, without the
// copy a List makes): a pod only the state holds is reported, one only the client holds is not.
func TestStateIsReadFromTheClusterState(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{v1.NodePoolLabelKey: "default"}}}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	kube := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(node, pod("client-only")).Build()
	cluster := state.NewCluster(state.Options{})
	cluster.UpdateNode(node)
	cluster.UpdatePod(pod("state-1"))
	cluster.UpdatePod(pod("state-2"))
	c, err := NewController(Deps{Client: kube, Cluster: cluster, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.CollectAndCount(c.metrics.State); got != 2 {
		t.Errorf("pod state series = %d, want the state's 2", got)
	}
	cluster.DeletePod(types.NamespacedName{Namespace: "ns", Name: "state-1"})
	if got := testutil.CollectAndCount(c.metrics.State); got != 1 {
		t.Errorf("pod state series = %d after the state forgot a pod, want 1", got)
	}
}
