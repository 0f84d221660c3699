package termination

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
)

// defaultPodGracePeriod is the API server's default terminationGracePeriodSeconds.
const defaultPodGracePeriod = 30 * time.Second

// drainResult says whether a node is drained and, if not, when to look again.
type drainResult struct {
	done    bool
	requeue time.Duration
}

// drain makes one pass over the node's pods. It deletes the pods that must go now to be
// gone by the deadline, evicts the first group (in drain order) that still has pods, and
// reports done once no pod the drain waits for is left.
func (c *Controller) drain(ctx context.Context, nc *v1.NodeClaim, node *corev1.Node, deadline *time.Time, now time.Time) (drainResult, error) {
	all, err := c.podsOn(ctx, node.Name)
	if err != nil {
		return drainResult{}, err
	}
	var waiting []*corev1.Pod
	present := map[types.UID]bool{}
	for _, p := range all {
		if pods.MustDrain(p, now) {
			waiting = append(waiting, p)
			present[p.UID] = true
		}
	}
	// Pods gone from the node (or no longer waited for) lose their backoff entries.
	c.backoff.Prune(node.Name, present, now)
	if len(waiting) == 0 {
		return drainResult{done: true}, nil
	}
	requeue := DrainPollInterval
	if deadline != nil {
		next, err := c.deleteExpiring(ctx, nc, waiting, *deadline, now)
		if err != nil {
			return drainResult{}, err
		}
		requeue = minPositive(requeue, next)
	}
	for _, group := range pods.DrainGroups(waiting) {
		if len(group) == 0 {
			continue
		}
		next, err := c.evict(ctx, node, group)
		if err != nil {
			return drainResult{}, err
		}
		requeue = minPositive(requeue, next)
		break
	}
	return drainResult{requeue: requeue}, nil
}

// podsOn lists the pods bound to the node.
func (c *Controller) podsOn(ctx context.Context, nodeName string) ([]*corev1.Pod, error) {
	reader := c.podReader
	if reader == nil {
		reader = c.kube
	}
	list := &corev1.PodList{}
	if err := reader.List(ctx, list, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", nodeName)}); err != nil {
		return nil, fmt.Errorf("listing pods on node %s: %w", nodeName, err)
	}
	out := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// deleteExpiring deletes, bypassing PodDisruptionBudgets and do-not-disrupt, every pod whose
// own grace period no longer fits before the deadline, giving it the time that is left. It
// returns how long until the next pod reaches that point (0 when none will).
func (c *Controller) deleteExpiring(ctx context.Context, nc *v1.NodeClaim, waiting []*corev1.Pod, deadline, now time.Time) (time.Duration, error) {
	var next time.Duration
	var errs []error
	for _, p := range waiting {
		if pods.IsTerminating(p) {
			continue
		}
		grace := defaultPodGracePeriod
		if p.Spec.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*p.Spec.TerminationGracePeriodSeconds) * time.Second
		}
		if start := deadline.Add(-grace); now.Before(start) {
			next = minPositive(next, start.Sub(now))
			continue
		}
		left := int64(math.Ceil(deadline.Sub(now).Seconds()))
		if left < 0 {
			left = 0
		}
		log.FromContext(ctx).Info("deleting pod before the termination grace period ends", "pod", klog.KObj(p), "gracePeriodSeconds", left)
		// The UID precondition keeps a pod recreated under the same name (a StatefulSet's)
		// since the list from being deleted in its place.
		err := c.kube.Delete(ctx, p, &client.DeleteOptions{GracePeriodSeconds: &left, Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if podGone(err) {
			c.backoff.Forget(p.UID)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		c.backoff.Forget(p.UID)
		c.recorder.Eventf(nc, corev1.EventTypeWarning, ReasonGracePeriodExpiring,
			"Deleting pod %s/%s: the termination grace period ends at %s", p.Namespace, p.Name, deadline.UTC().Format(time.RFC3339))
	}
	return next, errors.Join(errs...)
}

// evict asks the Eviction API to evict every evictable pod of one drain group. A 429 (a
// PodDisruptionBudget forbids it) backs the pod off exponentially. Any other refusal (a 500
// for a pod under two PodDisruptionBudgets, a webhook's 403, a timeout) is treated as
// blocked too and retried on the drain poll: as a reconcile error it would back the whole
// NodeClaim off exponentially, to about 16 minutes, past its termination grace period's
// deadline. It returns the soonest retry (0 when nothing was refused); its error is only
// for a missing Evictor.
func (c *Controller) evict(ctx context.Context, node *corev1.Node, group []*corev1.Pod) (time.Duration, error) {
	if c.evictor == nil {
		return 0, errors.New("evicting pods: no Evictor configured")
	}
	var next time.Duration
	for _, p := range group {
		if pods.IsTerminating(p) || pods.HasDoNotDisrupt(p) {
			continue // already going, or only the grace period may remove it
		}
		uid := p.UID
		eviction := &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
			// Evict this pod, not one recreated under its name since the list.
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}},
		}
		err := c.evictor.Evict(ctx, eviction)
		switch {
		case err == nil:
			log.FromContext(ctx).Info("evicted pod", "pod", klog.KObj(p), "node", klog.KObj(node))
			c.backoff.Forget(p.UID)
			c.recorder.Event(p, corev1.EventTypeNormal, ReasonEvicted, "Evicted pod: node "+node.Name+" is terminating")
		case podGone(err):
			c.backoff.Forget(p.UID)
		case apierrors.IsTooManyRequests(err):
			wait := c.backoff.When(p.UID, node.Name, c.clock.Now())
			next = minPositive(next, wait)
			log.FromContext(ctx).V(1).Info("eviction refused, retrying later", "pod", klog.KObj(p), "retryAfter", wait, "reason", err.Error())
			c.recorder.Eventf(node, corev1.EventTypeWarning, ReasonEvictionBlocked, "Evicting pod %s/%s: %v", p.Namespace, p.Name, err)
		default:
			next = minPositive(next, DrainPollInterval)
			log.FromContext(ctx).Info("eviction failed, retrying on the next drain poll", "pod", klog.KObj(p), "retryAfter", DrainPollInterval, "error", err.Error())
			c.recorder.Eventf(node, corev1.EventTypeWarning, ReasonEvictionBlocked, "Evicting pod %s/%s: %v", p.Namespace, p.Name, err)
		}
	}
	return next, nil
}

// podGone reports whether a pod write found the pod gone, or replaced by another of the
// same name (its UID precondition failed, a 409).
func podGone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsConflict(err)
}
