// Package aws is the EC2 cloud provider: it launches NodeClaims with CreateFleet (type
// instant, one instance, spot preferred when allowed), finds instances by tag, terminates
// them, reports drift, and resolves an EC2NodeClass's subnets, security groups, images and
// instance profile.
//
// It talks to AWS only through the narrow interfaces in api.go, which the aws-sdk-go-v2
// clients satisfy; tests point those clients at moto_server (see mototest) and cover what
// moto lacks (Pricing, capacity errors, spot price history) with in-process fakes behind the
// same interfaces.
//
// Pieces:
//   - options.go: settings (flags with upstream's environment variables as defaults);
//   - instancetypes.go: DescribeInstanceTypes/Offerings → cloudprovider.InstanceType with
//     capacity and overhead as ../shared/data/CATALOG.md defines, adjusted by the class's
//     kubelet settings; ENI-limited max pods;
//   - resolve.go: selector terms → subnets, security groups, AMIs (SSM aliases), and the
//     instance profile created from a role;
//   - launchtemplate.go: launch templates named by the hash of what they hold;
//   - provider.go, launch.go: the CloudProvider; unavailable.go: the 3-minute cache of
//     offerings that answered "insufficient capacity".
//
// Subpackages: userdata (AL2023 NodeConfig MIME, Bottlerocket TOML), pricing (Pricing API,
// spot price history, a generated fallback table), nodeclass (the EC2NodeClass status and
// termination controller), interruption (the SQS poller), mototest (moto_server for tests).
package aws
