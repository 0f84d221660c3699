package provisioning

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	cpmetrics "github.com/gokarpenter/karpenter/pkg/cloudprovider/metrics"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/pods"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// Name is the controller's name in logs and metrics.
const Name = "provisioner"

// Defaults of Options.
const (
	DefaultBatchIdleDuration = time.Second
	DefaultBatchMaxDuration  = 10 * time.Second
)

// Options tune the provisioner. Zero values take the defaults.
type Options struct {
	// BatchIdleDuration closes a batch once no new pending pod has shown up for this long.
	BatchIdleDuration time.Duration
	// BatchMaxDuration closes a batch this long after it opened, however busy.
	BatchMaxDuration time.Duration
	// SchedulingHints turns on Hints (see NewControllers).
	SchedulingHints bool
}

// Deps are what the provisioner works with.
type Deps struct {
	Client        client.Client
	Cluster       *state.Cluster
	CloudProvider cloudprovider.CloudProvider
	Recorder      record.EventRecorder
	Clock         clock.Clock
	Options       Options
	// Registerer receives karpenter_nodeclaims_created_total and
	// karpenter_scheduler_*; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Hints, if set, tells kube-scheduler where pods placed on registered nodes were planned.
	Hints *Hints
}

// Controller is the provisioner. Its Reconcile watches pods and opens batches; Start (run
// by the manager, on the leader only) waits for each batch to close and provisions.
type Controller struct {
	kube     client.Client
	cluster  *state.Cluster
	cloud    cloudprovider.CloudProvider
	recorder record.EventRecorder
	clock    clock.Clock
	batcher  *Batcher
	hints    *Hints
	logger   logr.Logger // the manager's, set by Register; the context's otherwise

	created    *prometheus.CounterVec
	scheduling *prometheus.HistogramVec
	// schedulerMetrics are the scheduler's gauges (schedulermetrics.go).
	schedulerMetrics *metrics.SchedulerMetrics
	metricsErr       error // a metrics registration conflict, reported by Register
}

var (
	_ reconcile.ObjectReconciler[*corev1.Pod] = (*Controller)(nil)
	_ manager.Runnable                        = (*Controller)(nil)
	_ manager.LeaderElectionRunnable          = (*Controller)(nil)
)

// NewController returns a provisioner.
func NewController(deps Deps) *Controller {
	if deps.Clock == nil {
		deps.Clock = clock.RealClock{}
	}
	if deps.Options.BatchIdleDuration <= 0 {
		deps.Options.BatchIdleDuration = DefaultBatchIdleDuration
	}
	if deps.Options.BatchMaxDuration <= 0 {
		deps.Options.BatchMaxDuration = DefaultBatchMaxDuration
	}
	c := &Controller{
		kube:     deps.Client,
		cluster:  deps.Cluster,
		cloud:    deps.CloudProvider,
		recorder: deps.Recorder,
		clock:    deps.Clock,
		batcher:  NewBatcher(deps.Clock, deps.Options.BatchIdleDuration, deps.Options.BatchMaxDuration),
		hints:    deps.Hints,
	}
	var errCreated, errScheduling error
	if c.created, errCreated = metrics.NodeClaimsCreated(deps.Registerer); errCreated != nil {
		c.created, _ = metrics.NodeClaimsCreated(nil)
	}
	if c.scheduling, errScheduling = metrics.SchedulingDuration(deps.Registerer); errScheduling != nil {
		c.scheduling, _ = metrics.SchedulingDuration(nil)
	}
	var errScheduler error
	c.schedulerMetrics, errScheduler = newSchedulerMetrics(deps.Registerer)
	c.metricsErr = errors.Join(errCreated, errScheduling, errScheduler)
	return c
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register watches pods (each provisionable pod opens or extends a batch), NodeClaim
// deletions and initialisations and NodePool changes (all can change where pending pods
// may go), and adds the batch loop to the manager.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	if c.metricsErr != nil {
		return fmt.Errorf("registering provisioner metrics: %w", c.metricsErr)
	}
	c.logger = mgr.GetLogger().WithValues("controller", Name)
	// A NodePool's spec (its generation) decides where pods may go; its status changes
	// with every node launched and must not hold a batch open.
	onPool := handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			c.batcher.Trigger(triggerName("nodepool", e.Object))
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			c.batcher.Trigger(triggerName("nodepool", e.ObjectNew))
		},
	}
	onClaim := handler.Funcs{
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			c.batcher.Trigger("deleted/" + string(e.Object.GetUID()))
		},
		// A NodeClaim's node just became usable: pods nominated to it that kube-scheduler
		// could not fit there are planned again now (state.PendingPods), not at the next
		// recheck.
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if InitializedNow(e.ObjectOld, e.ObjectNew) {
				c.batcher.Trigger("initialized/" + string(e.ObjectNew.GetUID()))
			}
		},
	}
	err := builder.ControllerManagedBy(mgr).
		Named(Name).
		For(&corev1.Pod{}).
		Watches(&v1.NodeClaim{}, onClaim).
		Watches(&v1.NodePool{}, onPool).
		Complete(reconcile.AsReconciler(mgr.GetClient(), c))
	if err != nil {
		return fmt.Errorf("registering the provisioner: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return fmt.Errorf("adding the provisioning loop: %w", err)
	}
	return nil
}

// InitializedNow reports whether an update turned a NodeClaim Initialized.
func InitializedNow(old, updated client.Object) bool {
	o, ok1 := old.(*v1.NodeClaim)
	n, ok2 := updated.(*v1.NodeClaim)
	return ok1 && ok2 && !snapshot.Initialized(o) && snapshot.Initialized(n)
}

// RecheckInterval is how often a pod that stays pending is looked at again. Its nomination
// can lapse without any event on the pod (kube-scheduler filled the planned node with other
// pods), and then only a fresh look plans capacity for it.
const RecheckInterval = 5 * time.Second

// triggerName names a trigger by the object's kind, UID and generation: the same spec
// triggers a batch once.
func triggerName(kind string, obj client.Object) string {
	return fmt.Sprintf("%s/%s/%d", kind, obj.GetUID(), obj.GetGeneration())
}

// Reconcile opens or extends a batch when the pod is provisionable and not validly
// nominated, and comes back while it stays provisionable. A nominated pod waits for its
// NodeClaim: its rechecks must not keep a batch open for nothing (with a thousand pods
// waiting, one arrives every few milliseconds).
func (c *Controller) Reconcile(_ context.Context, pod *corev1.Pod) (reconcile.Result, error) {
	if !pods.IsProvisionable(pod) {
		return reconcile.Result{}, nil
	}
	if c.cluster != nil {
		_, wait, nominated := c.cluster.NominationState(types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name})
		if nominated {
			return reconcile.Result{RequeueAfter: RecheckInterval}, nil
		}
		if wait > 0 {
			// Its node is full while kube-scheduler is still binding: look again once
			// the binding has settled (state.Settle).
			return reconcile.Result{RequeueAfter: wait}, nil
		}
	}
	c.batcher.Trigger(string(pod.UID))
	return reconcile.Result{RequeueAfter: RecheckInterval}, nil
}

// Trigger opens or extends a batch, as a new provisionable pod does.
func (c *Controller) Trigger() { c.batcher.Trigger("") }

// NeedLeaderElection: only the leader launches capacity.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start runs the batch loop until ctx ends: wait for a batch to close, provision, repeat.
// A failed round opens a new batch so it is retried.
func (c *Controller) Start(ctx context.Context) error {
	logger := c.logger
	if logger.GetSink() == nil {
		logger = log.FromContext(ctx).WithValues("controller", Name)
	}
	ctx = log.IntoContext(cpmetrics.WithController(ctx, Name), logger)
	for c.batcher.Wait(ctx) {
		if _, err := c.Provision(ctx); err != nil {
			if errors.Is(err, ErrNotSynced) {
				// Expected for a moment at startup; not worth an error line a second.
				logger.V(1).Info("waiting for the cluster state to sync before provisioning")
			} else {
				logger.Error(err, "provisioning failed, retrying with the next batch")
			}
			c.batcher.Trigger("")
		}
	}
	return nil
}
