package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

type harness struct {
	t        *testing.T
	ctx      context.Context
	clk      *clocktesting.FakeClock
	cloud    *fake.Provider
	recorder *record.FakeRecorder
}

func instanceTypes() []*cloudprovider.InstanceType {
	gpuType := &cloudprovider.InstanceType{
		Name:     "gpu",
		Labels:   map[string]string{v1.LabelInstanceType: "gpu", v1.LabelArch: v1.ArchitectureAmd64, v1.LabelOS: v1.OSLinux},
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110"), "example.com/gpu": resource.MustParse("1")},
		Offerings: []cloudprovider.Offering{
			{Zone: "zone-a", CapacityType: v1.CapacityTypeOnDemand, PricePerHour: 1, Available: true},
		},
	}
	return []*cloudprovider.InstanceType{gpuType, {
		Name:     "small",
		Labels:   map[string]string{v1.LabelInstanceType: "small", v1.LabelArch: v1.ArchitectureAmd64, v1.LabelOS: v1.OSLinux},
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Offerings: []cloudprovider.Offering{
			{Zone: "zone-a", CapacityType: v1.CapacityTypeOnDemand, PricePerHour: 0.1, Available: true},
		},
	}}
}

// newHarness builds a fake cloud and clock; start runs the controller under a manager.
func newHarness(t *testing.T) *harness {
	t.Helper()
	test.RequireEnvironment(t, env)
	h := &harness{
		t:        t,
		ctx:      test.Context(t),
		clk:      clocktesting.NewFakeClock(time.Now()),
		cloud:    fake.New(fake.Options{InstanceTypes: instanceTypes()}),
		recorder: record.NewFakeRecorder(1000),
	}
	t.Cleanup(h.cleanup)
	return h
}

// start runs a lifecycle controller under a manager until stop is called or the test ends.
func (h *harness) start() (stop func()) {
	h.t.Helper()
	mgr, err := manager.New(env.Config, manager.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: new(true)},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctrl := lifecycle.NewController(lifecycle.Deps{
		Client: mgr.GetClient(), CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clk,
	})
	if err := ctrl.Register(h.ctx, mgr); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			h.t.Errorf("manager: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	h.t.Cleanup(stop)
	return stop
}

// cleanup strips finalizers (no termination controller runs here) and deletes everything.
func (h *harness) cleanup() {
	ctx := context.Background()
	var ncs v1.NodeClaimList
	if env.Client.List(ctx, &ncs) == nil {
		for i := range ncs.Items {
			nc := &ncs.Items[i]
			_ = env.Client.Patch(ctx, nc, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
			_ = env.Client.Delete(ctx, nc)
		}
	}
	var nodes corev1.NodeList
	if env.Client.List(ctx, &nodes) == nil {
		for i := range nodes.Items {
			n := &nodes.Items[i]
			_ = env.Client.Patch(ctx, n, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
			_ = env.Client.Delete(ctx, n)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if env.Client.List(ctx, &ncs) == nil && env.Client.List(ctx, &nodes) == nil && len(ncs.Items) == 0 && len(nodes.Items) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newNodeClaim(name string, mutate ...func(*v1.NodeClaim)) *v1.NodeClaim {
	nc := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{v1.NodePoolLabelKey: "default", "team": "checkout"},
			Annotations: map[string]string{"example.com/owner": "ops"},
		},
		Spec: v1.NodeClaimSpec{
			Requirements:  []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{"small"}}},
			Resources:     v1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
			NodeClassRef:  &v1.NodeClassReference{Group: fake.NodeClassGVK.Group, Kind: fake.NodeClassGVK.Kind, Name: "default"},
			Taints:        []corev1.Taint{{Key: "dedicated", Value: "checkout", Effect: corev1.TaintEffectNoSchedule}},
			StartupTaints: []corev1.Taint{{Key: "cni.example.com/not-ready", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
	for _, m := range mutate {
		m(nc)
	}
	return nc
}

func (h *harness) create(obj client.Object) {
	h.t.Helper()
	if err := env.Client.Create(h.ctx, obj); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) get(name string) (*v1.NodeClaim, error) {
	nc := &v1.NodeClaim{}
	err := env.Client.Get(h.ctx, client.ObjectKey{Name: name}, nc)
	return nc, err
}

func (h *harness) getNode(name string) *corev1.Node {
	h.t.Helper()
	node := &corev1.Node{}
	if err := env.Client.Get(h.ctx, client.ObjectKey{Name: name}, node); err != nil {
		h.t.Fatal(err)
	}
	return node
}

// eventually polls cond (which may fail with a description) for up to 20 seconds.
func (h *harness) eventually(cond func() error) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out: %v", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// condition waits until the NodeClaim's condition has the status and reason ("" = any).
func (h *harness) condition(name, typ string, status metav1.ConditionStatus, reason string) *v1.NodeClaim {
	h.t.Helper()
	var nc *v1.NodeClaim
	h.eventually(func() error {
		var err error
		if nc, err = h.get(name); err != nil {
			return err
		}
		c := meta.FindStatusCondition(nc.Status.Conditions, typ)
		if c == nil || c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("condition %s = %+v, want %s/%s", typ, c, status, reason)
		}
		if c.ObservedGeneration != nc.Generation {
			return fmt.Errorf("condition %s observed generation %d, want %d", typ, c.ObservedGeneration, nc.Generation)
		}
		return nil
	})
	return nc
}

// touch changes an annotation so the controller reconciles the NodeClaim again.
func (h *harness) touch(name string) {
	h.t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"test/touched":%q}}}`, h.clk.Now().String())
	nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Patch(h.ctx, nc, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		h.t.Fatal(err)
	}
}

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
