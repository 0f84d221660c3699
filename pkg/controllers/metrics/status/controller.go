package status

import (
	"context"
	"fmt"
	"slices"
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

// Object is a kind whose conditions are exported.
type Object interface {
	client.Object
	*v1.NodePool | *v1.NodeClaim
}

// List is the list kind of an Object.
type List interface {
	client.ObjectList
	*v1.NodePoolList | *v1.NodeClaimList
}

// Deps are what the controller reads and writes.
type Deps struct {
	Client     client.Reader
	Registerer prometheus.Registerer
	// Clock; the real clock when nil.
	Clock clock.Clock
}

// Controller exports the conditions of one kind: the count and current status seconds of
// every object's conditions, and the termination time of the terminating ones, are
// computed from the client's cache when scraped (2,000 NodeClaims would otherwise hold
// some 25,000 stored series); the transitions and termination durations are observed as
// the objects change.
type Controller[T Object, L List] struct {
	kind    string
	newObj  func() T
	newList func() L
	kube    client.Reader
	clock   clock.Clock
	metrics *metrics.StatusConditionMetrics

	mu          sync.Mutex
	observed    map[string][]metav1.Condition
	terminating map[string]time.Time
}

// NewNodePoolController exports NodePool conditions.
func NewNodePoolController(deps Deps) (*Controller[*v1.NodePool, *v1.NodePoolList], error) {
	return newController(deps, "nodepool", func() *v1.NodePool { return &v1.NodePool{} }, func() *v1.NodePoolList { return &v1.NodePoolList{} })
}

// NewNodeClaimController exports NodeClaim conditions.
func NewNodeClaimController(deps Deps) (*Controller[*v1.NodeClaim, *v1.NodeClaimList], error) {
	return newController(deps, "nodeclaim", func() *v1.NodeClaim { return &v1.NodeClaim{} }, func() *v1.NodeClaimList { return &v1.NodeClaimList{} })
}

func newController[T Object, L List](deps Deps, kind string, newObj func() T, newList func() L) (*Controller[T, L], error) {
	m, err := metrics.NewStatusConditionMetrics(deps.Registerer, kind)
	if err != nil {
		return nil, err
	}
	c := &Controller[T, L]{kind: kind, newObj: newObj, newList: newList, kube: deps.Client, clock: deps.Clock, metrics: m,
		observed: map[string][]metav1.Condition{}, terminating: map[string]time.Time{}}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	m.Count.SetSource(c.conditionSeries(func(metav1.Condition, time.Time) float64 { return 1 }))
	m.CurrentStatusSeconds.SetSource(c.conditionSeries(func(cond metav1.Condition, now time.Time) float64 {
		return now.Sub(cond.LastTransitionTime.Time).Seconds()
	}))
	m.TerminationCurrentTime.SetSource(func(emit func(float64, ...string)) {
		now := c.clock.Now()
		c.each(func(obj client.Object) {
			if ts := obj.GetDeletionTimestamp(); ts != nil {
				emit(now.Sub(ts.Time).Seconds(), obj.GetNamespace(), obj.GetName())
			}
		})
	})
	return c, nil
}

// conditionSeries is the source of a family with one series per object and condition.
func (c *Controller[T, L]) conditionSeries(value func(cond metav1.Condition, now time.Time) float64) metrics.GaugeSource {
	return func(emit func(float64, ...string)) {
		now := c.clock.Now()
		c.each(func(obj client.Object) {
			for _, cond := range conditions(obj) {
				emit(value(cond, now), obj.GetNamespace(), obj.GetName(), cond.Type, string(cond.Status), cond.Reason)
			}
		})
	}
}

// each calls f with every object of the kind in the client's cache (read only).
func (c *Controller[T, L]) each(f func(client.Object)) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list := c.newList()
	if err := c.kube.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	switch l := any(list).(type) {
	case *v1.NodePoolList:
		for i := range l.Items {
			f(&l.Items[i])
		}
	case *v1.NodeClaimList:
		for i := range l.Items {
			f(&l.Items[i])
		}
	}
}

// Name is the controller's name.
func (c *Controller[T, L]) Name() string { return "metrics.status." + c.kind }

// Register watches the kind.
func (c *Controller[T, L]) Register(_ context.Context, mgr manager.Manager) error {
	if err := builder.ControllerManagedBy(mgr).Named(strings.ReplaceAll(c.Name(), ".", "_")).For(c.newObj()).Complete(c); err != nil {
		return fmt.Errorf("registering %s: %w", c.Name(), err)
	}
	return nil
}

// Reconcile observes one object's condition transitions and termination.
func (c *Controller[T, L]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := req.String()
	obj := c.newObj()
	if err := c.kube.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			c.forget(req)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("getting %s: %w", c.kind, err)
	}
	current := slices.Clone(conditions(obj))

	c.mu.Lock()
	defer c.mu.Unlock()
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

func (c *Controller[T, L]) forget(req reconcile.Request) {
	key := req.String()
	c.mu.Lock()
	defer c.mu.Unlock()
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
