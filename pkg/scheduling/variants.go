package scheduling

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/scheduling/internal/labelreq"
)

// preference is one soft rule, relaxed in upstream Karpenter's order: preferred pod
// affinity, preferred pod anti-affinity, preferred node affinity, ScheduleAnyway spread.
type preference struct {
	order  int
	weight int32
	node   reqSet // preferred node affinity term
	aff    *corev1.PodAffinityTerm
	kind   int // for aff
	spread *corev1.TopologySpreadConstraint
}

// buildVariants compiles class c's constraints into its strictest-first variants.
func (s *solver) buildVariants(c *class) error {
	pod := c.pods[0]
	alts, err := nodeAlternatives(pod)
	if err != nil {
		return err
	}
	vols, err := s.volumeAlternatives(pod)
	if err != nil {
		return err
	}
	alts = crossAlts(alts, vols)
	base := &variant{alts: alts}
	var prefs []preference
	for i := range pod.Spec.TopologySpreadConstraints {
		tsc := &pod.Spec.TopologySpreadConstraints[i]
		if tsc.WhenUnsatisfiable == corev1.ScheduleAnyway {
			prefs = append(prefs, preference{order: 3, spread: tsc})
			continue
		}
		con, err := s.spreadConstraint(c, tsc, alts)
		if err != nil {
			return err
		}
		base.topo = append(base.topo, con)
	}
	if err := s.affinityRules(c, pod.Spec.Affinity, base, &prefs); err != nil {
		return err
	}
	// Drop order: lowest order first, then lowest weight. Every preference is kept: the
	// strictest variant applies them all and each next one relaxes one more.
	slices.SortStableFunc(prefs, func(a, b preference) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.weight, b.weight))
	})
	for drop := 0; drop <= len(prefs); drop++ {
		v := &variant{alts: base.alts, topo: slices.Clone(base.topo), owns: slices.Clone(base.owns)}
		for _, p := range prefs[drop:] {
			if err := s.applyPreference(c, v, p); err != nil {
				return err
			}
		}
		c.variants = append(c.variants, v)
	}
	return nil
}

func (s *solver) affinityRules(c *class, a *corev1.Affinity, base *variant, prefs *[]preference) error {
	if a == nil {
		return nil
	}
	if na := a.NodeAffinity; na != nil {
		for _, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			r, err := labelreq.FromSelectorTerm(t.Preference.MatchExpressions)
			if err != nil {
				return err
			}
			*prefs = append(*prefs, preference{order: 2, weight: t.Weight, node: r})
		}
	}
	type termSet struct {
		kind      int
		order     int
		required  []corev1.PodAffinityTerm
		preferred []corev1.WeightedPodAffinityTerm
	}
	var sets []termSet
	if pa := a.PodAffinity; pa != nil {
		sets = append(sets, termSet{kindAffinity, 0, pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution})
	}
	if pa := a.PodAntiAffinity; pa != nil {
		sets = append(sets, termSet{kindAnti, 1, pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution})
	}
	for _, ts := range sets {
		for i := range ts.required {
			con, err := s.affinityConstraint(c, ts.kind, &ts.required[i])
			if err != nil {
				return err
			}
			base.topo = append(base.topo, con)
			if ts.kind == kindAnti {
				base.owns = append(base.owns, con.group)
			}
		}
		for i := range ts.preferred {
			w := &ts.preferred[i]
			*prefs = append(*prefs, preference{order: ts.order, weight: w.Weight, aff: &w.PodAffinityTerm, kind: ts.kind})
		}
	}
	return nil
}

func (s *solver) applyPreference(c *class, v *variant, p preference) error {
	switch {
	case p.node != nil:
		alts := make([]reqSet, len(v.alts))
		for i, a := range v.alts {
			alts[i], _ = a.And(p.node)
		}
		v.alts = alts
	case p.aff != nil:
		con, err := s.affinityConstraint(c, p.kind, p.aff)
		if err != nil {
			return err
		}
		v.topo = append(v.topo, con)
	case p.spread != nil:
		con, err := s.spreadConstraint(c, p.spread, v.alts)
		if err != nil {
			return err
		}
		v.topo = append(v.topo, con)
	}
	return nil
}
