package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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
	cpmetrics "github.com/gokarpenter/karpenter/pkg/cloudprovider/metrics"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/providerid"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/predicates"
)

// Name is the controller's name in logs and metrics.
const Name = "nodeclaim.lifecycle"

// ConflictRetry is how soon a reconcile whose writes all conflicted runs again.
const ConflictRetry = 200 * time.Millisecond

// DefaultRegistrationTTL is how long a NodeClaim may take to register before it is deleted.
const DefaultRegistrationTTL = 15 * time.Minute

// Deps are what the controller works with.
type Deps struct {
	// Client should read from the manager's cache, which has the provider ID indexes.
	Client        client.Client
	CloudProvider cloudprovider.CloudProvider
	Recorder      record.EventRecorder
	Clock         clock.Clock
	// RegistrationTTL; default DefaultRegistrationTTL.
	RegistrationTTL time.Duration
	// Registerer receives karpenter_nodeclaims_{launched,registered,initialized}_total; nil
	// leaves them unregistered.
	Registerer prometheus.Registerer
	// BeforeRegister, if set, is called when a NodeClaim's Node has been found and before
	// registration removes its karpenter.sh/unregistered taint, the last moment nothing can
	// be scheduled there yet (provisioning.Hints.Registering tells kube-scheduler which pods
	// were planned onto it).
	BeforeRegister func(ctx context.Context, nodeClaim, node string)
}

// Controller is the NodeClaim lifecycle controller.
type Controller struct {
	kube            client.Client
	cloud           cloudprovider.CloudProvider
	recorder        record.EventRecorder
	clock           clock.Clock
	registrationTTL time.Duration
	beforeRegister  func(ctx context.Context, nodeClaim, node string)
	// transitions counts NodeClaims reaching each condition, keyed by its lower-case name.
	transitions map[string]*prometheus.CounterVec
	metricsErr  error
}

var _ reconcile.ObjectReconciler[*v1.NodeClaim] = (*Controller)(nil)

// errDeleted ends a reconcile whose NodeClaim a phase deleted.
var errDeleted = errors.New("nodeclaim deleted")

// NewController returns a lifecycle controller.
func NewController(deps Deps) *Controller {
	if deps.Clock == nil {
		deps.Clock = clock.RealClock{}
	}
	if deps.RegistrationTTL <= 0 {
		deps.RegistrationTTL = DefaultRegistrationTTL
	}
	c := &Controller{
		kube:            deps.Client,
		cloud:           deps.CloudProvider,
		recorder:        deps.Recorder,
		clock:           deps.Clock,
		registrationTTL: deps.RegistrationTTL,
		beforeRegister:  deps.BeforeRegister,
	}
	if c.transitions, c.metricsErr = metrics.NodeClaimsLifecycle(deps.Registerer); c.metricsErr != nil {
		c.transitions, _ = metrics.NodeClaimsLifecycle(nil)
	}
	return c
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register watches NodeClaims, and Nodes mapped to the NodeClaim with their provider ID
// (through providerid's indexes, which the operator registers first).
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	if c.metricsErr != nil {
		return fmt.Errorf("registering lifecycle metrics: %w", c.metricsErr)
	}
	err := builder.ControllerManagedBy(mgr).
		Named(Name).
		For(&v1.NodeClaim{}).
		// A Node's heartbeats (status rewritten to say it is alive) change nothing here.
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(c.nodeClaimsForNode), builder.WithPredicates(predicates.IgnoreNodeHeartbeats())).
		// NodeClaims are independent: a burst of launches or a drain of many nodes
		// proceeds in parallel instead of one API round trip at a time.
		WithOptions(controller.Options{MaxConcurrentReconciles: 10}).
		Complete(reconcile.AsReconciler(mgr.GetClient(), c))
	if err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

func (c *Controller) nodeClaimsForNode(ctx context.Context, o client.Object) []reconcile.Request {
	node, ok := o.(*corev1.Node)
	if !ok || node.Spec.ProviderID == "" {
		return nil
	}
	// Only the names are read: no deep copies (every Node update that passes the predicates
	// is mapped, Ready flaps by the hundred at 2,000 nodes).
	var list v1.NodeClaimList
	if err := c.kube.List(ctx, &list, client.MatchingFields{providerid.NodeClaimIndex: node.Spec.ProviderID}, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing nodeclaims for node", "node", klog.KObj(node))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// phase is one step of the lifecycle. It changes nc's status in memory (Reconcile writes
// it) and may write to the API server itself when it must (see launch).
type phase func(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error)

// Reconcile runs the phases in order, derives Ready and writes the status if it changed.
func (c *Controller) Reconcile(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	ctx = log.IntoContext(cpmetrics.WithController(ctx, Name), log.FromContext(ctx).WithValues("nodeClaim", klog.KObj(nc)))
	if nc.DeletionTimestamp != nil {
		return reconcile.Result{}, c.releaseUnlaunched(ctx, nc)
	}
	if !controllerutil.ContainsFinalizer(nc, v1.TerminationFinalizer) {
		before := nc.DeepCopy()
		controllerutil.AddFinalizer(nc, v1.TerminationFinalizer)
		if err := c.kube.Patch(ctx, nc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("adding the termination finalizer: %w", err))
		}
	}
	stored := nc.DeepCopy()
	c.initConditions(nc)
	var result reconcile.Result
	var errs []error
	for _, p := range []phase{c.launch, c.register, c.initialize, c.liveness} {
		res, err := p(ctx, nc)
		if errors.Is(err, errDeleted) {
			return reconcile.Result{}, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
		if nc.ResourceVersion != stored.ResourceVersion {
			// The phase wrote the NodeClaim and nc is what the API server returned: the
			// final write diffs against it, under its resource version. Diffing against
			// the version read at the start would conflict with the phase's own write,
			// and what the later phases change would never be persisted. (A phase whose
			// later write failed returns the error and is retried from what is stored.)
			stored = nc.DeepCopy()
		}
		result = lowestRequeue(result, res)
	}
	c.setReady(nc)
	if err := c.patchStatus(ctx, stored, nc); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		if allConflicts(errs) {
			// Someone else (KWOK, the registrar, another phase) wrote first; read the new
			// version and try again without reporting an error. The other write's watch
			// event requeues the NodeClaim too; the fixed delay is the safety net. Not
			// Requeue: that goes through the rate limiter, whose shared 10/s bucket held a
			// 1,000-pod burst's registrations 3-17 s apart.
			return reconcile.Result{RequeueAfter: ConflictRetry}, nil
		}
		return reconcile.Result{}, errors.Join(errs...)
	}
	return result, nil
}

func allConflicts(errs []error) bool {
	for _, err := range errs {
		if !apierrors.IsConflict(err) {
			return false
		}
	}
	return true
}

// patchStatus writes nc's status if it differs from before's. A NodeClaim already gone is
// not an error: its watch event ends the work.
func (c *Controller) patchStatus(ctx context.Context, before, nc *v1.NodeClaim) error {
	return client.IgnoreNotFound(c.patchStatusOrNotFound(ctx, before, nc))
}

// patchStatusOrNotFound is patchStatus that returns the API server's NotFound, for the
// writes whose success another action depends on (the launch marker gates Create).
func (c *Controller) patchStatusOrNotFound(ctx context.Context, before, nc *v1.NodeClaim) error {
	if equality.Semantic.DeepEqual(before.Status, nc.Status) {
		return nil
	}
	if err := c.kube.Status().Patch(ctx, nc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patching nodeclaim status: %w", err)
	}
	c.countTransitions(ctx, before, nc)
	return nil
}

// delete removes the NodeClaim (this very version) and returns errDeleted.
func (c *Controller) delete(ctx context.Context, nc *v1.NodeClaim) error {
	if err := c.kube.Delete(ctx, nc, client.Preconditions{UID: &nc.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting nodeclaim: %w", err)
	}
	return errDeleted
}

// lowestRequeue keeps the sooner of two requeue delays (zero meaning none).
func lowestRequeue(a, b reconcile.Result) reconcile.Result {
	if a.RequeueAfter == 0 || (b.RequeueAfter > 0 && b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}

// countTransitions counts the conditions that a status write, just accepted with an
// optimistic lock, turned True: every write goes through patchStatus, so each transition is
// counted once. Registration and initialisation are logged here too, once each: logged
// where a phase decides them, they were logged again by every retry after a conflict.
func (c *Controller) countTransitions(ctx context.Context, before, after *v1.NodeClaim) {
	for _, cond := range []string{ConditionLaunched, ConditionRegistered, ConditionInitialized} {
		if !meta.IsStatusConditionTrue(before.Status.Conditions, cond) && meta.IsStatusConditionTrue(after.Status.Conditions, cond) {
			c.transitions[strings.ToLower(cond)].WithLabelValues(after.Labels[v1.NodePoolLabelKey]).Inc()
			if cond != ConditionLaunched { // launch.go logs the launch with its offering
				log.FromContext(ctx).Info(strings.ToLower(cond)+" nodeclaim", "node", after.Status.NodeName)
			}
		}
	}
}
