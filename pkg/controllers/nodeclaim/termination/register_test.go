package termination

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestRegister wires both controllers into a manager (not started).
func TestRegister(t *testing.T) {
	test.RequireEnvironment(t, env)
	mgr, err := manager.New(env.Config, manager.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := NewController(Deps{Client: mgr.GetClient(), CloudProvider: cloud})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Register(test.Context(t), mgr); err != nil {
		t.Fatal(err)
	}
	if ctrl.evictor == nil || ctrl.podReader == nil {
		t.Fatal("Register must fill in the evictor and the pod reader")
	}
}
