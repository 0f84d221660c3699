// Package chart holds Karpenter's Helm chart (this folder: Chart.yaml, values.yaml, templates/,
// crds/) and renders it in memory with the Helm Go library, the way `helm template` does, so
// tests can check the objects a release would create without a helm binary or a cluster.
//
// The chart files are embedded; crds/ must stay byte-identical to config/crd (a test fails when
// they drift: copy config/crd/*.yaml here after regenerating the CRDs).
package chart
