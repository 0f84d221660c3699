package garbagecollection

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// Name is the controller's name in logs.
const Name = "nodeclaim.garbagecollection"

// Defaults of Options.
const (
	DefaultInterval          = 2 * time.Minute
	DefaultLaunchGracePeriod = time.Minute
)

// ConditionLaunched is the NodeClaim condition that says its instance was created.
const ConditionLaunched = v1.ConditionTypeLaunched

// ReasonGarbageCollected is the event reason on collected NodeClaims and Nodes.
const ReasonGarbageCollected = "GarbageCollected"

// Options tune garbage collection. Zero values take the defaults.
type Options struct {
	// Interval between passes.
	Interval time.Duration
	// LaunchGracePeriod is how old an unclaimed instance must be before it is terminated.
	LaunchGracePeriod time.Duration
}

// Deps are what garbage collection works with.
type Deps struct {
	Client        client.Client
	CloudProvider cloudprovider.CloudProvider
	// Recorder receives events; nil discards them.
	Recorder record.EventRecorder
	// Clock is the real clock when nil.
	Clock   clock.Clock
	Options Options
}

// Controller collects leaked instances and NodeClaims whose instance is gone.
type Controller struct {
	kube     client.Client
	cloud    cloudprovider.CloudProvider
	recorder record.EventRecorder
	clock    clock.Clock
	opts     Options
	// firstSeen remembers when an unclaimed instance without a launch time was first
	// seen, so that it too gets a grace period.
	firstSeen map[string]time.Time
}

// NewController builds the garbage collector.
func NewController(deps Deps) *Controller {
	c := &Controller{kube: deps.Client, cloud: deps.CloudProvider, recorder: deps.Recorder, clock: deps.Clock, opts: deps.Options, firstSeen: map[string]time.Time{}}
	if c.recorder == nil {
		c.recorder = &record.FakeRecorder{}
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.opts.Interval <= 0 {
		c.opts.Interval = DefaultInterval
	}
	if c.opts.LaunchGracePeriod <= 0 {
		c.opts.LaunchGracePeriod = DefaultLaunchGracePeriod
	}
	return c
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register adds the singleton loop to the manager: one request at start, then each pass
// requeues itself after Interval. One worker, so passes never overlap.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	kick := source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: Name}})
		return nil
	})
	err := builder.ControllerManagedBy(mgr).
		Named(Name).
		WatchesRawSource(kick).
		Complete(reconcile.Func(func(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
			return c.Reconcile(ctx)
		}))
	if err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// Reconcile makes one pass both ways and requeues after Interval (sooner when an unclaimed
// instance comes of age first).
func (c *Controller) Reconcile(ctx context.Context) (reconcile.Result, error) {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("controller", Name))
	instances, err := c.cloud.List(ctx)
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("listing instances: %w", err)
	}
	// Read only (collectNodeClaims copies a NodeClaim before deleting it): the cache's own
	// objects, not a deep copy of every NodeClaim each pass.
	claims := &v1.NodeClaimList{}
	if err := c.kube.List(ctx, claims, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing nodeclaims: %w", err)
	}
	next, errInstances := c.collectInstances(ctx, instances, claims.Items)
	errClaims := c.collectNodeClaims(ctx, instances, claims.Items)
	requeue := c.opts.Interval
	if next > 0 && next < requeue {
		requeue = next
	}
	return reconcile.Result{RequeueAfter: requeue}, errors.Join(errInstances, errClaims)
}

// collectInstances terminates unclaimed instances past the launch grace period. It returns
// how long until the next unclaimed instance comes of age (0 when none waits).
func (c *Controller) collectInstances(ctx context.Context, instances []*v1.NodeClaim, claims []v1.NodeClaim) (time.Duration, error) {
	claimed := map[string]bool{}
	for i := range claims {
		claimed[claims[i].Status.ProviderID] = true
	}
	now := c.clock.Now()
	var next time.Duration
	var errs []error
	orphans := map[string]bool{}
	for _, inst := range instances {
		id := inst.Status.ProviderID
		if id == "" || claimed[id] {
			continue
		}
		orphans[id] = true
		born := inst.CreationTimestamp.Time
		if born.IsZero() {
			if _, ok := c.firstSeen[id]; !ok {
				c.firstSeen[id] = now
			}
			born = c.firstSeen[id]
		}
		if wait := born.Add(c.opts.LaunchGracePeriod).Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		if err := c.terminateOrphan(ctx, inst); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(c.firstSeen, id)
	}
	for id := range c.firstSeen {
		if !orphans[id] {
			delete(c.firstSeen, id)
		}
	}
	return next, errors.Join(errs...)
}

// terminateOrphan deletes an unclaimed instance and the Nodes that registered for it.
func (c *Controller) terminateOrphan(ctx context.Context, inst *v1.NodeClaim) error {
	id := inst.Status.ProviderID
	logger := log.FromContext(ctx).WithValues("providerID", id, "instanceType", inst.Labels[v1.LabelInstanceType])
	logger.Info("terminating an instance that no nodeclaim claims")
	if err := cloudprovider.IgnoreNodeClaimNotFoundError(c.cloud.Delete(ctx, inst)); err != nil {
		return fmt.Errorf("terminating unclaimed instance %s: %w", id, err)
	}
	nodes := &corev1.NodeList{}
	if err := c.kube.List(ctx, nodes); err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	for i := range nodes.Items {
		node := &nodes.Items[i]
		if node.Spec.ProviderID != id || !node.DeletionTimestamp.IsZero() {
			continue
		}
		logger.Info("deleting the node of an unclaimed instance", "node", klog.KObj(node))
		c.recorder.Event(node, corev1.EventTypeWarning, ReasonGarbageCollected, "Instance "+id+" has no NodeClaim and was terminated")
		if err := c.kube.Delete(ctx, node); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting node %s: %w", node.Name, err)
		}
	}
	return nil
}

// collectNodeClaims deletes launched NodeClaims whose instance no longer exists. A NodeClaim
// missing from the list is confirmed with Get before it is deleted.
func (c *Controller) collectNodeClaims(ctx context.Context, instances []*v1.NodeClaim, claims []v1.NodeClaim) error {
	live := map[string]bool{}
	for _, inst := range instances {
		live[inst.Status.ProviderID] = true
	}
	var errs []error
	for i := range claims {
		nc := &claims[i]
		id := nc.Status.ProviderID
		if id == "" || live[id] || !nc.DeletionTimestamp.IsZero() || !meta.IsStatusConditionTrue(nc.Status.Conditions, ConditionLaunched) {
			continue
		}
		_, err := c.cloud.Get(ctx, id)
		if err == nil {
			continue // listed late, still there
		}
		if !cloudprovider.IsNodeClaimNotFoundError(err) {
			errs = append(errs, fmt.Errorf("getting instance %s of nodeclaim %s: %w", id, nc.Name, err))
			continue
		}
		log.FromContext(ctx).Info("deleting a nodeclaim whose instance is gone", "nodeclaim", klog.KObj(nc), "providerID", id)
		c.recorder.Event(nc, corev1.EventTypeWarning, ReasonGarbageCollected, "Instance "+id+" no longer exists")
		if err := c.kube.Delete(ctx, nc.DeepCopy()); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting nodeclaim %s: %w", nc.Name, err))
		}
	}
	return errors.Join(errs...)
}
