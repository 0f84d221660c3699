package termination

import (
	"context"
	"fmt"

	policyv1 "k8s.io/api/policy/v1"
	policyv1client "k8s.io/client-go/kubernetes/typed/policy/v1"
	"k8s.io/client-go/rest"
)

// Evictor posts Evictions to the API server. Its errors are the API server's: a 429
// (apierrors.IsTooManyRequests) means a PodDisruptionBudget refused.
type Evictor interface {
	Evict(ctx context.Context, eviction *policyv1.Eviction) error
}

// restEvictor posts to pods/eviction without client-side retries: the API server answers a
// refused eviction with 429 and Retry-After: 10, which client-go would otherwise sleep
// through ten times inside one reconcile. The controller keeps its own per-pod backoff.
type restEvictor struct{ rest rest.Interface }

var _ Evictor = (*restEvictor)(nil)

// NewEvictor builds an Evictor from a REST config.
func NewEvictor(cfg *rest.Config) (Evictor, error) {
	c, err := policyv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the eviction client: %w", err)
	}
	return &restEvictor{rest: c.RESTClient()}, nil
}

// Evict posts one Eviction, once.
func (e *restEvictor) Evict(ctx context.Context, eviction *policyv1.Eviction) error {
	return e.rest.Post().
		AbsPath("/api/v1").
		Namespace(eviction.Namespace).
		Resource("pods").
		Name(eviction.Name).
		SubResource("eviction").
		Body(eviction).
		MaxRetries(0).
		Do(ctx).
		Error()
}
