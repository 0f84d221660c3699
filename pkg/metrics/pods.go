package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Labels of karpenter_pods_state.
const (
	LabelOwner = "owner"
	LabelNode  = "node"
)

// PodStateLabels are the labels of karpenter_pods_state, a new slice each call.
func PodStateLabels() []string {
	return []string{LabelName, LabelNamespace, LabelOwner, LabelNode, LabelNodePool, LabelZone, LabelArch,
		LabelCapacityType, LabelInstanceType, LabelPhase}
}

// PodMetrics are the karpenter_pods_* families.
type PodMetrics struct {
	// State is 1 for every pod, labelled by its name, namespace, owner, node and phase and
	// its node's nodepool, zone, arch, capacity type and instance type, computed when
	// scraped from the pods its source lists: a series stored per pod (and the bookkeeping
	// to delete them) held about 40 MiB at 20,000 pods for a value that is always 1.
	State *ComputedGauge
	// StartupDuration observes creation → Ready of pods seen pending.
	StartupDuration prometheus.Summary
	// BoundDuration observes creation → bound (PodScheduled).
	BoundDuration prometheus.Histogram
	// UnboundTime and UnstartedTime are, per pod not yet bound / not yet running, the
	// seconds since its creation.
	UnboundTime   *prometheus.GaugeVec
	UnstartedTime *prometheus.GaugeVec
	// The provisioning_* families measure from when Karpenter first saw the pod waiting for
	// capacity (kube-scheduler said Unschedulable), a point in memory, not the pod's creation.
	ProvisioningBoundDuration   prometheus.Histogram
	ProvisioningStartupDuration prometheus.Histogram
	ProvisioningUnboundTime     *prometheus.GaugeVec
	ProvisioningUnstartedTime   *prometheus.GaugeVec
}

// NewPodMetrics registers the pod families on reg (or returns those already there).
func NewPodMetrics(reg prometheus.Registerer) (*PodMetrics, error) {
	m := &PodMetrics{
		State: NewComputedGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "pods", Name: "state",
			Help: "Pod state is the current state of pods, labelled by the pod name, namespace, owner, node, nodepool name, zone, architecture, capacity type, instance type and pod phase.",
		}, PodStateLabels()),
		StartupDuration: prometheus.NewSummary(prometheus.SummaryOpts{
			Namespace: Namespace, Subsystem: "pods", Name: "startup_duration_seconds",
			Help: "The time from pod creation until the pod is running.", Objectives: SummaryObjectives(),
		}),
		BoundDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "pods", Name: "bound_duration_seconds",
			Help: "The time from pod creation until the pod is bound.", Buckets: DurationBuckets(),
		}),
		UnboundTime:   gaugeVec("pods", "unbound_time_seconds", "The time from pod creation until the pod is bound, for pods not bound yet, by name and namespace.", LabelName, LabelNamespace),
		UnstartedTime: gaugeVec("pods", "unstarted_time_seconds", "The time from pod creation until the pod is running, for pods not running yet, by name and namespace.", LabelName, LabelNamespace),
		ProvisioningBoundDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "pods", Name: "provisioning_bound_duration_seconds", Buckets: DurationBuckets(),
			Help: "The time from when Karpenter first thinks the pod can schedule until it binds. Note: this calculated from a point in memory, not by the pod creation timestamp.",
		}),
		ProvisioningStartupDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "pods", Name: "provisioning_startup_duration_seconds", Buckets: DurationBuckets(),
			Help: "The time from when Karpenter first thinks the pod can schedule until the pod is running. Note: this calculated from a point in memory, not by the pod creation timestamp.",
		}),
		ProvisioningUnboundTime: gaugeVec("pods", "provisioning_unbound_time_seconds",
			"The time from when Karpenter first thinks the pod can schedule until it binds, for pods not bound yet, by name and namespace.", LabelName, LabelNamespace),
		ProvisioningUnstartedTime: gaugeVec("pods", "provisioning_unstarted_time_seconds",
			"The time from when Karpenter first thinks the pod can schedule until the pod is running, for pods not running yet, by name and namespace.", LabelName, LabelNamespace),
	}
	var err error
	if m.State, err = Register(reg, m.State); err != nil {
		return nil, err
	}
	if err = registerGauges(reg, &m.UnboundTime, &m.UnstartedTime, &m.ProvisioningUnboundTime, &m.ProvisioningUnstartedTime); err != nil {
		return nil, err
	}
	if m.ProvisioningBoundDuration, err = Register(reg, m.ProvisioningBoundDuration); err != nil {
		return nil, err
	}
	if m.ProvisioningStartupDuration, err = Register(reg, m.ProvisioningStartupDuration); err != nil {
		return nil, err
	}
	if m.StartupDuration, err = Register(reg, m.StartupDuration); err != nil {
		return nil, err
	}
	if m.BoundDuration, err = Register(reg, m.BoundDuration); err != nil {
		return nil, err
	}
	return m, nil
}
