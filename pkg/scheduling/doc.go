// Package scheduling is Karpenter's scheduler as a pure function: Solve(snapshot, pods)
// returns a Plan (pods on existing and in-flight nodes, new NodeClaims with their
// price-ordered instance types, unschedulable pods with a reason per NodePool), and
// LowerBound returns the fractional LP bound the plan's price is judged against.
// IntegerLowerBound is a tighter one for small clusters: whole nodes, each counted at the
// capacity the pods can really use of it (see intbound.go).
//
// Nothing here reads a clock, a client or a context: every input arrives in the Snapshot
// and nothing in it is modified. Existing pods are taken from ExistingNode.Pods and Running, plus
// Snapshot.Pods whose Spec.NodeName names one of Snapshot.Nodes. NodePool limits are given
// as Limits and Used separately; the plan never uses more than Limits-Used, counting each
// NodeClaim at the capacity of its cheapest option (and listing only the options that keep
// the pool within its limits).
//
// The pipeline (see README.md for the why):
//
//	pods ─► classes (identical scheduling needs) ─► variants (preferences as required,
//	        relaxed one at a time) ─► order by value at LP dual prices, largest first
//	     ─► per class: first node that fits (existing, in-flight, then planned NodeClaims)
//	        else open a NodeClaim in the heaviest NodePool that can host it, sized for
//	        the queue by a value-per-dollar simulation; pods without topology rules are
//	        mixed onto it pod by pod (dot-product rule, see mix.go)
//	     ─► repack: NodeClaims holding only movable pods are re-packed by the
//	        configuration LP (column generation, rounded down; an exact knapsack search
//	        prices columns when greedy fills find none, see knapsack.go) and a
//	        sequential pattern loop, kept only when cheaper (see repack.go)
//	     ─► finalize: shrink each NodeClaim to every type its pods fit, cheapest first.
//
// Two sizing policies run (value-per-dollar and first-fit-decreasing into the largest
// type); Solve keeps the plan with fewer unschedulable pods, then the lower price.
//
// Approximations, stated: the minimum count of a hostname topology spread is taken as 0
// (a new node is always an empty domain); a namespaceSelector on a pod affinity term
// matches every namespace when the snapshot has no namespace labels (Snapshot.Namespaces
// nil); DaemonSet overhead is
// computed per NodePool, not per instance type; preferences are relaxed per class (all pods
// of a class share the relaxation level).
package scheduling
