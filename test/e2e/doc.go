// Package e2e holds scenarios that run on the real local control plane built and started by
// hack/controlplane/cp.sh (etcd, kube-apiserver, kube-scheduler, kube-controller-manager, KWOK).
// They are skipped with -short.
package e2e
