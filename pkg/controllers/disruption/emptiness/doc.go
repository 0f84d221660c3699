// Package emptiness removes empty nodes: the simple half of consolidation.
//
// For a NodePool whose consolidationPolicy is WhenEmpty or WhenEmptyOrUnderutilized and whose
// consolidateAfter is not Never, each pass (one per NodePool, at least every Interval):
//
//  1. marks every registered and initialized NodeClaim of the pool with the Empty condition:
//     True while its Node runs no pod that would need rescheduling (DaemonSet, static,
//     finished and terminating pods do not count), False as soon as one arrives; the
//     condition's lastTransitionTime is when the node became empty;
//  2. takes the NodeClaims empty for at least consolidateAfter, without
//     karpenter.sh/do-not-disrupt on the NodeClaim, the Node or any of its pods, oldest
//     first;
//  3. deletes as many as the pool's disruption budget allows for reason Empty (see
//     budget.AllowedDisruptions), counting NodeClaims already being deleted against it.
//
// Termination then drains and releases each deleted NodeClaim.
package emptiness
