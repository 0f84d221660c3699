// Package state is Karpenter's picture of the cluster: the pods, Nodes, NodeClaims,
// NodePools and DaemonSets that the controller-runtime informers report, kept behind one
// mutex, plus what only Karpenter knows: which pending pods it has nominated to which
// in-flight NodeClaims.
//
// Readers never see the maps. They get copies of slices whose elements are the informer's
// objects (treat them as read-only) or a freshly built scheduling.Snapshot, so the scheduler
// works on an immutable view while events keep arriving.
//
// Nominations are what keep one burst of pods from launching twice: once the provisioner
// has created a NodeClaim for some pods (or placed them on in-flight capacity) it nominates
// them; PendingPods leaves nominated pods out and Snapshot counts them on the NodeClaim they
// are nominated to, until the pod binds, the NodeClaim goes away, or the NodeClaim has been
// initialised for longer than the nomination TTL.
package state
