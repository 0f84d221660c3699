package aws_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
)

// notYetVisible answers DescribeInstances by ID with InvalidInstanceID.NotFound, as EC2
// does for seconds after a launch (eventual consistency).
type notYetVisible struct {
	awsprovider.EC2API
	mu        sync.Mutex
	notFound  int
	fleetRuns int
}

func (f *notYetVisible) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	f.mu.Lock()
	f.fleetRuns++
	f.mu.Unlock()
	return f.EC2API.CreateFleet(ctx, in, opts...)
}

func (f *notYetVisible) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if len(in.InstanceIds) > 0 {
		f.mu.Lock()
		f.notFound++
		f.mu.Unlock()
		return nil, &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound", Message: "The instance ID does not exist"}
	}
	return f.EC2API.DescribeInstances(ctx, in, opts...)
}

// TestCreateWhileInstanceNotYetVisible: once CreateFleet returned an instance, Create
// returns its NodeClaim (built from the fleet's answer) even though DescribeInstances does
// not see the instance yet, so the lifecycle never launches a second one.
func TestCreateWhileInstanceNotYetVisible(t *testing.T) {
	var f *notYetVisible
	s := newSetup(t, "eventual", setupOptions{wrap: func(api awsprovider.EC2API) awsprovider.EC2API {
		f = &notYetVisible{EC2API: api}
		return f
	}})
	ctx := t.Context()
	nc := nodeClaim("eventual-1", "eventual")
	launched, err := s.provider.Create(ctx, nc)
	if err != nil {
		t.Fatalf("Create failed although CreateFleet launched an instance: %v", err)
	}
	f.mu.Lock()
	runs, nf := f.fleetRuns, f.notFound
	f.mu.Unlock()
	if runs != 1 {
		t.Errorf("%d CreateFleet calls, want 1", runs)
	}
	if nf == 0 {
		t.Error("the test never answered DescribeInstances with NotFound")
	}
	id, err := awsprovider.InstanceIDFromProviderID(launched.Status.ProviderID)
	if err != nil {
		t.Fatalf("provider ID %q: %v", launched.Status.ProviderID, err)
	}
	zone := launched.Labels[v1.LabelTopologyZone]
	if zone == "" || !strings.Contains(launched.Status.ProviderID, "/"+zone+"/") {
		t.Errorf("zone label %q, provider ID %q", zone, launched.Status.ProviderID)
	}
	if launched.Labels[v1.LabelInstanceType] == "" || launched.Labels[v1.CapacityTypeLabelKey] == "" {
		t.Errorf("labels %v lack the instance type or capacity type", launched.Labels)
	}
	if launched.Status.Capacity.Cpu().IsZero() || launched.Status.ImageID == "" {
		t.Errorf("capacity %v, image %q: not built from the launched offering", launched.Status.Capacity, launched.Status.ImageID)
	}
	if launched.Name != nc.Name {
		t.Errorf("name %q, want %q", launched.Name, nc.Name)
	}
	// Clean up with the real API (the wrapper hides the instance).
	if _, err := moto.Clients().EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
}
