package aws_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	clocktesting "k8s.io/utils/clock/testing"

	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
)

// slowTypes blocks DescribeInstanceTypes on release once armed, after signalling entered.
type slowTypes struct {
	awsprovider.EC2API
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (f *slowTypes) DescribeInstanceTypes(ctx context.Context, in *ec2.DescribeInstanceTypesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	if f.armed.CompareAndSwap(true, false) {
		close(f.entered)
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return f.EC2API.DescribeInstanceTypes(ctx, in, opts...)
}

// TestSlowTypesRefreshDoesNotBlockGet: while one caller refreshes the expired instance
// types (DescribeInstanceTypes blocked), Get answers from the previous types instead of
// waiting on the provider's lock.
func TestSlowTypesRefreshDoesNotBlockGet(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	slow := &slowTypes{entered: make(chan struct{}), release: make(chan struct{})}
	s := newSetup(t, "slowtypes", setupOptions{clock: clk, wrap: func(api awsprovider.EC2API) awsprovider.EC2API {
		slow.EC2API = api
		return slow
	}})
	ctx := t.Context()
	launched, err := s.provider.Create(ctx, nodeClaim("slowtypes-1", "slowtypes"))
	if err != nil {
		t.Fatal(err)
	}
	defer terminate(t, s.provider, launched)

	clk.Step(time.Hour) // the cached types expire
	slow.armed.Store(true)
	refreshed := make(chan error, 1)
	go func() {
		_, err := s.provider.GetInstanceTypes(ctx, nil)
		refreshed <- err
	}()
	select {
	case <-slow.entered:
	case <-time.After(60 * time.Second):
		close(slow.release)
		t.Fatal("GetInstanceTypes never refreshed the expired types")
	}
	got := make(chan error, 1)
	go func() {
		nc, err := s.provider.Get(ctx, launched.Status.ProviderID)
		if err == nil && nc.Status.ProviderID != launched.Status.ProviderID {
			t.Errorf("Get answered %q, want %q", nc.Status.ProviderID, launched.Status.ProviderID)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("Get during the refresh: %v", err)
		}
		close(slow.release)
	case <-time.After(30 * time.Second):
		t.Error("Get waited for the slow DescribeInstanceTypes")
		close(slow.release)
		<-got
	}
	if err := <-refreshed; err != nil {
		t.Fatalf("refresh: %v", err)
	}
}
