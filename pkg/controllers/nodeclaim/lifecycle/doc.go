// Package lifecycle is the NodeClaim lifecycle controller. It takes a NodeClaim from
// creation to a usable node in phases, each recorded as a condition:
//
//   - launch: add the termination finalizer, ask the cloud provider for an instance, record
//     its provider ID, capacity, allocatable, image and labels (Launched). Insufficient
//     capacity deletes the NodeClaim so its pods are batched again; other errors are
//     recorded on the condition and retried with backoff. The intent to launch is written
//     before the cloud is called, so a controller that restarts mid-launch, or retries a
//     Create that failed after the cloud acted (a timeout), adopts the instance already
//     created (found through CloudProvider.List by NodeClaim name) instead of launching a
//     second one.
//   - registration: find the Node with the NodeClaim's provider ID, give it the NodeClaim's
//     labels, annotations, taints and startup taints, an owner reference and the
//     termination finalizer, drop the karpenter.sh/unregistered taint and label it
//     karpenter.sh/registered (Registered, status.nodeName).
//   - initialization: the Node is Ready, its startup and ephemeral taints are gone, and the
//     extended resources the NodeClaim was sized for are allocatable; label it
//     karpenter.sh/initialized (Initialized).
//   - liveness: a NodeClaim not registered within the registration TTL (15 minutes) is
//     deleted.
//
// The root condition Ready is True when all of them are. Status is written with a merge
// patch from a copy, under an optimistic lock, and only when it changed. Deleting a
// NodeClaim is the termination controller's job; this one only releases the finalizer of
// a NodeClaim that never launched an instance: one that tried is first looked up in the
// cloud, and an instance found gets its provider ID recorded for termination to delete.
package lifecycle
