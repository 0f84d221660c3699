// Package pods holds the pod predicates the termination and disruption controllers share:
// which pods a drain must move, in what order, and which pods keep a node from being
// voluntarily disrupted. They follow the upstream Karpenter documentation's rules.
package pods
