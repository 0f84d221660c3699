package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// Event reasons recorded on NodeClaims.
const (
	EventInsufficientCapacity = "InsufficientCapacityError"
	EventLaunchFailed         = "LaunchFailed"
	EventRegistrationTimeout  = "RegistrationTimeout"
)

// launch creates the instance, once. Before calling the cloud it records Launched=Unknown
// with reason Launching. Any reason other than AwaitingLaunch at the start of a later
// reconcile means an earlier attempt may have launched without recording it (a restart
// mid-launch, or a Create that failed ambiguously, say a timeout after the cloud acted), so
// the instance is looked up before launching again.
func (c *Controller) launch(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if nc.Status.ProviderID != "" {
		return reconcile.Result{}, nil
	}
	logger := log.FromContext(ctx)
	cond := meta.FindStatusCondition(nc.Status.Conditions, ConditionLaunched)
	if cond != nil && cond.Reason != ReasonAwaitingLaunch {
		found, err := c.findLaunched(ctx, nc)
		if err != nil {
			return reconcile.Result{}, err
		}
		if found != nil {
			logger.Info("adopting the instance an earlier attempt launched", "providerID", found.Status.ProviderID)
			return reconcile.Result{}, c.recordLaunch(ctx, nc, found)
		}
	}
	if cond == nil || cond.Reason != ReasonLaunching {
		before := nc.DeepCopy()
		c.setCondition(nc, ConditionLaunched, metav1.ConditionUnknown, ReasonLaunching, "launching an instance")
		// The marker must be stored before Create: termination waits for a launch in
		// flight only if it sees it. A NodeClaim already gone must not launch at all.
		if err := c.patchStatusOrNotFound(ctx, before, nc); err != nil {
			if apierrors.IsNotFound(err) {
				logger.Info("not launching: the nodeclaim is gone")
				return reconcile.Result{}, errDeleted
			}
			return reconcile.Result{}, err
		}
	} else if err := c.confirmStored(ctx, nc); err != nil {
		// Resuming a launch writes no marker, so nothing else would catch a stale read: a
		// lagging cache can still show the marker of a launch that since failed and whose
		// NodeClaim is being deleted.
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, errDeleted
		}
		return reconcile.Result{}, err
	}
	logger.Info("launching nodeclaim")
	launched, err := c.cloud.Create(ctx, nc)
	if err != nil {
		return reconcile.Result{}, c.launchFailed(ctx, nc, err)
	}
	return reconcile.Result{}, c.recordLaunch(ctx, nc, launched)
}

// confirmStored returns nil when nc is the stored version, a Conflict (or NotFound) when it
// is not: a patch that changes nothing and carries nc's resource version, which the API
// server checks, and after which it writes nothing.
func (c *Controller) confirmStored(ctx context.Context, nc *v1.NodeClaim) error {
	if err := c.kube.Patch(ctx, nc, client.MergeFromWithOptions(nc.DeepCopy(), client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("confirming the nodeclaim read is current: %w", err)
	}
	return nil
}

// launchFailed records why Create failed. Insufficient capacity deletes the NodeClaim, so
// the provisioner schedules its pods again on what is still available; anything else is
// retried with backoff.
func (c *Controller) launchFailed(ctx context.Context, nc *v1.NodeClaim, err error) error {
	logger := log.FromContext(ctx)
	if cloudprovider.IsInsufficientCapacityError(err) {
		logger.Info("deleting nodeclaim, no capacity to launch it", "error", err.Error())
		c.recorder.Event(nc, corev1.EventTypeWarning, EventInsufficientCapacity, err.Error())
		before := nc.DeepCopy()
		c.setCondition(nc, ConditionLaunched, metav1.ConditionFalse, ReasonInsufficientCapacity, err.Error())
		if perr := c.patchStatus(ctx, before, nc); perr != nil {
			return perr
		}
		return c.delete(ctx, nc)
	}
	reason, message := ReasonLaunchFailed, err.Error()
	switch ce := cloudprovider.AsCreateError(err); {
	case cloudprovider.IsNodeClassNotReadyError(err):
		reason = ReasonNodeClassNotReady
	case ce != nil:
		reason, message = ce.Reason, ce.Message
	}
	// Written here, not left to Reconcile's final write: the phase's own writes (the launch
	// marker) leave nc as stored, and Reconcile only diffs against that after a phase that
	// succeeded.
	before := nc.DeepCopy()
	c.setCondition(nc, ConditionLaunched, metav1.ConditionFalse, reason, message)
	c.setReady(nc) // in the same write, so no reader sees Launched=False with Ready unchanged
	c.recorder.Event(nc, corev1.EventTypeWarning, EventLaunchFailed, message)
	return errors.Join(fmt.Errorf("launching nodeclaim: %w", err), c.patchStatus(ctx, before, nc))
}

// recordLaunch writes the launched instance's facts: the labels it came with first, then
// the status. Until the provider ID is in the status, the Launching reason stays, so a
// write that fails (a conflict, a restart) is retried by adopting the instance again; had
// the status gone first, a failed label write would never be retried and the NodeClaim,
// and the Node registration copies it to, would lack the instance type, zone and capacity
// type for good.
func (c *Controller) recordLaunch(ctx context.Context, nc *v1.NodeClaim, launched *v1.NodeClaim) error {
	before := nc.DeepCopy()
	if nc.Labels == nil {
		nc.Labels = map[string]string{}
	}
	maps.Copy(nc.Labels, launched.Labels)
	if !maps.Equal(before.Labels, nc.Labels) {
		if err := c.kube.Patch(ctx, nc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return client.IgnoreNotFound(fmt.Errorf("labelling launched nodeclaim: %w", err))
		}
	}
	before = nc.DeepCopy()
	nc.Status.ProviderID = launched.Status.ProviderID
	nc.Status.ImageID = launched.Status.ImageID
	nc.Status.Capacity = launched.Status.Capacity.DeepCopy()
	nc.Status.Allocatable = launched.Status.Allocatable.DeepCopy()
	c.setCondition(nc, ConditionLaunched, metav1.ConditionTrue, ReasonLaunched, "")
	if err := c.patchStatus(ctx, before, nc); err != nil {
		return err
	}
	log.FromContext(ctx).Info("launched nodeclaim", "providerID", nc.Status.ProviderID,
		"instanceType", nc.Labels[v1.LabelInstanceType], "zone", nc.Labels[v1.LabelTopologyZone],
		"capacityType", nc.Labels[v1.CapacityTypeLabelKey])
	return nil
}

// findLaunched returns the provider's instance launched for this NodeClaim, if any. It
// relies on providers returning, from List, NodeClaims named after, and with the UID of,
// the NodeClaim they were created for. The UID decides: a NodeClaim deleted and recreated
// under the same name must neither adopt nor, through termination, delete the instance of
// its predecessor. An instance without a UID (a provider that records only the name) is
// matched by name.
func (c *Controller) findLaunched(ctx context.Context, nc *v1.NodeClaim) (*v1.NodeClaim, error) {
	instances, err := c.cloud.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing instances to find an earlier launch: %w", err)
	}
	for _, inst := range instances {
		if inst.Name == nc.Name && inst.Status.ProviderID != "" && sameUID(inst, nc) {
			return inst, nil
		}
	}
	return nil, nil
}

// sameUID is false only when both carry a UID and they differ.
func sameUID(inst, nc *v1.NodeClaim) bool {
	return inst.UID == "" || nc.UID == "" || inst.UID == nc.UID
}

// releaseUnlaunched removes the finalizer of a deleted NodeClaim that has no instance, so
// it goes away without waiting for termination. A NodeClaim with any Launched condition
// may have launched without learning it (a restart mid-launch, a Create that failed after
// the cloud acted, whatever reason the condition now shows), so the cloud is asked first;
// an instance found is recorded instead, for termination to delete, rather than left to
// garbage collection minutes later.
func (c *Controller) releaseUnlaunched(ctx context.Context, nc *v1.NodeClaim) error {
	if nc.Status.ProviderID != "" || !controllerutil.ContainsFinalizer(nc, v1.TerminationFinalizer) {
		return nil
	}
	if meta.FindStatusCondition(nc.Status.Conditions, ConditionLaunched) != nil {
		found, err := c.findLaunched(ctx, nc)
		if err != nil {
			return err
		}
		if found != nil {
			before := nc.DeepCopy()
			nc.Status.ProviderID = found.Status.ProviderID
			return c.patchStatus(ctx, before, nc)
		}
	}
	log.FromContext(ctx).Info("releasing the finalizer of a nodeclaim that never launched")
	before := nc.DeepCopy()
	controllerutil.RemoveFinalizer(nc, v1.TerminationFinalizer)
	if err := c.kube.Patch(ctx, nc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("removing the termination finalizer: %w", err))
	}
	return nil
}
