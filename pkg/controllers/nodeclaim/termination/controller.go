package termination

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/predicates"
)

// Name is the NodeClaim termination controller's name in logs.
const Name = "nodeclaim.termination"

// Timing of requeues.
const (
	// DrainPollInterval is how soon a drain that waits for pods to go looks again.
	DrainPollInterval = 5 * time.Second
	// InstancePollInterval is how soon termination asks again whether the instance is gone.
	InstancePollInterval = 5 * time.Second
	// evictionBaseDelay and evictionMaxDelay bound the per-pod backoff after a 429.
	evictionBaseDelay = time.Second
	evictionMaxDelay  = time.Minute
)

// Event reasons.
const (
	ReasonDraining             = "Draining"
	ReasonEvicted              = "Evicted"
	ReasonEvictionBlocked      = "EvictionBlocked"
	ReasonGracePeriodExpiring  = "TerminationGracePeriodExpiring"
	ReasonTerminatingInstance  = "TerminatingInstance"
	ReasonTerminated           = "Terminated"
	ReasonCascadingTermination = "CascadingTermination"
)

// Deps are what the termination controllers work with.
type Deps struct {
	// Client reads NodeClaims and Nodes and writes everything.
	Client client.Client
	// PodReader lists the pods of a node with a spec.nodeName field selector. When nil,
	// Register uses the manager's API reader (uncached), and a bare NewController uses Client.
	PodReader client.Reader
	// Evictor posts pod evictions. When nil, Register builds one from the manager's config;
	// NewController requires it otherwise (see NewEvictor).
	Evictor       Evictor
	CloudProvider cloudprovider.CloudProvider
	// Recorder receives events; nil discards them.
	Recorder record.EventRecorder
	// Clock is the real clock when nil.
	Clock clock.Clock
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
}

// Controller terminates NodeClaims (and their Nodes) being deleted.
type Controller struct {
	kube      client.Client
	podReader client.Reader
	evictor   Evictor
	cloud     cloudprovider.CloudProvider
	recorder  record.EventRecorder
	clock     clock.Clock
	backoff   *podBackoff
	// indexed: Register added the provider ID indexes to the client's cache.
	indexed bool

	nodesTerminated      *prometheus.CounterVec
	nodeClaimsTerminated *prometheus.CounterVec
}

var _ reconcile.ObjectReconciler[*v1.NodeClaim] = (*Controller)(nil)

// NewController builds the termination controller and registers its metrics.
func NewController(deps Deps) (*Controller, error) {
	c := &Controller{
		kube:      deps.Client,
		podReader: deps.PodReader,
		evictor:   deps.Evictor,
		cloud:     deps.CloudProvider,
		recorder:  deps.Recorder,
		clock:     deps.Clock,
		backoff:   newPodBackoff(evictionBaseDelay, evictionMaxDelay),
	}
	if c.recorder == nil {
		c.recorder = &record.FakeRecorder{}
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	var err error
	if c.nodesTerminated, err = metrics.NodesTerminated(deps.Registerer); err != nil {
		return nil, err
	}
	if c.nodeClaimsTerminated, err = metrics.NodeClaimsTerminated(deps.Registerer); err != nil {
		return nil, err
	}
	return c, nil
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register adds the NodeClaim termination controller (woken by its NodeClaims and their
// Nodes) and the Node cascade controller to the manager.
func (c *Controller) Register(ctx context.Context, mgr manager.Manager) error {
	// The operator registers providerid's indexes before any controller (providerid.Indexes).
	c.indexed = true
	if c.podReader == nil {
		c.podReader = mgr.GetAPIReader()
	}
	if c.evictor == nil {
		evictor, err := NewEvictor(mgr.GetConfig())
		if err != nil {
			return err
		}
		c.evictor = evictor
	}
	err := builder.ControllerManagedBy(mgr).
		Named(Name).
		For(&v1.NodeClaim{}).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(c.nodeClaimsOfNode), builder.WithPredicates(predicates.IgnoreNodeHeartbeats())).
		// NodeClaims are independent: a burst of launches or a drain of many nodes
		// proceeds in parallel instead of one API round trip at a time.
		WithOptions(controller.Options{MaxConcurrentReconciles: 10}).
		Complete(reconcile.AsReconciler(mgr.GetClient(), c))
	if err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	nodes := &NodeController{kube: c.kube, recorder: c.recorder, indexed: true}
	err = builder.ControllerManagedBy(mgr).
		Named(NodeControllerName).
		For(&corev1.Node{}, builder.WithPredicates(predicates.IgnoreNodeHeartbeats())).
		Complete(reconcile.AsReconciler(mgr.GetClient(), nodes))
	if err != nil {
		return fmt.Errorf("registering %s: %w", NodeControllerName, err)
	}
	return nil
}

// nodeClaimsOfNode maps a Node event to the NodeClaims with the Node's provider ID.
func (c *Controller) nodeClaimsOfNode(ctx context.Context, obj client.Object) []reconcile.Request {
	node, ok := obj.(*corev1.Node)
	if !ok || node.Spec.ProviderID == "" {
		return nil
	}
	// Only the names are read: the cache's objects, not deep copies.
	claims, err := nodeClaimsByProviderID(ctx, c.kube, node.Spec.ProviderID, c.indexed, client.UnsafeDisableDeepCopy)
	if err != nil {
		log.FromContext(ctx).Error(err, "mapping node to nodeclaims", "node", klog.KObj(node))
		return nil
	}
	out := make([]reconcile.Request, 0, len(claims))
	for _, nc := range claims {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: nc.Name}})
	}
	return out
}

// Reconcile advances the termination of a NodeClaim being deleted: taint, drain, terminate
// the instance, delete the Node, remove the finalizers.
func (c *Controller) Reconcile(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if nc.DeletionTimestamp.IsZero() || !controllerutil.ContainsFinalizer(nc, v1.TerminationFinalizer) {
		return reconcile.Result{}, nil
	}
	logger := log.FromContext(ctx).WithValues("nodeclaim", klog.KObj(nc), "nodepool", nc.Labels[v1.NodePoolLabelKey], "providerID", nc.Status.ProviderID)
	ctx = log.IntoContext(ctx, logger)

	deadline := terminationDeadline(nc)
	if err := c.annotateDeadline(ctx, nc, deadline); err != nil {
		return reconcile.Result{}, err
	}
	nodes, err := nodesByProviderID(ctx, c.kube, nc.Status.ProviderID, c.indexed)
	if err != nil {
		return reconcile.Result{}, err
	}
	now := c.clock.Now()
	graceOver := deadline != nil && !now.Before(*deadline)
	drained := true
	var requeue time.Duration
	for _, node := range nodes {
		if err := c.taint(ctx, nc, node); err != nil {
			return reconcile.Result{}, err
		}
		res, err := c.drain(ctx, nc, node, deadline, now)
		if err != nil {
			return reconcile.Result{}, err
		}
		if !res.done {
			drained = false
			requeue = minPositive(requeue, res.requeue)
		}
	}
	if !drained && !graceOver {
		return reconcile.Result{RequeueAfter: requeue}, nil
	}
	if !drained {
		logger.Info("termination grace period over, terminating the instance with pods still on the node", "deadline", deadline)
	}
	gone, err := c.terminateInstance(ctx, nc)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !gone {
		return reconcile.Result{RequeueAfter: InstancePollInterval}, nil
	}
	for _, node := range nodes {
		if err := c.removeNode(ctx, nc, node); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, c.removeFinalizer(ctx, nc)
}

// terminationDeadline is deletionTimestamp + terminationGracePeriod, or nil without one.
func terminationDeadline(nc *v1.NodeClaim) *time.Time {
	if nc.Spec.TerminationGracePeriod == nil || nc.DeletionTimestamp == nil {
		return nil
	}
	t := nc.DeletionTimestamp.Add(nc.Spec.TerminationGracePeriod.Duration)
	return &t
}

// annotateDeadline records the moment the node will be forcibly terminated.
func (c *Controller) annotateDeadline(ctx context.Context, nc *v1.NodeClaim, deadline *time.Time) error {
	if deadline == nil {
		return nil
	}
	value := deadline.UTC().Format(time.RFC3339)
	if nc.Annotations[v1.NodeClaimTerminationTimestampAnnotationKey] == value {
		return nil
	}
	stored := nc.DeepCopy()
	if nc.Annotations == nil {
		nc.Annotations = map[string]string{}
	}
	nc.Annotations[v1.NodeClaimTerminationTimestampAnnotationKey] = value
	if err := c.kube.Patch(ctx, nc, client.MergeFrom(stored)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("annotating the termination timestamp: %w", err)
	}
	return nil
}

// terminateInstance deletes the instance and reports whether it is gone.
func (c *Controller) terminateInstance(ctx context.Context, nc *v1.NodeClaim) (bool, error) {
	if nc.Status.ProviderID == "" {
		if launchInFlight(nc) {
			// The lifecycle controller may be inside CloudProvider.Create right now.
			// Releasing the NodeClaim would leave its instance with nothing to claim it;
			// lifecycle records the instance (and termination goes on) or releases it.
			log.FromContext(ctx).Info("waiting for the launch in flight to finish before terminating")
			return false, nil
		}
		return true, nil // never launched: nothing to delete
	}
	log.FromContext(ctx).Info("terminating instance")
	err := c.cloud.Delete(ctx, nc)
	if cloudprovider.IsNodeClaimNotFoundError(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("terminating instance %s: %w", nc.Status.ProviderID, err)
	}
	c.recorder.Event(nc, corev1.EventTypeNormal, ReasonTerminatingInstance, "Terminating instance "+nc.Status.ProviderID)
	_, err = c.cloud.Get(ctx, nc.Status.ProviderID)
	if cloudprovider.IsNodeClaimNotFoundError(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking instance %s is gone: %w", nc.Status.ProviderID, err)
	}
	return false, nil // still shutting down
}

// Lifecycle's launch marker: Launched=Unknown with this reason is written just before
// CloudProvider.Create and replaced once the launch is recorded or has failed.
const (
	conditionLaunched = v1.ConditionTypeLaunched
	reasonLaunching   = v1.ConditionReasonLaunching
)

// launchInFlight reports whether the NodeClaim's instance may be being created.
func launchInFlight(nc *v1.NodeClaim) bool {
	cond := meta.FindStatusCondition(nc.Status.Conditions, conditionLaunched)
	return cond != nil && cond.Status == metav1.ConditionUnknown && cond.Reason == reasonLaunching
}

// removeFinalizer releases the NodeClaim and counts it as terminated.
func (c *Controller) removeFinalizer(ctx context.Context, nc *v1.NodeClaim) error {
	stored := nc.DeepCopy()
	if !controllerutil.RemoveFinalizer(nc, v1.TerminationFinalizer) {
		return nil
	}
	log.FromContext(ctx).Info("removing the termination finalizer from the nodeclaim")
	if err := c.kube.Patch(ctx, nc, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // already gone
		}
		return fmt.Errorf("removing the nodeclaim finalizer: %w", err)
	}
	c.recorder.Event(nc, corev1.EventTypeNormal, ReasonTerminated, "NodeClaim terminated")
	c.nodeClaimsTerminated.WithLabelValues(nc.Labels[v1.NodePoolLabelKey], nc.Labels[v1.CapacityTypeLabelKey], nc.Labels[v1.LabelTopologyZone]).Inc()
	return nil
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	case b < a:
		return b
	}
	return a
}
