package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// notExercised are implemented families this scenario does not produce a sample for (a
// vector shows in /metrics only once it has a series), and why. Were one served anyway, its
// labels are still checked.
var notExercised = map[string]string{
	"karpenter_nodeclaims_disrupted_total":                   "nothing is disrupted in the scenario",
	"karpenter_nodeclaims_terminated_total":                  "nothing terminates in the scenario",
	"karpenter_nodes_terminated_total":                       "nothing terminates in the scenario",
	"karpenter_cloudprovider_errors_total":                   "the fake cloud returns no error",
	"operator_nodepool_status_condition_transition_seconds":  "a condition must change after it was first observed",
	"operator_nodeclaim_status_condition_transition_seconds": "a condition must change after it was first observed",
	"operator_nodepool_termination_current_time_seconds":     "nothing terminates in the scenario",
	"operator_nodepool_termination_duration_seconds":         "nothing terminates in the scenario",
	"operator_nodeclaim_termination_current_time_seconds":    "nothing terminates in the scenario",
	"operator_nodeclaim_termination_duration_seconds":        "nothing terminates in the scenario",
	"karpenter_pods_unbound_time_seconds":                    "the pod is bound by the time the pass runs",
	"karpenter_nodes_termination_duration_seconds":           "the deletion request and the removal of the node may reach the controller as one event",
	"karpenter_nodeclaims_termination_duration_seconds":      "no NodeClaim is deleted in the scenario",
	"karpenter_voluntary_disruption_decisions_total":         "nothing is disrupted in the scenario",
	"karpenter_scheduler_queue_depth":                        "served only while a scheduling run is in flight",
	"karpenter_pods_provisioning_unbound_time_seconds":       "the pod is bound by the time the pass runs",
	"karpenter_pods_provisioning_unstarted_time_seconds":     "the pod is running by the time the pass runs",
	"karpenter_scheduler_unfinished_work_seconds":            "served only while a scheduling run is in flight",
	"karpenter_consolidation_score":                          "the scenario's NodePools are not Balanced",
	"karpenter_consolidation_moves_total":                    "the scenario's NodePools are not Balanced",
	"karpenter_interruption_received_messages_total":         "the fake cloud has no interruption queue",
	"karpenter_interruption_deleted_messages_total":          "the fake cloud has no interruption queue",
	"karpenter_interruption_message_queue_duration_seconds":  "the fake cloud has no interruption queue",
	"karpenter_pods_unstarted_time_seconds":                  "the pod is running by the time the pass runs",
}

// TestMetricsMatchUpstream runs the controller on the fake cloud through a launch, a node
// registering and a pod binding and starting, scrapes /metrics and compares every upstream
// family (pkg/metrics.Upstream) with what is served: a family declared implemented must be
// served with upstream's label set, a drifting one with its declared labels. The families
// still missing are logged.
func TestMetricsMatchUpstream(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	opts := fakeCloudOptions(t)
	opts.Version = "test"
	runOperator(t, opts, func() { _ = env.Client.DeleteAllOf(context.Background(), &corev1.Node{}) })
	pod := createPendingPod(t, "metrics",
		corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")})
	var nc v1.NodeClaim
	eventuallyWithin(t, 90*time.Second, "a launched nodeclaim", func() error {
		var list v1.NodeClaimList
		if err := env.Client.List(ctx, &list); err != nil {
			return err
		}
		if len(list.Items) != 1 || !meta.IsStatusConditionTrue(list.Items[0].Status.Conditions, v1.ConditionTypeLaunched) {
			return fmt.Errorf("%d nodeclaims, want 1 launched", len(list.Items))
		}
		nc = list.Items[0]
		return nil
	})
	registerNode(ctx, t, &nc)
	bindAndStart(ctx, t, pod, nc.Status.NodeName)
	daemon := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "metrics-daemon", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "0a1b2c3d", Controller: ptr(true),
		}}},
		Spec: corev1.PodSpec{NodeName: nc.Status.NodeName, Containers: []corev1.Container{{Name: "agent", Image: "agent", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("200Mi")},
		}}}},
	}
	if err := env.Client.Create(ctx, daemon); err != nil {
		t.Fatal(err)
	}

	// A managed node that comes and goes: created, deletion requested, gone.
	gone := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "metrics-gone", Finalizers: []string{"test/hold"},
		Labels: map[string]string{v1.NodePoolLabelKey: "metrics", v1.LabelTopologyZone: "test-zone"}}}
	if err := env.Client.Create(ctx, gone); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 90*time.Second, "the node counted as created", func() error {
		if _, body := get("http://" + opts.MetricsAddr + "/metrics"); !strings.Contains(body, `karpenter_nodes_created_total{nodepool="metrics",zone="test-zone"} 1`) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if err := env.Client.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // let the deletion request be seen before the node goes
	if err := env.Client.Patch(ctx, gone, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		t.Fatal(err)
	}

	var families map[string]*dto.MetricFamily
	eventuallyWithin(t, 90*time.Second, "node, pod and status families in /metrics", func() error {
		code, body := get("http://" + opts.MetricsAddr + "/metrics")
		if code != http.StatusOK {
			return fmt.Errorf("/metrics: %d", code)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			return fmt.Errorf("parsing /metrics: %w", err)
		}
		families = fams
		for _, want := range []string{"karpenter_nodes_allocatable", "karpenter_nodes_total_daemon_limits", "karpenter_nodes_lifetime_duration_seconds",
			"karpenter_nodepools_allowed_disruptions", "karpenter_voluntary_disruption_eligible_nodes", "karpenter_nodepools_usage", "karpenter_cloudprovider_instance_type_offering_price_estimate",
			"operator_nodeclaim_status_condition_count", "karpenter_pods_state"} {
			if _, ok := fams[want]; !ok {
				return fmt.Errorf("%s not served yet", want)
			}
		}
		if !strings.Contains(body, `karpenter_pods_state{arch=`) || !strings.Contains(body, `node="`+nc.Status.NodeName+`"`) {
			return fmt.Errorf("pod state does not show the pod on its node yet")
		}
		return nil
	})

	var missing []string
	for _, f := range metrics.Upstream() {
		got, served := labelSet(families[f.Name])
		switch metrics.Status(f.Name) {
		case metrics.Implemented:
			switch {
			case !served && notExercised[f.Name] != "":
				t.Logf("implemented, not exercised here (%s): %s", notExercised[f.Name], f.Name)
			case !served:
				t.Errorf("%s is declared implemented but not served", f.Name)
			case !slices.Equal(got, f.Labels):
				t.Errorf("%s labels = %v, upstream's = %v", f.Name, got, f.Labels)
			}
		case metrics.LabelDrift:
			want, why := metrics.Drift(f.Name)
			if served && !slices.Equal(got, want) {
				t.Errorf("%s labels = %v, declared drift %v (upstream's %v)", f.Name, got, want, f.Labels)
			}
			t.Logf("label drift (%s): %s serves %v, upstream %v", why, f.Name, want, f.Labels)
		default:
			if served && slices.Equal(got, f.Labels) {
				t.Logf("%s is served with upstream's labels but not declared implemented", f.Name)
			}
			missing = append(missing, f.Name)
		}
	}
	if _, ok := families["karpenter_provisioner_scheduling_duration_seconds"]; ok {
		t.Errorf("the pre-v1 name karpenter_provisioner_scheduling_duration_seconds is still served")
	}
	t.Logf("%d upstream families, %d still missing: %s", len(metrics.Upstream()), len(missing), strings.Join(missing, " "))
}

// labelSet is the sorted union of the label names of a family's samples.
func labelSet(mf *dto.MetricFamily) ([]string, bool) {
	if mf == nil {
		return nil, false
	}
	set := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			set[l.GetName()] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, true
}

// registerNode creates the Node the NodeClaim's instance would register as.
func registerNode(ctx context.Context, t *testing.T, nc *v1.NodeClaim) {
	t.Helper()
	labels := map[string]string{}
	for k, v := range nc.Labels {
		labels[k] = v
	}
	labels[v1.LabelArch], labels[v1.LabelOS] = v1.ArchitectureAmd64, v1.OSLinux
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-node", Labels: labels},
		Spec:       corev1.NodeSpec{ProviderID: nc.Status.ProviderID},
	}
	if err := env.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	status := corev1.NodeStatus{
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3900m"), corev1.ResourceMemory: resource.MustParse("15Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	// The lifecycle controller may write the node meanwhile: patch the status, no resourceVersion.
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Status().Patch(ctx, node, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	nc.Status.NodeName = node.Name
}

// bindAndStart binds the pod to the node and reports it running and ready.
func bindAndStart(ctx context.Context, t *testing.T, pod *corev1.Pod, node string) {
	t.Helper()
	binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	if err := env.Client.SubResource("binding").Create(ctx, pod, binding); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	patch, err := json.Marshal(map[string]any{"status": corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Status().Patch(ctx, pod, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
}

func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }
