package state_test

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/state"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestNodeClaimDeletedBeforeTheProvisionerRecordsIt: the provisioner records the NodeClaim
// the API server returned from Create after the call returns. When the NodeClaim was
// deleted in between and the informer already delivered the delete, that late record must
// not bring it back: nothing would ever remove it, and the pods nominated to it would never
// be planned again.
func TestNodeClaimDeletedBeforeTheProvisionerRecordsIt(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	informers, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	c := state.NewCluster(state.Options{})
	if err := c.Register(ctx, informers); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = informers.Start(runCtx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	test.EventuallyTrue(t, 20*time.Second, "informers synced", c.Synced)

	nc := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "raced-", Labels: map[string]string{v1.NodePoolLabelKey: "default"}},
		Spec: v1.NodeClaimSpec{
			Requirements: []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{"small"}}},
			NodeClassRef: &v1.NodeClassReference{Group: "karpenter.test.sh", Kind: "TestNodeClass", Name: "default"},
		},
	}
	if err := env.Client.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	created := nc.DeepCopy() // what Create returned, held by the provisioner
	test.EventuallyTrue(t, 20*time.Second, "nodeclaim seen", func() bool { return len(c.NodeClaims()) == 1 })
	if err := env.Client.Delete(ctx, nc); err != nil {
		t.Fatal(err)
	}
	test.EventuallyTrue(t, 20*time.Second, "nodeclaim deletion seen", func() bool { return len(c.NodeClaims()) == 0 })

	// The provisioner's Create call returns only now.
	pod := pendingPod("late")
	c.UpdatePod(pod)
	c.UpdateNodeClaim(created)
	if n := c.Nominate(created.Name, []*corev1.Pod{pod}); n != 0 {
		t.Errorf("Nominate to the deleted NodeClaim = %d, want 0", n)
	}
	if got := c.NodeClaims(); len(got) != 0 {
		t.Fatalf("state holds deleted NodeClaim %s after the late record", got[0].Name)
	}
	if _, ok := c.Nomination(types.NamespacedName{Namespace: "default", Name: "late"}); ok {
		t.Error("pod nominated to a deleted NodeClaim")
	}
	if got := c.PendingPods(); len(got) != 1 {
		t.Errorf("pending pods = %d, want the pod planned again", len(got))
	}
	// A namesake with another UID is a new object and is recorded.
	again := created.DeepCopy()
	again.UID = "another-uid"
	c.UpdateNodeClaim(again)
	if got := c.NodeClaims(); len(got) != 1 || got[0].UID != "another-uid" {
		t.Errorf("namesake NodeClaim not recorded: %v", got)
	}
}
