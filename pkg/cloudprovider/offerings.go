package cloudprovider

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// ReasonNoCompatibleInstanceType is the CreateError reason when no instance type and
// offering satisfy a NodeClaim's requirements and resource requests at all.
const ReasonNoCompatibleInstanceType = "NoCompatibleInstanceType"

// ErrNoAvailableOffering is wrapped by the InsufficientCapacityError of Cheapest.
var ErrNoAvailableOffering = errors.New("every compatible offering is unavailable")

// Candidate is one way to launch a NodeClaim: an instance type and one of its offerings.
type Candidate struct {
	InstanceType *InstanceType
	Offering     Offering
}

// Labels are the labels a node launched as this candidate carries: the instance type's
// labels plus zone and capacity type.
func (c Candidate) Labels() map[string]string {
	return OfferingLabels(c.InstanceType, c.Offering)
}

// OfferingLabels returns the instance type's labels plus the offering's zone and capacity type.
func OfferingLabels(it *InstanceType, o Offering) map[string]string {
	labels := make(map[string]string, len(it.Labels)+3)
	for k, v := range it.Labels {
		labels[k] = v
	}
	labels[v1.LabelInstanceType] = it.Name
	labels[v1.LabelTopologyZone] = o.Zone
	labels[v1.CapacityTypeLabelKey] = o.CapacityType
	return labels
}

// Candidates returns every offering of the instance types that satisfies the NodeClaim's
// requirements and whose allocatable fits its resource requests, cheapest first (ties by
// instance type name, zone, then capacity type, so the order is deterministic).
// Unavailable offerings are included; Cheapest skips them.
//
// Requirements are evaluated only on keys the provider decides: instance type, zone,
// capacity type, arch, os and every label key any of the instance types carries (the
// karpenter.k8s.aws/instance-* labels, for instance). Other keys, such as
// karpenter.sh/nodepool or a user's team=x, are labels the node is given, not properties
// of the machine, so they constrain nothing here. Operators follow Kubernetes node
// affinity: In, NotIn, Exists, DoesNotExist, Gt and Lt, plus Karpenter's Gte and Lte; a
// missing label fails In, Exists and the numeric operators and passes NotIn and
// DoesNotExist.
func Candidates(instanceTypes []*InstanceType, nodeClaim *v1.NodeClaim) []Candidate {
	keys := providerKeys(instanceTypes)
	var reqs []v1.NodeSelectorRequirementWithMinValues
	for _, r := range nodeClaim.Spec.Requirements {
		if keys[r.Key] {
			reqs = append(reqs, r)
		}
	}
	// Offerings differ from their type only in zone and capacity type: the other
	// requirements are checked once per type, and no label map is built per offering (this
	// runs for every in-flight NodeClaim on every provisioning pass).
	var typeReqs, offeringReqs []v1.NodeSelectorRequirementWithMinValues
	for _, r := range reqs {
		switch r.Key {
		case v1.LabelTopologyZone, v1.CapacityTypeLabelKey:
			offeringReqs = append(offeringReqs, r)
		default:
			typeReqs = append(typeReqs, r)
		}
	}
	var out []Candidate
	for _, it := range instanceTypes {
		if !typeMatches(typeReqs, it) || !Fits(it.Allocatable(), nodeClaim.Spec.Resources.Requests) {
			continue
		}
		for _, o := range it.Offerings {
			if offeringMatches(offeringReqs, o) {
				out = append(out, Candidate{InstanceType: it, Offering: o})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		switch {
		case a.Offering.PricePerHour < b.Offering.PricePerHour:
			return -1
		case a.Offering.PricePerHour > b.Offering.PricePerHour:
			return 1
		}
		if c := strings.Compare(a.InstanceType.Name, b.InstanceType.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Offering.Zone, b.Offering.Zone); c != 0 {
			return c
		}
		return strings.Compare(a.Offering.CapacityType, b.Offering.CapacityType)
	})
	return out
}

// Cheapest returns the first available candidate of a price-ordered list. With no
// candidate at all it returns a CreateError (reason ReasonNoCompatibleInstanceType); with
// candidates that are all unavailable, an InsufficientCapacityError.
func Cheapest(candidates []Candidate) (Candidate, error) {
	for _, c := range candidates {
		if c.Offering.Available {
			return c, nil
		}
	}
	if len(candidates) == 0 {
		err := errors.New("no instance type satisfies the requirements and resource requests")
		return Candidate{}, NewCreateError(err, ReasonNoCompatibleInstanceType, err.Error())
	}
	return Candidate{}, NewInsufficientCapacityError(fmt.Errorf("choosing among %d offerings: %w", len(candidates), ErrNoAvailableOffering))
}

// Fits reports whether every request is at most what is allocatable; a resource missing
// from allocatable fits only a zero request.
func Fits(allocatable, requests corev1.ResourceList) bool {
	for name, req := range requests {
		alloc, ok := allocatable[name]
		if !ok {
			if req.Sign() > 0 {
				return false
			}
			continue
		}
		if req.Cmp(alloc) > 0 {
			return false
		}
	}
	return true
}

// MatchesAll reports whether labels satisfy every requirement.
func MatchesAll(reqs []v1.NodeSelectorRequirementWithMinValues, labels map[string]string) bool {
	for _, r := range reqs {
		if !Matches(r, labels) {
			return false
		}
	}
	return true
}

// typeMatches is MatchesAll on OfferingLabels for requirements on keys other than zone and
// capacity type.
func typeMatches(reqs []v1.NodeSelectorRequirementWithMinValues, it *InstanceType) bool {
	for _, r := range reqs {
		value, ok := it.Labels[r.Key]
		if r.Key == v1.LabelInstanceType {
			value, ok = it.Name, true
		}
		if !matchesValue(r, value, ok) {
			return false
		}
	}
	return true
}

// offeringMatches is MatchesAll on OfferingLabels for requirements on zone and capacity type.
func offeringMatches(reqs []v1.NodeSelectorRequirementWithMinValues, o Offering) bool {
	for _, r := range reqs {
		value := o.Zone
		if r.Key == v1.CapacityTypeLabelKey {
			value = o.CapacityType
		}
		if !matchesValue(r, value, true) {
			return false
		}
	}
	return true
}

// Matches reports whether labels satisfy one requirement (see Candidates for the rules).
func Matches(r v1.NodeSelectorRequirementWithMinValues, labels map[string]string) bool {
	value, ok := labels[r.Key]
	return matchesValue(r, value, ok)
}

// matchesValue reports whether a label's value (ok: the label is present) satisfies r.
func matchesValue(r v1.NodeSelectorRequirementWithMinValues, value string, ok bool) bool {
	switch r.Operator {
	case v1.NodeSelectorOpIn:
		return ok && slices.Contains(r.Values, value)
	case v1.NodeSelectorOpNotIn:
		return !ok || !slices.Contains(r.Values, value)
	case v1.NodeSelectorOpExists:
		return ok
	case v1.NodeSelectorOpDoesNotExist:
		return !ok
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt, v1.NodeSelectorOpGte, v1.NodeSelectorOpLte:
		if !ok || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(value, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		switch r.Operator {
		case v1.NodeSelectorOpGt:
			return have > want
		case v1.NodeSelectorOpLt:
			return have < want
		case v1.NodeSelectorOpGte:
			return have >= want
		default:
			return have <= want
		}
	}
	return false
}

// providerKeys are the label keys a provider decides (see Candidates).
func providerKeys(instanceTypes []*InstanceType) map[string]bool {
	keys := map[string]bool{
		v1.LabelInstanceType: true, v1.LabelTopologyZone: true, v1.CapacityTypeLabelKey: true,
		v1.LabelArch: true, v1.LabelOS: true,
	}
	for _, it := range instanceTypes {
		for k := range it.Labels {
			keys[k] = true
		}
	}
	return keys
}
