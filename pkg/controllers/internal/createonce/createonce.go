package createonce

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

// FixName gives a NodeClaim planned with GenerateName its final name now, as the API server
// would, so that a caller can record the name before the create whose outcome may be
// unknown. A NodeClaim that already has a name keeps it.
func FixName(nc *v1.NodeClaim) {
	if nc.Name == "" && nc.GenerateName != "" {
		nc.Name = nc.GenerateName + utilrand.String(5) // as the API server would
		nc.GenerateName = ""
	}
}

// Create creates the planned NodeClaim exactly once, even when a create's outcome is
// unknown: a timeout, a dropped connection or a 5xx may come after the API server stored
// the object. With GenerateName, the API server picks a fresh name on each create, so a
// retry (or the next round planning the same pods) made a second NodeClaim for the same
// pods. The name is therefore fixed first (see FixName); an ambiguous failure is retried
// under the same name, and AlreadyExists on a retry means an earlier attempt was stored.
func Create(ctx context.Context, kube client.Client, nc *v1.NodeClaim) error {
	FixName(nc)
	sent := nc.DeepCopy()
	var err error
	for attempt := 0; attempt < createAttempts; attempt++ {
		obj := sent.DeepCopy()
		err = kube.Create(ctx, obj)
		switch {
		case err == nil:
			*nc = *obj
			return nil
		case attempt > 0 && apierrors.IsAlreadyExists(err):
			log.FromContext(ctx).Info("an earlier create of the nodeclaim was stored after all", "nodeClaim", sent.Name)
			stored := &v1.NodeClaim{}
			if gerr := kube.Get(ctx, client.ObjectKeyFromObject(sent), stored); gerr == nil {
				*nc = *stored
			}
			return nil
		case !Ambiguous(err) || ctx.Err() != nil:
			return err
		}
		log.FromContext(ctx).Info("retrying a nodeclaim create whose outcome is unknown", "nodeClaim", sent.Name, "error", err.Error())
	}
	return fmt.Errorf("creating nodeclaim %s, %d attempts: %w", sent.Name, createAttempts, err)
}

// Ambiguous reports whether a failed write may have been applied by the API server.
func Ambiguous(err error) bool {
	return apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsInternalError(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err) || apierrors.IsTooManyRequests(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		utilnet.IsProbableEOF(err) || utilnet.IsConnectionReset(err) || utilnet.IsTimeout(err)
}
