// Package snapshot is the one adapter from cluster objects to the scheduler's input,
// scheduling.Snapshot. The provisioner and consolidation (through pkg/state, which hands it
// the informers' objects), `karpenter simulate` (which hands it the objects read from files)
// and `karpenter explain` (a live client's lists) all call Build, so the plan simulate
// prints for a cluster's objects is the plan the controller makes.
//
// Inputs are plain object lists; nothing here reads a client, a cache or a clock. Build
// shares the given objects with the returned Snapshot: callers must not modify them.
package snapshot
