package termination

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var (
	env *test.Environment
	// cloud is shared by the package's tests so that provider IDs stay unique across them.
	cloud = fake.New(fake.Options{})
)

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

// harness is one test's controller with its fakes.
type harness struct {
	t        *testing.T
	ctx      context.Context
	ctrl     *Controller
	cloud    *fake.Provider
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
	registry *prometheus.Registry
	ns       string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	test.RequireEnvironment(t, env)
	h := &harness{
		t:        t,
		ctx:      test.Context(t),
		cloud:    cloud,
		clock:    clocktesting.NewFakeClock(time.Now()),
		recorder: record.NewFakeRecorder(1000),
		registry: prometheus.NewRegistry(),
		ns:       fixtures.Name(t, ""),
	}
	cloud.Reset()
	evictor, err := NewEvictor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := NewController(Deps{Client: env.Client, Evictor: evictor, CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clock, Registerer: h.registry})
	if err != nil {
		t.Fatal(err)
	}
	h.ctrl = ctrl
	if err := fixtures.Namespace(h.ctx, env.Client, h.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fixtures.Cleanup(context.Background(), env.Client, h.ns); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	})
	return h
}

// node launches a NodeClaim with a Node; tgp sets spec.terminationGracePeriod when > 0.
func (h *harness) node(name string, tgp time.Duration) (*v1.NodeClaim, *corev1.Node) {
	h.t.Helper()
	nc := fixtures.NodeClaim(fixtures.Name(h.t, name), "pool")
	if tgp > 0 {
		nc.Spec.TerminationGracePeriod = &metav1.Duration{Duration: tgp}
	}
	nc, err := fixtures.Launch(h.ctx, env.Client, h.cloud, nc, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	node, err := fixtures.Node(h.ctx, env.Client, nc)
	if err != nil {
		h.t.Fatal(err)
	}
	return nc, node
}

func (h *harness) pod(name, node string, opts ...fixtures.PodOption) *corev1.Pod {
	h.t.Helper()
	p, err := fixtures.Pod(h.ctx, env.Client, h.ns, name, node, opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// deleteClaim deletes the NodeClaim (its finalizer holds it) and returns it as stored.
func (h *harness) deleteClaim(nc *v1.NodeClaim) {
	h.t.Helper()
	if err := env.Client.Delete(h.ctx, nc); err != nil {
		h.t.Fatal(err)
	}
	if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(nc), nc); err != nil {
		h.t.Fatal(err)
	}
}

// reconcile runs one pass over the stored NodeClaim; a NodeClaim already gone is a no-op.
func (h *harness) reconcile(name string) time.Duration {
	h.t.Helper()
	nc := &v1.NodeClaim{}
	if err := env.Client.Get(h.ctx, client.ObjectKey{Name: name}, nc); err != nil {
		if apierrors.IsNotFound(err) {
			return 0
		}
		h.t.Fatal(err)
	}
	res, err := h.ctrl.Reconcile(h.ctx, nc)
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return res.RequeueAfter
}

// kubelet removes terminating pods, as the node's kubelet would.
func (h *harness) kubelet() []string {
	h.t.Helper()
	removed, err := fixtures.Kubelet(h.ctx, env.Client, h.ns)
	if err != nil {
		h.t.Fatal(err)
	}
	return removed
}

// terminating reports, per pod name, whether it is terminating; gone pods are absent.
func (h *harness) podStates() map[string]bool {
	h.t.Helper()
	list := &corev1.PodList{}
	if err := env.Client.List(h.ctx, list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range list.Items {
		out[p.Name] = p.DeletionTimestamp != nil
	}
	return out
}

func (h *harness) exists(obj client.Object) bool {
	h.t.Helper()
	err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return true
}

// events drains the recorder and returns the events' reasons joined by spaces.
func (h *harness) events() string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, strings.Fields(e)[1])
		default:
			return strings.Join(out, " ")
		}
	}
}

func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	var cv *prometheus.CounterVec
	switch name {
	case "nodes":
		cv = h.ctrl.nodesTerminated
	default:
		cv = h.ctrl.nodeClaimsTerminated
	}
	return testutil.ToFloat64(cv.WithLabelValues(labels...))
}
