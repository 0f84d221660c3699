// Package expiration deletes NodeClaims that have lived longer than spec.expireAfter
// (creationTimestamp + expireAfter, on the injected clock). Expiration is forceful: it
// ignores disruption budgets and karpenter.sh/do-not-disrupt; termination still drains
// the node through the Eviction API and honours terminationGracePeriod. A NodeClaim not yet
// expired is requeued at the exact moment it expires.
package expiration
