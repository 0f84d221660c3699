package scheduling

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// placed is one pod in the plan with the labels of the node it lands on.
type placed struct {
	pod  *corev1.Pod
	node string
	lbls map[string]string
}

// checkPlan validates a plan against its snapshot without using the solver's code: no
// NodeClaim is empty, every pod is accounted for once, fits, lands on a node it tolerates
// and whose labels satisfy its node selector and required node affinity, no limit is
// exceeded, and required pod (anti-)affinity holds. Topology spread is checked for groups whose matching pods all
// carry the constraint (for those the final state must be within maxSkew).
func checkPlan(s *Snapshot, pods []*corev1.Pod, plan *Plan) error {
	if plan.Err != nil { // a panic the solver turned into a plan: a bug whatever the input
		return fmt.Errorf("solver fault: %w", plan.Err)
	}
	seen := map[*corev1.Pod]int{}
	var all []placed
	nodeLabels := map[string]map[string]string{}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		l := maps2(n.Labels)
		if _, ok := l[corev1.LabelHostname]; !ok {
			l[corev1.LabelHostname] = n.Name
		}
		nodeLabels[n.Name] = l
		for _, p := range n.Pods {
			all = append(all, placed{pod: p, node: n.Name, lbls: l})
		}
	}
	for _, e := range plan.ExistingNodes {
		idx := slices.IndexFunc(s.Nodes, func(n ExistingNode) bool { return n.Name == e.Name })
		if idx < 0 {
			return fmt.Errorf("placement on unknown node %s", e.Name)
		}
		n := &s.Nodes[idx]
		used := corev1.ResourceList{}
		for _, p := range append(slices.Clone(n.Pods), e.Pods...) {
			addList(used, checkRequests(p))
		}
		if err := fitsList(used, n.Allocatable); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		for _, p := range e.Pods {
			seen[p]++
			if err := podOnNode(p, n.Name, nodeLabels[n.Name], n.Taints); err != nil {
				return fmt.Errorf("pod %s on node %s: %w", p.Name, n.Name, err)
			}
			all = append(all, placed{pod: p, node: n.Name, lbls: nodeLabels[n.Name]})
		}
	}
	capacity := map[string]corev1.ResourceList{}
	price := 0.0
	for i, nc := range plan.NewNodeClaims {
		name := fmt.Sprintf("new-%d", i)
		if len(nc.Pods) == 0 {
			return fmt.Errorf("nodeclaim %d (%s) holds no pod", i, nc.Cheapest.InstanceType)
		}
		l, err := checkClaim(s, &nc, name, capacity)
		if err != nil {
			return fmt.Errorf("nodeclaim %d: %w", i, err)
		}
		price += nc.Cheapest.Price
		for _, p := range nc.Pods {
			seen[p]++
			all = append(all, placed{pod: p, node: name, lbls: l})
		}
	}
	for i := range s.NodePools {
		np := &s.NodePools[i]
		if np.Limits == nil {
			continue
		}
		for name, lim := range np.Limits {
			total := capacity[np.Name][name]
			if u, ok := np.Used[name]; ok {
				total.Add(u)
			}
			if total.Cmp(lim) > 0 {
				return fmt.Errorf("NodePool %s: %s %s exceeds limit %s", np.Name, name, total.String(), lim.String())
			}
		}
	}
	for _, u := range plan.Unschedulable {
		seen[u.Pod]++
		if u.Reason == "" {
			return fmt.Errorf("pod %s unschedulable without a reason", u.Pod.Name)
		}
	}
	for _, p := range pods {
		if seen[p] != 1 {
			return fmt.Errorf("pod %s appears %d times in the plan", p.Name, seen[p])
		}
	}
	if d := price - plan.Price; d > 1e-6 || d < -1e-6 {
		return fmt.Errorf("plan price %f, sum of cheapest options %f", plan.Price, price)
	}
	return checkTopology(all, pods)
}

func checkClaim(s *Snapshot, nc *NewNodeClaim, name string, capacity map[string]corev1.ResourceList) (map[string]string, error) {
	idx := slices.IndexFunc(s.NodePools, func(p NodePool) bool { return p.Name == nc.NodePool })
	if idx < 0 || len(nc.InstanceTypes) == 0 {
		return nil, fmt.Errorf("unknown pool %q or no instance types", nc.NodePool)
	}
	np := &s.NodePools[idx]
	it := nc.InstanceTypes[0]
	if it.Name != nc.Cheapest.InstanceType {
		return nil, fmt.Errorf("cheapest %s is not the first type %s", nc.Cheapest.InstanceType, it.Name)
	}
	if !slices.ContainsFunc(it.Offerings, func(o cloudprovider.Offering) bool {
		return o.Available && o.Zone == nc.Cheapest.Zone && o.CapacityType == nc.Cheapest.CapacityType && o.PricePerHour == nc.Cheapest.Price
	}) {
		return nil, fmt.Errorf("cheapest option %+v is not an available offering", nc.Cheapest)
	}
	l := maps2(it.Labels)
	for k, v := range np.Labels {
		l[k] = v
	}
	// A pool requirement In one value on a key no instance type carries (and outside the
	// provider's domain) is a label the node gets.
	for _, r := range np.Requirements {
		carried := slices.ContainsFunc(np.InstanceTypes, func(t *cloudprovider.InstanceType) bool { _, ok := t.Labels[r.Key]; return ok })
		if r.Operator == "In" && len(r.Values) == 1 && !carried && !strings.HasPrefix(r.Key, "karpenter.k8s.aws/") {
			l[r.Key] = r.Values[0]
		}
	}
	l[corev1.LabelTopologyZone] = nc.Cheapest.Zone
	l["karpenter.sh/capacity-type"] = nc.Cheapest.CapacityType
	l["karpenter.sh/nodepool"] = np.Name
	l[corev1.LabelHostname] = name
	for _, alias := range DeprecatedKeys() { // the node carries both, as NodeClaimFor writes them
		if v, ok := l[alias[1]]; ok {
			l[alias[0]] = v
		}
	}
	for _, r := range append(slices.Clone(np.Requirements), nc.Requirements...) {
		if !checkRequirement(r.Key, r.Operator, r.Values, l) {
			return nil, fmt.Errorf("cheapest option's labels violate %s %s %v", r.Key, r.Operator, r.Values)
		}
	}
	used := corev1.ResourceList{}
	for _, d := range s.DaemonSets {
		if podOnNode(d, "", l, np.Taints) == nil {
			addList(used, checkRequests(d))
		}
	}
	for _, p := range nc.Pods {
		addList(used, checkRequests(p))
		if err := podOnNode(p, "", l, np.Taints); err != nil {
			return nil, fmt.Errorf("pod %s: %w", p.Name, err)
		}
	}
	if err := fitsList(used, it.Allocatable()); err != nil {
		return nil, fmt.Errorf("%s: %w", it.Name, err)
	}
	if capacity[np.Name] == nil {
		capacity[np.Name] = corev1.ResourceList{}
	}
	addList(capacity[np.Name], it.Capacity)
	return l, nil
}

func checkRequirement(key, op string, values []string, l map[string]string) bool {
	v, ok := l[key]
	switch op {
	case "In":
		return ok && slices.Contains(values, v)
	case "NotIn":
		return !ok || !slices.Contains(values, v)
	case "Exists":
		return ok
	case "DoesNotExist":
		return !ok
	}
	n, err := strconv.ParseInt(v, 10, 64)
	b, _ := strconv.ParseInt(values[0], 10, 64)
	if !ok || err != nil {
		return false
	}
	switch op {
	case "Gt":
		return n > b
	case "Lt":
		return n < b
	case "Gte":
		return n >= b
	}
	return n <= b
}

// podOnNode checks taints, node selector and required node affinity with the upstream helper
// on a node named name ("" for a new node, whose name is not known: matchFields on the name
// cannot hold there).
func podOnNode(p *corev1.Pod, name string, l map[string]string, taints []corev1.Taint) error {
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !slices.ContainsFunc(p.Spec.Tolerations, func(tol corev1.Toleration) bool {
			return (tol.Key == "" || tol.Key == t.Key) && (tol.Effect == "" || tol.Effect == t.Effect) &&
				(tol.Operator == corev1.TolerationOpExists || tol.Value == t.Value)
		}) {
			return fmt.Errorf("taint %s not tolerated", t.Key)
		}
	}
	for k, v := range p.Spec.NodeSelector {
		if l[k] != v {
			return fmt.Errorf("node selector %s=%s not met", k, v)
		}
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		ok := true
		for _, e := range term.MatchExpressions {
			ok = ok && checkRequirement(e.Key, string(e.Operator), e.Values, l)
		}
		for _, f := range term.MatchFields {
			in := name != "" && slices.Contains(f.Values, name)
			ok = ok && f.Key == "metadata.name" && (f.Operator == corev1.NodeSelectorOpIn && in || f.Operator == corev1.NodeSelectorOpNotIn && !in)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("no required node affinity term holds on %v", l)
}

// checkRequests sums a pod's requests by the Kubernetes rule, independently of the solver:
// a container's request defaults to its limit for resources it limits without requesting.
func checkRequests(p *corev1.Pod) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for _, c := range p.Spec.Containers {
		addList(sum, effectiveRequests(c))
	}
	side, peak := corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range p.Spec.InitContainers {
		cur := corev1.ResourceList{}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addList(sum, effectiveRequests(c))
			addList(side, effectiveRequests(c))
			addList(cur, side)
		} else {
			addList(cur, effectiveRequests(c))
			addList(cur, side)
		}
		for k, q := range cur {
			if old, ok := peak[k]; !ok || q.Cmp(old) > 0 {
				peak[k] = q
			}
		}
	}
	for k, q := range peak {
		if old, ok := sum[k]; !ok || q.Cmp(old) > 0 {
			sum[k] = q
		}
	}
	// Pod-level resources: CPU, memory and hugepages the pod requests as a whole stand for
	// its containers'; one it only limits is requested at the limit when no container
	// requests it (hugepages always).
	if r := p.Spec.Resources; r != nil {
		wholePod := func(k corev1.ResourceName) bool {
			return k == corev1.ResourceCPU || k == corev1.ResourceMemory || strings.HasPrefix(string(k), "hugepages-")
		}
		for k, q := range r.Requests {
			if wholePod(k) {
				sum[k] = q
			}
		}
		for k, q := range r.Limits {
			if _, requested := r.Requests[k]; requested || !wholePod(k) {
				continue
			}
			if cur := sum[k]; !cur.IsZero() && !strings.HasPrefix(string(k), "hugepages-") {
				continue
			}
			sum[k] = q
		}
	}
	addList(sum, p.Spec.Overhead)
	addList(sum, corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")})
	return sum
}

func effectiveRequests(c corev1.Container) corev1.ResourceList {
	out := c.Resources.Requests.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	for k, q := range c.Resources.Limits {
		if _, ok := out[k]; !ok {
			out[k] = q.DeepCopy()
		}
	}
	return out
}

func addList(dst, src corev1.ResourceList) {
	for k, q := range src {
		cur := dst[k]
		cur.Add(q)
		dst[k] = cur
	}
}

func fitsList(used, alloc corev1.ResourceList) error {
	for k, q := range used {
		if q.IsZero() {
			continue
		}
		a := alloc[k]
		if q.Cmp(a) > 0 {
			return fmt.Errorf("%s: %s requested, %s allocatable", k, q.String(), a.String())
		}
	}
	return nil
}

func maps2(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func termSelector(t *corev1.PodAffinityTerm) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return labels.Nothing()
	}
	return sel
}
