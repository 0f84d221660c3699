package sim_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim/noderegistrar"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// slowClient holds every SimInstance create until release is closed, as a slow or paused
// API server would, and counts the lists of SimInstances and Nodes that reach the API.
type slowClient struct {
	client.Client
	held      chan struct{} // receives once per create that is being held
	release   chan struct{}
	instances atomic.Int64
	nodes     atomic.Int64
}

func (c *slowClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if _, ok := obj.(*simv1alpha1.SimInstance); ok && c.release != nil {
		c.held <- struct{}{}
		<-c.release
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c *slowClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	switch list.(type) {
	case *simv1alpha1.SimInstanceList:
		c.instances.Add(1)
	case *corev1.NodeList:
		c.nodes.Add(1)
	}
	return c.Client.List(ctx, list, opts...)
}

// TestProviderAnswersWhileTheAPIServerIsSlow: a launch whose SimInstance write hangs must
// not hold the provider's lock, or every Get, List and Delete (garbage collection,
// termination, the registrar) waits for it.
func TestProviderAnswersWhileTheAPIServerIsSlow(t *testing.T) {
	f := newFixture(t, simv1alpha1.SimNodeClassSpec{})
	ctx := test.Context(t)
	slow := &slowClient{Client: env.Client, held: make(chan struct{}, 1), release: make(chan struct{})}
	p, err := sim.New(sim.Options{Client: slow, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.List(ctx); err != nil { // loaded before the launch
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var created error
	go func() {
		defer wg.Done()
		got, err := p.Create(ctx, f.nodeClaim("slow"))
		created = err
		if err == nil {
			created = p.Delete(context.Background(), got)
		}
	}()
	<-slow.held
	answered := make(chan error, 1)
	go func() { _, err := p.List(ctx); answered <- err }()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Error("List blocked behind a launch waiting on the API server")
	}
	close(slow.release)
	wg.Wait()
	if created != nil {
		t.Fatal(created)
	}
}

// TestRegistrarDoesNotListEverythingEverySecond: the registrar runs a pass every second;
// each pass listed every SimInstance and every Node from the API server. Nodes now come
// from the manager's cache and instances from the provider's memory, reloaded only every
// resync interval.
func TestRegistrarDoesNotListEverythingEverySecond(t *testing.T) {
	newFixture(t, simv1alpha1.SimNodeClassSpec{})
	counting := &slowClient{Client: env.Client}
	p, err := sim.New(sim.Options{Client: counting, Clock: clock.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := noderegistrar.NewController(noderegistrar.Deps{Client: counting, Cloud: p, Interval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mgr := env.StartManager(t, nil)
	if err := r.Register(mgr); err != nil {
		t.Fatal(err)
	}
	test.Eventually(t, 0, func() error { // the first pass ran
		if counting.instances.Load() == 0 {
			return errNoPass
		}
		return nil
	})
	time.Sleep(2 * time.Second) // ten passes
	mgr.Stop()
	if n := counting.instances.Load(); n > 1 {
		t.Errorf("%d SimInstance lists from the API server in ten passes, want the first only", n)
	}
	if n := counting.nodes.Load(); n > 0 {
		t.Errorf("%d Node lists from the API server, want none (the cache has them)", n)
	}
}

var errNoPass = errors.New("no registrar pass yet")
