// Package providerid indexes Nodes and NodeClaims by provider ID in a manager's cache, once
// for every controller that maps one to the other (lifecycle, termination), so a Node event
// finds its NodeClaim, and a NodeClaim its Node, without listing every object of the cluster.
package providerid

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// The index names, for client.MatchingFields.
const (
	NodeIndex      = "spec.providerID"
	NodeClaimIndex = "status.providerID"
)

// Index adds both indexes to an indexer. A cache refuses the same index twice, so it is
// called once per manager: by Indexes in the operator, by tests that run one controller.
func Index(ctx context.Context, indexer client.FieldIndexer) error {
	err := indexer.IndexField(ctx, &corev1.Node{}, NodeIndex, func(o client.Object) []string {
		if id := o.(*corev1.Node).Spec.ProviderID; id != "" {
			return []string{id}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing nodes by provider ID: %w", err)
	}
	err = indexer.IndexField(ctx, &v1.NodeClaim{}, NodeClaimIndex, func(o client.Object) []string {
		if id := o.(*v1.NodeClaim).Status.ProviderID; id != "" {
			return []string{id}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing nodeclaims by provider ID: %w", err)
	}
	return nil
}

// Indexes is the operator's registration of the indexes, ahead of the controllers that
// read them.
type Indexes struct{}

// Name names the registration in the operator's list.
func (Indexes) Name() string { return "providerid.indexes" }

// Register adds the indexes to the manager's cache.
func (Indexes) Register(ctx context.Context, mgr manager.Manager) error {
	return Index(ctx, mgr.GetFieldIndexer())
}
