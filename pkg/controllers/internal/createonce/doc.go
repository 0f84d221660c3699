// Package createonce creates a planned NodeClaim exactly once even when the create's outcome
// is unknown; the provisioner and the disruption controller both launch NodeClaims with it.
package createonce
