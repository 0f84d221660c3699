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

// Default leader election timing (controller-runtime's defaults; LEADER_ELECTION_LEASE_DURATION,
// LEADER_ELECTION_RENEW_DEADLINE and LEADER_ELECTION_RETRY_PERIOD change them): a leader that
// has not renewed within the renew deadline gives up, and the fence shuts its writes then;
// the others wait the lease duration after they last saw it renew before they take over, so
// their difference is the margin left for a write in flight.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
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
	cfg.Timeout = opts.LeaderElectionRenewDeadline / 2
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
	e.fence = fence.New(clock.RealClock{}, opts.LeaderElectionRenewDeadline)
	e.lock = e.fence.Lock(lock)
	return e, nil
}
