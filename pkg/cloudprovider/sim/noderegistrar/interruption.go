package noderegistrar

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// EventSpotInterrupted is the reason of the Warning event recorded on the NodeClaim and
// Node of an interrupted instance.
const EventSpotInterrupted = "SpotInterrupted"

// ReasonInterruption is the reason label of karpenter_nodeclaims_disrupted_total for
// NodeClaims deleted because their instance was interrupted.
const ReasonInterruption = metrics.ReasonInterruption

// reactToInterruptions deletes the NodeClaim of every interrupted instance, as a cloud's
// interruption handler would on a spot interruption notice: termination then drains the
// Node and deletes the instance, which ends the notice. A NodeClaim already being deleted,
// gone, or not (yet) bound to the instance is left alone; garbage collection handles an
// instance nobody claims.
func (c *Controller) reactToInterruptions(ctx context.Context, nodes []*corev1.Node) error {
	interruptions, err := c.cloud.Interruptions(ctx)
	if err != nil {
		return fmt.Errorf("listing interruptions: %w", err)
	}
	if len(interruptions) == 0 {
		return nil
	}
	nodeByProviderID := make(map[string]*corev1.Node, len(nodes))
	for _, node := range nodes {
		nodeByProviderID[node.Spec.ProviderID] = node
	}
	var errs []error
	for _, in := range interruptions {
		nc := &v1.NodeClaim{}
		if err := c.client.Get(ctx, client.ObjectKey{Name: in.NodeClaim}, nc); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("getting nodeclaim %s of interrupted instance %s: %w", in.NodeClaim, in.InstanceID, err))
			continue
		}
		if nc.Status.ProviderID != in.ProviderID || nc.DeletionTimestamp != nil {
			continue
		}
		logger := log.FromContext(ctx).WithValues("nodeClaim", klog.KObj(nc), "providerID", in.ProviderID)
		logger.Info("deleting the nodeclaim of an interrupted instance", "noticeTime", in.Time)
		message := fmt.Sprintf("Spot interruption notice for instance %s at %s; deleting the NodeClaim", in.InstanceID, in.Time.UTC().Format("2006-01-02T15:04:05Z"))
		if err := c.client.Delete(ctx, nc, client.Preconditions{UID: &nc.UID}); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				continue // gone, or replaced by a NodeClaim of the same name
			}
			errs = append(errs, fmt.Errorf("deleting nodeclaim %s of interrupted instance %s: %w", nc.Name, in.InstanceID, err))
			continue
		}
		c.recorder.Event(nc, corev1.EventTypeWarning, EventSpotInterrupted, message)
		if node := nodeByProviderID[in.ProviderID]; node != nil {
			c.recorder.Event(node, corev1.EventTypeWarning, EventSpotInterrupted, message)
		}
		c.disrupted.WithLabelValues(ReasonInterruption, nc.Labels[v1.NodePoolLabelKey], nc.Labels[v1.CapacityTypeLabelKey]).Inc()
	}
	return errors.Join(errs...)
}
