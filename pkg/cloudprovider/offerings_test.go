package cloudprovider_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

func req(key string, op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorRequirementWithMinValues {
	return v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: op, Values: values}
}

func TestMatches(t *testing.T) {
	labels := map[string]string{"cpu": "4", "arch": "amd64"}
	tests := []struct {
		req  v1.NodeSelectorRequirementWithMinValues
		want bool
	}{
		{req("arch", v1.NodeSelectorOpIn, "arm64", "amd64"), true},
		{req("arch", v1.NodeSelectorOpIn, "arm64"), false},
		{req("missing", v1.NodeSelectorOpIn, "x"), false},
		{req("arch", v1.NodeSelectorOpNotIn, "amd64"), false},
		{req("arch", v1.NodeSelectorOpNotIn, "arm64"), true},
		{req("missing", v1.NodeSelectorOpNotIn, "x"), true},
		{req("arch", v1.NodeSelectorOpExists), true},
		{req("missing", v1.NodeSelectorOpExists), false},
		{req("arch", v1.NodeSelectorOpDoesNotExist), false},
		{req("missing", v1.NodeSelectorOpDoesNotExist), true},
		{req("cpu", v1.NodeSelectorOpGt, "3"), true},
		{req("cpu", v1.NodeSelectorOpGt, "4"), false},
		{req("cpu", v1.NodeSelectorOpGte, "4"), true},
		{req("cpu", v1.NodeSelectorOpGte, "5"), false},
		{req("cpu", v1.NodeSelectorOpLt, "5"), true},
		{req("cpu", v1.NodeSelectorOpLt, "4"), false},
		{req("cpu", v1.NodeSelectorOpLte, "4"), true},
		{req("cpu", v1.NodeSelectorOpLte, "3"), false},
		{req("arch", v1.NodeSelectorOpGt, "3"), false},    // not a number
		{req("missing", v1.NodeSelectorOpLt, "3"), false}, // missing label
		{req("cpu", "Bogus", "4"), false},
	}
	for _, tt := range tests {
		if got := cloudprovider.Matches(tt.req, labels); got != tt.want {
			t.Errorf("%s %s %v on %v = %v, want %v", tt.req.Key, tt.req.Operator, tt.req.Values, labels, got, tt.want)
		}
	}
}

func instanceType(name string, cpu string, prices map[string]float64, available bool) *cloudprovider.InstanceType {
	it := &cloudprovider.InstanceType{
		Name:     name,
		Labels:   map[string]string{v1.LabelInstanceType: name, v1.LabelArch: "amd64", "example.com/cpu": cpu},
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourcePods: resource.MustParse("10")},
	}
	for key, price := range prices { // key is zone/capacity-type
		zone, ct, _ := strings.Cut(key, "/")
		it.Offerings = append(it.Offerings, cloudprovider.Offering{Zone: zone, CapacityType: ct, PricePerHour: price, Available: available})
	}
	return it
}

func TestCandidatesAndCheapest(t *testing.T) {
	small := instanceType("small", "2", map[string]float64{"a/spot": 0.02, "a/on-demand": 0.1, "b/on-demand": 0.1}, true)
	large := instanceType("large", "8", map[string]float64{"a/spot": 0.08, "b/on-demand": 0.4}, true)
	gone := instanceType("gone", "1", map[string]float64{"a/on-demand": 0.01}, false)
	all := []*cloudprovider.InstanceType{small, large, gone}
	claim := func(requests corev1.ResourceList, reqs ...v1.NodeSelectorRequirementWithMinValues) *v1.NodeClaim {
		return &v1.NodeClaim{Spec: v1.NodeClaimSpec{Requirements: reqs, Resources: v1.ResourceRequirements{Requests: requests}}}
	}
	tests := []struct {
		name      string
		claim     *v1.NodeClaim
		wantType  string
		wantZone  string
		wantCT    string
		wantICE   bool
		wantNoFit bool
	}{
		{name: "cheapest available overall skips the unavailable cheaper one", claim: claim(nil), wantType: "small", wantZone: "a", wantCT: "spot"},
		{name: "on-demand only, tie broken by zone", claim: claim(nil, req(v1.CapacityTypeLabelKey, v1.NodeSelectorOpIn, "on-demand"), req(v1.LabelInstanceType, v1.NodeSelectorOpNotIn, "gone")), wantType: "small", wantZone: "a", wantCT: "on-demand"},
		{name: "zone b", claim: claim(nil, req(v1.LabelTopologyZone, v1.NodeSelectorOpIn, "b")), wantType: "small", wantZone: "b", wantCT: "on-demand"},
		{name: "numeric provider label", claim: claim(nil, req("example.com/cpu", v1.NodeSelectorOpGt, "4")), wantType: "large", wantZone: "a", wantCT: "spot"},
		{name: "resource requests filter", claim: claim(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}), wantType: "large", wantZone: "a", wantCT: "spot"},
		{name: "keys the provider does not decide are ignored", claim: claim(nil, req(v1.NodePoolLabelKey, v1.NodeSelectorOpIn, "default"), req("team", v1.NodeSelectorOpIn, "x")), wantType: "small", wantZone: "a", wantCT: "spot"},
		{name: "only unavailable offerings", claim: claim(nil, req(v1.LabelInstanceType, v1.NodeSelectorOpIn, "gone")), wantICE: true},
		{name: "nothing satisfies", claim: claim(nil, req(v1.LabelArch, v1.NodeSelectorOpIn, "arm64")), wantNoFit: true},
		{name: "nothing fits", claim: claim(corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}), wantNoFit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cands := cloudprovider.Candidates(all, tt.claim)
			for i := 1; i < len(cands); i++ {
				if cands[i-1].Offering.PricePerHour > cands[i].Offering.PricePerHour {
					t.Fatalf("candidates not price-ordered: %v", cands)
				}
			}
			got, err := cloudprovider.Cheapest(cands)
			switch {
			case tt.wantICE:
				if !cloudprovider.IsInsufficientCapacityError(err) {
					t.Fatalf("err = %v, want insufficient capacity", err)
				}
			case tt.wantNoFit:
				if ce := cloudprovider.AsCreateError(err); ce == nil || ce.Reason != cloudprovider.ReasonNoCompatibleInstanceType {
					t.Fatalf("err = %v, want CreateError %s", err, cloudprovider.ReasonNoCompatibleInstanceType)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got.InstanceType.Name != tt.wantType || got.Offering.Zone != tt.wantZone || got.Offering.CapacityType != tt.wantCT {
					t.Fatalf("got %s %s %s, want %s %s %s", got.InstanceType.Name, got.Offering.Zone, got.Offering.CapacityType, tt.wantType, tt.wantZone, tt.wantCT)
				}
				labels := got.Labels()
				if labels[v1.LabelTopologyZone] != tt.wantZone || labels[v1.CapacityTypeLabelKey] != tt.wantCT || labels[v1.LabelInstanceType] != tt.wantType {
					t.Fatalf("labels %v", labels)
				}
			}
		})
	}
}

func TestFits(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	for _, tt := range []struct {
		req  corev1.ResourceList
		want bool
	}{
		{nil, true},
		{corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}, true},
		{corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2001m")}, false},
		{corev1.ResourceList{"x": resource.MustParse("0")}, true},
		{corev1.ResourceList{"x": resource.MustParse("1")}, false},
	} {
		if got := cloudprovider.Fits(alloc, tt.req); got != tt.want {
			t.Errorf("Fits(%v) = %v, want %v", tt.req, got, tt.want)
		}
	}
}

// TestCandidatesMatchOfferingLabels: Candidates, which checks an offering's zone and capacity
// type apart from its type's labels, keeps exactly the offerings whose OfferingLabels satisfy
// every requirement on a provider key, over random requirements on every kind of key.
func TestCandidatesMatchOfferingLabels(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var types []*cloudprovider.InstanceType
	for i, cpu := range []string{"1", "2", "4", "8", "16"} {
		it := instanceType(fmt.Sprintf("t%d.large", i), cpu, map[string]float64{"zone-a": 0.1 * float64(i+1), "zone-b": 0.1*float64(i+1) + 0.01}, true)
		it.Labels = map[string]string{"cpu": cpu, "family": []string{"m", "c", "r"}[i%3]}
		it.Offerings = append(it.Offerings, cloudprovider.Offering{Zone: "zone-a", CapacityType: v1.CapacityTypeSpot, PricePerHour: 0.05 * float64(i+1), Available: true})
		types = append(types, it)
	}
	keys := []string{"cpu", "family", v1.LabelInstanceType, v1.LabelTopologyZone, v1.CapacityTypeLabelKey, "other"}
	values := map[string][]string{
		"cpu": {"1", "4", "16", "3"}, "family": {"m", "c", "x"}, v1.LabelInstanceType: {"t0.large", "t3.large", "none"},
		v1.LabelTopologyZone: {"zone-a", "zone-b", "zone-c"}, v1.CapacityTypeLabelKey: {v1.CapacityTypeSpot, v1.CapacityTypeOnDemand}, "other": {"x"},
	}
	ops := []v1.NodeSelectorOperator{v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn, v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist, v1.NodeSelectorOpGt, v1.NodeSelectorOpLt}
	for range 2000 {
		nc := &v1.NodeClaim{}
		for range rng.IntN(4) {
			key := keys[rng.IntN(len(keys))]
			op := ops[rng.IntN(len(ops))]
			r := req(key, op)
			switch op {
			case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
				for range 1 + rng.IntN(2) {
					r.Values = append(r.Values, values[key][rng.IntN(len(values[key]))])
				}
			case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
				r.Values = []string{fmt.Sprint(rng.IntN(10))}
			}
			nc.Spec.Requirements = append(nc.Spec.Requirements, r)
		}
		got := map[string]bool{}
		for _, c := range cloudprovider.Candidates(types, nc) {
			got[c.InstanceType.Name+"/"+c.Offering.Zone+"/"+c.Offering.CapacityType] = true
		}
		var reqs []v1.NodeSelectorRequirementWithMinValues
		for _, r := range nc.Spec.Requirements {
			if r.Key != "other" { // not a provider key: it constrains nothing here
				reqs = append(reqs, r)
			}
		}
		for _, it := range types {
			for _, o := range it.Offerings {
				key := it.Name + "/" + o.Zone + "/" + o.CapacityType
				if want := cloudprovider.MatchesAll(reqs, cloudprovider.OfferingLabels(it, o)); got[key] != want {
					t.Fatalf("requirements %v: offering %s kept=%v, its labels match=%v", nc.Spec.Requirements, key, got[key], want)
				}
			}
		}
	}
}
