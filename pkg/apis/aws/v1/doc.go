// Package v1 holds the karpenter.k8s.aws/v1 API: EC2NodeClass, the node class NodePools point
// at when they launch on EC2. Field names, defaults, validation rules (CEL) and printer
// columns follow upstream Karpenter's v1 API so existing manifests apply unchanged; the
// status (resolved subnets, security groups, images, instance profile and the
// SubnetsReady/SecurityGroupsReady/AMIsReady/InstanceProfileReady/ValidationSucceeded/Ready
// conditions) is written by the controllers in pkg/cloudprovider/aws/nodeclass.
//
// +kubebuilder:object:generate=true
// +groupName=karpenter.k8s.aws
package v1
