package sim_test

import (
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim/noderegistrar"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// env is one real API server for the whole package, started by TestMain. Tests run one at a
// time: instances are cluster-scoped, and each test checks that none is left at its end.
var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

// epoch is where fake clocks start (whole seconds: the API server keeps times to the second).
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fixture is a provider over the shared API server with a fake clock and a fresh SimNodeClass.
type fixture struct {
	t        *testing.T
	clock    *testingclock.FakeClock
	provider *sim.Provider
	class    *simv1alpha1.SimNodeClass
}

func newFixture(t *testing.T, spec simv1alpha1.SimNodeClassSpec) *fixture {
	t.Helper()
	test.RequireEnvironment(t, env)
	t.Cleanup(func() { expectNothingLeft(t) })
	f := &fixture{t: t, clock: testingclock.NewFakeClock(epoch)}
	f.class = &simv1alpha1.SimNodeClass{ObjectMeta: metav1.ObjectMeta{GenerateName: "class-"}, Spec: spec}
	ctx := test.Context(t)
	if err := env.Client.Create(ctx, f.class); err != nil {
		t.Fatalf("creating SimNodeClass: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, f.class) })
	f.provider = f.newProvider()
	return f
}

// newProvider is a new Provider on the same API server and clock, as after a restart.
func (f *fixture) newProvider() *sim.Provider {
	p, err := sim.New(sim.Options{Client: env.Client, Clock: f.clock})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) ref() *v1.NodeClassReference {
	return &v1.NodeClassReference{Group: simv1alpha1.Group, Kind: simv1alpha1.KindSimNodeClass, Name: f.class.Name}
}

// nodeClaim is an unsaved NodeClaim with a UID, as the lifecycle controller would pass.
func (f *fixture) nodeClaim(name string, reqs ...v1.NodeSelectorRequirementWithMinValues) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: uuid.NewUUID(), Labels: map[string]string{v1.NodePoolLabelKey: "default"}},
		Spec: v1.NodeClaimSpec{
			Requirements:  reqs,
			NodeClassRef:  f.ref(),
			Taints:        []corev1.Taint{{Key: "team", Value: "a", Effect: corev1.TaintEffectNoSchedule}},
			StartupTaints: []corev1.Taint{{Key: "cni", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
}

func in(key string, values ...string) v1.NodeSelectorRequirementWithMinValues {
	return v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}
}

// expectNothingLeft fails the test if a SimInstance or a sim Node is left, then removes them
// so one failure does not cascade.
func expectNothingLeft(t *testing.T) {
	t.Helper()
	ctx := test.Context(t)
	instances := &simv1alpha1.SimInstanceList{}
	if err := env.Client.List(ctx, instances); err != nil {
		t.Errorf("listing instances at the end: %v", err)
		return
	}
	for i := range instances.Items {
		t.Errorf("instance left running: %s (%s)", instances.Items[i].Name, instances.Items[i].Spec.NodeClaim)
		_ = env.Client.Delete(ctx, &instances.Items[i])
	}
	nodes := &corev1.NodeList{}
	if err := env.Client.List(ctx, nodes); err != nil {
		t.Errorf("listing nodes at the end: %v", err)
		return
	}
	for i := range nodes.Items {
		t.Errorf("node left: %s", nodes.Items[i].Name)
		_ = env.Client.Delete(ctx, &nodes.Items[i], client.GracePeriodSeconds(0))
	}
}

// registrar is a node registrar over the fixture's provider and clock; it records events
// on a fake recorder and metrics on a fresh registry, both returned by registrarWith.
func (f *fixture) registrar(interval time.Duration) *noderegistrar.Controller {
	r, _, _ := f.registrarWith(interval)
	return r
}

func (f *fixture) registrarWith(interval time.Duration) (*noderegistrar.Controller, *record.FakeRecorder, *prometheus.Registry) {
	f.t.Helper()
	recorder, reg := record.NewFakeRecorder(100), prometheus.NewRegistry()
	r, err := noderegistrar.NewController(noderegistrar.Deps{
		Client: env.Client, Cloud: f.provider, Recorder: recorder, Clock: f.clock, Interval: interval, Registerer: reg,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return r, recorder, reg
}
