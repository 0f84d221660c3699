package provisioning

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/createonce"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
)

// Event reasons the provisioner records on pods.
const (
	// ReasonFailedScheduling is the Warning on a pod that fits no NodePool.
	ReasonFailedScheduling = "FailedScheduling"
	// ReasonNominated is the Normal event on a pod expected on a NodeClaim.
	ReasonNominated = "Nominated"
)

// ErrNotSynced means the cluster state has not seen every informer's initial list yet.
var ErrNotSynced = errors.New("cluster state not synced")

// createWorkers bounds how many NodeClaims are created at once.
const createWorkers = 10

// Result is what one provisioning round did.
type Result struct {
	// NodeClaims are the NodeClaims created, as the API server returned them.
	NodeClaims []*v1.NodeClaim
	// Nominated counts pods nominated to existing or in-flight capacity.
	Nominated int
	// Unschedulable are the pods that fit no NodePool, with the reasons.
	Unschedulable []scheduling.Unschedulable
}

// Provision runs one round: the pending, not yet nominated pods are planned for and the
// plan is carried out. Errors creating some NodeClaims do not stop the others.
func (c *Controller) Provision(ctx context.Context) (Result, error) {
	if !c.cluster.Synced() {
		return Result{}, ErrNotSynced
	}
	pods, settling := c.cluster.PodsToProvision()
	if settling > 0 {
		// Pods whose node filled up wait for kube-scheduler to stop binding (state.Settle);
		// come back when the first may be planned, as no event on them may come sooner.
		c.triggerAfter(ctx, settling)
	}
	if len(pods) == 0 {
		return Result{}, nil
	}
	logger := log.FromContext(ctx)
	objs := c.cluster.Objects()
	pools, nodePools, instanceTypes := c.nodePools(ctx, objs)
	logger.V(1).Info("scheduling pending pods", "pods", len(pods), "nodePools", len(pools))
	start := c.clock.Now()
	done := c.startScheduling(len(pods))
	plan := scheduling.Solve(snapshot.Build(objs, pools, instanceTypes), pods)
	if plan.Err != nil {
		// Each pod keeps the reason in its Unschedulable event; the stack goes to the log.
		logger.Error(plan.Err, "planning failed; the batch's pods stay pending", "pods", len(pods))
	}
	if len(plan.NewNodeClaims) > 0 && len(objs.Nominated) > 0 {
		if joint, all := solveJointly(objs, pools, instanceTypes, pods); joint.Err == nil && launchesLess(joint, plan) {
			logger.V(1).Info("planned the nominated pods again with the new ones: it launches less",
				"pods", len(all), "nodeClaims", len(joint.NewNodeClaims), "price", joint.Price,
				"nodeClaimsKeepingNominations", len(plan.NewNodeClaims), "priceKeepingNominations", plan.Price)
			plan, pods = joint, all
		}
	}
	c.scheduling.WithLabelValues(Name).Observe(c.clock.Since(start).Seconds())
	done(len(plan.Unschedulable))

	nominatedTo := nominationsByPod(objs.Nominated)
	var res Result
	for _, placed := range plan.ExistingNodes {
		if n := c.cluster.Nominate(placed.Name, placed.Pods); n > 0 {
			res.Nominated += n
			c.recordNominated(slices.DeleteFunc(slices.Clone(placed.Pods), func(p *corev1.Pod) bool {
				return nominatedTo[p] == placed.Name // already told, as the joint plan kept it there
			}), placed.Name)
		}
	}
	created, err := c.createNodeClaims(ctx, nodePools, plan.NewNodeClaims)
	res.NodeClaims = created
	for _, placed := range plan.ExistingNodes {
		c.hints.Placed(ctx, placed.Name) // after the launches: a hint must not delay them
	}
	for _, u := range plan.Unschedulable {
		c.recorder.Event(u.Pod, corev1.EventTypeWarning, ReasonFailedScheduling, "Failed to schedule pod: "+u.Reason)
		logger.V(1).Info("pod fits no nodepool", "pod", klog.KObj(u.Pod), "reason", u.Reason)
	}
	res.Unschedulable = plan.Unschedulable
	if len(created) > 0 || len(plan.Unschedulable) > 0 || res.Nominated > 0 {
		logger.Info("provisioned", "pods", len(pods), "nodeClaims", len(created), "nominated", res.Nominated,
			"unschedulable", len(plan.Unschedulable), "pricePerHour", plan.Price)
	}
	return res, err
}

// triggerAfter opens or extends a batch once d has passed, unless ctx ends first.
func (c *Controller) triggerAfter(ctx context.Context, d time.Duration) {
	go func() {
		select {
		case <-c.clock.After(d):
			c.batcher.Trigger("settled")
		case <-ctx.Done():
		}
	}()
}

// solveJointly plans the pending pods together with the pods nominated to existing and
// in-flight capacity, as if none were nominated. Nominations are the provisioner's guess of
// where the kube-scheduler will bind a pod; it binds by its own scores, so room held for a
// nominated pod on one NodeClaim may be what a new pod needs while the nominated pod fits
// elsewhere. Keeping every nomination fixed then launches a node that the kube-scheduler
// does not need and that ends up empty. The pods come back in planning order.
func solveJointly(objs snapshot.Objects, pools []scheduling.NodePool, instanceTypes []*cloudprovider.InstanceType, pending []*corev1.Pod) (*scheduling.Plan, []*corev1.Pod) {
	all := slices.Clone(pending)
	for _, nominated := range objs.Nominated {
		all = append(all, nominated...)
	}
	slices.SortFunc(all, snapshot.ComparePods)
	objs.Nominated = nil
	return scheduling.Solve(snapshot.Build(objs, pools, instanceTypes), all), all
}

// launchesLess reports whether the joint plan leaves no more pods unschedulable and launches
// for less than the plan that keeps the nominations.
func launchesLess(joint, kept *scheduling.Plan) bool {
	return len(joint.Unschedulable) <= len(kept.Unschedulable) && joint.Price < kept.Price-1e-9
}

// nominationsByPod inverts Objects.Nominated: the NodeClaim each nominated pod is expected on.
func nominationsByPod(nominated map[string][]*corev1.Pod) map[*corev1.Pod]string {
	out := make(map[*corev1.Pod]string, len(nominated))
	for name, pods := range nominated {
		for _, p := range pods {
			out[p] = name
		}
	}
	return out
}

// nodePools converts the NodePools that may launch capacity for the scheduler with
// snapshot.NodePools, and indexes the API objects by name. A NodePool whose instance types
// cannot be listed is skipped and logged; one whose Ready is False is skipped with a Warning
// (see readiness.go).
func (c *Controller) nodePools(ctx context.Context, objs snapshot.Objects) ([]scheduling.NodePool, map[string]*v1.NodePool, []*cloudprovider.InstanceType) {
	nps := slices.DeleteFunc(c.cluster.NodePools(), c.notReady)
	pools, all, err := snapshot.NodePools(nps, func(np *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
		return c.cloud.GetInstanceTypes(ctx, np)
	}, objs)
	if err != nil {
		log.FromContext(ctx).Error(err, "skipping nodepools whose instance types could not be listed")
	}
	byName := make(map[string]*v1.NodePool, len(nps))
	for _, np := range nps {
		byName[np.Name] = np
	}
	return pools, byName, all
}

// createNodeClaims creates a NodeClaim for each planned one, a few at a time, records it
// in the cluster state and nominates its pods to it.
func (c *Controller) createNodeClaims(ctx context.Context, nodePools map[string]*v1.NodePool, planned []scheduling.NewNodeClaim) ([]*v1.NodeClaim, error) {
	var mu sync.Mutex
	var created []*v1.NodeClaim
	var errs []error
	workqueue.ParallelizeUntil(ctx, createWorkers, len(planned), func(i int) {
		nc, err := c.createNodeClaim(ctx, nodePools[planned[i].NodePool], planned[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		created = append(created, nc)
	})
	slices.SortFunc(created, func(a, b *v1.NodeClaim) int { return cmp.Compare(a.Name, b.Name) })
	return created, errors.Join(errs...)
}

func (c *Controller) createNodeClaim(ctx context.Context, np *v1.NodePool, planned scheduling.NewNodeClaim) (*v1.NodeClaim, error) {
	if np == nil {
		return nil, fmt.Errorf("creating nodeclaim: nodepool %q is gone", planned.NodePool)
	}
	nc := NodeClaimFor(np, planned)
	if err := createonce.Create(ctx, c.kube, nc); err != nil {
		return nil, fmt.Errorf("creating nodeclaim for nodepool %s: %w", np.Name, err)
	}
	c.cluster.UpdateNodeClaim(nc.DeepCopy())
	c.cluster.Nominate(nc.Name, planned.Pods)
	c.recordNominated(planned.Pods, nc.Name)
	metrics.NodeClaimCreated(c.created, metrics.ReasonProvisioning, np.Name, nc.Annotations[v1.NodeClaimMinValuesRelaxedAnnotationKey] == "true")
	log.FromContext(ctx).Info("created nodeclaim", "nodeClaim", klog.KObj(nc), "nodePool", np.Name,
		"pods", len(planned.Pods), "instanceTypes", len(planned.InstanceTypes),
		"cheapest", planned.Cheapest.InstanceType, "price", planned.Cheapest.Price)
	return nc, nil
}

func (c *Controller) recordNominated(pods []*corev1.Pod, target string) {
	for _, p := range pods {
		c.recorder.Eventf(p, corev1.EventTypeNormal, ReasonNominated, "Pod should schedule on: %s", target)
	}
}
