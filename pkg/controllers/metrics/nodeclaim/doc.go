// Package nodeclaim observes karpenter_nodeclaims_termination_duration_seconds: the time from
// a NodeClaim's deletion request to its removal, by nodepool.
package nodeclaim
