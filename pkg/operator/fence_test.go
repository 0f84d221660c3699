package operator_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/operator"
	"github.com/gokarpenter/karpenter/pkg/operator/fence"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestOperatorFencesWritesOnTheLease: the process's client and its cloud provider write
// nothing before the replica holds the lease, write once it does, and stop writing as soon as
// it sees another replica took the lease, long before the manager gives up leading.
func TestOperatorFencesWritesOnTheLease(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	opts := operator.DefaultOptions()
	opts.CloudProvider = operator.CloudProviderFake
	opts.MetricsAddr, opts.HealthAddr = "0", "0"
	opts.LeaderElectionNamespace, opts.LeaderElectionID = "default", "fence-test"
	// Timings other than the defaults: the lease records the duration the election runs with.
	opts.LeaderElectionLeaseDuration, opts.LeaderElectionRenewDeadline, opts.LeaderElectionRetryPeriod = 17*time.Second, 11*time.Second, time.Second
	opts.SkipControllerNameValidation = true
	op, err := operator.New(ctx, env.Config, opts, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	kube := op.Manager.GetClient()
	write := func(name string) error {
		return kube.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}})
	}
	if err := write("fence-before"); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("a write before the election: %v, want ErrNotLeader", err)
	}
	nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "fence", UID: "fence-uid"}}
	if _, err := op.CloudProvider.Create(ctx, nc); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("a launch before the election: %v, want ErrNotLeader", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- op.Start(runCtx) }()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	select {
	case <-op.Manager.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("not elected within 30 s")
	}
	if err := write("fence-leading"); err != nil {
		t.Fatalf("a write while leading: %v", err)
	}

	// Another replica takes the lease (as one would after this process paused past it).
	lease := &coordinationv1.Lease{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "fence-test"}, lease); err != nil {
		t.Fatal(err)
	}
	if d := lease.Spec.LeaseDurationSeconds; d == nil || *d != 17 {
		t.Errorf("lease duration %v s, want the 17 s LEADER_ELECTION_LEASE_DURATION", d)
	}
	lease.Spec.HolderIdentity = ptr("another-replica")
	lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	if err := env.Client.Update(ctx, lease); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	for {
		err := write("fence-deposed")
		if errors.Is(err, fence.ErrNotLeader) {
			break
		}
		if err != nil {
			t.Fatalf("a write after the lease was taken: %v, want ErrNotLeader", err)
		}
		// The one write that may land is the one before the next renewal (2 s) sees the
		// new holder; it must not take a renew deadline.
		if time.Since(taken) > opts.LeaderElectionRenewDeadline/2 {
			t.Fatalf("writes still pass %v after another replica took the lease", time.Since(taken))
		}
		_ = kube.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "fence-deposed"}})
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("writes fenced off %v after the lease was taken", time.Since(taken).Round(time.Millisecond))
	if _, err := op.CloudProvider.Create(ctx, nc); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("a launch after the lease was taken: %v, want ErrNotLeader", err)
	}
	// The manager then gives up leading and the process's Start returns an error.
	select {
	case err := <-stopped:
		if err == nil {
			t.Fatal("the operator stopped without an error after losing its lease")
		}
		stopped <- err // for the cleanup
	case <-time.After(2 * opts.LeaderElectionLeaseDuration):
		t.Fatal("the operator still runs after losing its lease")
	}
}
