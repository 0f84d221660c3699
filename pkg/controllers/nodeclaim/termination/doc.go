// Package termination finalizes NodeClaims and Nodes that carry the karpenter.sh/termination
// finalizer.
//
// When a NodeClaim is deleted, its Node is tainted karpenter.sh/disrupted:NoSchedule and
// drained through the Eviction API, in groups: non-critical pods, then system-critical
// pods, then DaemonSet pods, each group only once the one before it is gone. A 429 from the
// API server (a PodDisruptionBudget says no) is retried with a per-pod exponential backoff;
// the budget is never deleted around. Pods that are finished, static, stuck terminating or
// tolerating the disrupted taint are left alone, and pods annotated karpenter.sh/do-not-disrupt
// are not evicted at all.
//
// A NodeClaim with spec.terminationGracePeriod gets the karpenter.sh/nodeclaim-termination-timestamp
// annotation (deletionTimestamp + terminationGracePeriod). Pods that could not finish their
// own grace period before that moment are deleted directly with the time that is left, and
// once it passes the instance is terminated whatever is still running.
//
// Once drained, the instance is deleted through the CloudProvider (a NodeClaimNotFoundError
// means it is already gone), the Node is deleted and both finalizers are removed. Deleting a
// Node that carries the finalizer cascades: its NodeClaim is deleted, and the NodeClaim's
// termination does the rest.
package termination
