package metrics

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Label names.
const (
	LabelReason       = "reason"
	LabelNodePool     = "nodepool"
	LabelCapacityType = "capacity_type"
)

// LabelController names the controller on duration histograms.
const LabelController = "controller"

// ReasonProvisioning is the value of LabelReason on NodeClaimsCreated for new capacity.
const ReasonProvisioning = "provisioning"

// Disruption reasons, the values of LabelReason on NodeClaimsDisrupted.
const (
	ReasonExpired      = "expired"
	ReasonEmpty        = "empty"
	ReasonInterruption = "interruption"
)

// NodesTerminated returns karpenter_nodes_terminated_total{nodepool,zone}.
func NodesTerminated(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	return CounterVec(reg, prometheus.CounterOpts{
		Namespace: "karpenter", Subsystem: "nodes", Name: "terminated_total",
		Help: "Number of nodes terminated, by nodepool and zone.",
	}, LabelNodePool, LabelZone)
}

// NodeClaimsTerminated returns karpenter_nodeclaims_terminated_total{nodepool,capacity_type,zone}.
func NodeClaimsTerminated(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	return CounterVec(reg, prometheus.CounterOpts{
		Namespace: "karpenter", Subsystem: "nodeclaims", Name: "terminated_total",
		Help: "Number of NodeClaims terminated, by nodepool, capacity_type and zone.",
	}, LabelNodePool, LabelCapacityType, LabelZone)
}

// NodeClaimsDisrupted returns karpenter_nodeclaims_disrupted_total, registered on reg (or
// the collector already registered there under that name).
func NodeClaimsDisrupted(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	return CounterVec(reg, prometheus.CounterOpts{
		Namespace: "karpenter",
		Subsystem: "nodeclaims",
		Name:      "disrupted_total",
		Help:      "Number of NodeClaims disrupted, by reason, nodepool and capacity_type.",
	}, LabelReason, LabelNodePool, LabelCapacityType)
}

// CounterVec registers a counter vector on reg, or returns the equal one already there. A
// nil reg leaves the counter unregistered.
func CounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts, labels ...string) (*prometheus.CounterVec, error) {
	cv := prometheus.NewCounterVec(opts, labels)
	if reg == nil {
		return cv, nil
	}
	if err := reg.Register(cv); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("registering %s: %w", prometheus.BuildFQName(opts.Namespace, opts.Subsystem, opts.Name), err)
	}
	return cv, nil
}

// LabelMinValuesRelaxed says whether minValues were relaxed to launch a NodeClaim.
const LabelMinValuesRelaxed = "min_values_relaxed"

// NodeClaimsCreated returns karpenter_nodeclaims_created_total{reason,nodepool,
// min_values_relaxed}; count with NodeClaimCreated.
func NodeClaimsCreated(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	return CounterVec(reg, prometheus.CounterOpts{
		Namespace: "karpenter", Subsystem: "nodeclaims", Name: "created_total",
		Help: "Number of NodeClaims created, by reason, nodepool and whether min values were relaxed (min_values_relaxed).",
	}, LabelReason, LabelNodePool, LabelMinValuesRelaxed)
}

// NodeClaimCreated counts one NodeClaim on NodeClaimsCreated's counter.
func NodeClaimCreated(created *prometheus.CounterVec, reason, nodePool string, minValuesRelaxed bool) {
	created.With(prometheus.Labels{LabelReason: reason, LabelNodePool: nodePool, LabelMinValuesRelaxed: strconv.FormatBool(minValuesRelaxed)}).Inc()
}

// NodeClaimsLifecycle returns karpenter_nodeclaims_{launched,registered,initialized}_total
// {nodepool}, keyed by the phase name.
func NodeClaimsLifecycle(reg prometheus.Registerer) (map[string]*prometheus.CounterVec, error) {
	out := map[string]*prometheus.CounterVec{}
	for _, phase := range []string{"launched", "registered", "initialized"} {
		cv, err := CounterVec(reg, prometheus.CounterOpts{
			Namespace: "karpenter", Subsystem: "nodeclaims", Name: phase + "_total",
			Help: "Number of NodeClaims " + phase + ", by nodepool.",
		}, LabelNodePool)
		if err != nil {
			return nil, err
		}
		out[phase] = cv
	}
	return out, nil
}

// SchedulingDuration returns karpenter_scheduler_scheduling_duration_seconds{controller}, with
// upstream's name and buckets (it was karpenter_provisioner_scheduling_duration_seconds before
// upstream v1).
func SchedulingDuration(reg prometheus.Registerer) (*prometheus.HistogramVec, error) {
	hv := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "scheduler", Name: "scheduling_duration_seconds",
		Help:    "Duration of scheduling simulations used for deprovisioning and provisioning in seconds, by controller.",
		Buckets: DurationBuckets(),
	}, []string{LabelController})
	if reg == nil {
		return hv, nil
	}
	if err := reg.Register(hv); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(*prometheus.HistogramVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("registering karpenter_scheduler_scheduling_duration_seconds: %w", err)
	}
	return hv, nil
}
