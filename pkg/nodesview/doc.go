// Package nodesview is `karpenter nodes`: a live terminal view of the cluster's nodes with
// their NodePool, instance type, capacity type, price, and CPU and memory requested against
// allocatable drawn as bars, redrawn in place.
//
// It is three small parts: Read lists nodes, pods and NodeClaims into Rows (prices come
// from a Pricer, e.g. the instance-type catalogue); Render turns Rows into a frame of text,
// a pure function of the rows, the width and the time; Run redraws a frame on every tick of
// an injected clock with ANSI cursor-home and clear-to-end sequences, so a terminal shows
// one frame that changes in place.
package nodesview
