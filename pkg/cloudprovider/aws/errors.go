package aws

import (
	"errors"
	"slices"

	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// capacityErrorCodes are the CreateFleet error codes that mean "this offering cannot be
// launched now": the offering is marked unavailable and the launch retried on the rest.
var capacityErrorCodes = []string{
	"InsufficientInstanceCapacity",
	"MaxSpotInstanceCountExceeded",
	"VcpuLimitExceeded",
	"UnfulfillableCapacity",
	"Unsupported",
	"InsufficientFreeAddressesInSubnet",
	"SpotMaxPriceTooLow",
	"InsufficientCapacityOnHost",
}

// IsCapacityErrorCode reports whether a CreateFleet error code is a capacity error.
func IsCapacityErrorCode(code string) bool { return slices.Contains(capacityErrorCodes, code) }

// throttlingCodes are the codes the launch retries with backoff.
var throttlingCodes = []string{"RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled"}

// IsThrottling reports whether err is an API throttling error.
func IsThrottling(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && slices.Contains(throttlingCodes, ae.ErrorCode())
}

// notFoundCodes mean an EC2 resource does not exist.
var notFoundCodes = []string{"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed", "InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound"}

func isEC2NotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && slices.Contains(notFoundCodes, ae.ErrorCode())
}

// isLaunchTemplateExists reports EC2's answer to creating a launch template whose name is
// taken: another caller created the same (content-addressed) template first.
func isLaunchTemplateExists(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidLaunchTemplateName.AlreadyExistsException"
}

func isIAMNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity"
}
