package status

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// RefreshInterval is how often every object's current_status_seconds (and termination
// current time) is refreshed, by one pass over the gauges Reconcile left, not by a
// reconcile of every object: at 2,000 NodeClaims that was 200 reconciles a second.
const RefreshInterval = 10 * time.Second

// Object is a kind whose conditions are exported.
type Object interface {
	client.Object
	*v1.NodePool | *v1.NodeClaim
}

// Deps are what the controller reads and writes.
type Deps struct {
	Client     client.Reader
	Registerer prometheus.Registerer
	// Clock; the real clock when nil.
	Clock clock.Clock
}

// Controller exports the conditions of one kind.
type Controller[T Object] struct {
	kind    string
	newObj  func() T
	kube    client.Reader
	clock   clock.Clock
	metrics *metrics.StatusConditionMetrics
	store   *metrics.Store

	mu          sync.Mutex
	observed    map[string][]metav1.Condition
	terminating map[string]time.Time
	// ticking are, by object, the gauges whose value is the time since a moment.
	ticking map[string][]ticking
}

// ticking is a gauge that holds the seconds since a moment.
type ticking struct {
	gauge prometheus.Gauge
	since time.Time
}

// NewNodePoolController exports NodePool conditions.
func NewNodePoolController(deps Deps) (*Controller[*v1.NodePool], error) {
	return newController(deps, "nodepool", func() *v1.NodePool { return &v1.NodePool{} })
}

// NewNodeClaimController exports NodeClaim conditions.
func NewNodeClaimController(deps Deps) (*Controller[*v1.NodeClaim], error) {
	return newController(deps, "nodeclaim", func() *v1.NodeClaim { return &v1.NodeClaim{} })
}

func newController[T Object](deps Deps, kind string, newObj func() T) (*Controller[T], error) {
	m, err := metrics.NewStatusConditionMetrics(deps.Registerer, kind)
	if err != nil {
		return nil, err
	}
	c := &Controller[T]{kind: kind, newObj: newObj, kube: deps.Client, clock: deps.Clock, metrics: m,
		store: metrics.NewStore(), observed: map[string][]metav1.Condition{}, terminating: map[string]time.Time{},
		ticking: map[string][]ticking{}}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	return c, nil
}

// Name is the controller's name.
func (c *Controller[T]) Name() string { return "metrics.status." + c.kind }

// Register watches the kind and refreshes the time gauges every RefreshInterval.
func (c *Controller[T]) Register(_ context.Context, mgr manager.Manager) error {
	if err := builder.ControllerManagedBy(mgr).Named(strings.ReplaceAll(c.Name(), ".", "_")).For(c.newObj()).Complete(c); err != nil {
		return fmt.Errorf("registering %s: %w", c.Name(), err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-c.clock.After(RefreshInterval):
				c.Refresh()
			}
		}
	})); err != nil {
		return fmt.Errorf("registering %s refresh: %w", c.Name(), err)
	}
	return nil
}

// Refresh sets every object's current_status_seconds and termination current time to now.
func (c *Controller[T]) Refresh() {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, gauges := range c.ticking {
		for _, g := range gauges {
			g.gauge.Set(now.Sub(g.since).Seconds())
		}
	}
}

// Reconcile exports one object's conditions.
func (c *Controller[T]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := req.String()
	obj := c.newObj()
	if err := c.kube.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			c.forget(req)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("getting %s: %w", c.kind, err)
	}
	current := conditions(obj)
	now := c.clock.Now()
	var samples []metrics.Sample
	var ticks []ticking
	for _, cond := range current {
		l := prometheus.Labels{metrics.LabelNamespace: req.Namespace, metrics.LabelName: req.Name,
			metrics.LabelConditionType: cond.Type, metrics.LabelConditionStatus: string(cond.Status), metrics.LabelReason: cond.Reason}
		samples = append(samples,
			metrics.Sample{Gauge: c.metrics.Count, Labels: l, Value: 1},
			metrics.Sample{Gauge: c.metrics.CurrentStatusSeconds, Labels: l, Value: now.Sub(cond.LastTransitionTime.Time).Seconds()})
		ticks = append(ticks, ticking{gauge: c.metrics.CurrentStatusSeconds.With(l), since: cond.LastTransitionTime.Time})
	}
	if ts := obj.GetDeletionTimestamp(); ts != nil {
		l := prometheus.Labels{metrics.LabelNamespace: req.Namespace, metrics.LabelName: req.Name}
		samples = append(samples, metrics.Sample{Gauge: c.metrics.TerminationCurrentTime, Labels: l, Value: now.Sub(ts.Time).Seconds()})
		ticks = append(ticks, ticking{gauge: c.metrics.TerminationCurrentTime.With(l), since: ts.Time})
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	// Under the lock: a Refresh between the two must not set a series Update just deleted.
	c.store.Update(key, samples)
	c.ticking[key] = ticks
	if ts := obj.GetDeletionTimestamp(); ts != nil {
		c.terminating[key] = ts.Time
	}
	before := c.observed[key]
	c.observed[key] = current
	for _, cond := range current {
		prev := find(before, cond.Type)
		if prev != nil && prev.Status == cond.Status {
			continue
		}
		c.metrics.TransitionsTotal.WithLabelValues(cond.Type, string(cond.Status), cond.Reason).Inc()
		if prev != nil {
			c.metrics.TransitionSeconds.WithLabelValues(prev.Type, string(prev.Status)).
				Observe(cond.LastTransitionTime.Sub(prev.LastTransitionTime.Time).Seconds())
		}
	}
	return reconcile.Result{}, nil
}

func (c *Controller[T]) forget(req reconcile.Request) {
	key := req.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store.Delete(key)
	delete(c.ticking, key)
	if since, ok := c.terminating[key]; ok {
		c.metrics.TerminationDuration.WithLabelValues(req.Namespace, req.Name).Observe(c.clock.Since(since).Seconds())
	}
	delete(c.terminating, key)
	delete(c.observed, key)
}

func conditions(obj client.Object) []metav1.Condition {
	switch o := obj.(type) {
	case *v1.NodePool:
		return o.Status.Conditions
	case *v1.NodeClaim:
		return o.Status.Conditions
	}
	return nil
}

func find(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
