package conformance

import (
	"slices"
	"strconv"
	"testing"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// allowed is what a NodeClaim of the requirements case permits; nil sets allow anything.
type allowed struct {
	types, zones, capacityTypes []string
	notTypes                    []string
}

func (a allowed) requirements() []v1.NodeSelectorRequirementWithMinValues {
	var reqs []v1.NodeSelectorRequirementWithMinValues
	if a.types != nil {
		reqs = append(reqs, In(v1.LabelInstanceType, a.types...))
	}
	if a.notTypes != nil {
		reqs = append(reqs, NotIn(v1.LabelInstanceType, a.notTypes...))
	}
	if a.zones != nil {
		reqs = append(reqs, In(v1.LabelTopologyZone, a.zones...))
	}
	if a.capacityTypes != nil {
		reqs = append(reqs, In(v1.CapacityTypeLabelKey, a.capacityTypes...))
	}
	return reqs
}

func (a allowed) permits(it *cloudprovider.InstanceType, o cloudprovider.Offering) bool {
	ok := func(set []string, v string) bool { return set == nil || slices.Contains(set, v) }
	return ok(a.types, it.Name) && !slices.Contains(a.notTypes, it.Name) && ok(a.zones, o.Zone) && ok(a.capacityTypes, o.CapacityType)
}

// cheapest is the lowest price of an available permitted offering, computed here
// independently of cloudprovider.Candidates.
func (a allowed) cheapest(its []*cloudprovider.InstanceType) (float64, bool) {
	best, found := 0.0, false
	for _, it := range its {
		for _, o := range it.Offerings {
			if o.Available && a.permits(it, o) && (!found || o.PricePerHour < best) {
				best, found = o.PricePerHour, true
			}
		}
	}
	return best, found
}

func (s suite) respectsRequirements(t *testing.T, p cloudprovider.CloudProvider) {
	its, err := p.GetInstanceTypes(t.Context(), s.nodePool())
	if err != nil {
		t.Fatal(err)
	}
	byPrice := slices.Clone(its)
	slices.SortFunc(byPrice, func(a, b *cloudprovider.InstanceType) int {
		pa, _ := allowed{types: []string{a.Name}}.cheapest(its)
		pb, _ := allowed{types: []string{b.Name}}.cheapest(its)
		switch {
		case pa < pb:
			return -1
		case pa > pb:
			return 1
		}
		return 0
	})
	var zones, capacityTypes []string
	for _, it := range its {
		for _, o := range it.Offerings {
			if !slices.Contains(zones, o.Zone) {
				zones = append(zones, o.Zone)
			}
			if !slices.Contains(capacityTypes, o.CapacityType) {
				capacityTypes = append(capacityTypes, o.CapacityType)
			}
		}
	}
	slices.Sort(zones)
	slices.Sort(capacityTypes)
	// A few mid-priced types so the cheapest overall is not simply the answer.
	mid := names(byPrice[len(byPrice)/2 : min(len(byPrice), len(byPrice)/2+3)])
	cases := []struct {
		name string
		a    allowed
	}{
		{"anything", allowed{}},
		{"instance types", allowed{types: mid}},
		{"not the cheapest type", allowed{notTypes: names(byPrice[:1])}},
		{"last zone", allowed{zones: zones[len(zones)-1:]}},
	}
	for _, ct := range capacityTypes {
		cases = append(cases, struct {
			name string
			a    allowed
		}{"capacity type " + ct, allowed{types: mid, capacityTypes: []string{ct}, zones: zones[:1]}})
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, ok := c.a.cheapest(its)
			if !ok {
				t.Skip("no available offering is permitted")
			}
			launched := s.create(t, p, s.nodeClaim("req-"+strconv.Itoa(i), c.a.requirements()...))
			it := find(its, launched.Labels[v1.LabelInstanceType])
			if it == nil {
				t.Fatalf("launched unknown instance type %q", launched.Labels[v1.LabelInstanceType])
			}
			var chosen *cloudprovider.Offering
			for j := range it.Offerings {
				o := &it.Offerings[j]
				if o.Zone == launched.Labels[v1.LabelTopologyZone] && o.CapacityType == launched.Labels[v1.CapacityTypeLabelKey] {
					chosen = o
				}
			}
			if chosen == nil {
				t.Fatalf("launched %s in %s/%s, which is not one of its offerings", it.Name, launched.Labels[v1.LabelTopologyZone], launched.Labels[v1.CapacityTypeLabelKey])
			}
			if !c.a.permits(it, *chosen) {
				t.Errorf("launched %s %s %s outside %+v", it.Name, chosen.Zone, chosen.CapacityType, c.a)
			}
			if chosen.PricePerHour != want {
				t.Errorf("launched %s %s %s at $%.4f/h, the cheapest permitted costs $%.4f/h", it.Name, chosen.Zone, chosen.CapacityType, chosen.PricePerHour, want)
			}
			if err := p.Delete(t.Context(), launched); err != nil {
				t.Errorf("deleting: %v", err)
			}
		})
	}
}

func names(its []*cloudprovider.InstanceType) []string {
	out := make([]string, len(its))
	for i, it := range its {
		out[i] = it.Name
	}
	return out
}

func find(its []*cloudprovider.InstanceType, name string) *cloudprovider.InstanceType {
	for _, it := range its {
		if it.Name == name {
			return it
		}
	}
	return nil
}
