package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/providerid"
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
	recorder *test.Recorder
	// beforeRegister is handed to the controller as Deps.BeforeRegister.
	beforeRegister func(ctx context.Context, nodeClaim, node string)
}

func instanceTypes() []*cloudprovider.InstanceType {
	return []*cloudprovider.InstanceType{
		test.InstanceType("gpu", "4", "16Gi", test.WithResource("example.com/gpu", "1"), test.WithPrice(1)),
		test.InstanceType("small", "2", "8Gi"),
	}
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
		recorder: test.NewRecorder(),
	}
	// No termination controller runs here: cleanup strips the finalizers.
	t.Cleanup(func() { env.Cleanup(t, &v1.NodeClaimList{}, &corev1.NodeList{}) })
	return h
}

// start runs a lifecycle controller under a manager until stop is called or the test ends.
func (h *harness) start() (stop func()) {
	h.t.Helper()
	return env.StartManager(h.t, func(ctx context.Context, mgr manager.Manager) error {
		if err := providerid.Index(ctx, mgr.GetFieldIndexer()); err != nil {
			return err
		}
		return lifecycle.NewController(lifecycle.Deps{
			Client: mgr.GetClient(), CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clk,
			BeforeRegister: h.beforeRegister,
		}).Register(ctx, mgr)
	}).Stop
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

// eventually polls cond (which may fail with a description) until it holds.
func (h *harness) eventually(cond func() error) {
	h.t.Helper()
	test.Eventually(h.t, 0, cond)
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

func (h *harness) events() []string { return h.recorder.All() }
