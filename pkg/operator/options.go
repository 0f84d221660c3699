package operator

import (
	"errors"
	"flag"
	"fmt"
	"time"

	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
)

// Cloud provider names Options.CloudProvider accepts.
const (
	CloudProviderSim  = "sim"
	CloudProviderFake = "fake"
	CloudProviderAWS  = "aws"
)

// Options configure the controller process.
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means $KUBECONFIG, in-cluster, then ~/.kube/config.
	Kubeconfig string
	// MetricsAddr serves /metrics; "0" turns it off.
	MetricsAddr string
	// HealthAddr serves /healthz and /readyz; "0" turns it off.
	HealthAddr string
	// LeaderElection lets only one replica act at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease; empty means the pod's namespace in a cluster.
	LeaderElectionNamespace string
	// LeaderElectionID names the lease.
	LeaderElectionID string
	// BatchIdleDuration and BatchMaxDuration bound the provisioner's batches.
	BatchIdleDuration time.Duration
	BatchMaxDuration  time.Duration
	// LogLevel is debug, info or error.
	LogLevel string
	// CloudProvider is "sim" (the simulated cloud) or "fake" (the in-memory test double).
	CloudProvider string
	// SimCatalog is an ec2-catalog.json file for the sim; empty means the built-in catalogue.
	SimCatalog string
	// AWS are the aws provider's settings (flags and environment variables of their own).
	AWS awsprovider.Options
	// SkipControllerNameValidation lets several operators run in one process (tests);
	// controller-runtime otherwise insists on process-wide unique controller names. No flag.
	SkipControllerNameValidation bool
}

// DefaultOptions are the defaults the flags start from.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:       ":8080",
		HealthAddr:        ":8081",
		LeaderElection:    true,
		LeaderElectionID:  "karpenter-leader-election",
		BatchIdleDuration: provisioning.DefaultBatchIdleDuration,
		BatchMaxDuration:  provisioning.DefaultBatchMaxDuration,
		LogLevel:          "info",
		CloudProvider:     CloudProviderSim,
		AWS:               awsprovider.DefaultOptions(),
	}
}

// AddFlags binds the options to flags, with the options' current values as defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, `address of the Prometheus /metrics endpoint ("0" disables it)`)
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", o.HealthAddr, `address of /healthz and /readyz ("0" disables them)`)
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection, "elect a leader so only one replica acts at a time")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "namespace of the leader election lease (default: the pod's namespace)")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "name of the leader election lease")
	fs.DurationVar(&o.BatchIdleDuration, "batch-idle-duration", o.BatchIdleDuration, "close a provisioning batch after this long without a new pending pod")
	fs.DurationVar(&o.BatchMaxDuration, "batch-max-duration", o.BatchMaxDuration, "close a provisioning batch this long after it opened")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "log level: debug, info or error")
	fs.StringVar(&o.CloudProvider, "cloud-provider", o.CloudProvider, "cloud provider: sim, fake or aws")
	fs.StringVar(&o.SimCatalog, "sim-catalog", o.SimCatalog, "ec2-catalog.json file for the sim provider (default: the built-in catalogue)")
	o.AWS.AddFlags(fs)
}

// Validate reports the first option that cannot work.
func (o Options) Validate() error {
	var errs []error
	if o.BatchIdleDuration <= 0 || o.BatchMaxDuration <= 0 {
		errs = append(errs, errors.New("batch durations must be positive"))
	}
	if o.BatchIdleDuration > o.BatchMaxDuration {
		errs = append(errs, fmt.Errorf("batch idle duration %s exceeds the max duration %s", o.BatchIdleDuration, o.BatchMaxDuration))
	}
	switch o.LogLevel {
	case "debug", "info", "error":
	default:
		errs = append(errs, fmt.Errorf("log level %q is not debug, info or error", o.LogLevel))
	}
	switch o.CloudProvider {
	case CloudProviderSim, CloudProviderFake:
	case CloudProviderAWS:
		if err := o.AWS.Validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("cloud provider %q is not %s, %s or %s", o.CloudProvider, CloudProviderSim, CloudProviderFake, CloudProviderAWS))
	}
	if o.LeaderElection && o.LeaderElectionID == "" {
		errs = append(errs, errors.New("leader election needs a lease name"))
	}
	return errors.Join(errs...)
}
