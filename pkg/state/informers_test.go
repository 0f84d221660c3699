package state_test

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/state"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestInformersFeedTheCluster runs the real informers against the API server.
func TestInformersFeedTheCluster(t *testing.T) {
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

	np := &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: "informed"},
		Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
			Requirements: []v1.NodeSelectorRequirementWithMinValues{},
			NodeClassRef: &v1.NodeClassReference{Group: "karpenter.test.sh", Kind: "TestNodeClass", Name: "default"},
		}}},
	}
	if err := env.Client.Create(ctx, np); err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "informed-node"}}
	if err := env.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), np)
		_ = env.Client.Delete(context.Background(), node)
	})
	test.EventuallyTrue(t, 20*time.Second, "informers synced and objects seen", func() bool {
		return c.Synced() && len(c.NodePools()) == 1 && len(c.Nodes()) == 1
	})
	if err := env.Client.Delete(ctx, node); err != nil {
		t.Fatal(err)
	}
	test.EventuallyTrue(t, 20*time.Second, "node deletion seen", func() bool { return len(c.Nodes()) == 0 })
}
