package explain

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// Snapshot builds the scheduler's input with pkg/snapshot, the adapter the controller's
// provisioner and consolidation use, so explain's plan is the controller's plan. Pods
// validly nominated to a NodeClaim (see Nominations) count on it, except skip, the pod being
// explained, which is planned afresh.
func (w *World) Snapshot(now time.Time, skip *corev1.Pod) *scheduling.Snapshot {
	objs := w.Objects
	objs.Nominated = w.Nominations(now)
	if skip != nil {
		for nc, pods := range objs.Nominated {
			objs.Nominated[nc] = slicesDelete(pods, skip)
		}
	}
	pools, all, _ := snapshot.NodePools(w.NodePools, func(np *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
		if err := w.InstanceTypeErrors[np.Name]; err != nil {
			return nil, err
		}
		return w.InstanceTypes[np.Name], nil
	}, objs)
	return snapshot.Build(objs, pools, all)
}

// Pending are the pods the provisioner would plan for now: provisionable and not validly
// nominated, in its order (snapshot.ComparePods).
func (w *World) Pending(now time.Time) []*corev1.Pod {
	nominated := map[*corev1.Pod]bool{}
	for _, pods := range w.Nominations(now) {
		for _, p := range pods {
			nominated[p] = true
		}
	}
	var out []*corev1.Pod
	for _, p := range w.Pods {
		if state.IsProvisionable(p) && !nominated[p] {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, snapshot.ComparePods)
	return out
}

// Nominations are, by NodeClaim name, the pending pods whose latest Nominated event names
// that NodeClaim (or its Node) while the nomination holds, by the controller's rule: the
// NodeClaim exists and is not being deleted, and, once it is initialised, for
// state.DefaultNominationTTL after the later of the event and the initialisation. The
// controller keeps nominations in memory; its events are what a reader outside can see.
func (w *World) Nominations(now time.Time) map[string][]*corev1.Pod {
	latest := map[[2]string]*corev1.Event{}
	for _, e := range w.Events {
		if e.Reason == reason.EventNominated && e.InvolvedObject.Kind == "Pod" {
			latest[[2]string{e.InvolvedObject.Namespace, e.InvolvedObject.Name}] = e
		}
	}
	out := map[string][]*corev1.Pod{}
	for key, e := range latest {
		p := w.Pod(key[0], key[1])
		if p == nil || p.Spec.NodeName != "" || isTerminal(p) || (e.InvolvedObject.UID != "" && e.InvolvedObject.UID != p.UID) {
			continue
		}
		target, ok := reason.ParseNominated(e.Message)
		if !ok {
			continue
		}
		nc := w.NodeClaim(target)
		if nc == nil {
			nc = w.NodeClaimFor(w.Node(target))
		}
		if nc == nil || nc.DeletionTimestamp != nil {
			continue
		}
		if c := meta.FindStatusCondition(nc.Status.Conditions, v1.ConditionTypeInitialized); c != nil && c.Status == "True" {
			since := lastSeen(e)
			if c.LastTransitionTime.After(since) {
				since = c.LastTransitionTime.Time
			}
			if now.Sub(since) >= state.DefaultNominationTTL {
				continue
			}
		}
		out[nc.Name] = append(out[nc.Name], p)
	}
	return out
}

// launches reports whether the NodePool may launch capacity now.
func launches(w *World, np *v1.NodePool) bool {
	_, failed := w.InstanceTypeErrors[np.Name]
	return np.DeletionTimestamp == nil && np.Spec.Replicas == nil && !failed
}

// Usage is the capacity a NodePool holds, counted against its limits (snapshot.Usage).
func Usage(w *World, nodePool string) corev1.ResourceList {
	return snapshot.Usage(nodePool, w.InstanceTypes[nodePool], w.NodeClaims, w.Nodes)
}

func slicesDelete(pods []*corev1.Pod, p *corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(pods))
	for _, q := range pods {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func isInitialized(nc *v1.NodeClaim) bool { return snapshot.Initialized(nc) }
