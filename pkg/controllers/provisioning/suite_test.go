package provisioning_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
	"github.com/gokarpenter/karpenter/pkg/state"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

// harness is one provisioner with its own cluster state fed by a real informer cache.
type harness struct {
	t        *testing.T
	ctx      context.Context
	clk      *clocktesting.FakeClock
	cloud    *fake.Provider
	cluster  *state.Cluster
	recorder *record.FakeRecorder
	ctrl     *provisioning.Controller
	ns       string
}

func instanceTypes() []*cloudprovider.InstanceType {
	mk := func(name, cpu, mem string, price float64) *cloudprovider.InstanceType {
		return test.InstanceType(name, cpu, mem, test.WithKubeReserved("100m", "256Mi"),
			test.WithOfferings(test.Offering("zone-a", v1.CapacityTypeOnDemand, price), test.Offering("zone-b", v1.CapacityTypeOnDemand, price*1.01)))
	}
	return []*cloudprovider.InstanceType{mk("large", "8", "32Gi", 0.4), mk("small", "2", "8Gi", 0.1), mk("medium", "4", "16Gi", 0.2)}
}

// newHarness starts an informer cache for a fresh cluster state and builds a provisioner on
// it. Objects the test creates are removed when it ends.
func newHarness(t *testing.T) *harness {
	t.Helper()
	test.RequireEnvironment(t, env)
	h := &harness{
		t:        t,
		ctx:      test.Context(t),
		clk:      clocktesting.NewFakeClock(time.Now()),
		cloud:    fake.New(fake.Options{InstanceTypes: instanceTypes()}),
		recorder: record.NewFakeRecorder(1000),
		ns:       strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")),
	}
	if len(h.ns) > 50 {
		h.ns = h.ns[:50]
	}
	if err := env.Client.Create(h.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.cleanup)
	h.restart()
	return h
}

// restart forgets everything in memory, as a controller restart would: a new cluster
// state, fed by a new informer cache, and a new provisioner.
func (h *harness) restart() {
	h.t.Helper()
	informers := env.Cache(h.t)
	h.cluster = state.NewCluster(state.Options{Clock: h.clk})
	if err := h.cluster.Register(h.ctx, informers); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = informers.Start(ctx) }()
	h.t.Cleanup(func() { cancel(); wg.Wait() })
	h.ctrl = provisioning.NewController(provisioning.Deps{
		Client: env.Client, Cluster: h.cluster, CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clk,
	})
	h.eventually("cluster state synced", h.cluster.Synced)
}

// startManager runs the provisioner the way the operator does, batch loop included.
func (h *harness) startManager() {
	h.t.Helper()
	env.StartManager(h.t, func(ctx context.Context, mgr manager.Manager) error {
		h.cluster = state.NewCluster(state.Options{Clock: h.clk})
		if err := h.cluster.Register(h.ctx, mgr.GetCache()); err != nil {
			return err
		}
		h.ctrl = provisioning.NewController(provisioning.Deps{
			Client: mgr.GetClient(), Cluster: h.cluster, CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clk,
		})
		return h.ctrl.Register(h.ctx, mgr)
	})
}

func (h *harness) cleanup() {
	ctx := context.Background()
	_ = env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(h.ns), client.GracePeriodSeconds(0))
	_ = env.Client.DeleteAllOf(ctx, &v1.NodeClaim{})
	_ = env.Client.DeleteAllOf(ctx, &v1.NodePool{})
	_ = env.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var ncs v1.NodeClaimList
		var nps v1.NodePoolList
		if env.Client.List(ctx, &ncs) == nil && env.Client.List(ctx, &nps) == nil && len(ncs.Items) == 0 && len(nps.Items) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	test.Eventually(h.t, 0, func() error {
		if !cond() {
			return errors.New("waiting for " + what)
		}
		return nil
	})
}

func nodePool(name string, mutate ...func(*v1.NodePool)) *v1.NodePool {
	np := &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
			Requirements: []v1.NodeSelectorRequirementWithMinValues{},
			NodeClassRef: &v1.NodeClassReference{Group: fake.NodeClassGVK.Group, Kind: fake.NodeClassGVK.Kind, Name: "default"},
		}}},
	}
	for _, m := range mutate {
		m(np)
	}
	return np
}

// createNodePool creates the NodePool and waits until the cluster state has it.
func (h *harness) createNodePool(np *v1.NodePool) *v1.NodePool {
	h.t.Helper()
	if err := env.Client.Create(h.ctx, np); err != nil {
		h.t.Fatal(err)
	}
	h.eventually("nodepool "+np.Name+" in state", func() bool {
		for _, seen := range h.cluster.NodePools() {
			if seen.Name == np.Name {
				return true
			}
		}
		return false
	})
	return np
}

// createPendingPod creates a pod the kube-scheduler has marked Unschedulable, and waits
// until the cluster state sees it so.
func (h *harness) createPendingPod(name, cpu string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	h.t.Helper()
	pod := h.pod(name, cpu, mutate...)
	if err := env.Client.Create(h.ctx, pod); err != nil {
		h.t.Fatal(err)
	}
	pod.Status.Conditions = []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/0 nodes are available", LastTransitionTime: metav1.Now(),
	}}
	if err := env.Client.Status().Update(h.ctx, pod); err != nil {
		h.t.Fatal(err)
	}
	h.eventually("pod "+name+" pending in state", func() bool {
		for _, p := range h.cluster.PendingPods() {
			if p.Namespace == h.ns && p.Name == name {
				return true
			}
		}
		return false
	})
	return pod
}

// pod is a pod of the test's namespace requesting cpu, not created.
func (h *harness) pod(name, cpu string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "app",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
		}}},
	}
	for _, m := range mutate {
		m(pod)
	}
	return pod
}

func (h *harness) nodeClaims() []v1.NodeClaim {
	h.t.Helper()
	var list v1.NodeClaimList
	if err := env.Client.List(h.ctx, &list); err != nil {
		h.t.Fatal(err)
	}
	return list.Items
}

// provision runs one round and fails the test on error.
func (h *harness) provision() provisioning.Result {
	h.t.Helper()
	res, err := h.ctrl.Provision(h.ctx)
	if err != nil {
		h.t.Fatalf("provisioning: %v", err)
	}
	return res
}

// events drains the recorded events.
func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func requirement(nc *v1.NodeClaim, key string) (v1.NodeSelectorRequirementWithMinValues, bool) {
	for _, r := range nc.Spec.Requirements {
		if r.Key == key {
			return r, true
		}
	}
	return v1.NodeSelectorRequirementWithMinValues{}, false
}
