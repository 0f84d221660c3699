package status

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// Name is the controller's name in logs.
const Name = "nodepool.status"

// Condition types and reasons. Ready is NodeClassReady and ValidationSucceeded together;
// NodeRegistrationHealthy informs but does not gate it (as upstream).
const (
	ConditionReady                   = v1.ConditionTypeReady
	ConditionNodeClassReady          = "NodeClassReady"
	ConditionValidationSucceeded     = "ValidationSucceeded"
	ConditionNodeRegistrationHealthy = "NodeRegistrationHealthy"

	ReasonNodeClassReady     = "NodeClassReady"
	ReasonNodeClassUnchecked = "NodeClassUnchecked"
	ReasonNodeClassNotFound  = "NodeClassNotFound"
	ReasonNodeClassNotReady  = "NodeClassNotReady"
)

// RecheckInterval is how soon a pool whose node class is not ready looks again (node
// classes are not watched).
const RecheckInterval = time.Minute

// ConflictRetry is how soon a reconcile whose status write conflicted runs again.
const ConflictRetry = 200 * time.Millisecond

// ResourceNodes is the node count inside status.resources.
const ResourceNodes corev1.ResourceName = "nodes"

// Deps are what the status controller works with.
type Deps struct {
	Client client.Client
	// Clock stamps condition transitions; the real clock when nil.
	Clock clock.Clock
	// CloudProvider lists the instance types ValidationSucceeded checks the requirements
	// against; nil checks only what needs no cloud.
	CloudProvider cloudprovider.CloudProvider
	// RegistrationTimeout; DefaultRegistrationTimeout when 0.
	RegistrationTimeout time.Duration
}

// Controller keeps NodePool status and hash annotations current.
type Controller struct {
	kube                client.Client
	clock               clock.Clock
	cloud               cloudprovider.CloudProvider
	registrationTimeout time.Duration
}

var _ reconcile.ObjectReconciler[*v1.NodePool] = (*Controller)(nil)

// NewController builds the NodePool status controller.
func NewController(deps Deps) *Controller {
	c := &Controller{kube: deps.Client, clock: deps.Clock, cloud: deps.CloudProvider, registrationTimeout: deps.RegistrationTimeout}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.registrationTimeout <= 0 {
		c.registrationTimeout = DefaultRegistrationTimeout
	}
	return c
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register watches NodePools and, mapped to their pool by label, NodeClaims.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	toPool := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if pool := obj.GetLabels()[v1.NodePoolLabelKey]; pool != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: pool}}}
		}
		return nil
	})
	err := builder.ControllerManagedBy(mgr).
		Named(Name).
		For(&v1.NodePool{}).
		Watches(&v1.NodeClaim{}, toPool).
		Complete(reconcile.AsReconciler(mgr.GetClient(), c))
	if err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// Reconcile brings the hash annotations and the status up to date.
func (c *Controller) Reconcile(ctx context.Context, pool *v1.NodePool) (reconcile.Result, error) {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("nodepool", klog.KObj(pool)))
	if err := c.annotateHash(ctx, pool); err != nil {
		return reconcile.Result{}, err
	}
	stored := pool.DeepCopy()
	claims, err := c.countNodes(ctx, pool)
	if err != nil {
		return reconcile.Result{}, err
	}
	ready, err := c.setConditions(ctx, pool, claims)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !equality.Semantic.DeepEqual(stored.Status, pool.Status) {
		log.FromContext(ctx).V(1).Info("updating nodepool status", "nodes", pool.Status.Nodes, "ready", ready)
		if err := c.kube.Status().Patch(ctx, pool, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsNotFound(err) {
				return reconcile.Result{}, nil // deleted meanwhile
			}
			if apierrors.IsConflict(err) {
				// The cached NodePool is older than the stored one: during a burst of
				// NodeClaim events, often this controller's own last write has not reached
				// the cache yet. Count again from the new version, without an error line
				// (every burst logged one).
				log.FromContext(ctx).V(1).Info("nodepool status changed meanwhile, counting again")
				return reconcile.Result{RequeueAfter: ConflictRetry}, nil
			}
			return reconcile.Result{}, fmt.Errorf("patching nodepool status: %w", err)
		}
	}
	if !ready {
		return reconcile.Result{RequeueAfter: RecheckInterval}, nil
	}
	return reconcile.Result{}, nil
}

// annotateHash sets karpenter.sh/nodepool-hash and karpenter.sh/nodepool-hash-version.
func (c *Controller) annotateHash(ctx context.Context, pool *v1.NodePool) error {
	hash, err := Hash(pool)
	if err != nil {
		return err
	}
	if pool.Annotations[v1.NodePoolHashAnnotationKey] == hash && pool.Annotations[v1.NodePoolHashVersionAnnotationKey] == HashVersion {
		return nil
	}
	stored := pool.DeepCopy()
	if pool.Annotations == nil {
		pool.Annotations = map[string]string{}
	}
	pool.Annotations[v1.NodePoolHashAnnotationKey] = hash
	pool.Annotations[v1.NodePoolHashVersionAnnotationKey] = HashVersion
	log.FromContext(ctx).V(1).Info("annotating nodepool hash", "hash", hash)
	if err := c.kube.Patch(ctx, pool, client.MergeFrom(stored)); err != nil {
		return fmt.Errorf("annotating nodepool hash: %w", err)
	}
	return nil
}

// countNodes sums the capacity of the pool's launched NodeClaims into the status and returns
// the pool's NodeClaims (the cache's: read only).
func (c *Controller) countNodes(ctx context.Context, pool *v1.NodePool) ([]v1.NodeClaim, error) {
	// Read only: the cache's objects, not a deep copy of the pool's NodeClaims on every
	// NodeClaim event (thousands of them while a large pool grows).
	claims := &v1.NodeClaimList{}
	if err := c.kube.List(ctx, claims, client.MatchingLabels{v1.NodePoolLabelKey: pool.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the nodeclaims of nodepool %s: %w", pool.Name, err)
	}
	resources := corev1.ResourceList{}
	var nodes int64
	for i := range claims.Items {
		nc := &claims.Items[i]
		if nc.Status.ProviderID == "" {
			continue // not launched: no capacity yet
		}
		nodes++
		for name, q := range nc.Status.Capacity {
			sum := resources[name]
			sum.Add(q)
			resources[name] = sum
		}
	}
	resources[ResourceNodes] = *resource.NewQuantity(nodes, resource.DecimalSI)
	// Keep the stored quantities when they are equal, so formatting alone never causes a patch.
	if !equality.Semantic.DeepEqual(pool.Status.Resources, resources) {
		pool.Status.Resources = resources
	}
	if pool.Status.Nodes == nil || *pool.Status.Nodes != nodes {
		pool.Status.Nodes = &nodes
	}
	return claims.Items, nil
}

// setConditions sets NodeClassReady, ValidationSucceeded, NodeRegistrationHealthy and Ready,
// and reports whether the pool is ready.
func (c *Controller) setConditions(ctx context.Context, pool *v1.NodePool, claims []v1.NodeClaim) (bool, error) {
	classStatus, classReason, classMessage, generation, err := c.nodeClassState(ctx, pool.Spec.Template.Spec.NodeClassRef)
	if err != nil {
		return false, err
	}
	if generation != 0 {
		pool.Status.NodeClassObservedGeneration = generation
	}
	validStatus, validReason, validMessage, err := c.validate(ctx, pool)
	if err != nil {
		return false, err
	}
	regStatus, regReason, regMessage := c.registrationHealth(pool, claims)

	// Ready carries the reason of the first condition that blocks it (the node class's when
	// none does), and every blocking message.
	readyStatus, readyReason, readyMessage := metav1.ConditionTrue, classReason, ""
	var blocking []string
	for _, cond := range []struct {
		typ, reason, message string
		status               metav1.ConditionStatus
	}{{ConditionNodeClassReady, classReason, classMessage, classStatus}, {ConditionValidationSucceeded, validReason, validMessage, validStatus}} {
		if cond.status != metav1.ConditionTrue {
			if readyStatus == metav1.ConditionTrue {
				readyReason = cond.reason
			}
			readyStatus = metav1.ConditionFalse
			blocking = append(blocking, fmt.Sprintf("%s: %s", cond.typ, cond.message))
		}
	}
	if len(blocking) > 0 {
		readyMessage = joinReasons(blocking)
	}
	now := metav1.NewTime(c.clock.Now())
	for _, cond := range []metav1.Condition{
		{Type: ConditionNodeClassReady, Status: classStatus, Reason: classReason, Message: classMessage},
		{Type: ConditionValidationSucceeded, Status: validStatus, Reason: validReason, Message: validMessage},
		{Type: ConditionNodeRegistrationHealthy, Status: regStatus, Reason: regReason, Message: regMessage},
		{Type: ConditionReady, Status: readyStatus, Reason: readyReason, Message: readyMessage},
	} {
		cond.ObservedGeneration, cond.LastTransitionTime = pool.Generation, now
		meta.SetStatusCondition(&pool.Status.Conditions, cond)
	}
	return readyStatus == metav1.ConditionTrue, nil
}

// nodeClassState resolves the reference through the API server's discovery.
func (c *Controller) nodeClassState(ctx context.Context, ref *v1.NodeClassReference) (metav1.ConditionStatus, string, string, int64, error) {
	if ref == nil {
		return metav1.ConditionFalse, ReasonNodeClassNotFound, "spec.template.spec.nodeClassRef is not set", 0, nil
	}
	mapping, err := c.kube.RESTMapper().RESTMapping(schema.GroupKind{Group: ref.Group, Kind: ref.Kind})
	if meta.IsNoMatchError(err) {
		return metav1.ConditionTrue, ReasonNodeClassUnchecked, fmt.Sprintf("%s is not served by the API server, so it cannot be checked", ref.Kind), 0, nil
	}
	if err != nil {
		return "", "", "", 0, fmt.Errorf("resolving node class kind %s: %w", ref.Kind, err)
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(mapping.GroupVersionKind)
	if err := c.kube.Get(ctx, client.ObjectKey{Name: ref.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return metav1.ConditionFalse, ReasonNodeClassNotFound, fmt.Sprintf("%s %q not found", ref.Kind, ref.Name), 0, nil
		}
		return "", "", "", 0, fmt.Errorf("getting node class %s %q: %w", ref.Kind, ref.Name, err)
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, raw := range conds {
		cond, ok := raw.(map[string]interface{})
		if ok && cond["type"] == "Ready" && cond["status"] == string(metav1.ConditionFalse) {
			msg, _ := cond["message"].(string)
			return metav1.ConditionFalse, ReasonNodeClassNotReady, fmt.Sprintf("%s %q is not ready: %s", ref.Kind, ref.Name, msg), obj.GetGeneration(), nil
		}
	}
	return metav1.ConditionTrue, ReasonNodeClassReady, "", obj.GetGeneration(), nil
}
