package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/conditions"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/podevents"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/providerid"
	metricsnode "github.com/gokarpenter/karpenter/pkg/controllers/metrics/node"
	metricsnodeclaim "github.com/gokarpenter/karpenter/pkg/controllers/metrics/nodeclaim"
	metricspod "github.com/gokarpenter/karpenter/pkg/controllers/metrics/pod"
	metricsstate "github.com/gokarpenter/karpenter/pkg/controllers/metrics/state"
	metricsstatus "github.com/gokarpenter/karpenter/pkg/controllers/metrics/status"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/expiration"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/garbagecollection"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/termination"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodepool/status"
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
	// Registerer receives the controllers' karpenter_* metrics.
	Registerer   prometheus.Registerer
	Provisioning provisioning.Options
	// Disruption tunes the disruption engine; zero values take its defaults.
	Disruption disruption.Options
	// RegistrationTTL is the lifecycle controller's; zero means lifecycle.DefaultRegistrationTTL.
	RegistrationTTL time.Duration
}

// NewControllers returns every controller, in the order they are registered. It is the one
// place that knows them all.
func NewControllers(deps Deps) ([]Controller, error) {
	term, err := termination.NewController(termination.Deps{
		Client: deps.Client, CloudProvider: deps.CloudProvider, Recorder: deps.Recorder,
		Clock: deps.Clock, Registerer: deps.Registerer,
	})
	if err != nil {
		return nil, fmt.Errorf("building termination controller: %w", err)
	}
	expire, err := expiration.NewController(expiration.Deps{
		Client: deps.Client, Recorder: deps.Recorder, Clock: deps.Clock, Registerer: deps.Registerer,
	})
	if err != nil {
		return nil, fmt.Errorf("building expiration controller: %w", err)
	}
	disrupt, err := disruption.NewController(disruption.Deps{
		Client: deps.Client, Cluster: deps.Cluster, CloudProvider: deps.CloudProvider,
		Recorder: deps.Recorder, Clock: deps.Clock, Registerer: deps.Registerer, Options: deps.Disruption,
	})
	if err != nil {
		return nil, fmt.Errorf("building disruption controller: %w", err)
	}
	// kube-scheduler is told where the provisioner planned pods (provisioning.Hints), if asked.
	var hints *provisioning.Hints
	var beforeRegister func(ctx context.Context, nodeClaim, node string)
	if deps.Provisioning.SchedulingHints {
		hints = provisioning.NewHints(deps.Client, deps.Cluster)
		beforeRegister = hints.Registering
	}
	metricsCtrls, err := newMetricsControllers(deps)
	if err != nil {
		return nil, err
	}
	return append([]Controller{
		// First: lifecycle and termination read these indexes.
		providerid.Indexes{},
		provisioning.NewController(provisioning.Deps{
			Client: deps.Client, Cluster: deps.Cluster, CloudProvider: deps.CloudProvider,
			Recorder: deps.Recorder, Clock: deps.Clock, Options: deps.Provisioning, Registerer: deps.Registerer,
			Hints: hints,
		}),
		lifecycle.NewController(lifecycle.Deps{
			Client: deps.Client, CloudProvider: deps.CloudProvider, Recorder: deps.Recorder, Clock: deps.Clock,
			Registerer: deps.Registerer, RegistrationTTL: deps.RegistrationTTL, BeforeRegister: beforeRegister,
		}),
		term,
		garbagecollection.NewController(garbagecollection.Deps{
			Client: deps.Client, CloudProvider: deps.CloudProvider, Recorder: deps.Recorder, Clock: deps.Clock,
		}),
		expire,
		podevents.NewController(podevents.Deps{Client: deps.Client, Clock: deps.Clock}),
		conditions.NewController(conditions.Deps{Client: deps.Client, CloudProvider: deps.CloudProvider, Clock: deps.Clock}),
		disrupt,
		status.NewController(status.Deps{Client: deps.Client, Clock: deps.Clock, CloudProvider: deps.CloudProvider}),
	}, metricsCtrls...), nil
}

// newMetricsControllers builds the controllers that export state-derived metric families.
func newMetricsControllers(deps Deps) ([]Controller, error) {
	st, err := metricsstate.NewController(metricsstate.Deps{
		Client: deps.Client, Cluster: deps.Cluster, CloudProvider: deps.CloudProvider, Registerer: deps.Registerer, Clock: deps.Clock,
	})
	if err != nil {
		return nil, fmt.Errorf("building state metrics controller: %w", err)
	}
	pods, err := metricspod.NewController(metricspod.Deps{Client: deps.Client, Cluster: deps.Cluster, Registerer: deps.Registerer, Clock: deps.Clock})
	if err != nil {
		return nil, fmt.Errorf("building pod metrics controller: %w", err)
	}
	sdeps := metricsstatus.Deps{Client: deps.Client, Registerer: deps.Registerer, Clock: deps.Clock}
	pools, err := metricsstatus.NewNodePoolController(sdeps)
	if err != nil {
		return nil, fmt.Errorf("building nodepool status metrics controller: %w", err)
	}
	claims, err := metricsstatus.NewNodeClaimController(sdeps)
	if err != nil {
		return nil, fmt.Errorf("building nodeclaim status metrics controller: %w", err)
	}
	nodes, err := metricsnode.NewController(metricsnode.Deps{Client: deps.Client, Registerer: deps.Registerer, Clock: deps.Clock})
	if err != nil {
		return nil, fmt.Errorf("building node metrics controller: %w", err)
	}
	claimTerminations, err := metricsnodeclaim.NewController(metricsnodeclaim.Deps{Client: deps.Client, Registerer: deps.Registerer, Clock: deps.Clock})
	if err != nil {
		return nil, fmt.Errorf("building nodeclaim metrics controller: %w", err)
	}
	return []Controller{st, pods, pools, claims, nodes, claimTerminations}, nil
}
