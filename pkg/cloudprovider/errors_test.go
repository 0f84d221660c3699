package cloudprovider_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

func TestTypedErrors(t *testing.T) {
	cause := errors.New("boom")
	kinds := []struct {
		name   string
		make   func(error) error
		is     func(error) bool
		ignore func(error) error
	}{
		{"NodeClaimNotFound", func(e error) error { return cloudprovider.NewNodeClaimNotFoundError(e) }, cloudprovider.IsNodeClaimNotFoundError, cloudprovider.IgnoreNodeClaimNotFoundError},
		{"InsufficientCapacity", func(e error) error { return cloudprovider.NewInsufficientCapacityError(e) }, cloudprovider.IsInsufficientCapacityError, cloudprovider.IgnoreInsufficientCapacityError},
		{"NodeClassNotReady", func(e error) error { return cloudprovider.NewNodeClassNotReadyError(e) }, cloudprovider.IsNodeClassNotReadyError, cloudprovider.IgnoreNodeClassNotReadyError},
		{"Create", func(e error) error { return cloudprovider.NewCreateError(e, "Reason", "msg") }, cloudprovider.IsCreateError, cloudprovider.IgnoreCreateError},
	}
	for i, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			err := k.make(cause)
			wrapped := fmt.Errorf("launching: %w", err)
			if !k.is(err) || !k.is(wrapped) {
				t.Fatalf("Is%s false for %v", k.name, wrapped)
			}
			if !errors.Is(wrapped, cause) {
				t.Errorf("the cause is not reachable through Unwrap")
			}
			if k.ignore(wrapped) != nil {
				t.Errorf("Ignore%s kept %v", k.name, wrapped)
			}
			if k.is(nil) || k.ignore(nil) != nil {
				t.Errorf("nil is not a %s", k.name)
			}
			if k.is(cause) || k.ignore(cause) != cause {
				t.Errorf("a plain error was taken for a %s", k.name)
			}
			// No kind is mistaken for another.
			for j, other := range kinds {
				if j != i && other.is(wrapped) {
					t.Errorf("%s error is also a %s", k.name, other.name)
				}
			}
		})
	}
}

func TestCreateErrorFields(t *testing.T) {
	err := fmt.Errorf("launching: %w", cloudprovider.NewCreateError(errors.New("quota"), "QuotaExceeded", "vCPU quota"))
	ce := cloudprovider.AsCreateError(err)
	if ce == nil || ce.Reason != "QuotaExceeded" || ce.Message != "vCPU quota" {
		t.Fatalf("AsCreateError = %+v", ce)
	}
	if cloudprovider.AsCreateError(errors.New("x")) != nil {
		t.Fatalf("AsCreateError found a CreateError in a plain error")
	}
	if got, want := ce.Error(), "creating nodeclaim (QuotaExceeded): quota"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
