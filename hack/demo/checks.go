package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// pdbTier is the shop tier a PodDisruptionBudget protects during the demo.
const pdbTier = "checkout"

// createPDB keeps at most one checkout pod unavailable at a time.
func (d *demo) createPDB(ctx context.Context) error {
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.ns, Name: pdbTier},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": pdbTier}}},
	}
	if err := d.c.Create(ctx, pdb); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the %s poddisruptionbudget: %w", pdbTier, err)
	}
	return nil
}

// samplePDB counts, once every pod of the phase has run, the checkout pods the Deployment
// wants that are not running (evicted, or recreated and not yet running). A
// PodDisruptionBudget of maxUnavailable 1 that holds keeps it at most 1.
func (d *demo) samplePDB(ctx context.Context) error {
	if d.allRunning == 0 {
		return nil
	}
	pods := &corev1.PodList{}
	if err := d.c.List(ctx, pods, client.InNamespace(d.ns), client.MatchingLabels{"app": pdbTier}); err != nil {
		return fmt.Errorf("listing %s pods: %w", pdbTier, err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	d.pdbSamples++
	d.maxUnavailable = max(d.maxUnavailable, d.pdbWant-running)
	return nil
}

// bounds are the lower bounds of the price of nodes for the pods now running, over the
// default NodePool's requirements and the simulated cloud's catalogue, and the price of the
// plan the scheduler would make for them on an empty cluster.
type bounds struct {
	// lp lets nodes be fractional (scheduling.LowerBound); integer takes whole nodes at the
	// capacity the pods can use (scheduling.IntegerLowerBound), never below lp.
	lp, integer float64
	fresh       float64
}

func (d *demo) lowerBound(ctx context.Context) (bounds, error) {
	pool := &v1.NodePool{}
	if err := d.c.Get(ctx, client.ObjectKey{Name: "default"}, pool); err != nil {
		return bounds{}, fmt.Errorf("getting nodepool default: %w", err)
	}
	pods := &corev1.PodList{}
	if err := d.c.List(ctx, pods, client.InNamespace(d.ns), client.MatchingLabels{"demo": "flash-sale"}); err != nil {
		return bounds{}, fmt.Errorf("listing pods: %w", err)
	}
	var running []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil {
			p.Spec.NodeName = ""
			running = append(running, p)
		}
	}
	snap := &scheduling.Snapshot{NodePools: []scheduling.NodePool{scheduling.NodePoolFromAPI(pool, catalog.Default(), nil)}}
	return bounds{lp: scheduling.LowerBound(snap, running), integer: scheduling.IntegerLowerBound(snap, running),
		fresh: scheduling.Solve(snap, running).Price}, nil
}

// roll changes the SimNodeClass image and waits until every node launched before the change
// is gone, sampling how many nodes are disrupted at once.
func (d *demo) roll(ctx context.Context, timeout time.Duration) error {
	class := &simv1alpha1.SimNodeClass{}
	if err := d.c.Get(ctx, client.ObjectKey{Name: "default"}, class); err != nil {
		return fmt.Errorf("getting simnodeclass default: %w", err)
	}
	patch := client.MergeFrom(class.DeepCopy())
	class.Spec.ImageID = fmt.Sprintf("sim-image-%d", time.Now().Unix())
	if err := d.c.Patch(ctx, class, patch); err != nil {
		return fmt.Errorf("changing the image: %w", err)
	}
	changed := time.Now()
	fmt.Fprintf(d.out, "\n== image changed to %s: rolling every node\n", class.Spec.ImageID)
	deadline := changed.Add(timeout)
	maxDisrupting := 0
	for {
		claims := &v1.NodeClaimList{}
		if err := d.c.List(ctx, claims); err != nil {
			return fmt.Errorf("listing nodeclaims: %w", err)
		}
		old, disrupting, total := 0, 0, 0
		for _, nc := range claims.Items {
			total++
			if nc.CreationTimestamp.Time.Before(changed.Add(-time.Second)) {
				old++
			}
			if nc.DeletionTimestamp != nil || nc.Annotations["karpenter.sh/disruption-role"] == "candidate" {
				disrupting++
			}
		}
		maxDisrupting = max(maxDisrupting, disrupting)
		fmt.Fprintf(d.out, "[%6s] nodeclaims %2d, launched before the change %2d, disrupting %d\n", time.Since(d.start).Round(time.Second), total, old, disrupting)
		if old == 0 {
			fmt.Fprintf(d.out, "roll done in %s; at most %d nodes disrupted at once\n", time.Since(changed).Round(time.Second), maxDisrupting)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("roll: %d old nodes left after %s", old, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
