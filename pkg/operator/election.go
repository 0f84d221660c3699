package operator

import (
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"

	"github.com/gokarpenter/karpenter/pkg/operator/fence"
)

// Leader election timing (controller-runtime's defaults, stated so the fence can rely on
// them): a leader that has not renewed within RenewDeadline gives up, and the fence shuts
// its writes then; the others wait LeaseDuration after they last saw it renew before they
// take over, so LeaseDuration - RenewDeadline is the margin left for a write in flight.
const (
	LeaseDuration = 15 * time.Second
	RenewDeadline = 10 * time.Second
	RetryPeriod   = 2 * time.Second
)

// election is the lease lock and the fence on it; both nil without leader election.
type election struct {
	namespace string
	lock      resourcelock.Interface
	fence     *fence.Fence
}

// newElection builds the lease lock on cfg (which the fence must not wrap: the lock has to
// renew) and the fence that follows it.
func newElection(cfg *rest.Config, opts Options) (election, error) {
	e := election{namespace: opts.LeaderElectionNamespace}
	if !opts.LeaderElects() {
		return e, nil
	}
	if e.namespace == "" {
		b, err := os.ReadFile(inClusterNamespaceFile)
		if err != nil {
			e.namespace = "kube-system" // out of cluster: a namespace every cluster has
		} else {
			e.namespace = strings.TrimSpace(string(b))
		}
	}
	host, err := os.Hostname()
	if err != nil {
		return e, fmt.Errorf("naming the leader election identity: %w", err)
	}
	cfg = rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
	// One hung request must not cost the lease (controller-runtime's heuristic).
	cfg.Timeout = RenewDeadline / 2
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return e, fmt.Errorf("building the leader election client: %w", err)
	}
	coordination, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return e, fmt.Errorf("building the leader election client: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, e.namespace, opts.LeaderElectionID, core, coordination,
		resourcelock.ResourceLockConfig{Identity: host + "_" + string(uuid.NewUUID())})
	if err != nil {
		return e, fmt.Errorf("building the leader election lock: %w", err)
	}
	e.fence = fence.New(clock.RealClock{}, RenewDeadline)
	e.lock = e.fence.Lock(lock)
	return e, nil
}
