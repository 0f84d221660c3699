// Package garbagecollection reconciles the cloud with the API server, both ways, every
// Interval:
//
//   - an instance the CloudProvider lists that no NodeClaim claims (by provider ID) and
//     that is older than LaunchGracePeriod is terminated, and Nodes with its provider ID are
//     deleted. The grace period covers the window between Create returning and the
//     NodeClaim's status.providerID being written;
//   - a NodeClaim whose instance was launched (condition Launched=True) but no longer
//     exists (the provider does not list it and Get says NodeClaimNotFound) is deleted;
//     termination then releases it and its Node.
//
// It is a singleton: Register enqueues one request at start and each pass requeues itself.
package garbagecollection
