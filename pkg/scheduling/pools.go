package scheduling

import (
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/pods"
	"github.com/gokarpenter/karpenter/pkg/scheduling/internal/labelreq"
)

// pool is a NodePool compiled for one solve.
type pool struct {
	idx   int
	spec  *NodePool
	reqs  reqSet // requirements ∧ template labels ∧ karpenter.sh/nodepool
	types []int  // universe indices of the types the pool's requirements allow, by price
	// price is the cheapest compatible available offering of each entry of types.
	price      []float64
	dsOverhead vec
	dsPods     []*corev1.Pod
	remaining  vec   // limits left while planning (each NodeClaim reserves its target's capacity)
	budget     vec   // limits left before planning: Limits - Used
	limited    []int // the dimensions the pool limits
	// compat caches, per requirement signature, the compiled view of a pod alternative.
	compat map[string]*compatSet
	// prices caches pricesIn per (zone mask, capacity-type mask).
	prices map[[2]uint64][]offering
	// typeKeys are the keys of the pool's requirements that instance types define (some type
	// carries the label, or it is a provider instance-type label): a type without such a
	// label lacks it, where a key no type defines is a label the pool gives its nodes.
	typeKeys map[string]bool
	// unmet is the key of the first requirement an instance type failed, for the reason
	// when none is left.
	unmet string
	err   error
}

// pricesIn returns, for every position of the pool's types, the cheapest available offering
// within the masks (ct < 0 when there is none). A solve meets only a few distinct masks, so
// the table is built once per mask pair and every later look-up is an index.
func (p *pool) pricesIn(u *universe, zm uint64, cm uint8) []offering {
	key := [2]uint64{zm, uint64(cm)}
	if offs, ok := p.prices[key]; ok {
		return offs
	}
	offs := make([]offering, len(p.types))
	for j, ti := range p.types {
		o, ok := u.types[ti].cheapest(zm, cm)
		if !ok {
			o.ct = -1
		}
		offs[j] = o
	}
	if p.prices == nil {
		p.prices = map[[2]uint64][]offering{}
	}
	p.prices[key] = offs
	return offs
}

// compatSet is the subset of a pool's types one requirement set allows.
type compatSet struct {
	reqs   reqSet // pool ∧ pod requirements
	zm     uint64
	cm     uint8
	bits   []uint64 // over pool.types
	front  []int    // positions in pool.types not dominated on (allocatable, price)
	reason string   // why nothing is compatible, "" when something is
	custom bool     // constrains pool-defined keys that are not instance-type labels
}

func (u *universe) compilePool(np *NodePool, ds []*corev1.Pod) *pool {
	p := &pool{spec: np, compat: map[string]*compatSet{}}
	reqs, err := compileRequirements(np.Requirements)
	if err != nil {
		p.err = fmt.Errorf("NodePool %q: %w", np.Name, err)
		return p
	}
	reqs, bad := reqs.And(labelreq.FromLabels(np.Labels))
	reqs = reqs.With(labelreq.In(labelNodePool, np.Name))
	if bad != "" {
		p.err = fmt.Errorf("NodePool %q: template labels conflict with requirements on %s", np.Name, bad)
	}
	p.reqs = reqs
	p.typeKeys = typeKeys(reqs, np.Labels, np.InstanceTypes)
	zm, cm := u.masks(reqs)
	for _, it := range np.InstanceTypes {
		ti := u.compile(it)
		t := &u.types[ti]
		if key, ok := t.labelsMatch(reqs, p.defines); !ok {
			if p.unmet == "" {
				p.unmet = key
			}
			continue
		}
		if o, ok := t.cheapest(zm, cm); ok && !slices.Contains(p.types, ti) {
			p.types = append(p.types, ti)
			p.price = append(p.price, o.price)
		}
	}
	p.sortByPrice(u)
	p.limits(u)
	for _, d := range ds {
		if !tolerates(d.Spec.Tolerations, np.Taints) || !podAllowsPool(d, reqs) {
			continue
		}
		r, err := u.res.podRequests(&d.Spec)
		if err != nil {
			// It asks for more than maxAmount of something (the API server refuses negative
			// requests): no node can run it, so it takes nothing on the pool's nodes.
			continue
		}
		p.dsOverhead.add(&r)
		p.dsPods = append(p.dsPods, d)
	}
	return p
}

func (p *pool) sortByPrice(u *universe) {
	idx := make([]int, len(p.types))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if c := cmpFloat(p.price[a], p.price[b]); c != 0 {
			return c
		}
		return strings.Compare(u.types[p.types[a]].src.Name, u.types[p.types[b]].src.Name)
	})
	types, price := make([]int, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		types[i], price[i] = p.types[j], p.price[j]
	}
	p.types, p.price = types, price
}

func (p *pool) limits(u *universe) {
	p.remaining = vec{}
	for i := range p.remaining.a {
		p.remaining.a[i] = math.MaxInt64
	}
	for _, name := range sortedNames(p.spec.Limits) {
		slot, ok := u.res.slot(name)
		if !ok {
			continue
		}
		p.remaining.set(slot, quantityValue(slot, p.spec.Limits[name])-quantityValue(slot, p.spec.Used[name]))
		p.limited = append(p.limited, slot)
	}
	p.budget = p.remaining
}

// limitedAny reports whether the pool has any limit.
func (p *pool) limitedAny() bool {
	return len(p.limited) > 0
}

// withinLimits reports whether capacity c fits what is left of the pool's limits.
func (p *pool) withinLimits(c *vec) bool {
	for _, d := range p.limited {
		if c.get(d) > p.remaining.get(d) {
			return false
		}
	}
	return true
}

// swapWithinLimits reports whether NodeClaims reserving capacity old may reserve capacity
// c instead within what is left of the pool's limits.
func (p *pool) swapWithinLimits(old, c *vec) bool {
	for _, d := range p.limited {
		if c.get(d)-old.get(d) > p.remaining.get(d) {
			return false
		}
	}
	return true
}

// reservedBy is the capacity NodeClaims ns reserve against their pool's limits: their
// target types'.
func (s *solver) reservedBy(ns []*node) vec {
	var v vec
	for _, n := range ns {
		v.add(&s.u.types[n.pool.types[n.target]].capacity)
	}
	return v
}

// swapReserved makes NodeClaims' reservation capacity c instead of old.
func (p *pool) swapReserved(old, c *vec) {
	for _, d := range p.limited {
		p.remaining.set(d, p.remaining.get(d)+old.get(d)-c.get(d))
	}
}

// defines reports whether nodes of the pool get a label for key whatever their type.
func (p *pool) defines(key string) bool {
	r, ok := p.reqs.Get(key)
	return ok && !r.AllowAbsent && !p.typeKeys[key]
}

// typeKeys lists the keys of reqs that instance types define (pool.typeKeys); a key of the
// pool's template labels is the pool's, whatever its domain.
func typeKeys(reqs reqSet, templateLabels map[string]string, its []*cloudprovider.InstanceType) map[string]bool {
	keys := map[string]bool{}
	for i := range reqs {
		k := reqs[i].Key
		if _, templated := templateLabels[k]; templated || k == labelZone || k == labelCapacityType || k == labelNodePool {
			continue
		}
		if cloudprovider.IsInstanceTypeLabel(k) || slices.ContainsFunc(its, func(it *cloudprovider.InstanceType) bool {
			_, ok := it.Labels[k]
			return ok
		}) {
			keys[k] = true
		}
	}
	return keys
}

// podAllowsPool reports whether a DaemonSet pod's node selector and required node affinity
// can be met by some node of a pool with these requirements.
func podAllowsPool(pod *corev1.Pod, reqs reqSet) bool {
	alts, err := nodeAlternatives(pod)
	if err != nil {
		return false
	}
	for _, a := range alts {
		if _, bad := reqs.And(a); bad == "" {
			return true
		}
	}
	return false
}

// tolerates reports whether tolerations cover every NoSchedule and NoExecute taint
// (pods.Tolerates).
func tolerates(tols []corev1.Toleration, taints []corev1.Taint) bool {
	return pods.Tolerates(tols, taints)
}
