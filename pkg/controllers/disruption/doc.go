// Package disruption is the one engine that voluntarily disrupts nodes: it empties,
// right-sizes (consolidation by delete or by replace), and rolls drifted nodes, within every
// NodePool's disruption budget.
//
// A singleton loop (every Interval, leader only, only while the cluster state is synced)
// builds the candidates once per pass from state.Cluster, with one budget Ledger, and tries
// the methods in upstream's order, executing the first decision found:
//
//	emptiness → drift → multi-node consolidation → single-node consolidation
//
// Commands execute asynchronously: a pass starts at most one, and later passes start more
// while earlier ones are in flight, as far as the Ledger allows (it counts the nodes of the
// commands in flight; their NodeClaims are not candidates). A restart recovers every
// command in flight from the annotations on its NodeClaims.
//
// Eligibility (Eligible, Explain) is upstream's: a candidate is managed (its NodePool
// exists), not being deleted, registered and initialized, not already being disrupted, has
// no pending pods nominated to it, no karpenter.sh/do-not-disrupt on its Node, NodeClaim or
// an active pod ("true", or a duration counted from the pod's start), and no pod a
// PodDisruptionBudget keeps from being evicted (including a pod selected by two or more
// PodDisruptionBudgets). Emptiness and consolidation further need consolidateAfter to have
// passed since the NodeClaim's status.lastPodEventTime; drift needs Drifted=True.
//
// Explain is the pure function `karpenter explain` calls: the first reason a NodeClaim is
// not a candidate, as a typed BlockReason with a human message.
package disruption
