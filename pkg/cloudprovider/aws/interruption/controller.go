package interruption

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// Deps build a Controller.
type Deps struct {
	SQS awsprovider.SQSAPI
	// Queue is the queue name. Required.
	Queue string
	// Client deletes NodeClaims; a client reading from the API server or the manager's cache.
	Client      client.Client
	Unavailable *awsprovider.UnavailableOfferings
	Recorder    record.EventRecorder
	Clock       clock.Clock
	Registerer  prometheus.Registerer
	// WaitTime is the long-poll wait of ReceiveMessage; default 20s.
	WaitTime time.Duration
}

// Controller polls the queue. It runs only on the leader.
type Controller struct {
	deps      Deps
	metrics   *metrics.InterruptionMetrics
	disrupted *prometheus.CounterVec
	queueURL  string
}

// NewController checks the dependencies and registers the metrics.
func NewController(d Deps) (*Controller, error) {
	if d.SQS == nil || d.Queue == "" || d.Client == nil || d.Unavailable == nil {
		return nil, errors.New("building interruption controller: SQS, Queue, Client and Unavailable are required")
	}
	if d.Clock == nil {
		d.Clock = clock.RealClock{}
	}
	if d.Recorder == nil {
		d.Recorder = &record.FakeRecorder{}
	}
	if d.WaitTime <= 0 {
		d.WaitTime = 20 * time.Second
	}
	m, err := metrics.Interruption(d.Registerer)
	if err != nil {
		return nil, fmt.Errorf("building interruption controller: %w", err)
	}
	disrupted, err := metrics.NodeClaimsDisrupted(d.Registerer)
	if err != nil {
		return nil, fmt.Errorf("building interruption controller: %w", err)
	}
	return &Controller{deps: d, metrics: m, disrupted: disrupted}, nil
}

// Name names the controller.
func (c *Controller) Name() string { return "interruption" }

// Register adds the poller to the manager.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	if err := mgr.Add(c); err != nil {
		return fmt.Errorf("adding interruption poller: %w", err)
	}
	return nil
}

// NeedLeaderElection: only the leader polls.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start polls until ctx ends; AWS errors are logged and retried after a pause.
func (c *Controller) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName(c.Name()).WithValues("queue", c.deps.Queue)
	ctx = log.IntoContext(ctx, logger)
	for ctx.Err() == nil {
		if err := c.Poll(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "polling the interruption queue")
			select {
			case <-ctx.Done():
			case <-c.deps.Clock.After(5 * time.Second):
			}
		}
	}
	return nil
}

// Poll receives one batch of messages and handles each.
func (c *Controller) Poll(ctx context.Context) error {
	if c.queueURL == "" {
		out, err := c.deps.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(c.deps.Queue)})
		if err != nil {
			return fmt.Errorf("getting the URL of queue %s: %w", c.deps.Queue, err)
		}
		c.queueURL = aws.ToString(out.QueueUrl)
	}
	out, err := c.deps.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(c.queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 20,
		WaitTimeSeconds:             int32(c.deps.WaitTime / time.Second),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameSentTimestamp},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return fmt.Errorf("receiving messages: %w", err)
	}
	var errs []error
	for _, m := range out.Messages {
		if err := c.handle(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// handle acts on one message and deletes it unless the action failed.
func (c *Controller) handle(ctx context.Context, m sqstypes.Message) error {
	logger := log.FromContext(ctx).WithValues("messageID", aws.ToString(m.MessageId))
	msg, err := Parse(aws.ToString(m.Body))
	if err != nil {
		logger.Error(err, "deleting an unparseable message")
		c.metrics.Received.WithLabelValues(metrics.MessageTypeUnparseable).Inc()
		return c.delete(ctx, m)
	}
	c.metrics.Received.WithLabelValues(msg.Kind).Inc()
	if msg.Action != NoAction {
		if err := c.act(ctx, logger, msg); err != nil {
			return fmt.Errorf("handling %s message %s: %w", msg.Kind, aws.ToString(m.MessageId), err)
		}
	}
	if !msg.Time.IsZero() {
		c.metrics.QueueDuration.Observe(c.deps.Clock.Since(msg.Time).Seconds())
	}
	return c.delete(ctx, m)
}

func (c *Controller) delete(ctx context.Context, m sqstypes.Message) error {
	if _, err := c.deps.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		return fmt.Errorf("deleting message %s: %w", aws.ToString(m.MessageId), err)
	}
	c.metrics.Deleted.Inc()
	return nil
}

// act finds the NodeClaims of the message's instances and deletes them or records events.
func (c *Controller) act(ctx context.Context, logger logr.Logger, msg Message) error {
	list := &v1.NodeClaimList{}
	if err := c.deps.Client.List(ctx, list); err != nil {
		return fmt.Errorf("listing NodeClaims: %w", err)
	}
	want := map[string]bool{}
	for _, id := range msg.InstanceIDs {
		want[id] = true
	}
	var errs []error
	for i := range list.Items {
		nc := &list.Items[i]
		id := nc.Status.ProviderID[strings.LastIndex(nc.Status.ProviderID, "/")+1:]
		if nc.Status.ProviderID == "" || !want[id] {
			continue
		}
		logger := logger.WithValues("NodeClaim", nc.Name, "instance", id, "kind", msg.Kind)
		if msg.Action == Event {
			logger.Info("rebalance recommended")
			c.deps.Recorder.Eventf(nc, corev1.EventTypeNormal, "RebalanceRecommendation", "EC2 recommends rebalancing instance %s", id)
			continue
		}
		if msg.Kind == metrics.MessageTypeSpotInterruption {
			c.deps.Unavailable.MarkUnavailable(nc.Labels[v1.LabelInstanceType], nc.Labels[v1.LabelTopologyZone], awsprovider.CapacityTypeSpot)
		}
		if !nc.DeletionTimestamp.IsZero() {
			continue
		}
		logger.Info("deleting the NodeClaim of an interrupted instance")
		c.deps.Recorder.Eventf(nc, corev1.EventTypeWarning, reasonFor(msg.Kind), "Instance %s: %s", id, msg.Kind)
		if err := c.deps.Client.Delete(ctx, nc); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting NodeClaim %s: %w", nc.Name, err))
			continue
		}
		c.disrupted.WithLabelValues(msg.Kind, nc.Labels[v1.NodePoolLabelKey], nc.Labels[v1.CapacityTypeLabelKey]).Inc()
	}
	return errors.Join(errs...)
}

func reasonFor(kind string) string {
	switch kind {
	case metrics.MessageTypeSpotInterruption:
		return "SpotInterrupted"
	case metrics.MessageTypeInstanceStopped:
		return "InstanceStopping"
	case metrics.MessageTypeInstanceTerminated:
		return "InstanceTerminating"
	case metrics.MessageTypeScheduledChange:
		return "InstanceUnhealthy"
	}
	return "CapacityReservationInterrupted"
}
