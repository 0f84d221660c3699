package explain

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/explain/reason"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// A pool verdict is found by asking the scheduler itself, never by re-implementing its
// rules: the pod is solved against the NodePool alone with its constraints added back one
// layer at a time, in this order, and the first layer that makes it unschedulable is the
// reason. Existing nodes stay in the snapshot (their pods count for topology) but can take
// nothing, so every answer is about new capacity from that NodePool.
//
//	layer          pod                                      NodePool
//	taints         tolerations only, no requests            taints, no limits
//	requirements   + node selector, node affinity           requirements, labels
//	resources      + requests and overhead
//	limits                                                  + limits
//	volumes        + persistent volume claims
//	topology       + spread, pod (anti-)affinity, host ports (the pod as it is)
const (
	layerTaints = iota
	layerRequirements
	layerResources
	layerVolumes
	layerTopology
)

// unusable is put on existing nodes in per-pool solves so that no pod lands there.
var unusable = corev1.Taint{Key: "explain.karpenter.sh/existing", Effect: corev1.TaintEffectNoSchedule}

func poolVerdict(snap *scheduling.Snapshot, i int, pod *corev1.Pod) PoolVerdict {
	full := snap.NodePools[i]
	name := full.Name
	unlimited := full
	unlimited.Limits = nil
	v := PoolVerdict{NodePool: name}
	s := isolated(snap)

	if _, ok := solveOne(s, unlimited, variant(pod, layerTaints)); !ok {
		v.Reason = reason.Taint
		for _, t := range full.Taints {
			one := unlimited
			one.Taints = []corev1.Taint{t}
			if _, ok := solveOne(s, one, variant(pod, layerTaints)); !ok {
				v.Message = reason.TaintMessage(name, t)
				return v
			}
		}
		v.Message = fmt.Sprintf("NodePool %q: the pod fits none of its instance types even without requests", name)
		return v
	}
	if _, ok := solveOne(s, unlimited, variant(pod, layerRequirements)); !ok {
		requirement, plan := firstUnmet(s, unlimited, pod)
		v.Reason = reason.Requirement
		v.Message = reason.RequirementMessage(name, requirement)
		if plan != nil {
			// The scheduler's own words for that requirement, without its NodePool prefix.
			detail := unschedulableReason(plan)
			_, after, found := strings.Cut(detail, ": ")
			if found {
				detail = after
			}
			v.Message += ": " + detail
		}
		return v
	}
	if plan, ok := solveOne(s, unlimited, variant(pod, layerResources)); !ok {
		v.Reason = reason.Resources
		v.Message = unschedulableReason(plan)
		return v
	}
	if _, ok := solveOne(s, full, variant(pod, layerResources)); !ok {
		v.Reason, v.Message = reason.Limit, reason.LimitMessage(name)
		return v
	}
	if _, ok := solveOne(s, full, variant(pod, layerVolumes)); !ok {
		v.Reason, v.Message = reason.VolumeZone, reason.VolumeZoneMessage(name)
		return v
	}
	plan, ok := solveOne(s, full, pod)
	if !ok {
		v.Reason, v.Message = reason.Topology, reason.TopologyMessage(name)
		return v
	}
	v.Reason = reason.Fits
	v.Launch = launchOf(&plan.NewNodeClaims[0])
	v.Message = fmt.Sprintf("NodePool %q: would launch %s at $%.4f/h", name, v.Launch.InstanceType, v.Launch.PricePerHour)
	return v
}

// firstUnmet finds the first single node selector entry or node affinity expression that
// alone makes the pod unschedulable on the pool, with the scheduler's plan for it alone;
// the plan is nil when only the requirements together fail.
func firstUnmet(s *scheduling.Snapshot, pool scheduling.NodePool, pod *corev1.Pod) (string, *scheduling.Plan) {
	base := variant(pod, layerTaints)
	for _, k := range slices.Sorted(maps.Keys(pod.Spec.NodeSelector)) {
		p := base.DeepCopy()
		p.Spec.NodeSelector = map[string]string{k: pod.Spec.NodeSelector[k]}
		if plan, ok := solveOne(s, pool, p); !ok {
			return fmt.Sprintf("%s=%s (nodeSelector)", k, pod.Spec.NodeSelector[k]), plan
		}
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				p := base.DeepCopy()
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
						NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{e}}},
					},
				}}
				if plan, ok := solveOne(s, pool, p); !ok {
					return fmt.Sprintf("%s %s [%s] (node affinity)", e.Key, e.Operator, strings.Join(e.Values, ",")), plan
				}
			}
		}
	}
	return "the node selector and node affinity taken together", nil
}

// isolated copies the snapshot with existing nodes that can take no pod.
func isolated(snap *scheduling.Snapshot) *scheduling.Snapshot {
	s := *snap
	s.Nodes = make([]scheduling.ExistingNode, len(snap.Nodes))
	for i, n := range snap.Nodes {
		n.Taints = append(slices.Clip(n.Taints), unusable)
		n.Allocatable = corev1.ResourceList{}
		s.Nodes[i] = n
	}
	return &s
}

// solveOne plans the pod alone against one NodePool; ok when a new NodeClaim takes it.
func solveOne(s *scheduling.Snapshot, pool scheduling.NodePool, pod *corev1.Pod) (*scheduling.Plan, bool) {
	one := *s
	one.NodePools = []scheduling.NodePool{pool}
	plan := scheduling.Solve(&one, []*corev1.Pod{pod})
	return plan, len(plan.Unschedulable) == 0 && len(plan.NewNodeClaims) == 1
}

func unschedulableReason(plan *scheduling.Plan) string {
	if len(plan.Unschedulable) > 0 {
		return plan.Unschedulable[0].Reason
	}
	return "the pod was not placed"
}

// variant is the pod with only the constraints of the layers up to layer.
func variant(pod *corev1.Pod, layer int) *corev1.Pod {
	if layer >= layerTopology {
		return pod
	}
	p := pod.DeepCopy()
	if a := p.Spec.Affinity; a != nil {
		a.PodAffinity, a.PodAntiAffinity = nil, nil
	}
	p.Spec.TopologySpreadConstraints = nil
	for i := range p.Spec.Containers {
		for j := range p.Spec.Containers[i].Ports {
			p.Spec.Containers[i].Ports[j].HostPort = 0
		}
	}
	if layer < layerVolumes {
		p.Spec.Volumes = slices.DeleteFunc(p.Spec.Volumes, func(v corev1.Volume) bool {
			return v.PersistentVolumeClaim != nil || v.Ephemeral != nil
		})
	}
	if layer < layerResources {
		for i := range p.Spec.Containers {
			p.Spec.Containers[i].Resources = corev1.ResourceRequirements{}
		}
		for i := range p.Spec.InitContainers {
			p.Spec.InitContainers[i].Resources = corev1.ResourceRequirements{}
		}
		p.Spec.Overhead = nil
	}
	if layer < layerRequirements {
		p.Spec.NodeSelector = nil
		if p.Spec.Affinity != nil {
			p.Spec.Affinity.NodeAffinity = nil
		}
	}
	return p
}
