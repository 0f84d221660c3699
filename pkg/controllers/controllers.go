package controllers

import (
	"context"

	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// Controller is what every controller offers the operator.
type Controller interface {
	// Name names the controller in logs and metrics.
	Name() string
	// Register adds the controller's watches and runnables to the manager.
	Register(ctx context.Context, mgr manager.Manager) error
}

// Deps are shared by the controllers.
type Deps struct {
	// Client reads from the manager's cache and writes to the API server.
	Client        client.Client
	Cluster       *state.Cluster
	CloudProvider cloudprovider.CloudProvider
	Recorder      record.EventRecorder
	Clock         clock.Clock
	Provisioning  provisioning.Options
}

// NewControllers returns every controller, in the order they are registered.
func NewControllers(deps Deps) []Controller {
	return []Controller{
		provisioning.NewController(provisioning.Deps{
			Client: deps.Client, Cluster: deps.Cluster, CloudProvider: deps.CloudProvider,
			Recorder: deps.Recorder, Clock: deps.Clock, Options: deps.Provisioning,
		}),
		lifecycle.NewController(lifecycle.Deps{
			Client: deps.Client, CloudProvider: deps.CloudProvider, Recorder: deps.Recorder, Clock: deps.Clock,
		}),
	}
}
