package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// Metric and label names.
const (
	Namespace = "karpenter"
	Subsystem = "cloudprovider"

	LabelController = "controller"
	LabelMethod     = "method"
	LabelProvider   = "provider"
	LabelError      = "error"
)

// Values of the error label.
const (
	ErrorNodeClaimNotFound    = "NodeClaimNotFoundError"
	ErrorInsufficientCapacity = "InsufficientCapacityError"
	ErrorNodeClassNotReady    = "NodeClassNotReadyError"
	ErrorCreate               = "CreateError"
	ErrorUnknown              = "UnknownError"
)

// durationBuckets are the histogram buckets in seconds: 5 ms to about 82 s.
var durationBuckets = prometheus.ExponentialBuckets(0.005, 2, 15)

// Metrics are the collectors the decorator records into; share one Metrics between
// several decorated providers on the same registry.
type Metrics struct {
	Duration *prometheus.HistogramVec
	Errors   *prometheus.CounterVec
}

// NewMetrics builds the collectors and registers them on reg. Registering twice on one
// registry returns the collectors registered first.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: Subsystem, Name: "duration_seconds",
		Help:    "Duration of cloud provider method calls in seconds, by controller, method and provider.",
		Buckets: durationBuckets,
	}, []string{LabelController, LabelMethod, LabelProvider})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: Subsystem, Name: "errors_total",
		Help: "Total cloud provider method calls that returned an error, by controller, method, provider and error type.",
	}, []string{LabelController, LabelMethod, LabelProvider, LabelError})
	var err error
	if duration, err = register(reg, duration); err != nil {
		return nil, err
	}
	if errs, err = register(reg, errs); err != nil {
		return nil, err
	}
	return &Metrics{Duration: duration, Errors: errs}, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("registering cloud provider metrics: %w", err)
	}
	return c, nil
}

type controllerKey struct{}

// WithController returns a context whose cloud provider calls are labelled controller=name.
func WithController(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, controllerKey{}, name)
}

// ControllerFrom returns the controller name WithController stored, or "".
func ControllerFrom(ctx context.Context) string {
	name, _ := ctx.Value(controllerKey{}).(string)
	return name
}

// ErrorType is the error label value of err.
func ErrorType(err error) string {
	switch {
	case cloudprovider.IsNodeClaimNotFoundError(err):
		return ErrorNodeClaimNotFound
	case cloudprovider.IsInsufficientCapacityError(err):
		return ErrorInsufficientCapacity
	case cloudprovider.IsNodeClassNotReadyError(err):
		return ErrorNodeClassNotReady
	case cloudprovider.IsCreateError(err):
		return ErrorCreate
	}
	return ErrorUnknown
}

// Decorator is a CloudProvider that times and counts every call of the one it wraps.
type Decorator struct {
	inner   cloudprovider.CloudProvider
	metrics *Metrics
	now     func() time.Time
}

var _ cloudprovider.CloudProvider = (*Decorator)(nil)

// Decorate wraps inner, registering the collectors on reg (see NewMetrics).
func Decorate(inner cloudprovider.CloudProvider, reg prometheus.Registerer) (*Decorator, error) {
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Decorator{inner: inner, metrics: m, now: time.Now}, nil
}

// Unwrap returns the decorated provider.
func (d *Decorator) Unwrap() cloudprovider.CloudProvider { return d.inner }

// observe returns a func to defer that records the call's duration and error.
func (d *Decorator) observe(ctx context.Context, method string) func(err error) {
	start := d.now()
	controller := ControllerFrom(ctx)
	provider := d.inner.Name()
	return func(err error) {
		d.metrics.Duration.WithLabelValues(controller, method, provider).Observe(d.now().Sub(start).Seconds())
		if err != nil {
			d.metrics.Errors.WithLabelValues(controller, method, provider, ErrorType(err)).Inc()
		}
	}
}

// Create records and delegates.
func (d *Decorator) Create(ctx context.Context, nodeClaim *v1.NodeClaim) (out *v1.NodeClaim, err error) {
	done := d.observe(ctx, "Create")
	defer func() { done(err) }()
	return d.inner.Create(ctx, nodeClaim)
}

// Delete records and delegates.
func (d *Decorator) Delete(ctx context.Context, nodeClaim *v1.NodeClaim) (err error) {
	done := d.observe(ctx, "Delete")
	defer func() { done(err) }()
	return d.inner.Delete(ctx, nodeClaim)
}

// Get records and delegates.
func (d *Decorator) Get(ctx context.Context, providerID string) (out *v1.NodeClaim, err error) {
	done := d.observe(ctx, "Get")
	defer func() { done(err) }()
	return d.inner.Get(ctx, providerID)
}

// List records and delegates.
func (d *Decorator) List(ctx context.Context) (out []*v1.NodeClaim, err error) {
	done := d.observe(ctx, "List")
	defer func() { done(err) }()
	return d.inner.List(ctx)
}

// GetInstanceTypes records and delegates.
func (d *Decorator) GetInstanceTypes(ctx context.Context, nodePool *v1.NodePool) (out []*cloudprovider.InstanceType, err error) {
	done := d.observe(ctx, "GetInstanceTypes")
	defer func() { done(err) }()
	return d.inner.GetInstanceTypes(ctx, nodePool)
}

// IsDrifted records and delegates.
func (d *Decorator) IsDrifted(ctx context.Context, nodeClaim *v1.NodeClaim) (out cloudprovider.DriftReason, err error) {
	done := d.observe(ctx, "IsDrifted")
	defer func() { done(err) }()
	return d.inner.IsDrifted(ctx, nodeClaim)
}

// Name is the wrapped provider's name.
func (d *Decorator) Name() string { return d.inner.Name() }

// GetSupportedNodeClasses is the wrapped provider's list (not timed: it is static).
func (d *Decorator) GetSupportedNodeClasses() []schema.GroupVersionKind {
	return d.inner.GetSupportedNodeClasses()
}
