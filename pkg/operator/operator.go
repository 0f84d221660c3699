package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	goruntime "runtime"
	"runtime/debug"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	awssetup "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/setup"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	cpmetrics "github.com/gokarpenter/karpenter/pkg/cloudprovider/metrics"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim/noderegistrar"
	"github.com/gokarpenter/karpenter/pkg/controllers"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/operator/fence"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// EventCacheSize is the size of each of the event correlator's caches (client-go: 4,096).
const EventCacheSize = 1024

// EventSource is the component name on the events the controllers record.
const EventSource = "karpenter"

// inClusterNamespaceFile holds the pod's namespace when running in a cluster.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Operator is the assembled controller process. Build it with New, then Start it.
type Operator struct {
	Manager       manager.Manager
	Cluster       *state.Cluster
	CloudProvider cloudprovider.CloudProvider
	// Registry is the project's Prometheus registry, served on Options.MetricsAddr.
	Registry    *metrics.Registry
	Controllers []controllers.Controller
	// Fence refuses the process's writes while it does not hold the lease; nil without
	// leader election.
	Fence *fence.Fence
	// stopEvents shuts the event broadcaster down when the manager has returned.
	stopEvents func()
}

// NewScheme returns a fresh scheme with the Kubernetes types, karpenter.sh/v1 and the
// simulated cloud's and the AWS provider's types.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1.AddToScheme, simv1alpha1.AddToScheme, awsv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}

// New builds the manager, cluster state, cloud provider and controllers, and registers
// them all. Nothing runs until Start.
func New(ctx context.Context, cfg *rest.Config, opts Options, logger logr.Logger) (_ *Operator, err error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("validating options: %w", err)
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(opts.KubeClientQPS), opts.KubeClientBurst
	election, err := newElection(cfg, opts)
	if err != nil {
		return nil, err
	}
	if election.fence != nil {
		// Every client of the process writes through the fence; only the leader election's
		// own client (built from the unfenced config above) does not.
		cfg = rest.CopyConfig(cfg)
		cfg.Wrap(election.fence.Wrap)
	}
	recorder, stopEvents, err := newEventRecorder(cfg, scheme, logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			stopEvents()
		}
	}()
	compactor := state.NewCompactor(0)
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                              scheme,
		Logger:                              logger,
		Metrics:                             metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:              opts.HealthAddress(),
		LeaderElection:                      opts.LeaderElects(),
		LeaderElectionID:                    opts.LeaderElectionID,
		LeaderElectionNamespace:             election.namespace,
		LeaderElectionResourceLockInterface: election.lock,
		LeaseDuration:                       ptr.To(opts.LeaderElectionLeaseDuration),
		RenewDeadline:                       ptr.To(opts.LeaderElectionRenewDeadline),
		RetryPeriod:                         ptr.To(opts.LeaderElectionRetryPeriod),
		LeaderElectionReleaseOnCancel:       true,
		Controller:                          config.Controller{SkipNameValidation: &opts.SkipControllerNameValidation},
		// Managed fields, kubectl's last-applied annotation and the parts of pods and Nodes
		// nothing reads are dropped, and what many objects have in common is shared; pods
		// are held by a state.PodStore as compact records rather than by an informer: at
		// 20,000 pods the cache is most of the process's memory (see state.Compactor,
		// state.PodStore and BenchmarkCacheMemory in pkg/state).
		Cache:    cache.Options{DefaultTransform: compactor.Transform},
		NewCache: state.NewCache(compactor),
	})
	if err != nil {
		return nil, fmt.Errorf("building manager: %w", err)
	}
	op := &Operator{Manager: mgr, Registry: metrics.NewRegistry(), Fence: election.fence, stopEvents: stopEvents}
	op.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := metrics.BuildInfo(op.Registry, opts.Version, goruntime.Version(), vcsRevision()); err != nil {
		return nil, fmt.Errorf("registering build info: %w", err)
	}
	if addr := opts.MetricsAddress(); addr != "0" {
		handler := op.Registry.Handler(crmetrics.Registry, func(err error) { logger.Error(err, "serving a scrape") })
		if err := mgr.Add(&metricsServer{addr: addr, handler: handler, logger: logger, profiling: opts.EnableProfiling}); err != nil {
			return nil, fmt.Errorf("adding metrics server: %w", err)
		}
	}

	op.Cluster = state.NewCluster(state.Options{Clock: clock.RealClock{}})
	if err := op.Cluster.Register(ctx, mgr.GetCache()); err != nil {
		return nil, fmt.Errorf("feeding cluster state: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("state-synced", func(*http.Request) error {
		if !op.Cluster.Synced() {
			return errors.New("cluster state not synced")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("adding readyz check: %w", err)
	}

	inner, extra, err := newCloudProvider(ctx, cfg, mgr, scheme, opts, recorder, op.Registry, op.Fence)
	if err != nil {
		return nil, err
	}
	if op.Fence != nil {
		inner = op.Fence.CloudProvider(inner)
	}
	decorated, err := cpmetrics.Decorate(inner, op.Registry)
	if err != nil {
		return nil, fmt.Errorf("decorating cloud provider with metrics: %w", err)
	}
	op.CloudProvider = decorated

	ctrls, err := controllers.NewControllers(controllers.Deps{
		Client:          mgr.GetClient(),
		Cluster:         op.Cluster,
		CloudProvider:   op.CloudProvider,
		Recorder:        recorder,
		Clock:           clock.RealClock{},
		Registerer:      op.Registry,
		Provisioning:    opts.ProvisioningOptions(),
		Disruption:      opts.DisruptionOptions(),
		RegistrationTTL: opts.RegistrationTTL,
	})
	if err != nil {
		return nil, err
	}
	op.Controllers = append(ctrls, extra...)
	for _, c := range op.Controllers {
		if err := c.Register(ctx, mgr); err != nil {
			return nil, fmt.Errorf("registering controller %s: %w", c.Name(), err)
		}
	}
	return op, nil
}

// Start runs everything until ctx ends.
func (o *Operator) Start(ctx context.Context) error {
	defer o.stopEvents()
	if err := o.Manager.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// newEventRecorder returns the recorder of the controllers' events, already recording to
// the API, and the function that flushes and stops it.
//
// The recorder is the process's own rather than the manager's: client-go's event correlator
// keeps three LRU caches of recent events (aggregation, the spam filter, the dedup log) of
// 4,096 entries each by default, and at 20,000 pods, with an event or two per pod, they were
// full and held about 10 MB; EventCacheSize entries keep what the caches are for, repeats of
// one object's event close in time. Handed to the manager instead (its only way to size
// them), the broadcaster was started lazily by each of the manager's recorder providers,
// the manager's own among them only while the manager stopped, so a broadcaster we shut
// down with the manager was started again after ("Unable start event watcher (will not
// retry!)" err="broadcaster already stopped"). The manager keeps its default broadcaster for
// the leader election's events.
func newEventRecorder(cfg *rest.Config, scheme *runtime.Scheme, logger logr.Logger) (record.EventRecorder, func(), error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("building event client: %w", err)
	}
	events := record.NewBroadcaster(record.WithCorrelatorOptions(record.CorrelatorOptions{LRUCacheSize: EventCacheSize}))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	log := logger.WithName("events").V(1)
	events.StartEventWatcher(func(e *corev1.Event) {
		log.Info(e.Message, "type", e.Type, "object", e.InvolvedObject, "reason", e.Reason)
	})
	return events.NewRecorder(scheme, corev1.EventSource{Component: EventSource}), events.Shutdown, nil
}

// newCloudProvider builds the named provider and the controllers it brings along (the
// sim's node registrar, which plays the part of instances booting into Nodes, notices
// instances terminated by hand and reacts to spot interruptions).
func newCloudProvider(ctx context.Context, cfg *rest.Config, mgr manager.Manager, scheme *runtime.Scheme, opts Options, recorder record.EventRecorder, reg prometheus.Registerer, f *fence.Fence) (cloudprovider.CloudProvider, []controllers.Controller, error) {
	switch opts.CloudProvider {
	case CloudProviderAWS:
		direct, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return nil, nil, fmt.Errorf("building aws client: %w", err)
		}
		deps := awsprovider.SetupDeps{
			Options: opts.AWS, Config: cfg, Direct: direct, Cached: mgr.GetClient(), Recorder: recorder, Registerer: reg, Clock: clock.RealClock{},
		}
		if f != nil {
			// Every AWS write (launch templates, instance profiles, tags, SQS deletes, not
			// only the provider's Create and Delete) is refused off the lease.
			deps.APIOptions = append(deps.APIOptions, f.AWSAPIOption())
		}
		p, extra, err := awssetup.New(ctx, deps)
		if err != nil {
			return nil, nil, err
		}
		ctrls := make([]controllers.Controller, 0, len(extra))
		for _, c := range extra {
			ctrls = append(ctrls, c)
		}
		return p, ctrls, nil
	case CloudProviderFake:
		return fake.New(fake.Options{}), nil, nil
	case CloudProviderSim:
		// The sim loads its instances once, straight from the API server.
		direct, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return nil, nil, fmt.Errorf("building sim client: %w", err)
		}
		p, err := sim.New(sim.Options{Client: direct, NodeClassReader: mgr.GetClient(), InstanceReader: mgr.GetCache(), Clock: clock.RealClock{}, CatalogPath: opts.SimCatalog})
		if err != nil {
			return nil, nil, fmt.Errorf("building sim provider: %w", err)
		}
		registrar, err := noderegistrar.NewController(noderegistrar.Deps{
			Client: direct, Cloud: p, Recorder: recorder, Clock: clock.RealClock{}, Registerer: reg,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("building sim node registrar: %w", err)
		}
		return p, []controllers.Controller{registrarAdapter{registrar}}, nil
	}
	return nil, nil, fmt.Errorf("building cloud provider: unknown provider %q", opts.CloudProvider)
}

// registrarAdapter gives the sim's registrar the controllers.Controller shape.
type registrarAdapter struct{ *noderegistrar.Controller }

func (r registrarAdapter) Register(_ context.Context, mgr manager.Manager) error {
	return r.Controller.Register(mgr)
}

// vcsRevision is the commit the binary was built from, when the build recorded it.
func vcsRevision() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}
