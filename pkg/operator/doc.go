// Package operator assembles the karpenter controller process: Options and their flags,
// the scheme, the controller-runtime manager with leader election and /healthz and
// /readyz, a Prometheus endpoint serving the project's own registry (plus the
// controller-runtime collectors), the cluster state fed by the manager's informers, the
// cloud provider chosen by name (decorated with metrics) and every controller of
// pkg/controllers.
package operator
