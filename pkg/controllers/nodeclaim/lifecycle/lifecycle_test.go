package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	lc "github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
)

const gpu = corev1.ResourceName("example.com/gpu")

// TestConditionsFollowTheNode walks a NodeClaim through every transition: launched, waiting
// for its node, registered, waiting for readiness, startup taints and an extended
// resource, initialised and Ready.
func TestConditionsFollowTheNode(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newNodeClaim("walk", func(nc *v1.NodeClaim) {
		nc.Spec.Resources.Requests[gpu] = resource.MustParse("1")
		nc.Spec.Requirements = nil
		nc.Spec.Requirements = append(nc.Spec.Requirements, v1.NodeSelectorRequirementWithMinValues{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{"gpu"}})
	}))
	// Launched, with the instance's facts; no node yet.
	nc := h.condition("walk", lc.ConditionRegistered, metav1.ConditionUnknown, lc.ReasonNodeNotFound)
	if !slices.Contains(nc.Finalizers, v1.TerminationFinalizer) {
		t.Errorf("finalizers = %v", nc.Finalizers)
	}
	h.condition("walk", lc.ConditionLaunched, metav1.ConditionTrue, lc.ReasonLaunched)
	h.condition("walk", lc.ConditionReady, metav1.ConditionUnknown, lc.ReasonNotReady)
	nc, _ = h.get("walk")
	if !strings.HasPrefix(nc.Status.ProviderID, fake.ProviderIDPrefix) || nc.Status.ImageID == "" || nc.Status.Capacity.Cpu().IsZero() || nc.Status.Allocatable.Cpu().IsZero() {
		t.Fatalf("status = %+v", nc.Status)
	}
	if nc.Labels[v1.LabelInstanceType] != "gpu" || nc.Labels[v1.LabelTopologyZone] != "zone-a" || nc.Labels[v1.CapacityTypeLabelKey] != v1.CapacityTypeOnDemand {
		t.Fatalf("labels = %v", nc.Labels)
	}
	if n := len(h.cloud.Calls(fake.MethodCreate)); n != 1 {
		t.Fatalf("%d Create calls, want 1", n)
	}

	// The node joins, unregistered and not ready.
	h.create(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "walk-node", Labels: map[string]string{"kubelet": "label"}},
		Spec: corev1.NodeSpec{ProviderID: nc.Status.ProviderID, Taints: []corev1.Taint{
			v1.UnregisteredNoExecuteTaint, {Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
		}},
	})
	nc = h.condition("walk", lc.ConditionRegistered, metav1.ConditionTrue, lc.ReasonRegistered)
	if nc.Status.NodeName != "walk-node" {
		t.Errorf("status.nodeName = %q", nc.Status.NodeName)
	}
	h.condition("walk", lc.ConditionInitialized, metav1.ConditionUnknown, lc.ReasonNodeNotReady)
	node := h.getNode("walk-node")
	if node.Labels[v1.NodeRegisteredLabelKey] != "true" || node.Labels["team"] != "checkout" || node.Labels[v1.LabelInstanceType] != "gpu" || node.Labels["kubelet"] != "label" {
		t.Errorf("node labels = %v", node.Labels)
	}
	if node.Annotations["example.com/owner"] != "ops" {
		t.Errorf("node annotations = %v", node.Annotations)
	}
	if !slices.Contains(node.Finalizers, v1.TerminationFinalizer) {
		t.Errorf("node finalizers = %v", node.Finalizers)
	}
	if len(node.OwnerReferences) != 1 || node.OwnerReferences[0].Kind != "NodeClaim" || node.OwnerReferences[0].UID != nc.UID {
		t.Errorf("node owner references = %+v", node.OwnerReferences)
	}
	taints := taintKeys(node)
	if slices.Contains(taints, v1.UnregisteredTaintKey) || !slices.Contains(taints, "dedicated") || !slices.Contains(taints, "cni.example.com/not-ready") {
		t.Errorf("node taints = %v: want dedicated and the startup taint, not unregistered", taints)
	}

	// Ready, but the startup and not-ready taints are still there.
	setNodeReady(t, h, "walk-node")
	h.condition("walk", lc.ConditionInitialized, metav1.ConditionUnknown, lc.ReasonStartupTaintsExist)
	removeTaints(t, h, "walk-node", "cni.example.com/not-ready", corev1.TaintNodeNotReady)
	// The requested GPU is not allocatable yet.
	h.condition("walk", lc.ConditionInitialized, metav1.ConditionUnknown, lc.ReasonResourceNotRegistered)
	node = h.getNode("walk-node")
	before := node.DeepCopy()
	node.Status.Allocatable = corev1.ResourceList{gpu: resource.MustParse("1"), corev1.ResourceCPU: resource.MustParse("2")}
	if err := env.Client.Status().Patch(h.ctx, node, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	h.condition("walk", lc.ConditionInitialized, metav1.ConditionTrue, lc.ReasonInitialized)
	h.condition("walk", lc.ConditionReady, metav1.ConditionTrue, lc.ReasonReady)
	h.eventually(func() error {
		if l := h.getNode("walk-node").Labels[v1.NodeInitializedLabelKey]; l != "true" {
			return fmt.Errorf("initialized label = %q", l)
		}
		return nil
	})
	// The startup taint, once removed, is not put back.
	if slices.Contains(taintKeys(h.getNode("walk-node")), "cni.example.com/not-ready") {
		t.Error("startup taint came back after initialisation")
	}
}

func TestInsufficientCapacityDeletesTheNodeClaim(t *testing.T) {
	h := newHarness(t)
	h.cloud.FailNext(fake.MethodCreate, cloudprovider.NewInsufficientCapacityError(errors.New("no small left in zone-a")))
	h.start()
	h.create(newNodeClaim("ice"))
	h.eventually(func() error {
		if _, err := h.get("ice"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("nodeclaim still there (%v)", err)
		}
		return nil
	})
	if evs := h.events(); !slices.ContainsFunc(evs, func(e string) bool { return strings.HasPrefix(e, "Warning "+lc.EventInsufficientCapacity) }) {
		t.Errorf("events = %v, want an insufficient capacity warning", evs)
	}
	if ncs, _ := h.cloud.List(h.ctx); len(ncs) != 0 {
		t.Errorf("%d instances left behind", len(ncs))
	}
}

func TestCreateErrorIsRecordedThenRetried(t *testing.T) {
	h := newHarness(t)
	h.cloud.FailNext(fake.MethodCreate,
		cloudprovider.NewCreateError(errors.New("quota"), "QuotaExceeded", "vCPU quota exceeded"),
		cloudprovider.NewCreateError(errors.New("quota"), "QuotaExceeded", "vCPU quota exceeded"))
	// Observe the failure before the retry succeeds: the first reconciles fail, then Create
	// works and Launched turns True.
	h.start()
	h.create(newNodeClaim("retry"))
	h.condition("retry", lc.ConditionLaunched, metav1.ConditionTrue, lc.ReasonLaunched)
	calls := h.cloud.Calls(fake.MethodCreate)
	if len(calls) != 3 || calls[0].Err == nil || calls[2].Err != nil {
		t.Fatalf("Create calls = %d, want 2 failures then a success", len(calls))
	}
	if evs := h.events(); !slices.ContainsFunc(evs, func(e string) bool { return strings.Contains(e, "vCPU quota exceeded") }) {
		t.Errorf("events = %v, want the create error's message", evs)
	}
}

func TestCreateErrorShowsOnTheCondition(t *testing.T) {
	h := newHarness(t)
	errs := make([]error, 50)
	for i := range errs {
		errs[i] = cloudprovider.NewCreateError(errors.New("quota"), "QuotaExceeded", "vCPU quota exceeded")
	}
	h.cloud.FailNext(fake.MethodCreate, errs...)
	h.start()
	h.create(newNodeClaim("failing"))
	nc := h.condition("failing", lc.ConditionLaunched, metav1.ConditionFalse, "QuotaExceeded")
	if c := findCondition(nc, lc.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v, want False", c)
	}
}

func TestUnregisteredNodeClaimIsDeletedAfterTheTTL(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(newNodeClaim("late"))
	h.condition("late", lc.ConditionRegistered, metav1.ConditionUnknown, lc.ReasonNodeNotFound)
	h.clk.Step(14 * time.Minute)
	h.touch("late")
	time.Sleep(300 * time.Millisecond)
	if nc, err := h.get("late"); err != nil || nc.DeletionTimestamp != nil {
		t.Fatalf("nodeclaim deleted before the TTL (%v)", err)
	}
	h.clk.Step(2 * time.Minute)
	h.touch("late")
	// It launched, so the finalizer stays for termination to delete the instance.
	h.eventually(func() error {
		nc, err := h.get("late")
		if err != nil || nc.DeletionTimestamp == nil {
			return fmt.Errorf("nodeclaim not being deleted (%v)", err)
		}
		return nil
	})
	if evs := h.events(); !slices.ContainsFunc(evs, func(e string) bool { return strings.HasPrefix(e, "Warning "+lc.EventRegistrationTimeout) }) {
		t.Errorf("events = %v, want a registration timeout warning", evs)
	}
}

// TestRestartMidLaunchAdoptsTheInstance: the previous controller recorded its intent and
// launched, then died before writing the provider ID. The new one must not launch again.
func TestRestartMidLaunchAdoptsTheInstance(t *testing.T) {
	h := newHarness(t)
	nc := newNodeClaim("interrupted")
	h.create(nc)
	nc.Status.Conditions = []metav1.Condition{{Type: lc.ConditionLaunched, Status: metav1.ConditionUnknown, Reason: lc.ReasonLaunching, LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(h.ctx, nc); err != nil {
		t.Fatal(err)
	}
	launched, err := h.cloud.Create(h.ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	h.start()
	got := h.condition("interrupted", lc.ConditionLaunched, metav1.ConditionTrue, lc.ReasonLaunched)
	if got.Status.ProviderID != launched.Status.ProviderID {
		t.Errorf("provider ID = %q, want the existing instance's %q", got.Status.ProviderID, launched.Status.ProviderID)
	}
	if n := len(h.cloud.Calls(fake.MethodCreate)); n != 1 {
		t.Errorf("%d Create calls, want only the interrupted one", n)
	}
	if instances, _ := h.cloud.List(h.ctx); len(instances) != 1 {
		t.Errorf("%d instances, want 1", len(instances))
	}
}

// TestRestartMidLaunchWithoutInstanceLaunchesOnce: the previous controller died after
// recording its intent but before the cloud launched anything.
func TestRestartMidLaunchWithoutInstanceLaunchesOnce(t *testing.T) {
	h := newHarness(t)
	stop := h.start()
	h.create(newNodeClaim("first"))
	h.condition("first", lc.ConditionLaunched, metav1.ConditionTrue, lc.ReasonLaunched)
	stop()

	nc := newNodeClaim("intent-only")
	h.create(nc)
	nc.Status.Conditions = []metav1.Condition{{Type: lc.ConditionLaunched, Status: metav1.ConditionUnknown, Reason: lc.ReasonLaunching, LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(h.ctx, nc); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.condition("intent-only", lc.ConditionLaunched, metav1.ConditionTrue, lc.ReasonLaunched)
	if n := len(h.cloud.Calls(fake.MethodCreate)); n != 2 {
		t.Errorf("%d Create calls, want 2 (one per nodeclaim)", n)
	}
	if instances, _ := h.cloud.List(h.ctx); len(instances) != 2 {
		t.Errorf("%d instances, want 2", len(instances))
	}
}

func findCondition(nc *v1.NodeClaim, typ string) *metav1.Condition {
	for i := range nc.Status.Conditions {
		if nc.Status.Conditions[i].Type == typ {
			return &nc.Status.Conditions[i]
		}
	}
	return nil
}

func taintKeys(node *corev1.Node) []string {
	var keys []string
	for _, t := range node.Spec.Taints {
		keys = append(keys, t.Key)
	}
	return keys
}

func setNodeReady(t *testing.T, h *harness, name string) {
	t.Helper()
	node := h.getNode(name)
	before := node.DeepCopy()
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Patch(h.ctx, node, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
}

func removeTaints(t *testing.T, h *harness, name string, keys ...string) {
	t.Helper()
	h.eventually(func() error {
		node := h.getNode(name)
		before := node.DeepCopy()
		node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return slices.Contains(keys, t.Key) })
		return env.Client.Patch(h.ctx, node, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
}

// TestBeforeRegisterRunsWhileTheNodeIsTainted: the hook (provisioning.Hints) must run while
// nothing can be scheduled on the Node yet, once per registration.
func TestBeforeRegisterRunsWhileTheNodeIsTainted(t *testing.T) {
	h := newHarness(t)
	type call struct {
		nodeClaim, node string
		taints          []string
	}
	var mu sync.Mutex
	var calls []call
	h.beforeRegister = func(ctx context.Context, nodeClaim, node string) {
		var n corev1.Node
		if err := env.Client.Get(ctx, client.ObjectKey{Name: node}, &n); err != nil {
			t.Errorf("reading node %s in the hook: %v", node, err)
		}
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{nodeClaim, node, taintKeys(&n)})
	}
	h.start()
	h.create(newNodeClaim("hinted"))
	nc := h.condition("hinted", lc.ConditionRegistered, metav1.ConditionUnknown, lc.ReasonNodeNotFound)
	h.create(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "hinted-node"},
		Spec:       corev1.NodeSpec{ProviderID: nc.Status.ProviderID, Taints: []corev1.Taint{v1.UnregisteredNoExecuteTaint}},
	})
	h.condition("hinted", lc.ConditionRegistered, metav1.ConditionTrue, lc.ReasonRegistered)
	if slices.Contains(taintKeys(h.getNode("hinted-node")), v1.UnregisteredTaintKey) {
		t.Fatal("registration left the unregistered taint")
	}
	setNodeReady(t, h, "hinted-node") // more reconciles of a registered NodeClaim
	removeTaints(t, h, "hinted-node", "cni.example.com/not-ready", corev1.TaintNodeNotReady)
	h.condition("hinted", lc.ConditionInitialized, metav1.ConditionTrue, lc.ReasonInitialized)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("hook called %d times, want once: %+v", len(calls), calls)
	}
	if c := calls[0]; c.nodeClaim != "hinted" || c.node != "hinted-node" || !slices.Contains(c.taints, v1.UnregisteredTaintKey) {
		t.Fatalf("hook call = %+v, want hinted onto hinted-node while it had %s", c, v1.UnregisteredTaintKey)
	}
}
