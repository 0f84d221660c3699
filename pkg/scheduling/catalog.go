package scheduling

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// Well-known label keys the scheduler treats specially.
const (
	labelZone         = corev1.LabelTopologyZone
	labelCapacityType = "karpenter.sh/capacity-type"
	labelNodePool     = "karpenter.sh/nodepool"
	labelHostname     = corev1.LabelHostname
	labelInstanceType = corev1.LabelInstanceTypeStable
	maxCapacityTypes  = 4
	maxZones          = 64
)

// itype is an instance type compiled for one solve.
type itype struct {
	src      *cloudprovider.InstanceType
	alloc    vec
	capacity vec
	// zones[ct] is the mask of zones with an available offering of capacity type ct.
	zones [maxCapacityTypes]uint64
	offs  []offering
}

type offering struct {
	zone, ct int
	price    float64
}

// universe interns zones and capacity types and compiles instance types once per solve.
type universe struct {
	res   resTable
	zones []string
	cts   []string
	types []itype
	index map[*cloudprovider.InstanceType]int
}

func newUniverse(pools []NodePool) *universe {
	u := &universe{index: map[*cloudprovider.InstanceType]int{}}
	zs, cs := map[string]bool{}, map[string]bool{}
	for i := range pools {
		for _, it := range pools[i].InstanceTypes {
			for _, o := range it.Offerings {
				zs[o.Zone], cs[o.CapacityType] = true, true
			}
		}
	}
	u.zones = slices.Sorted(mapKeys(zs))
	u.cts = slices.Sorted(mapKeys(cs))
	if len(u.zones) > maxZones {
		u.zones = u.zones[:maxZones]
	}
	if len(u.cts) > maxCapacityTypes {
		u.cts = u.cts[:maxCapacityTypes]
	}
	return u
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// compile returns the index of it in u.types, compiling it on first use.
func (u *universe) compile(it *cloudprovider.InstanceType) int {
	if i, ok := u.index[it]; ok {
		return i
	}
	t := itype{src: it}
	t.capacity = u.res.vecOf(it.Capacity)
	if slot, ok := u.res.slot(ResourceNodes); ok {
		t.capacity.set(slot, 1) // every NodeClaim is one node against a "nodes" limit
	}
	// Allocatable is capacity minus every overhead part, floored at zero (as
	// InstanceType.Allocatable computes it, without building resource lists).
	t.alloc = t.capacity
	for _, part := range []corev1.ResourceList{it.Overhead.VM, it.Overhead.KubeReserved, it.Overhead.SystemReserved, it.Overhead.EvictionThreshold} {
		o := u.res.vecOf(part)
		t.alloc.sub(&o)
	}
	t.alloc.clamp(0, maxAmount)
	for _, o := range it.Offerings {
		z, c := slices.Index(u.zones, o.Zone), slices.Index(u.cts, o.CapacityType)
		if z < 0 || c < 0 || !o.Available {
			continue
		}
		t.zones[c] |= 1 << z
		t.offs = append(t.offs, offering{zone: z, ct: c, price: o.PricePerHour})
	}
	slices.SortStableFunc(t.offs, func(a, b offering) int {
		if a.price != b.price {
			return cmpFloat(a.price, b.price)
		}
		if a.zone != b.zone {
			return a.zone - b.zone
		}
		return a.ct - b.ct
	})
	u.types = append(u.types, t)
	u.index[it] = len(u.types) - 1
	return len(u.types) - 1
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// masks returns the zone and capacity-type masks a requirement set allows.
func (u *universe) masks(s reqSet) (uint64, uint8) {
	zm, cm := uint64(0), uint8(0)
	zr, hasZ := s.Get(labelZone)
	cr, hasC := s.Get(labelCapacityType)
	for i, z := range u.zones {
		if !hasZ || zr.HasValue(z) {
			zm |= 1 << i
		}
	}
	for i, c := range u.cts {
		if !hasC || cr.HasValue(c) {
			cm |= 1 << i
		}
	}
	return zm, cm
}

// cheapest returns the cheapest available offering of type t within the masks.
func (t *itype) cheapest(zm uint64, cm uint8) (offering, bool) {
	for _, o := range t.offs {
		if zm&(1<<o.zone) != 0 && cm&(1<<o.ct) != 0 {
			return o, true
		}
	}
	return offering{}, false
}

// hasOffering reports whether t can be launched within the masks.
func (t *itype) hasOffering(zm uint64, cm uint8) bool {
	for c := range maxCapacityTypes {
		if cm&(1<<c) != 0 && t.zones[c]&zm != 0 {
			return true
		}
	}
	return false
}

// zonesFor is the mask of zones t offers within a capacity-type mask.
func (t *itype) zonesFor(cm uint8) uint64 {
	var z uint64
	for c := range maxCapacityTypes {
		if cm&(1<<c) != 0 {
			z |= t.zones[c]
		}
	}
	return z
}

// labelsMatch reports whether t's labels satisfy s, ignoring zone and capacity type (which
// offerings decide) and keys the pool defines (defined reports those).
func (t *itype) labelsMatch(s reqSet, defined func(string) bool) (string, bool) {
	for i := range s {
		r := &s[i]
		if r.Key == labelZone || r.Key == labelCapacityType {
			continue
		}
		v, ok := t.src.Labels[r.Key]
		if !ok && defined(r.Key) {
			continue
		}
		if !r.Matches(v, ok) {
			return r.Key, false
		}
	}
	return "", true
}
