package provisioning_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
)

// TestSchedulerGauges: after a run the unschedulable count is the run's, and the per-run
// queue depth and unfinished work series are gone.
func TestSchedulerGauges(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	ctrl := provisioning.NewController(provisioning.Deps{
		Client: env.Client, Cluster: h.cluster, CloudProvider: h.cloud, Recorder: h.recorder, Clock: h.clk, Registerer: reg,
	})
	h.createNodePool(nodePool("default"))
	h.createPendingPod("fits", "1")
	h.createPendingPod("huge", "100")
	if _, err := ctrl.Provision(h.ctx); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		switch mf.GetName() {
		case "karpenter_scheduler_unschedulable_pods_count":
			found = true
			m := mf.GetMetric()
			if len(m) != 1 || m[0].GetGauge().GetValue() != 1 || m[0].GetLabel()[0].GetValue() != provisioning.Name {
				t.Errorf("unschedulable pods = %v, want 1 for controller %s", m, provisioning.Name)
			}
		case "karpenter_scheduler_queue_depth", "karpenter_scheduler_unfinished_work_seconds":
			t.Errorf("%s still has %d series after the run", mf.GetName(), len(mf.GetMetric()))
		}
	}
	if !found {
		t.Error("karpenter_scheduler_unschedulable_pods_count not exported")
	}
}
