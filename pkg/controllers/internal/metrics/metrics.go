package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label names.
const (
	LabelReason       = "reason"
	LabelNodePool     = "nodepool"
	LabelCapacityType = "capacity_type"
)

// Disruption reasons, the values of LabelReason on NodeClaimsDisrupted.
const (
	ReasonExpired = "expired"
	ReasonEmpty   = "empty"
)

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
