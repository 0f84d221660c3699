// Package nodeclass is the EC2NodeClass controller: it resolves the class's subnets,
// security groups, images and instance profile into its status with the SubnetsReady,
// SecurityGroupsReady, AMIsReady, InstanceProfileReady, ValidationSucceeded and Ready
// conditions, stamps the class hash annotation drift is judged by, refreshes all of it
// periodically, and holds the karpenter.k8s.aws/termination finalizer until the launch
// templates and the instance profile the class created are deleted (after its NodeClaims
// are gone).
package nodeclass
