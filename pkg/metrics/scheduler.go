package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// LabelSchedulingID identifies one scheduling run on the scheduler's gauges.
const LabelSchedulingID = "scheduling_id"

// SchedulerMetrics are the karpenter_scheduler_* families besides the duration histogram
// (SchedulingDuration), for the provisioner to fill around each Solve.
type SchedulerMetrics struct {
	// QueueDepth is the number of pods waiting to be scheduled in the current run.
	QueueDepth *prometheus.GaugeVec
	// UnfinishedWork is the seconds spent so far in the current run.
	UnfinishedWork *prometheus.GaugeVec
	// IgnoredPods counts pods the scheduler ignored (invalid or unsupported).
	IgnoredPods prometheus.Gauge
	// UnschedulablePods counts pods the last run could place nowhere.
	UnschedulablePods *prometheus.GaugeVec
}

// NewSchedulerMetrics registers the scheduler gauges on reg (or returns those already there).
func NewSchedulerMetrics(reg prometheus.Registerer) (*SchedulerMetrics, error) {
	m := &SchedulerMetrics{
		QueueDepth:     gaugeVec("scheduler", "queue_depth", "The number of pods currently waiting to be scheduled, by controller and scheduling_id.", LabelController, LabelSchedulingID),
		UnfinishedWork: gaugeVec("scheduler", "unfinished_work_seconds", "How many seconds of work has been done that is in progress and hasn't been observed by scheduling_duration_seconds, by controller and scheduling_id.", LabelController, LabelSchedulingID),
		IgnoredPods: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "scheduler", Name: "ignored_pods_count",
			Help: "Number of pods ignored during scheduling by Karpenter."}),
		UnschedulablePods: gaugeVec("scheduler", "unschedulable_pods_count", "The number of unschedulable pods, by controller.", LabelController),
	}
	var err error
	if err = registerGauges(reg, &m.QueueDepth, &m.UnfinishedWork, &m.UnschedulablePods); err != nil {
		return nil, err
	}
	if m.IgnoredPods, err = Register(reg, m.IgnoredPods); err != nil {
		return nil, err
	}
	return m, nil
}
