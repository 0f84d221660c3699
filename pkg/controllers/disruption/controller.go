package disruption

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// Name is the controller's name in logs.
const Name = "disruption"

// Defaults of Options.
const (
	DefaultInterval             = 10 * time.Second
	DefaultValidationTTL        = 15 * time.Second
	DefaultReplacementTimeout   = 10 * time.Minute
	DefaultMultiNodeTimeBudget  = time.Second
	DefaultSingleNodeTimeBudget = 3 * time.Second
	// DefaultSingleNodeImproveBudget is how much more CPU time single-node consolidation
	// spends looking for a better move once it has found one.
	DefaultSingleNodeImproveBudget = 300 * time.Millisecond
	// DefaultSettle is how long replacements stay protected after the nodes they replace
	// are gone, while the evicted pods land on them.
	DefaultSettle = 30 * time.Second
	// DefaultDeleteTimeout is how long a validated candidate's delete may keep being refused
	// (a webhook's denial, an admission policy) before the command gives the candidate up.
	DefaultDeleteTimeout = 5 * time.Minute
)

// ErrNotSynced means the cluster state has not seen every informer's initial list yet.
var ErrNotSynced = errors.New("cluster state not synced")

// Options tune the engine; zero values take the defaults.
type Options struct {
	Interval time.Duration
	// ValidationTTL is how long after a command starts it is validated again.
	ValidationTTL time.Duration
	// ReplacementTimeout is how long replacements may take to initialize.
	ReplacementTimeout time.Duration
	// MultiNodeTimeBudget and SingleNodeTimeBudget cap the compute (CPU) time of a search.
	MultiNodeTimeBudget  time.Duration
	SingleNodeTimeBudget time.Duration
	// SingleNodeImproveBudget: see DefaultSingleNodeImproveBudget.
	SingleNodeImproveBudget time.Duration
	// LookaheadBudget: see DefaultLookaheadBudget.
	LookaheadBudget time.Duration
	// noLookahead turns the look-ahead off (tests compare the engine without it).
	noLookahead bool
	// Settle: see DefaultSettle.
	Settle time.Duration
	// DeleteTimeout: see DefaultDeleteTimeout.
	DeleteTimeout time.Duration
	// SpotToSpotConsolidation is the feature gate letting a spot node be replaced by a
	// cheaper spot node (with at least SpotToSpotMinOptions cheaper types).
	SpotToSpotConsolidation bool
	// Methods in the order tried; default emptiness, drift, multi-node, single-node.
	Methods []Method
	// Stopwatch measures compute time for the time budgets; default ProcessCPU.
	Stopwatch Stopwatch
}

func (o *Options) defaults() {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.ValidationTTL <= 0 {
		o.ValidationTTL = DefaultValidationTTL
	}
	if o.ReplacementTimeout <= 0 {
		o.ReplacementTimeout = DefaultReplacementTimeout
	}
	if o.MultiNodeTimeBudget <= 0 {
		o.MultiNodeTimeBudget = DefaultMultiNodeTimeBudget
	}
	if o.SingleNodeTimeBudget <= 0 {
		o.SingleNodeTimeBudget = DefaultSingleNodeTimeBudget
	}
	if o.SingleNodeImproveBudget <= 0 {
		o.SingleNodeImproveBudget = DefaultSingleNodeImproveBudget
	}
	if o.LookaheadBudget <= 0 {
		o.LookaheadBudget = DefaultLookaheadBudget
	}
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = DefaultDeleteTimeout
	}
	if len(o.Methods) == 0 {
		o.Methods = []Method{Emptiness{}, Drift{}, MultiNodeConsolidation{}, SingleNodeConsolidation{}}
	}
	if o.Stopwatch == nil {
		o.Stopwatch = ProcessCPU
	}
}

// Deps are what the engine works with.
type Deps struct {
	// Client reads pods and PodDisruptionBudgets (a cache is fine) and writes Nodes and
	// NodeClaims.
	Client client.Client
	// Cluster provides NodeClaims, Nodes, NodePools, nominations and the snapshot.
	Cluster *state.Cluster
	// CloudProvider lists each NodePool's instance types.
	CloudProvider cloudprovider.CloudProvider
	// Recorder receives events; nil discards them.
	Recorder record.EventRecorder
	// Clock is the real clock when nil.
	Clock clock.Clock
	// Registerer receives the disruption metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	Options    Options
}

// Controller is the singleton disruption loop.
type Controller struct {
	kube     client.Client
	cluster  *state.Cluster
	cloud    cloudprovider.CloudProvider
	recorder record.EventRecorder
	clock    clock.Clock
	opts     Options
	metrics  *metrics.Disruption
	logger   logr.Logger

	mu        sync.Mutex
	commands  map[string]*inflight
	recovered bool
	seq       int
	// singleCursor is where single-node consolidation resumes.
	singleCursor string
	events       map[eventKey]string // the last message of each deduplicated event
	// released holds the candidates given up after a refused delete, until when they are
	// not candidates again (so the same refusal is not met again at once).
	released map[string]time.Time
	// deferrals: see pass.deferrals.
	deferrals map[string]time.Time
	// sweep and quiet let a pass skip consolidation while nothing changed since it last
	// found nothing (quiet.go).
	sweep *sweep
	quiet *quietState
}

var (
	_ manager.Runnable               = (*Controller)(nil)
	_ manager.LeaderElectionRunnable = (*Controller)(nil)
)

// NewController builds the engine and registers its metrics.
func NewController(deps Deps) (*Controller, error) {
	m, err := metrics.NewDisruption(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", Name, err)
	}
	c := &Controller{kube: deps.Client, cluster: deps.Cluster, cloud: deps.CloudProvider, recorder: deps.Recorder,
		clock: deps.Clock, opts: deps.Options, metrics: m, commands: map[string]*inflight{}, events: map[eventKey]string{},
		released: map[string]time.Time{}, deferrals: map[string]time.Time{}}
	if c.recorder == nil {
		c.recorder = &record.FakeRecorder{}
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	c.opts.defaults()
	return c, nil
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register adds the loop to the manager; it runs on the leader only.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	c.logger = mgr.GetLogger().WithValues("controller", Name)
	if err := mgr.Add(c); err != nil {
		return fmt.Errorf("adding the %s loop: %w", Name, err)
	}
	return nil
}

// NeedLeaderElection: only the leader disrupts nodes.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start runs a pass every interval until ctx ends; a failed pass is logged.
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
		case <-c.clock.After(c.nextPass()):
		}
		if _, err := c.Reconcile(ctx); err != nil && !errors.Is(err, ErrNotSynced) {
			logger.Error(err, "disruption pass failed, retrying with the next one")
		}
	}
}

// nextPass is how long Start waits for the next pass: the interval, or less when a command's
// validation falls due sooner. Upstream validates a command its validation TTL after
// computing it; waiting for the next tick instead made each emptiness command take 20 s
// rather than 15 with the 10 s interval (a third slower scaling to zero, two nodes at a time).
func (c *Controller) nextPass() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	wait, now := c.opts.Interval, c.clock.Now()
	for _, f := range c.commands {
		if f.phase == phaseDraining {
			continue
		}
		// Only a time still ahead: a command past its TTL waits on its replacements, and
		// those are noticed on the interval.
		if due := f.startedAt.Add(c.opts.ValidationTTL).Sub(now); due > 0 && due < wait {
			wait = due
		}
	}
	return wait
}

// Result is what one pass did.
type Result struct {
	// Started is the command the pass started, if any.
	Started *Command
	// Deleted are the NodeClaims whose deletion the pass requested.
	Deleted []string
	// Aborted are the commands abandoned, with why.
	Aborted []string
	// Released are candidates given up after their delete was refused for DeleteTimeout:
	// untainted and unmarked, the rest of their command going on.
	Released []string
}

// Reconcile makes one pass: recover commands after a restart, advance the in-flight ones,
// then build candidates and try each method in order, starting the first command found.
func (c *Controller) Reconcile(ctx context.Context) (Result, error) {
	if !c.cluster.Synced() {
		return Result{}, ErrNotSynced
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	// Read before the pass is built: a change while it is built moves the state past it.
	// Node health is left out and read from the pass (see consolidationSkipped).
	generation := c.cluster.PlacementGeneration()
	p, err := c.observe(ctx, now)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var errs []error
	if !c.recovered {
		if err := c.recover(ctx, p); err != nil {
			return res, fmt.Errorf("recovering disruption commands: %w", err)
		}
		c.recovered = true
	}
	for _, f := range c.sortedCommands() {
		c.hold(p)
		if err := c.advance(ctx, p, f, &res); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.releaseStrayTaints(ctx, p); err != nil {
		errs = append(errs, err)
	}
	c.hold(p)
	p.buildCandidates()
	c.observeBudgets(ctx, p)
	cmd, computeErrs := c.compute(ctx, p, generation)
	errs = append(errs, computeErrs...)
	if la := p.lookaheadRun; la != nil {
		log.FromContext(ctx).V(1).Info("look-ahead", "moves", la.moves, "played", la.played, "states", la.states,
			"cpu", la.cpu, "kept", la.kept, "end", la.end, "endOfEnginesMove", la.engineEnd)
	}
	if cmd != nil {
		if err := c.start(ctx, p, cmd); err != nil {
			errs = append(errs, err)
		} else {
			res.Started = cmd
		}
	}
	c.explainBlocked(p)
	return res, errors.Join(errs...)
}

// compute tries each method in order and returns the first command found. The methods
// that consolidate are skipped while the cluster is as it was when they last swept every
// candidate and found nothing (see consolidationSkipped).
func (c *Controller) compute(ctx context.Context, p *pass, generation uint64) (*Command, []error) {
	var errs []error
	fingerprint := p.fingerprint()
	skipMulti, skipSingle := c.consolidationSkipped(p, generation, fingerprint)
	if s := c.sweepFor(p, generation, fingerprint); s != nil {
		p.swept = s.tried
		skipMulti = skipMulti || s.searched(p, fingerprint)
	}
	var ran methodsRan
	for _, m := range c.opts.Methods {
		switch m.ConsolidationType() {
		case TypeMulti:
			if skipMulti {
				continue
			}
			ran.multi = true
		case TypeSingle:
			if skipSingle {
				continue
			}
			ran.single = true
		}
		// The metric is wall time, as upstream's; the time budgets count CPU (Stopwatch).
		start := c.clock.Now()
		cmd, err := m.Compute(ctx, p)
		c.metrics.EvaluationDuration.WithLabelValues(m.Name(), m.ConsolidationType()).Observe(c.clock.Since(start).Seconds())
		if err != nil {
			errs = append(errs, fmt.Errorf("computing %s: %w", m.Name(), err))
			continue
		}
		if cmd != nil {
			c.recordSweep(p, generation, fingerprint, true, ran)
			return cmd, errs
		}
	}
	if (ran.multi || ran.single) && len(errs) == 0 {
		c.recordSweep(p, generation, fingerprint, false, ran)
	}
	return nil, errs
}

// hold marks the NodeClaims of in-flight commands busy, their nodes gone and their pods
// moving, in the pass.
func (c *Controller) hold(p *pass) {
	p.goneNodes, p.busy, p.moving = map[string]bool{}, map[string]bool{}, nil
	for name, until := range c.released {
		if !p.now.Before(until) {
			delete(c.released, name)
		}
	}
	p.released = c.released
	for name, first := range c.deferrals {
		if p.now.Sub(first) > time.Hour {
			delete(c.deferrals, name)
		}
	}
	p.deferrals = c.deferrals
	for _, f := range c.commands {
		for _, name := range f.replacements {
			p.busy[name] = true
		}
		for _, name := range f.candidates {
			p.busy[name] = true
			if node := p.nodeOf[name]; node != nil {
				p.goneNodes[node.Name] = true
				for _, pod := range p.podsOn(node.Name) {
					if podNeedsPlace(pod) {
						p.moving = append(p.moving, pod)
					}
				}
			}
		}
	}
}

// observeBudgets sets karpenter_nodepools_allowed_disruptions and eligible_nodes, and
// reports pools whose budgets cannot be read.
func (c *Controller) observeBudgets(ctx context.Context, p *pass) {
	for name, pool := range p.pools {
		if err := p.ledger.PoolError(name); err != nil {
			log.FromContext(ctx).Error(err, "disruption blocked for the nodepool, its budgets cannot be read", "nodepool", name)
			c.event(pool, "Warning", "DisruptionBlocked", "Disruption is blocked for this nodepool: "+err.Error())
		}
		for _, r := range reasons {
			allowed := p.ledger.Allowed(name, r)
			if allowed == budget.Unlimited {
				allowed = len(p.claims)
			}
			c.metrics.AllowedDisruptions.WithLabelValues(name, string(r)).Set(float64(allowed))
		}
	}
	eligible := map[string]int{}
	for _, cand := range p.candidates {
		if IsDrifted(cand.NodeClaim) {
			eligible[metrics.ReasonDrifted]++
		}
		if cand.Consolidatable {
			if cand.NumPods() == 0 {
				eligible[metrics.ReasonEmpty]++
			} else if consolidating(cand) {
				eligible[metrics.ReasonUnderutilized]++
			}
		}
	}
	for _, r := range []string{metrics.ReasonDrifted, metrics.ReasonEmpty, metrics.ReasonUnderutilized} {
		c.metrics.EligibleNodes.WithLabelValues(r).Set(float64(eligible[r]))
	}
}

// explainBlocked puts a deduplicated event on the Nodes and NodeClaims a rule or a method
// keeps from being disrupted, with the first reason: DisruptionBlocked for a rule a user
// set (do-not-disrupt, PodDisruptionBudgets, nominations, unreadable budgets),
// Unconsolidatable when consolidation found nothing to do with the node: single-node
// consolidation's reason, else (it ran out of time before the node, or did not run)
// multi-node consolidation's reason for the first set holding the node that failed.
func (c *Controller) explainBlocked(p *pass) {
	for _, nc := range p.claims {
		b := p.blocked[nc.Name]
		reason := "DisruptionBlocked"
		switch {
		case b == nil:
			if b = p.passedOver[nc.Name]; b == nil {
				if b = p.passedOverMulti[nc.Name]; b == nil {
					continue
				}
			}
			reason = "Unconsolidatable"
		case b.Reason != BlockDoNotDisruptNode && b.Reason != BlockDoNotDisruptPod && b.Reason != BlockPDB && b.Reason != BlockNominated &&
			!(b.Reason == BlockNotManaged && strings.Contains(b.Message, "budgets")):
			continue
		}
		c.event(nc, "Normal", reason, b.Message)
		if node := p.nodeOf[nc.Name]; node != nil {
			c.event(node, "Normal", reason, b.Message)
		}
	}
	// Forget the objects that are gone, so the memory stays bounded.
	live := map[string]bool{}
	for _, nc := range p.claims {
		live[nc.Name] = true
		if node := p.nodeOf[nc.Name]; node != nil {
			live[node.Name] = true
		}
	}
	for name := range p.pools {
		live[name] = true
	}
	for k := range c.events {
		if !live[k.name] {
			delete(c.events, k)
		}
	}
}

// eventKey identifies a deduplicated event.
type eventKey struct{ kind, name, reason string }

// event records an event unless the same one was the last recorded for the object and
// reason.
func (c *Controller) event(obj client.Object, kind, reason, msg string) {
	key := eventKey{fmt.Sprintf("%T", obj), obj.GetName(), reason}
	if c.events[key] == msg {
		return
	}
	c.events[key] = msg
	c.recorder.Event(obj, kind, reason, msg)
}

// reasonLabel is the lower-case reason label of the metrics.
func reasonLabel(r v1.DisruptionReason) string { return strings.ToLower(string(r)) }
