package test

import (
	"context"
	"sync"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gokarpenter/karpenter/pkg/state"
)

// Registrar is anything with the project's controller Register method.
type Registrar interface {
	Register(ctx context.Context, mgr manager.Manager) error
}

// Manager is a started controller-runtime manager on the Environment's API server.
type Manager struct {
	manager.Manager
	stop func()
}

// Stop ends the manager and waits for it; it is safe to call more than once.
func (m *Manager) Stop() { m.stop() }

// NewManager builds a manager that is not started: no metrics or health server, no leader
// election, controller name validation off so a package may build many, and the
// operator's cache (pods in a state.PodStore, the transform checked as Compactor checks
// it). mutate may change the options (a NewClient that injects faults, say).
func (e *Environment) NewManager(t testing.TB, mutate ...func(*manager.Options)) manager.Manager {
	t.Helper()
	compactor := CheckedCompactor(t)
	opts := manager.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: new(true)},
		Cache:                  cache.Options{DefaultTransform: compactor.Transform},
		NewCache:               state.NewCache(compactor),
	}
	for _, m := range mutate {
		m(&opts)
	}
	mgr, err := manager.New(e.Config, opts)
	if err != nil {
		t.Fatalf("building manager: %v", err)
	}
	return mgr
}

// StartManager builds a manager (see NewManager), registers the controllers on it, starts
// it, waits for its cache to sync and stops it when the test ends. register may be nil.
func (e *Environment) StartManager(t testing.TB, register func(ctx context.Context, mgr manager.Manager) error, controllers ...Registrar) *Manager {
	t.Helper()
	mgr := e.NewManager(t)
	for _, c := range controllers {
		if err := c.Register(context.Background(), mgr); err != nil {
			t.Fatalf("registering controller: %v", err)
		}
	}
	if register != nil {
		if err := register(context.Background(), mgr); err != nil {
			t.Fatalf("registering: %v", err)
		}
	}
	return RunManager(t, mgr)
}

// RunManager starts a built manager, waits for its cache to sync and stops it when the
// test ends.
func RunManager(t testing.TB, mgr manager.Manager) *Manager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	var once sync.Once
	m := &Manager{Manager: mgr, stop: func() { once.Do(func() { cancel(); wg.Wait() }) }}
	t.Cleanup(m.Stop)
	syncCtx, syncCancel := context.WithTimeout(ctx, DefaultTimeout)
	defer syncCancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		t.Fatalf("manager cache did not sync")
	}
	return m
}

// BuilderIndexer is a client.FieldIndexer that adds each index to a fake client under
// construction, so a controller's index registration can run against a fake client.
type BuilderIndexer struct{ Builder *fake.ClientBuilder }

// IndexField adds the index to the builder.
func (i BuilderIndexer) IndexField(_ context.Context, obj client.Object, field string, f client.IndexerFunc) error {
	i.Builder.WithIndex(obj, field, f)
	return nil
}
