package emptiness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
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
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// Name is the controller's name in logs.
const Name = "disruption.emptiness"

// DefaultInterval is the longest a NodePool waits between passes (pods are not watched).
const DefaultInterval = 10 * time.Second

// Condition types and reasons.
const (
	ConditionEmpty       = v1.ConditionTypeEmpty
	ConditionRegistered  = v1.ConditionTypeRegistered
	ConditionInitialized = v1.ConditionTypeInitialized
	ReasonEmpty          = "Empty"
	ReasonNotEmpty       = "PodsRunning"
	// ReasonDisrupting is the event reason on a NodeClaim deleted for being empty.
	ReasonDisrupting = "DisruptionTerminating"
)

// Deps are what emptiness works with.
type Deps struct {
	Client client.Client
	// Recorder receives events; nil discards them.
	Recorder record.EventRecorder
	// Clock is the real clock when nil.
	Clock clock.Clock
	// Registerer receives karpenter_nodeclaims_disrupted_total; nil leaves it unregistered.
	Registerer prometheus.Registerer
	// Interval between passes per NodePool; DefaultInterval when zero.
	Interval time.Duration
}

// Controller deletes empty nodes within their NodePool's disruption budget.
type Controller struct {
	kube      client.Client
	recorder  record.EventRecorder
	clock     clock.Clock
	interval  time.Duration
	disrupted *prometheus.CounterVec
}

var _ reconcile.ObjectReconciler[*v1.NodePool] = (*Controller)(nil)

// NewController builds the emptiness controller and registers its metric.
func NewController(deps Deps) (*Controller, error) {
	disrupted, err := metrics.NodeClaimsDisrupted(deps.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Controller{kube: deps.Client, recorder: deps.Recorder, clock: deps.Clock, interval: deps.Interval, disrupted: disrupted}
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

// Register watches NodePools, and NodeClaims and Nodes mapped to their NodePool by label.
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
		Watches(&corev1.Node{}, toPool).
		Complete(reconcile.AsReconciler(mgr.GetClient(), c))
	if err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// candidate is a NodeClaim with its Node and the pods on it.
type candidate struct {
	claim      *v1.NodeClaim
	node       *corev1.Node
	pods       []*corev1.Pod
	emptySince time.Time
}

// Reconcile makes one pass over the pool: Empty conditions, then deletions within budget.
func (c *Controller) Reconcile(ctx context.Context, pool *v1.NodePool) (reconcile.Result, error) {
	d := pool.Spec.Disruption
	if !pool.DeletionTimestamp.IsZero() || d.ConsolidateAfter.IsNever() ||
		(d.ConsolidationPolicy != v1.ConsolidationPolicyWhenEmpty && d.ConsolidationPolicy != v1.ConsolidationPolicyWhenEmptyOrUnderutilized) {
		return reconcile.Result{}, nil
	}
	logger := log.FromContext(ctx).WithValues("nodepool", klog.KObj(pool))
	ctx = log.IntoContext(ctx, logger)
	all, deleting, err := c.candidates(ctx, pool)
	if err != nil {
		return reconcile.Result{}, err
	}
	now := c.clock.Now()
	consolidateAfter := *d.ConsolidateAfter.Duration
	requeue := c.interval
	var ready []*candidate
	var errs []error
	for _, cand := range all {
		if err := c.markEmpty(ctx, cand, now); err != nil {
			errs = append(errs, err)
			continue
		}
		if cand.emptySince.IsZero() || blocked(cand) {
			continue
		}
		if wait := cand.emptySince.Add(consolidateAfter).Sub(now); wait > 0 {
			requeue = min(requeue, wait)
			continue
		}
		ready = append(ready, cand)
	}
	if len(ready) == 0 {
		return reconcile.Result{RequeueAfter: requeue}, errors.Join(errs...)
	}
	allowed, err := budget.AllowedDisruptions(pool, v1.DisruptionReasonEmpty, len(all)+deleting, deleting, now)
	if err != nil {
		return reconcile.Result{}, errors.Join(append(errs, err)...)
	}
	slices.SortFunc(ready, func(a, b *candidate) int {
		if n := a.emptySince.Compare(b.emptySince); n != 0 {
			return n
		}
		return cmp.Compare(a.claim.Name, b.claim.Name)
	})
	if len(ready) > allowed {
		logger.V(1).Info("disruption budget limits empty node removal", "empty", len(ready), "allowed", allowed, "deleting", deleting)
		ready = ready[:allowed]
	}
	for _, cand := range ready {
		if err := c.disrupt(ctx, cand, consolidateAfter); err != nil {
			errs = append(errs, err)
		}
	}
	return reconcile.Result{RequeueAfter: requeue}, errors.Join(errs...)
}

// candidates returns the pool's live, registered and initialized NodeClaims that have a
// Node, with their pods, and how many of the pool's NodeClaims are being deleted.
func (c *Controller) candidates(ctx context.Context, pool *v1.NodePool) ([]*candidate, int, error) {
	claims := &v1.NodeClaimList{}
	if err := c.kube.List(ctx, claims, client.MatchingLabels{v1.NodePoolLabelKey: pool.Name}); err != nil {
		return nil, 0, fmt.Errorf("listing nodeclaims: %w", err)
	}
	nodes := &corev1.NodeList{}
	if err := c.kube.List(ctx, nodes, client.MatchingLabels{v1.NodePoolLabelKey: pool.Name}); err != nil {
		return nil, 0, fmt.Errorf("listing nodes: %w", err)
	}
	podList := &corev1.PodList{}
	if err := c.kube.List(ctx, podList); err != nil {
		return nil, 0, fmt.Errorf("listing pods: %w", err)
	}
	byProviderID := map[string]*corev1.Node{}
	for i := range nodes.Items {
		if id := nodes.Items[i].Spec.ProviderID; id != "" {
			byProviderID[id] = &nodes.Items[i]
		}
	}
	podsByNode := map[string][]*corev1.Pod{}
	for i := range podList.Items {
		p := &podList.Items[i]
		if p.Spec.NodeName != "" {
			podsByNode[p.Spec.NodeName] = append(podsByNode[p.Spec.NodeName], p)
		}
	}
	var out []*candidate
	deleting := 0
	for i := range claims.Items {
		nc := &claims.Items[i]
		if !nc.DeletionTimestamp.IsZero() {
			deleting++
			continue
		}
		node := byProviderID[nc.Status.ProviderID]
		if node == nil || !node.DeletionTimestamp.IsZero() {
			if node != nil {
				deleting++
			}
			continue
		}
		if !meta.IsStatusConditionTrue(nc.Status.Conditions, ConditionRegistered) || !meta.IsStatusConditionTrue(nc.Status.Conditions, ConditionInitialized) {
			continue
		}
		out = append(out, &candidate{claim: nc, node: node, pods: podsByNode[node.Name]})
	}
	return out, deleting, nil
}

// markEmpty brings the Empty condition up to date and records since when the node has been
// empty (zero when it is not).
func (c *Controller) markEmpty(ctx context.Context, cand *candidate, now time.Time) error {
	empty := !slices.ContainsFunc(cand.pods, pods.IsReschedulable)
	cond := metav1.Condition{Type: ConditionEmpty, Status: metav1.ConditionFalse, Reason: ReasonNotEmpty,
		Message: "Node runs pods that would need rescheduling", LastTransitionTime: metav1.NewTime(now)}
	if empty {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, ReasonEmpty, "Node runs no pods that would need rescheduling"
	}
	stored := cand.claim.DeepCopy()
	if meta.SetStatusCondition(&cand.claim.Status.Conditions, cond) {
		log.FromContext(ctx).V(1).Info("empty condition changed", "nodeclaim", klog.KObj(cand.claim), "empty", empty)
		if err := c.kube.Status().Patch(ctx, cand.claim, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("setting the empty condition of nodeclaim %s: %w", cand.claim.Name, err)
		}
	}
	if empty {
		cand.emptySince = meta.FindStatusCondition(cand.claim.Status.Conditions, ConditionEmpty).LastTransitionTime.Time
	}
	return nil
}

// blocked reports whether karpenter.sh/do-not-disrupt protects the node.
func blocked(cand *candidate) bool {
	return pods.HasDoNotDisrupt(cand.claim) || pods.HasDoNotDisrupt(cand.node) || slices.ContainsFunc(cand.pods, func(p *corev1.Pod) bool {
		return !pods.IsTerminal(p) && pods.HasDoNotDisrupt(p)
	})
}

// disrupt deletes an empty NodeClaim; termination drains and releases it.
func (c *Controller) disrupt(ctx context.Context, cand *candidate, consolidateAfter time.Duration) error {
	nc := cand.claim
	log.FromContext(ctx).Info("deleting empty nodeclaim", "nodeclaim", klog.KObj(nc), "node", klog.KObj(cand.node), "emptySince", cand.emptySince)
	if err := c.kube.Delete(ctx, nc, client.Preconditions{UID: &nc.UID}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted by someone else meanwhile
		}
		return fmt.Errorf("deleting empty nodeclaim %s: %w", nc.Name, err)
	}
	c.recorder.Eventf(nc, corev1.EventTypeNormal, ReasonDisrupting, "Disrupting NodeClaim: empty for more than %s", consolidateAfter)
	c.recorder.Eventf(cand.node, corev1.EventTypeNormal, ReasonDisrupting, "Disrupting Node: empty for more than %s", consolidateAfter)
	c.disrupted.WithLabelValues(metrics.ReasonEmpty, nc.Labels[v1.NodePoolLabelKey], nc.Labels[v1.CapacityTypeLabelKey]).Inc()
	return nil
}
