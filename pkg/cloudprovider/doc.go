// Package cloudprovider holds the contract between Karpenter and the clouds it launches
// machines in: instance types with their offerings, and (with the lifecycle work) the
// CloudProvider interface and its typed errors.
package cloudprovider
