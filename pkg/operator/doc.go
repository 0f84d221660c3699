// Package operator assembles the karpenter controller process: Options and their flags,
// the scheme, the controller-runtime manager with leader election and /healthz and
// /readyz, a Prometheus endpoint serving the project's own registry (plus the
// controller-runtime collectors), the cluster state fed by the manager's informers, the
// cloud provider chosen by name (decorated with metrics) and every controller of
// pkg/controllers.
//
// With leader election, every write of the process is fenced on the lease (package fence):
// the manager's clients, the cloud provider's clients and its Create and Delete refuse to
// write unless this replica renewed the lease within the renew deadline, so a leader paused
// past its lease (by default LeaseDuration 15 s, RenewDeadline 10 s, RetryPeriod 2 s; see the
// LEADER_ELECTION_* settings) writes nothing when it resumes, and exits once the manager sees
// the lease lost.
package operator
