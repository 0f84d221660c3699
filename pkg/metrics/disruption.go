package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label names of the disruption metrics (upstream's).
const (
	LabelDecision          = "decision"
	LabelConsolidationType = "consolidation_type"
	LabelMethod            = "method"
	LabelPolicy            = "policy"
)

// Disruption reasons on NodeClaimsDisrupted and the decision metrics.
const (
	ReasonDrifted       = "drifted"
	ReasonUnderutilized = "underutilized"
)

// Disruption holds the voluntary disruption collectors.
type Disruption struct {
	// Decisions is karpenter_voluntary_disruption_decisions_total{decision,reason,consolidation_type}.
	Decisions *prometheus.CounterVec
	// EligibleNodes is karpenter_voluntary_disruption_eligible_nodes{reason}.
	EligibleNodes *prometheus.GaugeVec
	// EvaluationDuration is
	// karpenter_voluntary_disruption_decision_evaluation_duration_seconds{method,consolidation_type}.
	EvaluationDuration *prometheus.HistogramVec
	// AllowedDisruptions is karpenter_nodepools_allowed_disruptions{nodepool,reason}.
	AllowedDisruptions *prometheus.GaugeVec
	// ConsolidationScore is karpenter_consolidation_score{decision,nodepool,policy}.
	ConsolidationScore *prometheus.HistogramVec
	// ConsolidationMoves is karpenter_consolidation_moves_total{decision,nodepool,policy}.
	ConsolidationMoves *prometheus.CounterVec
	// NodeClaimsDisrupted is karpenter_nodeclaims_disrupted_total{reason,nodepool,capacity_type}.
	NodeClaimsDisrupted *prometheus.CounterVec
}

// NewDisruption builds the disruption collectors and registers them on reg (nil: not
// registered). A collector already registered under the same name is reused.
func NewDisruption(reg prometheus.Registerer) (*Disruption, error) {
	d := &Disruption{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "karpenter", Subsystem: "voluntary_disruption", Name: "decisions_total",
			Help: "Number of disruption decisions performed. Labeled by decision (delete, replace), reason and consolidation_type.",
		}, []string{LabelDecision, LabelReason, LabelConsolidationType}),
		EligibleNodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "karpenter", Subsystem: "voluntary_disruption", Name: "eligible_nodes",
			Help: "Number of nodes eligible for disruption by Karpenter. Labeled by disruption reason.",
		}, []string{LabelReason}),
		EvaluationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "karpenter", Subsystem: "voluntary_disruption", Name: "decision_evaluation_duration_seconds",
			Help:    "Duration of the disruption decision evaluation process in seconds. Labeled by method and consolidation_type.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 180, 300, 600},
		}, []string{LabelMethod, LabelConsolidationType}),
		AllowedDisruptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "karpenter", Subsystem: "nodepools", Name: "allowed_disruptions",
			Help: "The number of nodes for a given NodePool that can be concurrently disrupting at a point in time. Labeled by NodePool and reason.",
		}, []string{LabelNodePool, LabelReason}),
		ConsolidationScore: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "karpenter", Subsystem: "consolidation", Name: "score",
			Help:    "Score of balanced consolidation moves. Labeled by decision (approved, rejected), nodepool and policy.",
			Buckets: []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 25, 100},
		}, []string{LabelDecision, LabelNodePool, LabelPolicy}),
		ConsolidationMoves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "karpenter", Subsystem: "consolidation", Name: "moves_total",
			Help: "Number of balanced consolidation moves. Labeled by decision (approved, rejected), nodepool and policy.",
		}, []string{LabelDecision, LabelNodePool, LabelPolicy}),
	}
	disrupted, err := NodeClaimsDisrupted(reg)
	if err != nil {
		return nil, err
	}
	d.NodeClaimsDisrupted = disrupted
	if d.Decisions, err = register(reg, d.Decisions); err != nil {
		return nil, err
	}
	if d.EligibleNodes, err = register(reg, d.EligibleNodes); err != nil {
		return nil, err
	}
	if d.EvaluationDuration, err = register(reg, d.EvaluationDuration); err != nil {
		return nil, err
	}
	if d.AllowedDisruptions, err = register(reg, d.AllowedDisruptions); err != nil {
		return nil, err
	}
	if d.ConsolidationScore, err = register(reg, d.ConsolidationScore); err != nil {
		return nil, err
	}
	if d.ConsolidationMoves, err = register(reg, d.ConsolidationMoves); err != nil {
		return nil, err
	}
	return d, nil
}

// register registers c on reg (nil: does nothing), or returns the collector of the same
// kind already registered under its name.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("registering disruption metrics: %w", err)
	}
	return c, nil
}
