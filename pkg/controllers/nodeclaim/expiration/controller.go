package expiration

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// Name is the controller's name in logs.
const Name = "nodeclaim.expiration"

// ReasonExpired is the event reason on an expired NodeClaim.
const ReasonExpired = "Expired"

// Deps are what expiration works with.
type Deps struct {
	Client client.Client
	// Recorder receives events; nil discards them.
	Recorder record.EventRecorder
	// Clock is the real clock when nil.
	Clock clock.Clock
	// Registerer receives karpenter_nodeclaims_disrupted_total; nil leaves it unregistered.
	Registerer prometheus.Registerer
}

// Controller deletes expired NodeClaims.
type Controller struct {
	kube      client.Client
	recorder  record.EventRecorder
	clock     clock.Clock
	disrupted *prometheus.CounterVec
}

var _ reconcile.ObjectReconciler[*v1.NodeClaim] = (*Controller)(nil)

// NewController builds the expiration controller and registers its metric.
func NewController(deps Deps) (*Controller, error) {
	disrupted, err := metrics.NodeClaimsDisrupted(deps.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Controller{kube: deps.Client, recorder: deps.Recorder, clock: deps.Clock, disrupted: disrupted}
	if c.recorder == nil {
		c.recorder = &record.FakeRecorder{}
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	return c, nil
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register watches NodeClaims.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	if err := builder.ControllerManagedBy(mgr).Named(Name).For(&v1.NodeClaim{}).Complete(reconcile.AsReconciler(mgr.GetClient(), c)); err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// Reconcile deletes the NodeClaim once it has expired, or requeues at its expiry.
func (c *Controller) Reconcile(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if !nc.DeletionTimestamp.IsZero() || nc.Spec.ExpireAfter.IsNever() {
		return reconcile.Result{}, nil
	}
	expiry := nc.CreationTimestamp.Add(*nc.Spec.ExpireAfter.Duration)
	if wait := expiry.Sub(c.clock.Now()); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	log.FromContext(ctx).Info("deleting expired nodeclaim", "nodeclaim", klog.KObj(nc), "expireAfter", nc.Spec.ExpireAfter.String(), "nodepool", nc.Labels[v1.NodePoolLabelKey])
	if err := c.kube.Delete(ctx, nc); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil // already gone
		}
		return reconcile.Result{}, fmt.Errorf("deleting expired nodeclaim %s: %w", nc.Name, err)
	}
	c.recorder.Eventf(nc, corev1.EventTypeNormal, ReasonExpired, "NodeClaim expired after %s", nc.Spec.ExpireAfter.String())
	c.disrupted.WithLabelValues(metrics.ReasonExpired, nc.Labels[v1.NodePoolLabelKey], nc.Labels[v1.CapacityTypeLabelKey]).Inc()
	return reconcile.Result{}, nil
}
