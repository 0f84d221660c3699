// Package simulate is the input and output side of `karpenter simulate`: it reads the
// manifests a person would apply to a cluster (NodePools, workloads, existing Nodes and their
// pods, volumes) into an Input the scheduler can plan for, and renders the plan as JSON (the
// shape described by schema.json) or as a text table.
//
// Reading is strict. Every document must be a kind simulate understands, decoded by a
// runtime.Scheme of its own with unknown fields rejected; workloads are expanded into their
// pods with deterministic names (<workload>-<index>). Any problem is an *InputError that names
// the file and the document, so the command can exit with status 2 without printing a partial
// result.
//
// Documents are split in order, then converted from YAML to JSON once and strictly decoded
// on every CPU; they are filed (duplicates, expansion) in document order, so the first bad
// document is the one reported. Input is bounded: MaxFileBytes per file, MaxPods after
// expansion (checked on spec.replicas / spec.parallelism before any pod is made) and
// MaxNesting levels per document (checked on the text before any parser runs).
//
// Snapshot hands the objects to pkg/snapshot, the adapter the controller uses too, and
// PendingPods orders the pods as the controller does, so both plan the same.
package simulate
