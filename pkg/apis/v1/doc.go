// Package v1 holds the karpenter.sh/v1 API: NodePool and NodeClaim, their validation and
// defaulting markers (turned into CRD YAML by controller-gen), and the well-known label,
// annotation, taint and finalizer names. It holds no controller code.
//
// +kubebuilder:object:generate=true
// +groupName=karpenter.sh
package v1
