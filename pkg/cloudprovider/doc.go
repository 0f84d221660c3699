// Package cloudprovider holds the contract between Karpenter and the clouds it launches
// machines in:
//
//   - CloudProvider (types.go), the one interface every provider implements: Create,
//     Delete, Get, List, GetInstanceTypes, IsDrifted, Name, GetSupportedNodeClasses;
//   - typed errors (errors.go) with New…, Is… and Ignore… helpers that use errors.As:
//     NodeClaimNotFoundError, InsufficientCapacityError, NodeClassNotReadyError and
//     CreateError{Reason, Message};
//   - InstanceType and Offering (instancetype.go), the fact sheet of a machine shape;
//   - Candidates and Cheapest (offerings.go), the rule every provider launches by: the
//     cheapest available offering that satisfies a NodeClaim's requirements and fits its
//     requests.
//
// Sub-packages: catalog (EC2 shapes and prices), metrics (a decorator that times and
// counts every call), fake (a recording test double), sim (the simulated cloud) and
// conformance (the test suite every provider passes).
package cloudprovider
