// Package reason is the one vocabulary of "why" that karpenter explain prints and the
// controllers' events carry: why a pod cannot go to a NodePool, why a node is not a
// disruption candidate. Each reason is a short CamelCase code (stable, for scripts and
// alerts) with a constructor for its human message, so the text a user reads in
// `karpenter explain` is the text of the event on the object.
//
// The package is a leaf (it imports only the API types) so that controllers, explain and
// tests can all use it.
package reason
