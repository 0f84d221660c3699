// Package status keeps a NodePool's status and template hash up to date:
//
//   - status.nodes and status.resources: the count and summed capacity of the pool's
//     launched NodeClaims (those being deleted included: they still run and cost), with
//     resources["nodes"] equal to the count, as limits read it;
//   - the NodeClassReady and root Ready conditions: True when spec.template.spec.nodeClassRef
//     names an object that exists and whose own Ready condition is not False. A kind the API
//     server does not serve cannot be checked and counts as True with reason
//     NodeClassUnchecked;
//   - the karpenter.sh/nodepool-hash annotation, a SHA-256 of the canonical JSON of the
//     template fields whose change makes existing nodes drift (metadata, taints, startup
//     taints, nodeClassRef, expireAfter, terminationGracePeriod; requirements are left out,
//     they drift by compatibility, not by hash), and karpenter.sh/nodepool-hash-version.
//
// Metadata and status are patched only when they change.
package status
