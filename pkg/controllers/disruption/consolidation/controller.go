package consolidation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// Name is the controller's name in logs.
const Name = "disruption.consolidation"

// DefaultInterval is the time between passes.
const DefaultInterval = 10 * time.Second

// StaleTaintAfter is how long a karpenter.sh/disrupted taint this controller added may stay
// on a node whose NodeClaim is not being deleted before it is taken off again.
const StaleTaintAfter = time.Minute

// Event reasons and the disruption reason label value.
const (
	// ReasonDisrupting is the event reason on a NodeClaim and Node deleted for being
	// under-utilised (the same as emptiness uses).
	ReasonDisrupting = "DisruptionTerminating"
	// ReasonUnderutilized is the reason label of karpenter_nodeclaims_disrupted_total.
	ReasonUnderutilized = "underutilized"
)

// ErrNotSynced means the cluster state has not seen every informer's initial list yet.
var ErrNotSynced = errors.New("cluster state not synced")

// Deps are what consolidation works with.
type Deps struct {
	// Client reads pods and PodDisruptionBudgets and writes Nodes and NodeClaims.
	Client client.Client
	// Cluster provides NodeClaims, Nodes, NodePools and the scheduling snapshot.
	Cluster *state.Cluster
	// CloudProvider lists each NodePool's instance types for the simulation.
	CloudProvider cloudprovider.CloudProvider
	// Recorder receives events; nil discards them.
	Recorder record.EventRecorder
	// Clock is the real clock when nil.
	Clock clock.Clock
	// Registerer receives karpenter_nodeclaims_disrupted_total; nil leaves it unregistered.
	Registerer prometheus.Registerer
	// Interval between passes; DefaultInterval when zero.
	Interval time.Duration
}

// Controller consolidates under-utilised nodes by deleting them.
type Controller struct {
	kube      client.Client
	cluster   *state.Cluster
	cloud     cloudprovider.CloudProvider
	recorder  record.EventRecorder
	clock     clock.Clock
	interval  time.Duration
	disrupted *prometheus.CounterVec
	logger    logr.Logger // the manager's, set by Register; the context's otherwise

	mu      sync.Mutex
	podSets map[string]podSet // by NodeClaim name
}

// podSet is the set of pods a pass last saw on a node, and since when.
type podSet struct {
	key   string
	since time.Time
}

var (
	_ manager.Runnable               = (*Controller)(nil)
	_ manager.LeaderElectionRunnable = (*Controller)(nil)
)

// NewController builds the consolidation controller and registers its metric.
func NewController(deps Deps) (*Controller, error) {
	disrupted, err := metrics.NodeClaimsDisrupted(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", Name, err)
	}
	c := &Controller{
		kube: deps.Client, cluster: deps.Cluster, cloud: deps.CloudProvider, recorder: deps.Recorder,
		clock: deps.Clock, interval: deps.Interval, disrupted: disrupted, podSets: map[string]podSet{},
	}
	if c.recorder == nil {
		c.recorder = &record.FakeRecorder{}
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.interval <= 0 {
		c.interval = DefaultInterval
	}
	return c, nil
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register adds the periodic pass to the manager; it runs on the leader only.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	c.logger = mgr.GetLogger().WithValues("controller", Name)
	if err := mgr.Add(c); err != nil {
		return fmt.Errorf("adding the %s loop: %w", Name, err)
	}
	return nil
}

// NeedLeaderElection: only the leader disrupts nodes.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start runs a pass every interval until ctx ends. A failed pass is logged and the next
// one tries again.
func (c *Controller) Start(ctx context.Context) error {
	logger := c.logger
	if logger.GetSink() == nil {
		logger = log.FromContext(ctx).WithValues("controller", Name)
	}
	ctx = log.IntoContext(ctx, logger)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(c.interval):
		}
		if _, err := c.Reconcile(ctx); err != nil && !errors.Is(err, ErrNotSynced) {
			logger.Error(err, "consolidation pass failed, retrying with the next one")
		}
	}
}

// Result is what one pass did.
type Result struct {
	// Consolidated are the NodeClaims deleted, in the order chosen.
	Consolidated []string
}

// Reconcile makes one pass: candidates, simulation within budgets, then the deletions.
func (c *Controller) Reconcile(ctx context.Context) (Result, error) {
	if !c.cluster.Synced() {
		return Result{}, ErrNotSynced
	}
	now := c.clock.Now()
	v, err := c.observe(ctx)
	if err != nil {
		return Result{}, err
	}
	errs := []error{c.removeStaleTaints(ctx, v, now)}
	cands := c.candidates(ctx, v, now)
	if len(cands) == 0 {
		return Result{}, errors.Join(errs...)
	}
	budgets, err := c.budgets(v, now)
	if err != nil {
		return Result{}, errors.Join(append(errs, err)...)
	}
	chosen := c.choose(ctx, v, cands, budgets)
	var res Result
	for _, cand := range chosen {
		ok, err := c.disrupt(ctx, cand, now)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			res.Consolidated = append(res.Consolidated, cand.claim.Name)
		}
	}
	return res, errors.Join(errs...)
}
