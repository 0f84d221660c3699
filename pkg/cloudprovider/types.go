package cloudprovider

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// CloudProvider is the contract between Karpenter and a cloud. Every method is safe for
// concurrent use. Errors are typed (see errors.go): callers branch with the Is… helpers,
// never on messages.
type CloudProvider interface {
	// Create launches one instance for the NodeClaim: the cheapest available offering that
	// satisfies the NodeClaim's requirements and fits its resource requests. It returns a
	// copy of the NodeClaim with status.providerID, status.capacity, status.allocatable
	// (and status.imageID where the cloud has one) filled, and the labels
	// node.kubernetes.io/instance-type, topology.kubernetes.io/zone and
	// karpenter.sh/capacity-type (plus the instance type's own labels) set to the launched
	// values. The argument is not modified.
	//
	// It fails with an InsufficientCapacityError when compatible offerings exist but none
	// can be launched now, a NodeClassNotReadyError when the node class is missing or not
	// Ready, and a CreateError for anything else a caller may want to report.
	Create(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error)
	// Delete terminates the NodeClaim's instance (found by status.providerID). It returns a
	// NodeClaimNotFoundError when the instance is already gone, so callers that only want
	// it gone use IgnoreNodeClaimNotFoundError.
	Delete(ctx context.Context, nodeClaim *v1.NodeClaim) error
	// Get returns a NodeClaim describing the instance with this provider ID, or a
	// NodeClaimNotFoundError.
	Get(ctx context.Context, providerID string) (*v1.NodeClaim, error)
	// List returns a NodeClaim for every instance the provider launched that still exists.
	// Garbage collection compares it with the NodeClaims in the API server.
	List(ctx context.Context) ([]*v1.NodeClaim, error)
	// GetInstanceTypes returns the instance types a NodePool may launch, with their
	// offerings (Available reflects what the provider knows right now). A nil NodePool
	// means every type the provider has. The returned values are shared: do not modify them.
	GetInstanceTypes(ctx context.Context, nodePool *v1.NodePool) ([]*InstanceType, error)
	// IsDrifted reports why the NodeClaim's instance no longer matches its node class, or
	// "" when it does.
	IsDrifted(ctx context.Context, nodeClaim *v1.NodeClaim) (DriftReason, error)
	// Name is the provider's short name ("sim", "aws", "fake"); it is the provider label
	// of the cloud provider metrics.
	Name() string
	// GetSupportedNodeClasses lists the node class kinds a NodeClaim's nodeClassRef may
	// point at. Kinds rather than objects: callers that need an empty object ask their
	// scheme (scheme.New(gvk)), and the provider needs no scheme of its own.
	GetSupportedNodeClasses() []schema.GroupVersionKind
}

// DriftReason names why an instance drifted from its node class, e.g. "ImageDrift". It is
// the reason of the NodeClaim's Drifted condition; "" means not drifted.
type DriftReason string
