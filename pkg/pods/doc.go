// Package pods holds the pod predicates shared by the cluster state, the scheduler's input
// adapter and the controllers: which pods need capacity (IsProvisionable), which are
// finished, owned by a DaemonSet or static, which a drain must move and in what order, and
// which keep a node from being voluntarily disrupted. They follow the upstream Karpenter
// documentation's rules. Every predicate lives here once.
package pods
