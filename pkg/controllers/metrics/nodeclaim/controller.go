package nodeclaim

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// Name is the controller's name.
const Name = "metrics.nodeclaim"

// Deps are what the controller reads and writes.
type Deps struct {
	Client     client.Reader
	Registerer prometheus.Registerer
	// Clock; the real clock when nil.
	Clock clock.Clock
}

type deleting struct {
	nodePool string
	since    time.Time
}

// Controller observes NodeClaim terminations.
type Controller struct {
	kube     client.Reader
	clock    clock.Clock
	duration *prometheus.SummaryVec

	mu       sync.Mutex
	deleting map[string]deleting
}

var _ reconcile.Reconciler = (*Controller)(nil)

// NewController builds the controller and registers its family.
func NewController(deps Deps) (*Controller, error) {
	d, err := metrics.NodeClaimTerminationDuration(deps.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Controller{kube: deps.Client, clock: deps.Clock, duration: d, deleting: map[string]deleting{}}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	return c, nil
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register watches NodeClaims.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	if err := builder.ControllerManagedBy(mgr).Named(Name).For(&v1.NodeClaim{}).Complete(c); err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// Reconcile remembers a deletion request and observes its duration once the NodeClaim is gone.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	nc := &v1.NodeClaim{}
	err := c.kube.Get(ctx, req.NamespacedName, nc)
	c.mu.Lock()
	defer c.mu.Unlock()
	if apierrors.IsNotFound(err) {
		if d, ok := c.deleting[req.Name]; ok {
			c.duration.WithLabelValues(d.nodePool).Observe(c.clock.Since(d.since).Seconds())
			delete(c.deleting, req.Name)
		}
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("getting nodeclaim: %w", err)
	}
	if nc.DeletionTimestamp != nil {
		if _, ok := c.deleting[nc.Name]; !ok {
			c.deleting[nc.Name] = deleting{nodePool: nc.Labels[v1.NodePoolLabelKey], since: nc.DeletionTimestamp.Time}
		}
	}
	return reconcile.Result{}, nil
}
