package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Labels of the status condition families.
const (
	LabelConditionType   = "type"
	LabelConditionStatus = "status"
)

// StatusConditionMetrics are operator_<kind>_status_condition_* and
// operator_<kind>_termination_* for one kind of object (kind is lower case: "nodepool").
type StatusConditionMetrics struct {
	// Count is 1 per object and current condition (computed when scraped).
	Count *ComputedGauge
	// CurrentStatusSeconds is how long each current condition has held (computed when
	// scraped).
	CurrentStatusSeconds *ComputedGauge
	// TransitionsTotal counts observed transitions by type, status and reason.
	TransitionsTotal *prometheus.CounterVec
	// TransitionSeconds observes how long a condition held before it transitioned.
	TransitionSeconds *prometheus.HistogramVec
	// TerminationCurrentTime is how long each terminating object has been terminating
	// (computed when scraped).
	TerminationCurrentTime *ComputedGauge
	// TerminationDuration observes deletion request → gone.
	TerminationDuration *prometheus.HistogramVec
}

// NewStatusConditionMetrics registers the status condition families of kind on reg (or
// returns those already there).
func NewStatusConditionMetrics(reg prometheus.Registerer, kind string) (*StatusConditionMetrics, error) {
	opts := func(sub, name, help string) (string, string, string, string) {
		return "operator", kind + "_" + sub, name, help
	}
	gv := func(sub, name, help string, labels ...string) *ComputedGauge {
		ns, s, n, h := opts(sub, name, help)
		return NewComputedGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: s, Name: n, Help: h}, labels)
	}
	hv := func(sub, name, help string, labels ...string) *prometheus.HistogramVec {
		ns, s, n, h := opts(sub, name, help)
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: s, Name: n, Help: h, Buckets: prometheus.DefBuckets}, labels)
	}
	m := &StatusConditionMetrics{
		Count: gv("status_condition", "count", "The number of a condition for a "+kind+", type and status.",
			LabelNamespace, LabelName, LabelConditionType, LabelConditionStatus, LabelReason),
		CurrentStatusSeconds: gv("status_condition", "current_status_seconds", "The current amount of time in seconds that a status condition has been in a specific state.",
			LabelNamespace, LabelName, LabelConditionType, LabelConditionStatus, LabelReason),
		TransitionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "operator", Subsystem: kind + "_status_condition", Name: "transitions_total",
			Help: "The count of transitions of a " + kind + ", type and status."}, []string{LabelConditionType, LabelConditionStatus, LabelReason}),
		TransitionSeconds: hv("status_condition", "transition_seconds", "The amount of time a condition was in a given state before transitioning.",
			LabelConditionType, LabelConditionStatus),
		TerminationCurrentTime: gv("termination", "current_time_seconds", "The current amount of time in seconds that a "+kind+" has been in terminating state.",
			LabelNamespace, LabelName),
		TerminationDuration: hv("termination", "duration_seconds", "The amount of time taken by a "+kind+" to terminate completely.",
			LabelNamespace, LabelName),
	}
	var err error
	for _, g := range []**ComputedGauge{&m.Count, &m.CurrentStatusSeconds, &m.TerminationCurrentTime} {
		if *g, err = Register(reg, *g); err != nil {
			return nil, err
		}
	}
	if m.TransitionsTotal, err = Register(reg, m.TransitionsTotal); err != nil {
		return nil, err
	}
	if m.TransitionSeconds, err = Register(reg, m.TransitionSeconds); err != nil {
		return nil, err
	}
	if m.TerminationDuration, err = Register(reg, m.TerminationDuration); err != nil {
		return nil, err
	}
	return m, nil
}
