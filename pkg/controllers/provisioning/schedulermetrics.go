package provisioning

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// newSchedulerMetrics registers karpenter_scheduler_{queue_depth,unfinished_work_seconds,
// unschedulable_pods_count} on reg, or returns unregistered ones with the error.
func newSchedulerMetrics(reg prometheus.Registerer) (*metrics.SchedulerMetrics, error) {
	m, err := metrics.NewSchedulerMetrics(reg)
	if err != nil {
		m, _ = metrics.NewSchedulerMetrics(nil)
	}
	return m, err
}

// startScheduling marks a scheduling run of pods pending pods: its queue depth and unfinished
// work are exported under a fresh scheduling_id while it runs. The returned func ends the
// run with the number of pods it could place nowhere.
func (c *Controller) startScheduling(pods int) (done func(unschedulable int)) {
	id := prometheus.Labels{metrics.LabelController: Name, metrics.LabelSchedulingID: string(uuid.NewUUID())}
	c.schedulerMetrics.QueueDepth.With(id).Set(float64(pods))
	c.schedulerMetrics.UnfinishedWork.With(id).Set(0)
	return func(unschedulable int) {
		c.schedulerMetrics.QueueDepth.Delete(id)
		c.schedulerMetrics.UnfinishedWork.Delete(id)
		c.schedulerMetrics.UnschedulablePods.WithLabelValues(Name).Set(float64(unschedulable))
	}
}
