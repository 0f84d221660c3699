package scheduling

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Kinds of topology group.
const (
	kindSpread = iota
	kindAffinity
	kindAnti
)

// group counts, per domain of one topology key, the pods matching one selector. Spread
// constraints, pod affinity and pod anti-affinity terms that count the same pods share a
// group. owners counts, for anti-affinity, the pods that carry the term.
type group struct {
	kind     int
	key      string
	sel      labels.Selector
	nsAll    bool
	ns       []string
	nsSel    labels.Selector              // namespaceSelector, matched against nsLabels
	nsLabels map[string]map[string]string // Snapshot.Namespaces
	filter   reqSet                       // spread with nodeAffinityPolicy Honor: only nodes matching count
	filtered bool
	tols     []corev1.Toleration // spread with nodeTaintsPolicy Honor
	honorTol bool
	counts   []int32
	owners   []int32
	total    int32
	eligible []int32 // spread: the domains the skew is measured over (not for hostname)
}

// constraint is one required (or, in a strict variant, preferred) topology rule of a class.
type constraint struct {
	group      int
	maxSkew    int32
	minDomains int32
	self       bool // the class's own pods match the group's selector
}

// domains interns the values of one topology key.
type domains struct {
	ids   map[string]int32
	names []string
}

// reserveDomains sizes the key's domain table for n more values.
func (s *solver) reserveDomains(key string, n int) {
	if d := s.doms[key]; d == nil {
		s.doms[key] = &domains{ids: make(map[string]int32, n), names: make([]string, 0, n)}
	}
}

func (s *solver) domainID(key, value string) int32 {
	d := s.doms[key]
	if d == nil {
		d = &domains{ids: map[string]int32{}}
		s.doms[key] = d
	}
	if id, ok := d.ids[value]; ok {
		return id
	}
	d.ids[value] = int32(len(d.names))
	d.names = append(d.names, value)
	return int32(len(d.names) - 1)
}

func bump(a []int32, i int32, by int32) []int32 {
	for int(i) >= len(a) {
		a = append(a, 0)
	}
	a[i] += by
	return a
}

func at(a []int32, i int32) int32 {
	if int(i) < len(a) {
		return a[i]
	}
	return 0
}

func (g *group) matchesPod(ns string, l map[string]string) bool {
	if !g.nsAll && !slices.Contains(g.ns, ns) && !g.selectsNamespace(ns) {
		return false
	}
	return g.sel.Matches(labels.Set(l))
}

// selectsNamespace reports whether the group's namespaceSelector selects ns.
func (g *group) selectsNamespace(ns string) bool {
	if g.nsSel == nil {
		return false
	}
	l, ok := g.nsLabels[ns]
	if !ok {
		l = map[string]string{corev1.LabelMetadataName: ns}
	}
	return g.nsSel.Matches(labels.Set(l))
}

// countsNode reports whether pods on a node with these labels and taints count for g.
func (g *group) countsNode(l map[string]string, taints []corev1.Taint) bool {
	if g.filtered && !g.filter.MatchesLabels(l) {
		return false
	}
	return !g.honorTol || tolerates(g.tols, taints)
}

// minCount is the lowest count over the spread group's domains (0 for hostname, where a
// new node is always an empty domain, or when fewer than minDomains domains exist).
func (g *group) minCount(minDomains int32) int32 {
	if g.key == labelHostname || len(g.eligible) == 0 || int32(len(g.eligible)) < minDomains {
		return 0
	}
	m := at(g.counts, g.eligible[0])
	for _, d := range g.eligible[1:] {
		m = min(m, at(g.counts, d))
	}
	return m
}

// allows reports whether one more pod of a class may go to domain d under constraint c.
func (s *solver) allows(c *constraint, d int32) bool {
	g := s.groups[c.group]
	switch g.kind {
	case kindSpread:
		if g.key != labelHostname && !slices.Contains(g.eligible, d) {
			return false
		}
		self := int32(0)
		if c.self {
			self = 1
		}
		return at(g.counts, d)+self-g.minCount(c.minDomains) <= c.maxSkew
	case kindAffinity:
		return at(g.counts, d) > 0 || (g.total == 0 && c.self)
	default:
		return at(g.counts, d) == 0
	}
}

// groupFor returns the index of the group with this identity, creating it.
func (s *solver) groupFor(g *group, ident string) int {
	if i, ok := s.groupIndex[ident]; ok {
		return i
	}
	s.groups = append(s.groups, g)
	s.groupIndex[ident] = len(s.groups) - 1
	return len(s.groups) - 1
}

func selectorOf(ls *metav1.LabelSelector, matchKeys []string, podLabels map[string]string) (labels.Selector, string, error) {
	if ls == nil {
		return labels.Nothing(), "<nil>", nil
	}
	if len(matchKeys) > 0 {
		ls = ls.DeepCopy()
		if ls.MatchLabels == nil {
			ls.MatchLabels = map[string]string{}
		}
		for _, k := range matchKeys {
			if v, ok := podLabels[k]; ok {
				ls.MatchLabels[k] = v
			}
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, "", fmt.Errorf("label selector: %w", err)
	}
	return sel, sel.String(), nil
}

// spreadConstraint registers a topology spread constraint of class c.
func (s *solver) spreadConstraint(c *class, tsc *corev1.TopologySpreadConstraint, alts []reqSet) (constraint, error) {
	sel, selStr, err := selectorOf(tsc.LabelSelector, tsc.MatchLabelKeys, c.labels)
	if err != nil {
		return constraint{}, err
	}
	g := &group{kind: kindSpread, key: tsc.TopologyKey, sel: sel, ns: []string{c.ns}}
	ident := fmt.Sprintf("s|%s|%s|%s", g.key, c.ns, selStr)
	if tsc.NodeAffinityPolicy == nil || *tsc.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor {
		if len(alts) == 1 && len(alts[0]) > 0 {
			g.filter, g.filtered = alts[0], true
			ident += "|f" + alts[0].Signature()
		}
	}
	if tsc.NodeTaintsPolicy != nil && *tsc.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor {
		g.tols, g.honorTol = c.tols, true
		raw := make([]string, 0, len(c.tols))
		for i := range c.tols {
			raw = append(raw, c.tols[i].String())
		}
		ident += "|t" + strings.Join(raw, ",")
	}
	md := int32(0)
	if tsc.MinDomains != nil {
		md = *tsc.MinDomains
	}
	return constraint{group: s.groupFor(g, ident), maxSkew: tsc.MaxSkew, minDomains: md}, nil
}

// affinityConstraint registers a pod (anti-)affinity term of class c.
func (s *solver) affinityConstraint(c *class, kind int, term *corev1.PodAffinityTerm) (constraint, error) {
	sel, selStr, err := selectorOf(term.LabelSelector, term.MatchLabelKeys, c.labels)
	if err != nil {
		return constraint{}, err
	}
	g := &group{kind: kind, key: term.TopologyKey, sel: sel}
	// The term's namespaces are its list together with those its namespaceSelector selects
	// (an empty selector: all of them); with neither, the pod's own namespace.
	nsSelStr := ""
	switch {
	case term.NamespaceSelector != nil && len(term.NamespaceSelector.MatchLabels) == 0 && len(term.NamespaceSelector.MatchExpressions) == 0,
		term.NamespaceSelector != nil && s.snap.Namespaces == nil:
		g.nsAll = true
	case term.NamespaceSelector != nil:
		nsSel, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
		if err != nil {
			return constraint{}, fmt.Errorf("namespaceSelector: %w", err)
		}
		g.nsSel, g.nsLabels, nsSelStr = nsSel, s.snap.Namespaces, nsSel.String()
		g.ns = slices.Sorted(slices.Values(term.Namespaces))
	case len(term.Namespaces) > 0:
		g.ns = slices.Sorted(slices.Values(term.Namespaces))
	default:
		g.ns = []string{c.ns}
	}
	ident := fmt.Sprintf("%d|%s|%v|%s|%s|%s", kind, g.key, g.nsAll, strings.Join(g.ns, ","), nsSelStr, selStr)
	return constraint{group: s.groupFor(g, ident)}, nil
}

// spreadDomains fills each non-hostname spread group's eligible domains: the values its
// key can take on nodes of any NodePool (respecting the group's filter) and on existing nodes.
func (s *solver) spreadDomains() {
	for _, g := range s.groups {
		if g.kind != kindSpread || g.key == labelHostname {
			continue
		}
		seen := map[int32]bool{}
		for _, p := range s.pools {
			if p.err != nil || (g.honorTol && !tolerates(g.tols, p.spec.Taints)) {
				continue
			}
			reqs := p.reqs
			if g.filtered {
				var bad string
				if reqs, bad = reqs.And(g.filter); bad != "" {
					continue
				}
			}
			for _, v := range s.poolValues(p, reqs, g.key) {
				seen[s.domainID(g.key, v)] = true
			}
		}
		for _, n := range s.nodes[:s.existing] {
			if v, ok := n.labels[g.key]; ok && g.countsNode(n.labels, n.taints) {
				seen[s.domainID(g.key, v)] = true
			}
		}
		g.eligible = slices.Sorted(maps.Keys(seen))
	}
}

// poolValues lists the values key can take on a pool's nodes under reqs.
func (s *solver) poolValues(p *pool, reqs reqSet, key string) []string {
	var out []string
	switch key {
	case labelZone, labelCapacityType:
		zm, cm := s.u.masks(reqs)
		var zones uint64
		var cts uint8
		for _, ti := range p.types {
			t := &s.u.types[ti]
			if _, ok := t.labelsMatch(reqs, p.defines); !ok {
				continue
			}
			for c := range maxCapacityTypes {
				if cm&(1<<c) != 0 && t.zones[c]&zm != 0 {
					zones |= t.zones[c] & zm
					cts |= 1 << c
				}
			}
		}
		names, mask := s.u.zones, zones
		if key == labelCapacityType {
			names, mask = s.u.cts, uint64(cts)
		}
		for i, n := range names {
			if mask&(1<<i) != 0 {
				out = append(out, n)
			}
		}
		return out
	}
	if r, ok := reqs.Get(key); ok && !r.Complement {
		return r.Values
	}
	seen := map[string]bool{}
	for _, ti := range p.types {
		if v, ok := s.u.types[ti].src.Labels[key]; ok && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}
