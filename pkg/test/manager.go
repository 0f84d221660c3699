package test

import (
	"context"
	"sync"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
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

// StartManager builds a manager (no metrics or health server, no leader election, name
// validation off so a package may start many), registers the controllers on it, starts it,
// waits for its cache to sync and stops it when the test ends. register may be nil.
func (e *Environment) StartManager(t testing.TB, register func(ctx context.Context, mgr manager.Manager) error, controllers ...Registrar) *Manager {
	t.Helper()
	mgr, err := manager.New(e.Config, manager.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: new(true)},
	})
	if err != nil {
		t.Fatalf("building manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for _, c := range controllers {
		if err := c.Register(ctx, mgr); err != nil {
			cancel()
			t.Fatalf("registering controller: %v", err)
		}
	}
	if register != nil {
		if err := register(ctx, mgr); err != nil {
			cancel()
			t.Fatalf("registering: %v", err)
		}
	}
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
