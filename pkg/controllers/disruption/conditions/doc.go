// Package conditions keeps two conditions of every NodeClaim that disruption reads:
//
//   - Drifted=True when the NodeClaim no longer matches what would be launched now: its
//     karpenter.sh/nodepool-hash differs from its NodePool's (same hash version only; a
//     hash of another version is not drift), its labels no longer satisfy the NodePool's
//     requirements, its instance type is gone from the NodePool's catalogue, or the cloud
//     provider's IsDrifted says so (the simulated cloud: its SimNodeClass's image changed).
//     The condition is removed when none holds any more.
//   - Consolidatable=True once consolidateAfter has passed since the NodeClaim's
//     status.lastPodEventTime (or its initialization); False with the time it will be
//     otherwise. The disruption engine evaluates the same rule itself (disruption.
//     Consolidatable) so it never acts on a stale condition.
package conditions
