// Command crdpatch adds to the generated karpenter.sh CRDs the schema rules that markers
// cannot express on the Kubernetes types the API embeds (corev1.Taint's key, value and effect;
// the syntax of template label values), as upstream Karpenter's CRDs carry them. `make
// generate` runs it after controller-gen: go run ./hack/crdpatch config/crd
package main
