package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/predicates"
)

// Name is the controller's name.
const Name = "metrics.node"

// Deps are what the controller reads and writes.
type Deps struct {
	Client     client.Reader
	Registerer prometheus.Registerer
	// Clock; the real clock when nil. Its time at construction is the start: only nodes
	// created after it are counted as created.
	Clock clock.Clock
}

// seen is what the controller remembers of a managed node.
type seen struct {
	nodePool string
	created  time.Time
	deleting time.Time
}

// Controller observes managed nodes.
type Controller struct {
	kube    client.Reader
	clock   clock.Clock
	start   time.Time
	metrics *metrics.NodeLifecycleMetrics

	mu    sync.Mutex
	nodes map[string]*seen
}

var _ reconcile.Reconciler = (*Controller)(nil)

// NewController builds the controller and registers its families.
func NewController(deps Deps) (*Controller, error) {
	m, err := metrics.NewNodeLifecycleMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Controller{kube: deps.Client, clock: deps.Clock, metrics: m, nodes: map[string]*seen{}}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	// Creation timestamps have second precision.
	c.start = c.clock.Now().Truncate(time.Second)
	return c, nil
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register watches Nodes.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	if err := builder.ControllerManagedBy(mgr).Named(Name).For(&corev1.Node{}, builder.WithPredicates(predicates.IgnoreNodeHealth())).Complete(c); err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// Reconcile records a managed node's appearance, deletion request and disappearance.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	node := &corev1.Node{}
	err := c.kube.Get(ctx, req.NamespacedName, node)
	c.mu.Lock()
	defer c.mu.Unlock()
	if apierrors.IsNotFound(err) {
		if s, ok := c.nodes[req.Name]; ok {
			now := c.clock.Now()
			if !s.deleting.IsZero() {
				c.metrics.TerminationDuration.WithLabelValues(s.nodePool).Observe(now.Sub(s.deleting).Seconds())
			}
			c.metrics.LifetimeDuration.WithLabelValues(s.nodePool).Observe(now.Sub(s.created).Seconds())
			delete(c.nodes, req.Name)
		}
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("getting node: %w", err)
	}
	pool := node.Labels[v1.NodePoolLabelKey]
	if pool == "" {
		return reconcile.Result{}, nil // not Karpenter's
	}
	s, ok := c.nodes[node.Name]
	if !ok {
		s = &seen{nodePool: pool, created: node.CreationTimestamp.Time}
		c.nodes[node.Name] = s
		if !node.CreationTimestamp.Time.Before(c.start) {
			c.metrics.Created.WithLabelValues(pool, node.Labels[v1.LabelTopologyZone]).Inc()
		}
	}
	if node.DeletionTimestamp != nil && s.deleting.IsZero() {
		s.deleting = node.DeletionTimestamp.Time
	}
	return reconcile.Result{}, nil
}
