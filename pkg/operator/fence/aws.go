package fence

import (
	"context"
	"fmt"
	"strings"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// readPrefixes start the names of the AWS operations that only read (DescribeInstances,
// GetParameter, ListInstanceProfiles, ...). Every other operation changes something
// (CreateFleet, CreateLaunchTemplate, DeleteLaunchTemplate, CreateTags, TerminateInstances,
// CreateInstanceProfile, AddRoleToInstanceProfile, DeleteMessage, and ReceiveMessage, which
// hides the messages it returns from the leader for the visibility timeout) and is refused
// while the fence is closed: the list fails closed for operations added later.
var readPrefixes = []string{"Describe", "Get", "List"}

// unfencedServices authenticate the process (AssumeRoleWithWebIdentity, SSO tokens): they
// change nothing in the account and a follower needs them too.
var unfencedServices = map[string]bool{"STS": true, "SSO": true, "SSO OIDC": true}

// AWSAPIOption fences an aws-sdk-go-v2 client: append it to aws.Config.APIOptions (or a
// client's Options.APIOptions) and every operation that is not a read fails with an error
// wrapping ErrNotLeader while the fence is closed, before any request is signed or sent (so
// the SDK's retryer does not retry it). Reads pass, so a follower can warm its caches.
func (f *Fence) AWSAPIOption() func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		// After the operation's own initialize steps, which name the service and operation.
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("KarpenterLeaseFence",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
				if mutates(service, op) {
					if err := f.Allow(); err != nil {
						return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("%s %s: %w", service, op, err)
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

// mutates reports whether the operation may change the account. An operation the stack does
// not name is taken as a write.
func mutates(service, op string) bool {
	if unfencedServices[service] {
		return false
	}
	for _, p := range readPrefixes {
		if strings.HasPrefix(op, p) {
			return false
		}
	}
	return true
}
