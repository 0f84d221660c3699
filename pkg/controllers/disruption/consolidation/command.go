package consolidation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/pods"
)

// disrupt taints the candidate's Node, checks nothing changed and deletes its NodeClaim.
// It reports whether the NodeClaim was deleted.
func (c *Controller) disrupt(ctx context.Context, cand *candidate, now time.Time) (bool, error) {
	nc := cand.claim
	logger := log.FromContext(ctx).WithValues("nodeclaim", klog.KObj(nc), "node", klog.KObj(cand.node), "nodepool", cand.pool.Name)
	reason := fmt.Sprintf("Underutilized: its %d pods fit on other nodes", len(cand.pods))

	node := &corev1.Node{}
	if err := c.kube.Get(ctx, client.ObjectKeyFromObject(cand.node), node); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil // gone already: nothing to consolidate
		}
		return false, fmt.Errorf("getting node %s to taint it: %w", cand.node.Name, err)
	}
	if !node.DeletionTimestamp.IsZero() || hasDisruptedTaint(node) {
		logger.V(1).Info("not consolidating", "reason", "the node is being disrupted already")
		return false, nil
	}
	logger.Info("tainting underutilized node before consolidating it", "reason", reason)
	stored := node.DeepCopy()
	taint := v1.DisruptedNoScheduleTaint
	taint.TimeAdded = &metav1.Time{Time: now}
	node.Spec.Taints = append(node.Spec.Taints, taint)
	if err := c.kube.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("tainting node %s: %w", node.Name, err)
	}

	if why, err := c.changed(ctx, cand, node); err != nil || why != "" {
		if err == nil {
			logger.Info("not consolidating after all, removing the taint", "reason", why)
		}
		return false, errors.Join(err, c.untaint(ctx, node.Name))
	}

	logger.Info("deleting underutilized nodeclaim", "reason", reason)
	if err := c.kube.Delete(ctx, nc, client.Preconditions{UID: &nc.UID}); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, errors.Join(fmt.Errorf("deleting underutilized nodeclaim %s: %w", nc.Name, err), c.untaint(ctx, node.Name))
	}
	c.recorder.Eventf(nc, corev1.EventTypeNormal, ReasonDisrupting, "Disrupting NodeClaim: %s", reason)
	c.recorder.Eventf(node, corev1.EventTypeNormal, ReasonDisrupting, "Disrupting Node: %s", reason)
	c.disrupted.WithLabelValues(ReasonUnderutilized, nc.Labels[v1.NodePoolLabelKey], nc.Labels[v1.CapacityTypeLabelKey]).Inc()
	return true, nil
}

// changed re-reads the NodeClaim and the node's pods after the taint went on and says why
// the simulation no longer holds, or "" when it does: the same pods needing rescheduling,
// no do-not-disrupt anywhere, nothing being deleted.
func (c *Controller) changed(ctx context.Context, cand *candidate, node *corev1.Node) (string, error) {
	nc := &v1.NodeClaim{}
	if err := c.kube.Get(ctx, client.ObjectKeyFromObject(cand.claim), nc); err != nil {
		if apierrors.IsNotFound(err) {
			return "the nodeclaim is gone", nil
		}
		return "", fmt.Errorf("getting nodeclaim %s to revalidate it: %w", cand.claim.Name, err)
	}
	if !nc.DeletionTimestamp.IsZero() || nc.UID != cand.claim.UID {
		return "the nodeclaim is being deleted", nil
	}
	if pods.HasDoNotDisrupt(nc) || pods.HasDoNotDisrupt(node) {
		return "the node carries " + v1.DoNotDisruptAnnotationKey, nil
	}
	list := &corev1.PodList{}
	if err := c.kube.List(ctx, list); err != nil {
		return "", fmt.Errorf("listing pods to revalidate node %s: %w", node.Name, err)
	}
	want := make([]types.UID, 0, len(cand.pods))
	for _, p := range cand.pods {
		want = append(want, p.UID)
	}
	var got []types.UID
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.NodeName != node.Name {
			continue
		}
		if !pods.IsTerminal(p) && pods.HasDoNotDisrupt(p) {
			return fmt.Sprintf("pod %s/%s carries %s", p.Namespace, p.Name, v1.DoNotDisruptAnnotationKey), nil
		}
		if pods.IsReschedulable(p) {
			got = append(got, p.UID)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		return fmt.Sprintf("its pods changed (%d simulated, %d now)", len(want), len(got)), nil
	}
	return "", nil
}

// untaint takes karpenter.sh/disrupted off the node.
func (c *Controller) untaint(ctx context.Context, name string) error {
	node := &corev1.Node{}
	if err := c.kube.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // gone: no taint left to remove
		}
		return fmt.Errorf("getting node %s to untaint it: %w", name, err)
	}
	stored := node.DeepCopy()
	node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&v1.DisruptedNoScheduleTaint) })
	if len(node.Spec.Taints) == len(stored.Spec.Taints) {
		return nil
	}
	if err := c.kube.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("untainting node %s: %w", name, err)
	}
	return nil
}

// removeStaleTaints untaints nodes this controller tainted (TimeAdded set) more than
// StaleTaintAfter ago whose NodeClaim is not being deleted: a pass that died between taint
// and delete.
func (c *Controller) removeStaleTaints(ctx context.Context, v *view, now time.Time) error {
	var errs []error
	for _, nc := range v.claims {
		node := v.nodeByProviderID[nc.Status.ProviderID]
		if nc.Status.ProviderID == "" || node == nil || !nc.DeletionTimestamp.IsZero() || !node.DeletionTimestamp.IsZero() {
			continue
		}
		i := slices.IndexFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&v1.DisruptedNoScheduleTaint) })
		if i < 0 || node.Spec.Taints[i].TimeAdded == nil || now.Sub(node.Spec.Taints[i].TimeAdded.Time) <= StaleTaintAfter {
			continue
		}
		log.FromContext(ctx).Info("removing a stale disrupted taint", "node", klog.KObj(node), "nodeclaim", klog.KObj(nc),
			"reason", "the nodeclaim was not deleted after the taint went on", "taintedAt", node.Spec.Taints[i].TimeAdded.Time)
		if err := c.untaint(ctx, node.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
