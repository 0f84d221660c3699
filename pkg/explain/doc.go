// Package explain answers "why": why a pod is pending (per NodePool, the first rule that
// blocks it, where it is nominated and what would be launched for it now), why a node is
// kept (the first rule that makes it no disruption candidate, and its price against the
// cheapest type its pods fit), and how much a NodePool uses of its limits and budgets.
//
// It reads the cluster once into a World (plain object lists plus each NodePool's
// instance types), then every explanation is a pure function of that World and a time,
// computed with the same scheduler the controller runs (pkg/scheduling.Solve) on a snapshot
// built by the controller's own adapter (pkg/snapshot). Nominations, which the controller
// keeps in memory, are read back from its Nominated events. Why a node is kept comes from
// the disruption controller itself (ControllerEligibility: disruption.Explain and its
// budget Ledger), then from the scheduler: what its pods would cost without it.
//
// Reasons come from the shared vocabulary in pkg/explain/reason, the same codes and
// messages the controllers' events carry.
package explain
