// Package labelreq is the scheduler's algebra of node label requirements. A Req is what
// one label key may be: a finite set of values or everything but a finite set, optionally
// an integer within bounds, and whether the label may be absent; a Set is a conjunction of
// Reqs, one per key, sorted by key. Sets are built from node selector terms, node
// selectors and NodePool requirements (New, FromSelectorTerm, FromLabels), intersected
// (Intersect, Set.With, Set.And) and matched against node labels (Set.MatchesLabels).
// Deprecated label keys that kube-scheduler still honours are read as their stable names
// (NormalizedKey). The package knows nothing of pods, NodePools or instance types.
package labelreq
