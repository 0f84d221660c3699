package scheduling

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// checkTopology verifies required pod affinity and anti-affinity (both directions) in the
// final placement, and DoNotSchedule spread for self-contained groups.
func checkTopology(all []placed, pending []*corev1.Pod) error {
	byDomain := map[string][]int{}
	dom := func(key string, p *placed) (string, bool) {
		v, ok := p.lbls[key]
		return key + "=" + v, ok
	}
	index := func(key string) {
		if _, done := byDomain["\x00"+key]; done {
			return
		}
		byDomain["\x00"+key] = nil
		for i := range all {
			if d, ok := dom(key, &all[i]); ok {
				byDomain[d] = append(byDomain[d], i)
			}
		}
	}
	for i := range all {
		p := &all[i]
		a := p.pod.Spec.Affinity
		if a == nil {
			continue
		}
		if a.PodAntiAffinity != nil {
			for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				index(t.TopologyKey)
				d, ok := dom(t.TopologyKey, p)
				if !ok {
					continue
				}
				sel := termSelector(&t)
				for _, j := range byDomain[d] {
					q := &all[j]
					if j != i && q.pod.Namespace == p.pod.Namespace && sel.Matches(labels.Set(q.pod.Labels)) {
						return fmt.Errorf("anti-affinity of %s violated by %s in %s", p.pod.Name, q.pod.Name, d)
					}
				}
			}
		}
		if a.PodAffinity != nil && slices.Contains(pending, p.pod) {
			for _, t := range a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				index(t.TopologyKey)
				d, ok := dom(t.TopologyKey, p)
				sel := termSelector(&t)
				if !ok || !slices.ContainsFunc(byDomain[d], func(j int) bool {
					return all[j].pod.Namespace == p.pod.Namespace && sel.Matches(labels.Set(all[j].pod.Labels))
				}) {
					return fmt.Errorf("affinity of %s has no matching pod in %s", p.pod.Name, d)
				}
			}
		}
	}
	return checkSpread(all)
}

func checkSpread(all []placed) error {
	type groupKey struct{ key, sel, ns string }
	constrained := map[groupKey]int32{}
	for i := range all {
		for _, c := range all[i].pod.Spec.TopologySpreadConstraints {
			if c.WhenUnsatisfiable == corev1.DoNotSchedule && c.LabelSelector != nil && len(c.MatchLabelKeys) == 0 {
				constrained[groupKey{c.TopologyKey, c.LabelSelector.String(), all[i].pod.Namespace}] = c.MaxSkew
			}
		}
	}
	for gk, skew := range constrained {
		sel := termSelector(&corev1.PodAffinityTerm{LabelSelector: parseSel(all, gk.sel)})
		selfContained := true
		var nodeSel map[string]string // the group's pods' node selector, when they share one
		var matched []int
		for i := range all {
			p := all[i].pod
			if p.Namespace != gk.ns || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			if !slices.ContainsFunc(p.Spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
				return c.TopologyKey == gk.key && c.LabelSelector != nil && c.LabelSelector.String() == gk.sel
			}) || (len(matched) > 0 && !maps.Equal(nodeSel, p.Spec.NodeSelector)) {
				selfContained = false
				break
			}
			nodeSel = p.Spec.NodeSelector
			matched = append(matched, i)
		}
		if !selfContained {
			continue
		}
		// The domains are those of the nodes the pods' node selector admits (the default
		// nodeAffinityPolicy, Honor), of the nodes that hold some pod.
		counts := map[string]int32{}
		for i := range all {
			v, ok := all[i].lbls[gk.key]
			admits := true
			for k, want := range nodeSel {
				admits = admits && all[i].lbls[k] == want
			}
			if ok && admits {
				counts[v] += 0
			}
		}
		for _, i := range matched {
			counts[all[i].lbls[gk.key]]++
		}
		lo, hi := int32(1<<30), int32(0)
		for _, c := range counts {
			lo, hi = min(lo, c), max(hi, c)
		}
		if gk.key == corev1.LabelHostname {
			lo = 0
		}
		if hi-lo > skew {
			return fmt.Errorf("spread on %s for %s: counts %v exceed skew %d", gk.key, gk.sel, counts, skew)
		}
	}
	return nil
}

// parseSel finds the label selector whose String() is s among the placed pods.
func parseSel(all []placed, s string) *metav1.LabelSelector {
	for i := range all {
		for _, c := range all[i].pod.Spec.TopologySpreadConstraints {
			if c.LabelSelector != nil && c.LabelSelector.String() == s {
				return c.LabelSelector
			}
		}
	}
	return nil
}
