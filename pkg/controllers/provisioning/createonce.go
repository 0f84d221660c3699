package provisioning

import (
	"context"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// createAttempts bounds the creates of one planned NodeClaim whose outcome is unknown.
const createAttempts = 3

// createOnce creates the planned NodeClaim exactly once, even when a create's outcome is
// unknown: a timeout, a dropped connection or a 5xx may come after the API server stored
// the object. With GenerateName, the API server picks a fresh name on each create, so a
// retry (or the next round planning the same pods) made a second NodeClaim for the same
// pods. The name is therefore chosen here, once; an ambiguous failure is retried under the
// same name, and AlreadyExists on a retry means an earlier attempt was stored.
func (c *Controller) createOnce(ctx context.Context, nc *v1.NodeClaim) error {
	if nc.Name == "" && nc.GenerateName != "" {
		nc.Name = nc.GenerateName + utilrand.String(5) // as the API server would
		nc.GenerateName = ""
	}
	sent := nc.DeepCopy()
	var err error
	for attempt := 0; attempt < createAttempts; attempt++ {
		obj := sent.DeepCopy()
		err = c.kube.Create(ctx, obj)
		switch {
		case err == nil:
			*nc = *obj
			return nil
		case attempt > 0 && apierrors.IsAlreadyExists(err):
			log.FromContext(ctx).Info("an earlier create of the nodeclaim was stored after all", "nodeClaim", sent.Name)
			stored := &v1.NodeClaim{}
			if gerr := c.kube.Get(ctx, client.ObjectKeyFromObject(sent), stored); gerr == nil {
				*nc = *stored
			}
			return nil
		case !ambiguous(err) || ctx.Err() != nil:
			return err
		}
		log.FromContext(ctx).Info("retrying a nodeclaim create whose outcome is unknown", "nodeClaim", sent.Name, "error", err.Error())
	}
	return fmt.Errorf("creating nodeclaim %s, %d attempts: %w", sent.Name, createAttempts, err)
}

// ambiguous reports whether a failed write may have been applied by the API server.
func ambiguous(err error) bool {
	return apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsInternalError(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err) || apierrors.IsTooManyRequests(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		utilnet.IsProbableEOF(err) || utilnet.IsConnectionReset(err) || utilnet.IsTimeout(err)
}
