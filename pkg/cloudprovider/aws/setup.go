package aws

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Controller is the shape of the controllers the provider brings along (the operator's
// controllers.Controller).
type Controller interface {
	Name() string
	Register(ctx context.Context, mgr manager.Manager) error
}

// SetupDeps are what the operator hands the provider.
type SetupDeps struct {
	Options Options
	// Config is the controller's API server connection: its host and CA are the defaults of
	// the cluster endpoint and CA bundle nodes join with, its discovery gives the version.
	Config *rest.Config
	// Direct reads straight from the API server (EC2NodeClasses at launch time).
	Direct client.Client
	// Cached is the manager's client (the controllers').
	Cached     client.Client
	Recorder   record.EventRecorder
	Registerer prometheus.Registerer
	Clock      clock.Clock
	// Clients overrides the SDK clients (tests); nil builds them from Options.
	Clients *Clients
	// APIOptions are added to the middleware stack of every SDK client built from Options
	// (the operator fences every write on the leader election lease with one).
	APIOptions []func(*middleware.Stack) error
	// NewControllers builds the provider's controllers (nodeclass, interruption); it lives
	// with the caller so this package does not import its own subpackages.
	NewControllers func(p *Provider, d SetupDeps) ([]Controller, error)
}

// Setup builds the provider from the settings, filling what the settings leave out from the
// controller's own connection (endpoint, CA bundle, Kubernetes version).
func Setup(ctx context.Context, d SetupDeps) (*Provider, []Controller, error) {
	o := d.Options
	if o.ClusterEndpoint == "" && d.Config != nil {
		o.ClusterEndpoint = d.Config.Host
	}
	if o.ClusterCABundle == "" && d.Config != nil {
		ca := d.Config.CAData
		if len(ca) == 0 && d.Config.CAFile != "" {
			if b, err := os.ReadFile(d.Config.CAFile); err == nil {
				ca = b
			}
		}
		o.ClusterCABundle = base64.StdEncoding.EncodeToString(ca)
	}
	if o.KubernetesVersion == "" && d.Config != nil {
		dc, err := discovery.NewDiscoveryClientForConfig(d.Config)
		if err != nil {
			return nil, nil, fmt.Errorf("building discovery client: %w", err)
		}
		v, err := dc.ServerVersion()
		if err != nil {
			return nil, nil, fmt.Errorf("reading the Kubernetes version: %w", err)
		}
		o.KubernetesVersion = fmt.Sprintf("%s.%s", v.Major, trimPlus(v.Minor))
	}
	clients := d.Clients
	if clients == nil {
		c, err := NewClients(ctx, o, d.APIOptions...)
		if err != nil {
			return nil, nil, err
		}
		clients = c
	}
	p, err := New(Deps{Options: o, Clients: clients, Kube: d.Direct, Clock: d.Clock})
	if err != nil {
		return nil, nil, err
	}
	if d.NewControllers == nil {
		return p, nil, nil
	}
	ctrls, err := d.NewControllers(p, d)
	if err != nil {
		return nil, nil, err
	}
	return p, ctrls, nil
}

// trimPlus drops the "+" some distributions append to the minor version ("33+").
func trimPlus(minor string) string {
	for i, r := range minor {
		if r < '0' || r > '9' {
			return minor[:i]
		}
	}
	return minor
}
