package sim_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim/noderegistrar"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestRegistrarDeletesTheNodeClaimOfAnInterruptedInstance: a spot interruption notice
// makes the registrar delete the instance's NodeClaim (termination, holding the finalizer,
// then drains and deletes the instance), with a SpotInterrupted warning on the NodeClaim
// and the Node and the disruption counted, once.
func TestRegistrarDeletesTheNodeClaimOfAnInterruptedInstance(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{})
	ctx := test.Context(t)
	registrar, recorder, reg := f.registrarWith(0)

	nc := f.nodeClaim("interrupted", in(v1.CapacityTypeLabelKey, v1.CapacityTypeSpot))
	nc.UID = ""
	nc.Finalizers = []string{v1.TerminationFinalizer}
	if err := env.Client.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.Patch(ctx, nc, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
		_ = env.Client.Delete(ctx, nc)
	})
	got, err := f.provider.Create(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	// What the lifecycle controller records of the launch: the labels, then the provider ID.
	nc.Labels = got.Labels
	if err := env.Client.Update(ctx, nc); err != nil {
		t.Fatal(err)
	}
	nc.Status.ProviderID = got.Status.ProviderID
	if err := env.Client.Status().Update(ctx, nc); err != nil {
		t.Fatal(err)
	}
	// An interrupted instance nobody claims is left to garbage collection.
	orphan, err := f.provider.Create(ctx, f.nodeClaim("unclaimed"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := drain(recorder); len(evs) != 0 {
		t.Fatalf("events before any interruption: %v", evs)
	}
	for _, id := range []string{got.Status.ProviderID, orphan.Status.ProviderID} {
		if err := f.provider.Interrupt(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the second pass finds the NodeClaim being deleted and leaves it
		if _, err := registrar.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stored := &v1.NodeClaim{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(nc), stored); err != nil {
		t.Fatalf("nodeclaim gone: %v (the finalizer should hold it for termination)", err)
	}
	if stored.DeletionTimestamp == nil {
		t.Fatal("nodeclaim of the interrupted instance not deleted")
	}
	if !slices.Contains(stored.Finalizers, v1.TerminationFinalizer) {
		t.Errorf("finalizers = %v, want the termination finalizer kept", stored.Finalizers)
	}
	evs := drain(recorder)
	warnings := 0
	for _, e := range evs {
		if strings.HasPrefix(e, corev1.EventTypeWarning+" "+noderegistrar.EventSpotInterrupted) {
			warnings++
		}
	}
	if warnings != 2 {
		t.Errorf("events = %v, want one SpotInterrupted warning each on the NodeClaim and the Node", evs)
	}
	if n := counter(t, reg, map[string]string{"reason": "interruption", "nodepool": "default", "capacity_type": v1.CapacityTypeSpot}); n != 1 {
		t.Errorf(`karpenter_nodeclaims_disrupted_total{reason="interruption"} = %v, want 1`, n)
	}
	// Termination's part, played here: the instance goes, and with it the notice.
	for _, c := range []*v1.NodeClaim{got, orphan} {
		if err := f.provider.Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := registrar.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
}

func drain(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// counter is the value of karpenter_nodeclaims_disrupted_total with exactly these labels.
func counter(t *testing.T, reg *prometheus.Registry, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "karpenter_nodeclaims_disrupted_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels map[string]string) bool {
	if len(m.GetLabel()) != len(labels) {
		return false
	}
	for _, l := range m.GetLabel() {
		if labels[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}
