// Package state is Karpenter's picture of the cluster: the pods, Nodes, NodeClaims,
// NodePools and DaemonSets that the controller-runtime informers report, kept behind one
// mutex, plus what only Karpenter knows: which pending pods it has nominated to which
// in-flight NodeClaims.
//
// Readers never see the maps. They get copies of slices whose elements are the informer's
// objects (treat them as read-only) or a freshly built scheduling.Snapshot, so the scheduler
// works on an immutable view while events keep arriving. The operator's cache transform
// (Compactor) makes the parts many objects have in common one value they all share (a
// ReplicaSet's pods hold one labels map, one requests map, ...): a write into one object's
// map or slice would change its siblings too. Tests run the controllers over compacted
// objects and check nothing was written (test.Compactor).
//
// Pods are not in controller-runtime's cache: the operator's cache (NewCache, a PodCache)
// serves them from a PodStore, which keeps each pod as a record (its metadata and status,
// and a spec shared by its template's pods) and builds a Pod from it for readers, one Pod
// for all of them while any holds it. For and Watches of pods, Get and List through the
// manager's client, and the Cluster (which keeps the store's records themselves) all read
// it. At 20,000 pods that is 1.6 KB a pod of live heap where the informer's Pods took 2.6
// KB (BenchmarkCacheMemory); a pass that reads every pod holds their Pods while it runs.
//
// Nominations are what keep one burst of pods from launching twice: once the provisioner
// has created a NodeClaim for some pods (or placed them on in-flight capacity) it nominates
// them; PendingPods leaves nominated pods out and Snapshot counts them on the NodeClaim they
// are nominated to, until the pod binds, the NodeClaim goes away, or the NodeClaim has been
// initialised for longer than the nomination TTL. Once the NodeClaim is initialised, a pod
// its Node no longer has room for (kube-scheduler bound others there) loses its nomination
// early; PodsToProvision still holds it back while kube-scheduler keeps binding pods (Settle),
// as it mostly lands in room the binding pods leave.
package state
