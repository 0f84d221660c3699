package cloudprovider_test

import (
	"errors"
	"fmt"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// A provider launches the cheapest available offering that satisfies the NodeClaim, and
// callers branch on the typed error when there is none.
func ExampleCheapest() {
	its := []*cloudprovider.InstanceType{{
		Name:   "m7i.large",
		Labels: map[string]string{v1.LabelArch: "amd64"},
		Offerings: []cloudprovider.Offering{
			{Zone: "us-east-1a", CapacityType: "spot", PricePerHour: 0.04, Available: false},
			{Zone: "us-east-1a", CapacityType: "on-demand", PricePerHour: 0.1008, Available: true},
		},
	}}
	claim := &v1.NodeClaim{Spec: v1.NodeClaimSpec{Requirements: []v1.NodeSelectorRequirementWithMinValues{
		{Key: v1.LabelArch, Operator: v1.NodeSelectorOpIn, Values: []string{"amd64"}},
	}}}
	chosen, err := cloudprovider.Cheapest(cloudprovider.Candidates(its, claim))
	fmt.Println(chosen.InstanceType.Name, chosen.Offering.CapacityType, err)

	claim.Spec.Requirements = append(claim.Spec.Requirements, v1.NodeSelectorRequirementWithMinValues{
		Key: v1.CapacityTypeLabelKey, Operator: v1.NodeSelectorOpIn, Values: []string{"spot"},
	})
	_, err = cloudprovider.Cheapest(cloudprovider.Candidates(its, claim))
	fmt.Println(cloudprovider.IsInsufficientCapacityError(err), errors.Is(err, cloudprovider.ErrNoAvailableOffering))
	// Output:
	// m7i.large on-demand <nil>
	// true true
}
