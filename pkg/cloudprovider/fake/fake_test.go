package fake_test

import (
	"errors"
	"testing"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/conformance"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(*testing.T) cloudprovider.CloudProvider { return fake.New(fake.Options{}) }, conformance.Options{
		NodeClassRef: &v1.NodeClassReference{Group: fake.NodeClassGVK.Group, Kind: fake.NodeClassGVK.Kind, Name: "default"},
		MakeUnavailable: func(t *testing.T, p cloudprovider.CloudProvider, it, zone, ct string) {
			if !p.(*fake.Provider).SetOfferingAvailable(it, zone, ct, false) {
				t.Fatalf("no offering %s/%s/%s", it, zone, ct)
			}
		},
	})
}

func TestInjectedErrorsAndCallRecords(t *testing.T) {
	ctx := t.Context()
	p := fake.New(fake.Options{})
	ice := cloudprovider.NewInsufficientCapacityError(errors.New("injected"))
	p.FailNext(fake.MethodCreate, ice)
	nc := &v1.NodeClaim{}
	nc.Name = "a"
	if _, err := p.Create(ctx, nc); !errors.Is(err, ice) {
		t.Fatalf("first Create: %v, want the injected error", err)
	}
	launched, err := p.Create(ctx, nc)
	if err != nil {
		t.Fatalf("second Create (the injected error is one-shot): %v", err)
	}
	p.SetDrifted(launched.Status.ProviderID, "ImageDrift")
	if reason, err := p.IsDrifted(ctx, launched); err != nil || reason != "ImageDrift" {
		t.Fatalf("IsDrifted = %q, %v", reason, err)
	}
	if _, err := p.Get(ctx, launched.Status.ProviderID); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, launched); err != nil {
		t.Fatal(err)
	}
	creates := p.Calls(fake.MethodCreate)
	if len(creates) != 2 || !errors.Is(creates[0].Err, ice) || creates[1].Err != nil || creates[1].NodeClaim.Name != "a" {
		t.Fatalf("create calls = %+v", creates)
	}
	if gets := p.Calls(fake.MethodGet); len(gets) != 1 || gets[0].ProviderID != launched.Status.ProviderID {
		t.Fatalf("get calls = %+v", gets)
	}
	if all := p.Calls(); len(all) != 5 {
		t.Fatalf("%d calls recorded, want 5", len(all))
	}
	// Recorded arguments are copies: changing the caller's object changes no record.
	nc.Name = "changed"
	if p.Calls(fake.MethodCreate)[1].NodeClaim.Name != "a" {
		t.Fatal("call record aliases the caller's NodeClaim")
	}
	p.Reset()
	if len(p.Calls()) != 0 {
		t.Fatal("Reset kept calls")
	}
}

func TestSetInstanceTypesCopies(t *testing.T) {
	its := []*cloudprovider.InstanceType{{Name: "x", Offerings: []cloudprovider.Offering{{Zone: "z", CapacityType: "spot", PricePerHour: 1, Available: true}}}}
	p := fake.New(fake.Options{InstanceTypes: its})
	if !p.SetOfferingAvailable("x", "z", "spot", false) {
		t.Fatal("offering not found")
	}
	if !its[0].Offerings[0].Available {
		t.Fatal("marking the fake's offering unavailable changed the caller's instance type")
	}
	got, err := p.GetInstanceTypes(t.Context(), nil)
	if err != nil || len(got) != 1 || got[0].Offerings[0].Available {
		t.Fatalf("GetInstanceTypes = %v, %v", got, err)
	}
	if p.SetOfferingAvailable("x", "other", "spot", false) {
		t.Fatal("a missing offering was reported found")
	}
}

func TestLaunchThenFail(t *testing.T) {
	ctx := t.Context()
	p := fake.New(fake.Options{})
	timeout := errors.New("request timed out")
	p.LaunchThenFail(timeout)
	nc := &v1.NodeClaim{}
	nc.Name = "ambiguous"
	if got, err := p.Create(ctx, nc); !errors.Is(err, timeout) || got != nil {
		t.Fatalf("Create = %v, %v; want nil and the injected error", got, err)
	}
	instances, err := p.List(ctx)
	if err != nil || len(instances) != 1 || instances[0].Name != "ambiguous" {
		t.Fatalf("List = %v, %v; want the instance launched despite the error", instances, err)
	}
	if _, err := p.Create(ctx, nc); err != nil {
		t.Fatalf("second Create (the injected error is one-shot): %v", err)
	}
}
