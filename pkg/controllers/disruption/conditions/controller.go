package conditions

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption"
)

// Name is the controller's name in logs.
const Name = "disruption.conditions"

// Drift reasons this controller finds itself (the provider's come from IsDrifted).
const (
	ReasonNodePoolDrifted     = "NodePoolDrifted"
	ReasonRequirementsDrifted = "RequirementsDrifted"
	ReasonInstanceTypeGone    = "InstanceTypeNotFound"
	ReasonConsolidatable      = "Consolidatable"
	ReasonPodsChanged         = "RecentPodEvent"
	ReasonConsolidationOff    = "ConsolidationDisabled"
)

// DriftCheckInterval is how often a NodeClaim's drift is checked again without an event
// (node classes and the provider's catalogue are not watched).
const DriftCheckInterval = 30 * time.Second

// Deps are what the controller works with.
type Deps struct {
	Client        client.Client
	CloudProvider cloudprovider.CloudProvider
	// Clock is the real clock when nil.
	Clock clock.Clock
}

// TypesTTL is how long the instance type names of a NodePool are reused by the drift
// check: every NodeClaim is checked every DriftCheckInterval, and asking the provider for
// the whole catalogue each time (2,000 NodeClaims: 67 catalogues a second) was a quiet
// cluster's largest allocation.
const TypesTTL = 10 * time.Second

// Controller sets Drifted and Consolidatable on NodeClaims.
type Controller struct {
	kube  client.Client
	cloud cloudprovider.CloudProvider
	clock clock.Clock

	mu    sync.Mutex
	types map[string]poolTypes // by NodePool name

	// reads are the NodeClaim and NodePool structs a check reads the cache's objects into
	// (shallow copies, read only), reused from check to check: 2,000 NodeClaims are checked
	// every DriftCheckInterval, and a struct of each for each check was 5 % of what the
	// quiet controller allocated. Nothing a check calls keeps them.
	reads sync.Pool
}

// reads is one check's NodeClaim and NodePool.
type reads struct {
	claim v1.NodeClaim
	pool  v1.NodePool
}

func (c *Controller) takeReads() *reads {
	if r, ok := c.reads.Get().(*reads); ok {
		return r
	}
	return &reads{}
}

// giveBack zeroes r, so it holds nothing of the cache's between checks, and keeps it.
func (c *Controller) giveBack(r *reads) {
	*r = reads{}
	c.reads.Put(r)
}

// poolTypes are the names of the instance types a NodePool offered, at a generation of its
// spec (its status changes with every launch and does not change what it offers).
type poolTypes struct {
	generation int64
	names      map[string]bool
	at         time.Time
}

var _ reconcile.ObjectReconciler[*v1.NodeClaim] = (*Controller)(nil)

// NewController builds the controller.
func NewController(deps Deps) *Controller {
	c := &Controller{kube: deps.Client, cloud: deps.CloudProvider, clock: deps.Clock, types: map[string]poolTypes{}}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	return c
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register watches NodeClaims, and NodePools mapped to their NodeClaims.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	toClaims := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &v1.NodeClaimList{}
		// Only the names are read: no deep copy of the pool's NodeClaims.
		if err := mgr.GetClient().List(ctx, list, client.MatchingLabels{v1.NodePoolLabelKey: obj.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, nc := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: nc.Name}})
		}
		return out
	})
	err := builder.ControllerManagedBy(mgr).Named(Name).
		For(&v1.NodeClaim{}).
		Watches(&v1.NodePool{}, toClaims, builder.WithPredicates(predicate.Funcs{UpdateFunc: poolSpecChanged})).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			// The cache's own NodeClaim, not a deep copy: every NodeClaim is re-checked
			// every DriftCheckInterval, almost always without a change (2,000 copies each
			// 30 s were a tenth of what a quiet controller allocated). Reconcile copies it
			// before it writes.
			r := c.takeReads()
			defer c.giveBack(r)
			if err := mgr.GetClient().Get(ctx, req.NamespacedName, &r.claim, client.UnsafeDisableDeepCopy); err != nil {
				return reconcile.Result{}, client.IgnoreNotFound(err)
			}
			return c.check(ctx, &r.claim, &r.pool)
		}))
	if err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// poolSpecChanged passes a NodePool update that can change its NodeClaims' conditions: a new
// spec (generation) or a new template hash. The pool's status changes with every node it
// launches; mapping each of those to all its NodeClaims listed and re-checked the whole
// pool once per launch (2,000 NodeClaims: 2,000 times while it grew).
func poolSpecChanged(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return true
	}
	if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
		return true
	}
	o, n := e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations()
	return o[v1.NodePoolHashAnnotationKey] != n[v1.NodePoolHashAnnotationKey] ||
		o[v1.NodePoolHashVersionAnnotationKey] != n[v1.NodePoolHashVersionAnnotationKey]
}

// Reconcile brings both conditions up to date.
func (c *Controller) Reconcile(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	r := c.takeReads()
	defer c.giveBack(r)
	return c.check(ctx, nc, &r.pool)
}

// check is Reconcile, reading the NodePool into pool.
func (c *Controller) check(ctx context.Context, nc *v1.NodeClaim, pool *v1.NodePool) (reconcile.Result, error) {
	if !nc.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	// The NodePool is only read here: the cache's own object, not a deep copy for each of
	// 2,000 NodeClaims every DriftCheckInterval.
	if err := c.kube.Get(ctx, client.ObjectKey{Name: nc.Labels[v1.NodePoolLabelKey]}, pool, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	now := c.clock.Now()
	// The conditions are worked out on a copy of their slice, made only when one of them
	// changes; the whole NodeClaim is copied (the patch's base) only then too: 2,000
	// NodeClaims are re-checked every DriftCheckInterval, almost always without a change.
	conds, copied := nc.Status.Conditions, false
	set := func(cond metav1.Condition) {
		if settled(conds, cond) {
			return
		}
		if !copied {
			conds, copied = slices.Clone(conds), true
		}
		meta.SetStatusCondition(&conds, cond)
	}
	requeue := DriftCheckInterval
	if nc.Status.ProviderID != "" {
		reason, msg, err := c.drift(ctx, nc, pool)
		if err != nil {
			return reconcile.Result{}, err
		}
		if reason == "" {
			if meta.FindStatusCondition(conds, v1.ConditionTypeDrifted) != nil { // removing copies the slice
				meta.RemoveStatusCondition(&conds, v1.ConditionTypeDrifted)
				copied = true
			}
		} else {
			set(metav1.Condition{Type: v1.ConditionTypeDrifted, Status: metav1.ConditionTrue,
				Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now), ObservedGeneration: nc.Generation})
		}
	}
	if meta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionTypeInitialized) {
		cond := metav1.Condition{Type: v1.ConditionTypeConsolidatable, Status: metav1.ConditionTrue, Reason: ReasonConsolidatable,
			LastTransitionTime: metav1.NewTime(now), ObservedGeneration: nc.Generation}
		if ok, msg := disruption.Consolidatable(nc, pool, now); !ok {
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonPodsChanged, msg
			if pool.Spec.Disruption.ConsolidateAfter.IsNever() {
				cond.Reason = ReasonConsolidationOff
			} else if d := disruption.ConsolidatableAt(nc, *pool.Spec.Disruption.ConsolidateAfter.Duration).Sub(now); d > 0 {
				requeue = min(requeue, d+time.Second)
			}
		}
		set(cond)
	}
	if copied && !sameConditions(nc.Status.Conditions, conds) {
		// nc may be the cache's (read only): the patch is made of, and answered into, copies.
		stored, patched := nc.DeepCopy(), nc.DeepCopy()
		patched.Status.Conditions = conds
		if err := c.kube.Status().Patch(ctx, patched, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) {
				return reconcile.Result{Requeue: true}, nil // someone else wrote first: read again
			}
			return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("patching nodeclaim %s conditions: %w", nc.Name, err))
		}
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// settled reports whether meta.SetStatusCondition(&conds, cond) would change nothing: a
// condition of its type has its status, reason, message and observed generation (its
// transition time moves only with its status).
func settled(conds []metav1.Condition, cond metav1.Condition) bool {
	c := meta.FindStatusCondition(conds, cond.Type)
	return c != nil && c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message &&
		c.ObservedGeneration == cond.ObservedGeneration
}

// sameConditions reports whether a and b hold the same conditions in the same order, as
// equality.Semantic.DeepEqual does (times compared as instants) without its reflection,
// which allocated on each of the 2,000 NodeClaims' checks every DriftCheckInterval.
func sameConditions(a, b []metav1.Condition) bool {
	return slices.EqualFunc(a, b, func(x, y metav1.Condition) bool {
		return x.Type == y.Type && x.Status == y.Status && x.ObservedGeneration == y.ObservedGeneration &&
			x.LastTransitionTime.Equal(&y.LastTransitionTime) && x.Reason == y.Reason && x.Message == y.Message
	})
}

// drift returns why the NodeClaim drifted (reason, message), or "" when it has not.
func (c *Controller) drift(ctx context.Context, nc *v1.NodeClaim, pool *v1.NodePool) (string, string, error) {
	if reason, msg := Static(nc, pool); reason != "" {
		return reason, msg, nil
	}
	if c.cloud == nil {
		return "", "", nil
	}
	offered, err := c.typeNames(ctx, pool)
	if err != nil {
		return "", "", err
	}
	if name := nc.Labels[v1.LabelInstanceType]; name != "" && !offered[name] {
		return ReasonInstanceTypeGone, fmt.Sprintf("instance type %s is no longer offered for nodepool %s", name, pool.Name), nil
	}
	reason, err := c.cloud.IsDrifted(ctx, nc)
	if err != nil {
		if cloudprovider.IsNodeClaimNotFoundError(err) {
			return "", "", nil
		}
		return "", "", fmt.Errorf("checking drift of nodeclaim %s: %w", nc.Name, err)
	}
	if reason != "" {
		return string(reason), "the cloud provider reports the instance drifted from its node class", nil
	}
	return "", "", nil
}

// typeNames are the names of the instance types pool offers, asked of the provider at most
// every TypesTTL per generation of the pool.
func (c *Controller) typeNames(ctx context.Context, pool *v1.NodePool) (map[string]bool, error) {
	now := c.clock.Now()
	c.mu.Lock()
	cached, ok := c.types[pool.Name]
	c.mu.Unlock()
	if ok && cached.generation == pool.Generation && now.Sub(cached.at) < TypesTTL {
		return cached.names, nil
	}
	its, err := c.cloud.GetInstanceTypes(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("listing instance types of nodepool %s: %w", pool.Name, err)
	}
	names := make(map[string]bool, len(its))
	for _, it := range its {
		names[it.Name] = true
	}
	c.mu.Lock()
	c.types[pool.Name] = poolTypes{generation: pool.Generation, names: names, at: now}
	c.mu.Unlock()
	return names, nil
}

// Static is the drift a NodeClaim shows against its NodePool without asking the cloud: a
// different template hash (of the same hash version), or labels that no longer satisfy
// the pool's requirements (requirements on keys the NodeClaim has no label for are not
// judged).
func Static(nc *v1.NodeClaim, pool *v1.NodePool) (string, string) {
	have, want := nc.Annotations[v1.NodePoolHashAnnotationKey], pool.Annotations[v1.NodePoolHashAnnotationKey]
	if have != "" && want != "" && have != want &&
		nc.Annotations[v1.NodePoolHashVersionAnnotationKey] == pool.Annotations[v1.NodePoolHashVersionAnnotationKey] {
		return ReasonNodePoolDrifted, fmt.Sprintf("the template of nodepool %s changed", pool.Name)
	}
	for _, r := range pool.Spec.Template.Spec.Requirements {
		if _, ok := nc.Labels[r.Key]; !ok {
			continue
		}
		if !cloudprovider.Matches(r, nc.Labels) {
			return ReasonRequirementsDrifted, fmt.Sprintf("label %s=%s no longer satisfies nodepool %s's requirement %s %s %v",
				r.Key, nc.Labels[r.Key], pool.Name, r.Key, r.Operator, r.Values)
		}
	}
	return "", ""
}
