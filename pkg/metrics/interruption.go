package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// LabelMessageType is the interruption message kind on InterruptionMetrics.Received.
const LabelMessageType = "message_type"

// Interruption message types (upstream's values), plus the kinds a message that is not
// acted on is counted as.
const (
	MessageTypeSpotInterruption        = "spot_interrupted"
	MessageTypeRebalanceRecommendation = "rebalance_recommendation"
	MessageTypeScheduledChange         = "scheduled_change"
	MessageTypeInstanceStopped         = "instance_stopped"
	MessageTypeInstanceTerminated      = "instance_terminated"
	MessageTypeCapacityReservationIntr = "capacity_reservation_interrupted"
	MessageTypeNoOp                    = "no_op"
	MessageTypeUnparseable             = "unparseable"
)

// interruptionQueueBuckets are the buckets of the queue-duration histogram, in seconds: from
// a fraction of a second to the quarter hour a message may wait.
var interruptionQueueBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 25, 30, 40, 50, 60, 120, 300, 600, 900}

// InterruptionMetrics are the karpenter_interruption_* collectors.
type InterruptionMetrics struct {
	// Received is karpenter_interruption_received_messages_total{message_type}.
	Received *prometheus.CounterVec
	// Deleted is karpenter_interruption_deleted_messages_total.
	Deleted prometheus.Counter
	// QueueDuration is karpenter_interruption_message_queue_duration_seconds: the time from
	// the event to its handling.
	QueueDuration prometheus.Histogram
}

// Interruption registers the interruption collectors on reg (or returns the ones already
// there). A nil reg leaves them unregistered.
func Interruption(reg prometheus.Registerer) (*InterruptionMetrics, error) {
	received, err := CounterVec(reg, prometheus.CounterOpts{
		Namespace: "karpenter", Subsystem: "interruption", Name: "received_messages_total",
		Help: "Count of messages received from the interruption queue, by message_type.",
	}, LabelMessageType)
	if err != nil {
		return nil, err
	}
	deleted, err := CounterVec(reg, prometheus.CounterOpts{
		Namespace: "karpenter", Subsystem: "interruption", Name: "deleted_messages_total",
		Help: "Count of messages deleted from the interruption queue.",
	})
	if err != nil {
		return nil, err
	}
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "karpenter", Subsystem: "interruption", Name: "message_queue_duration_seconds",
		Help:    "Time between the interruption event and its handling by the controller, in seconds.",
		Buckets: interruptionQueueBuckets,
	})
	if reg != nil {
		if err := reg.Register(h); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return nil, fmt.Errorf("registering karpenter_interruption_message_queue_duration_seconds: %w", err)
			}
			existing, ok := already.ExistingCollector.(prometheus.Histogram)
			if !ok {
				return nil, fmt.Errorf("registering karpenter_interruption_message_queue_duration_seconds: %w", err)
			}
			h = existing
		}
	}
	return &InterruptionMetrics{Received: received, Deleted: deleted.WithLabelValues(), QueueDuration: h}, nil
}
