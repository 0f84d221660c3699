package termination

import (
	"testing"

	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestRegister wires both controllers into a manager (not started).
func TestRegister(t *testing.T) {
	test.RequireEnvironment(t, env)
	mgr := env.NewManager(t)
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
