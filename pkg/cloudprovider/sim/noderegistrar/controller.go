package noderegistrar

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// KWOKAnnotationKey and KWOKAnnotationValue mark a Node for KWOK to manage
// (hack/controlplane/cp.sh starts kwok with this annotation selector).
const (
	KWOKAnnotationKey   = "kwok.x-k8s.io/node"
	KWOKAnnotationValue = "fake"
)

// DefaultInterval is the longest Start waits between passes.
const DefaultInterval = time.Second

// DefaultResyncInterval is how often a pass reloads the instances from the API server to
// notice SimInstances deleted by hand; the passes in between work from memory.
const DefaultResyncInterval = 30 * time.Second

// Cloud is what the registrar needs of the simulated cloud.
type Cloud interface {
	// Resync reloads the instances from the API server, so SimInstances deleted by hand
	// (an instance terminated outside Karpenter) are noticed.
	Resync(ctx context.Context) error
	// Instances lists the instances; they are shared, read only.
	Instances(ctx context.Context) ([]*simv1alpha1.SimInstance, error)
	Interruptions(ctx context.Context) ([]sim.Interruption, error)
}

var _ Cloud = (*sim.Provider)(nil)

// Deps are what the registrar works with.
type Deps struct {
	// Client reads and writes Nodes and NodeClaims.
	Client client.Client
	Cloud  Cloud
	// Recorder receives the SpotInterrupted events; nil discards them.
	Recorder record.EventRecorder
	// Clock is the real clock when nil.
	Clock clock.Clock
	// Interval is the longest Start waits between passes; default DefaultInterval.
	Interval time.Duration
	// ResyncInterval is how often a pass reloads the instances from the API server;
	// default DefaultResyncInterval.
	ResyncInterval time.Duration
	// NodeReader lists Nodes; Register sets it to the manager's cache when nil, and
	// without Register Client is used.
	NodeReader client.Reader
	// Registerer receives karpenter_nodeclaims_disrupted_total{reason="interruption"}; nil
	// leaves it unregistered.
	Registerer prometheus.Registerer
}

// Controller creates and removes the Nodes of sim instances and deletes the NodeClaims of
// interrupted ones.
type Controller struct {
	client client.Client
	nodes  client.Reader
	// store, once Register found the manager's Node informer, is listed instead of nodes:
	// its own objects, read only, where a List copies every Node into a new slice each
	// pass (2,000 Nodes: 1.5 MB a second while nothing changes).
	store      toolscache.Store
	cloud      Cloud
	recorder   record.EventRecorder
	clock      clock.Clock
	interval   time.Duration
	resync     time.Duration
	lastResync time.Time
	disrupted  *prometheus.CounterVec
	// existing and live are a pass's sets of Node and instance names, kept (cleared) from
	// pass to pass: 2,000 of each made anew every second were a tenth of what a quiet
	// controller allocated. Passes do not overlap (Start runs them one after another).
	existing, live map[string]bool
}

var (
	_ manager.Runnable               = (*Controller)(nil)
	_ manager.LeaderElectionRunnable = (*Controller)(nil)
)

// NewController builds the registrar.
func NewController(deps Deps) (*Controller, error) {
	c := &Controller{client: deps.Client, nodes: deps.NodeReader, cloud: deps.Cloud, recorder: deps.Recorder, clock: deps.Clock, interval: deps.Interval, resync: deps.ResyncInterval}
	if c.nodes == nil && deps.Client != nil {
		c.nodes = deps.Client
	}
	if c.resync <= 0 {
		c.resync = DefaultResyncInterval
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
	var err error
	if c.disrupted, err = metrics.NodeClaimsDisrupted(deps.Registerer); err != nil {
		return nil, fmt.Errorf("building %s: %w", c.Name(), err)
	}
	return c, nil
}

// Name names the controller in logs.
func (c *Controller) Name() string { return "sim.noderegistrar" }

// Register adds the controller to a manager; it runs on the leader only. Nodes are then
// listed from the manager's cache unless Deps.NodeReader said otherwise.
func (c *Controller) Register(mgr manager.Manager) error {
	if c.nodes == c.client {
		c.nodes = mgr.GetClient()
		inf, err := mgr.GetCache().GetInformer(context.Background(), &corev1.Node{})
		if err != nil {
			return fmt.Errorf("registering %s: getting the node informer: %w", c.Name(), err)
		}
		if shared, ok := inf.(toolscache.SharedInformer); ok {
			c.store = shared.GetStore()
		}
	}
	if err := mgr.Add(c); err != nil {
		return fmt.Errorf("registering %s: %w", c.Name(), err)
	}
	return nil
}

// NeedLeaderElection is true: two registrars would race to create the same Nodes.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start runs passes until ctx ends, waiting on the clock until the next boot is due (at
// most the interval). Errors are logged and retried on the next pass.
func (c *Controller) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName(c.Name())
	for {
		next, err := c.Reconcile(ctx)
		if err != nil {
			logger.Error(err, "registering sim nodes")
		}
		if next <= 0 || next > c.interval || err != nil {
			next = c.interval
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(next):
		}
	}
}

// Reconcile makes one pass: it reloads the instances from the API server when the resync
// interval has passed (the provider keeps its own launches and terminations in memory, so
// only SimInstances deleted by hand need it), creates the Node of every booted instance
// that has none, deletes sim Nodes whose instance is gone and deletes the NodeClaims of
// interrupted instances. It returns how long until the next instance boots (0 when none
// is waiting).
func (c *Controller) Reconcile(ctx context.Context) (time.Duration, error) {
	if now := c.clock.Now(); c.lastResync.IsZero() || now.Sub(c.lastResync) >= c.resync {
		if err := c.cloud.Resync(ctx); err != nil {
			return 0, fmt.Errorf("resyncing sim instances: %w", err)
		}
		c.lastResync = now
	}
	instances, err := c.cloud.Instances(ctx)
	if err != nil {
		return 0, fmt.Errorf("listing sim instances: %w", err)
	}
	nodes, err := c.listNodes(ctx)
	if err != nil {
		return 0, err
	}
	existing, live := reset(&c.existing), reset(&c.live)
	for _, node := range nodes {
		existing[node.Name] = true
	}
	now := c.clock.Now()
	var next time.Duration
	var booted []*simv1alpha1.SimInstance
	for _, inst := range instances {
		live[inst.Name] = true
		if inst.Spec.FailRegistration || existing[inst.Name] {
			continue
		}
		if wait := inst.Spec.LaunchTime.Add(inst.Spec.BootDelay.Duration).Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		booted = append(booted, inst)
	}
	errs := c.createNodes(ctx, booted)
	for _, node := range nodes {
		if !strings.HasPrefix(node.Spec.ProviderID, sim.ProviderIDPrefix) || live[node.Name] || node.DeletionTimestamp != nil {
			continue
		}
		log.FromContext(ctx).Info("deleting node of a terminated instance", "node", klog.KObj(node))
		if err := c.client.Delete(ctx, node.DeepCopy()); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting node %s: %w", node.Name, err))
		}
	}
	if err := c.reactToInterruptions(ctx, nodes); err != nil {
		errs = append(errs, err)
	}
	return next, errors.Join(errs...)
}

// createParallelism bounds the Node creates a pass has in flight.
const createParallelism = 16

// createNodes creates the Nodes of booted instances, up to createParallelism at a time:
// instances launched together boot together, as in a cloud. One create after another, a
// burst's dozen Nodes took over a second to appear on a busy API server (about 100 ms
// each), and kube-scheduler, failing its pending pods again as each one came, had backed
// them off for up to 10 s by the time the last was Ready.
func (c *Controller) createNodes(ctx context.Context, booted []*simv1alpha1.SimInstance) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, createParallelism)
	for _, inst := range booted {
		log.FromContext(ctx).Info("registering node", "node", klog.KRef("", inst.Name), "instanceType", inst.Spec.InstanceType, "nodeClaim", inst.Spec.NodeClaim)
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := c.client.Create(ctx, NodeFor(inst)); err != nil && !apierrors.IsAlreadyExists(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("creating node %s: %w", inst.Name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// reset empties the set *m, making it on first use.
func reset(m *map[string]bool) map[string]bool {
	if *m == nil {
		*m = map[string]bool{}
	}
	clear(*m)
	return *m
}

// listNodes returns the Nodes, read only (a Node is copied before it is deleted): the
// informer's own objects, or those of an uncopied List.
func (c *Controller) listNodes(ctx context.Context) ([]*corev1.Node, error) {
	if c.store != nil {
		objs := c.store.List()
		out := make([]*corev1.Node, 0, len(objs))
		for _, o := range objs {
			if node, ok := o.(*corev1.Node); ok {
				out = append(out, node)
			}
		}
		return out, nil
	}
	list := &corev1.NodeList{}
	if err := c.nodes.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	out := make([]*corev1.Node, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// NodeFor is the Node a sim instance registers as.
func NodeFor(inst *simv1alpha1.SimInstance) *corev1.Node {
	labels := map[string]string{}
	for k, v := range inst.Spec.Labels {
		labels[k] = v
	}
	labels[v1.LabelHostname] = inst.Name
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        inst.Name,
			Labels:      labels,
			Annotations: map[string]string{KWOKAnnotationKey: KWOKAnnotationValue},
		},
		Spec: corev1.NodeSpec{
			ProviderID: sim.ProviderID(inst),
			Taints:     append([]corev1.Taint(nil), inst.Spec.Taints...),
		},
		Status: corev1.NodeStatus{
			Capacity:    inst.Spec.Capacity.DeepCopy(),
			Allocatable: inst.Spec.Allocatable.DeepCopy(),
			Phase:       corev1.NodeRunning,
			NodeInfo: corev1.NodeSystemInfo{
				Architecture:    labels[v1.LabelArch],
				OperatingSystem: labels[v1.LabelOS],
			},
		},
	}
}
