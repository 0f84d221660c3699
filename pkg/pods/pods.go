package pods

import (
	"cmp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// StuckTerminatingAfter is how long past its deletion timestamp a terminating pod stops
// holding up a drain: its kubelet has evidently stopped reporting.
const StuckTerminatingAfter = time.Minute

// Critical priority classes: such pods are drained after all others.
const (
	SystemClusterCritical = "system-cluster-critical"
	SystemNodeCritical    = "system-node-critical"
)

// IsTerminal reports whether the pod has finished (Succeeded or Failed).
func IsTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// IsTerminating reports whether the pod is being deleted.
func IsTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

// IsStuckTerminating reports whether the pod has been terminating for longer than
// StuckTerminatingAfter past its deletion timestamp.
func IsStuckTerminating(pod *corev1.Pod, now time.Time) bool {
	return IsTerminating(pod) && now.Sub(pod.DeletionTimestamp.Time) > StuckTerminatingAfter
}

// IsOwnedByDaemonSet reports whether a DaemonSet controls the pod.
func IsOwnedByDaemonSet(pod *corev1.Pod) bool { return isOwnedBy(pod, "DaemonSet") }

// IsStatic reports whether the pod is a static (mirror) pod: its kubelet owns it and the
// API server only mirrors it, so evicting it does nothing.
func IsStatic(pod *corev1.Pod) bool {
	if _, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return true
	}
	return isOwnedBy(pod, "Node")
}

// isOwnedBy reports whether the pod's controller is of the kind. It reads the owner
// references in place: metav1.GetControllerOf returns a copy on the heap, and disruption
// asks this of every pod of the cluster on every pass (a fifth of what a quiet controller
// allocated at 500 nodes).
func isOwnedBy(pod *corev1.Pod, kind string) bool {
	for i := range pod.OwnerReferences {
		if ref := &pod.OwnerReferences[i]; ref.Controller != nil && *ref.Controller {
			return ref.Kind == kind
		}
	}
	return false
}

// IsCritical reports whether the pod runs at a system-critical priority class.
func IsCritical(pod *corev1.Pod) bool {
	return pod.Spec.PriorityClassName == SystemClusterCritical || pod.Spec.PriorityClassName == SystemNodeCritical
}

// ToleratesDisruptedTaint reports whether the pod tolerates karpenter.sh/disrupted:NoSchedule;
// such a pod would be scheduled right back, so a drain leaves it alone.
func ToleratesDisruptedTaint(pod *corev1.Pod) bool {
	taint := v1.DisruptedNoScheduleTaint
	for _, t := range pod.Spec.Tolerations {
		if t.Effect != "" && t.Effect != taint.Effect {
			continue
		}
		if t.Key == "" && t.Operator == corev1.TolerationOpExists {
			return true
		}
		if t.Key != taint.Key {
			continue
		}
		if t.Operator == corev1.TolerationOpExists || t.Value == taint.Value {
			return true
		}
	}
	return false
}

// Tolerates reports whether tolerations cover every NoSchedule and NoExecute taint, as
// kube-scheduler's TaintToleration filter decides (the comparison operators Lt and Gt
// tolerate nothing here).
func Tolerates(tols []corev1.Toleration, taints []corev1.Taint) bool {
	for i := range taints {
		t := &taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !slices.ContainsFunc(tols, func(tol corev1.Toleration) bool { return toleratesTaint(&tol, t) }) {
			return false
		}
	}
	return true
}

func toleratesTaint(tol *corev1.Toleration, t *corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpEqual, "":
		return tol.Key != "" && tol.Value == t.Value
	}
	return false
}

// HasDoNotDisrupt reports whether the object carries karpenter.sh/do-not-disrupt: "true".
func HasDoNotDisrupt(obj metav1.Object) bool {
	return obj.GetAnnotations()[v1.DoNotDisruptAnnotationKey] == "true"
}

// MustDrain reports whether a drain has to wait for the pod to leave: it is neither
// finished, nor static, nor tolerating the disrupted taint, nor stuck terminating.
func MustDrain(pod *corev1.Pod, now time.Time) bool {
	return !IsTerminal(pod) && !IsStatic(pod) && !ToleratesDisruptedTaint(pod) && !IsStuckTerminating(pod, now)
}

// IsReschedulable reports whether the pod counts against a node being empty: it is active
// (neither finished nor terminating), not a DaemonSet or static pod.
func IsReschedulable(pod *corev1.Pod) bool {
	return !IsTerminal(pod) && !IsTerminating(pod) && !IsOwnedByDaemonSet(pod) && !IsStatic(pod)
}

// DrainGroups splits pods into the order a drain evicts them: non-critical pods, critical
// pods, then non-critical and critical DaemonSet pods. Each group is evicted only once the
// groups before it are gone; empty groups are kept so the order stays positional. Within a
// group the largest pods come first (LargestFirst).
func DrainGroups(pods []*corev1.Pod) [4][]*corev1.Pod {
	var groups [4][]*corev1.Pod
	for _, p := range pods {
		i := 0
		if IsCritical(p) {
			i = 1
		}
		if IsOwnedByDaemonSet(p) {
			i += 2
		}
		groups[i] = append(groups[i], p)
	}
	for _, g := range groups {
		LargestFirst(g)
	}
	return groups
}

// LargestFirst orders pods by CPU request, then memory request, largest first (then by
// namespace and name). A drain evicts in this order so that the replacements their
// controllers create reach kube-scheduler largest first: it puts each pod on the least
// allocated node with room, and small pods arriving first can take the room a large one
// needed, leaving it pending for a new node though the plan had a place for every pod.
func LargestFirst(pods []*corev1.Pod) {
	type size struct{ cpu, mem int64 }
	sizes := make(map[*corev1.Pod]size, len(pods))
	for _, p := range pods {
		r := Requests(p)
		sizes[p] = size{r.Cpu().MilliValue(), r.Memory().Value()}
	}
	slices.SortStableFunc(pods, func(a, b *corev1.Pod) int {
		sa, sb := sizes[a], sizes[b]
		return cmp.Or(cmp.Compare(sb.cpu, sa.cpu), cmp.Compare(sb.mem, sa.mem),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// IsProvisionable reports whether Karpenter should find capacity for the pod: it is not
// bound, not terminating, not finished and not owned by a DaemonSet (a DaemonSet pod follows
// its node; a new node would only get its own copy), and either the kube-scheduler marked it
// unschedulable (PodScheduled=False, reason Unschedulable) or it is waiting for the
// kube-scheduler's first look (IsAwaitingScheduler).
//
// Upstream Karpenter waits for the mark. The kube-scheduler patches it synchronously, one pod
// at a time, so under a burst of a thousand pods on a busy API server the marks come a few a
// second and the last pod is seen minutes late. The plan already simulates the existing nodes
// and the in-flight NodeClaims before opening new ones, so a pod the kube-scheduler is about
// to bind to free room is planned into that room (nominated there), not given a new node.
func IsProvisionable(pod *corev1.Pod) bool {
	if pod.Spec.NodeName != "" || IsTerminating(pod) || IsTerminal(pod) || IsOwnedByDaemonSet(pod) {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return IsAwaitingScheduler(pod)
}

// IsAwaitingScheduler reports whether an unbound pod is waiting for the default scheduler's
// first attempt: it has no PodScheduled condition yet, no scheduling gate (the API server
// marks a gated pod SchedulingGated), and it names the default scheduler, which Karpenter
// knows runs. A pod for another scheduler counts only once that scheduler marks it.
func IsAwaitingScheduler(pod *corev1.Pod) bool {
	if pod.Spec.NodeName != "" || len(pod.Spec.SchedulingGates) > 0 {
		return false
	}
	if name := pod.Spec.SchedulerName; name != "" && name != corev1.DefaultSchedulerName {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return false
		}
	}
	return true
}

// Requests is what the pod asks the scheduler for, by the Kubernetes rule: the larger of
// its app containers plus sidecars and, for every classic init container, that container
// plus the sidecars started before it; requests the pod sets for itself as a whole in their
// place (PodLevelRequests); plus the pod overhead; plus one "pods" slot. A container's
// request for a resource it only limits defaults to the limit.
func Requests(pod *corev1.Pod) corev1.ResourceList { return SpecRequests(&pod.Spec) }

// SpecRequests is Requests of a pod with this spec (requests read nothing else of a pod).
func SpecRequests(spec *corev1.PodSpec) corev1.ResourceList {
	sum, sidecars, initPeak := corev1.ResourceList{}, corev1.ResourceList{}, corev1.ResourceList{}
	for i := range spec.Containers {
		addTo(sum, containerRequests(&spec.Containers[i]))
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		r := containerRequests(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addTo(sum, r)
			addTo(sidecars, r)
			r = sidecars.DeepCopy()
		} else {
			addTo(r, sidecars)
		}
		for name, q := range r {
			if peak, ok := initPeak[name]; !ok || q.Cmp(peak) > 0 {
				initPeak[name] = q.DeepCopy()
			}
		}
	}
	for name, q := range initPeak {
		if cur, ok := sum[name]; !ok || q.Cmp(cur) > 0 {
			sum[name] = q
		}
	}
	if spec.Resources != nil {
		for name, q := range PodLevelRequests(spec, func(name corev1.ResourceName) bool { _, ok := sum[name]; return ok }) {
			sum[name] = q
		}
	}
	addTo(sum, spec.Overhead)
	sum[corev1.ResourcePods] = *resource.NewQuantity(1, resource.DecimalSI)
	return sum
}

// PodLevelRequests are the requests a pod's spec sets for it as a whole (spec.resources, the
// PodLevelResources feature, on by default since Kubernetes 1.34), which kube-scheduler
// counts in place of its containers' for CPU, memory and hugepages. As the API defaults
// them: a resource the pod only limits is requested at that limit, unless its containers
// request it (CPU and memory), when theirs stands; containersRequest says whether they do.
// Nil when the pod sets none.
func PodLevelRequests(spec *corev1.PodSpec, containersRequest func(corev1.ResourceName) bool) corev1.ResourceList {
	r := spec.Resources
	if r == nil || len(r.Requests)+len(r.Limits) == 0 {
		return nil
	}
	out := corev1.ResourceList{}
	for name, q := range r.Requests {
		if podLevelResource(name) {
			out[name] = q
		}
	}
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; ok || !podLevelResource(name) {
			continue
		}
		if !strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) && containersRequest(name) {
			continue
		}
		out[name] = q
	}
	return out
}

// podLevelResource reports whether a pod may set a resource for itself as a whole.
func podLevelResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func containerRequests(c *corev1.Container) corev1.ResourceList {
	out := c.Resources.Requests.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	for name, q := range c.Resources.Limits {
		if _, ok := out[name]; !ok {
			out[name] = q.DeepCopy()
		}
	}
	return out
}

func addTo(sum, more corev1.ResourceList) {
	for name, q := range more {
		total := sum[name]
		total.Add(q)
		sum[name] = total
	}
}
