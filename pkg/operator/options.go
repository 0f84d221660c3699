package operator

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"k8s.io/client-go/tools/leaderelection"

	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption"
	"github.com/gokarpenter/karpenter/pkg/controllers/nodeclaim/lifecycle"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
)

// Cloud provider names Options.CloudProvider accepts.
const (
	CloudProviderSim  = "sim"
	CloudProviderFake = "fake"
	CloudProviderAWS  = "aws"
)

// Scheduling policies (PREFERENCE_POLICY and MIN_VALUES_POLICY), as upstream spells them.
const (
	PreferencePolicyRespect   = "Respect"
	PreferencePolicyIgnore    = "Ignore"
	MinValuesPolicyStrict     = "Strict"
	MinValuesPolicyBestEffort = "BestEffort"
)

// Options configure the controller process. Every upstream setting that applies has its
// environment variable and its flag (see settings.go); a flag beats the environment, which
// beats the default.
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means $KUBECONFIG, in-cluster, then ~/.kube/config.
	Kubeconfig string
	// MetricsPort and HealthProbePort are the ports /metrics and /healthz,/readyz listen on
	// (all interfaces) unless MetricsAddr / HealthAddr give a full address.
	MetricsPort     int
	HealthProbePort int
	// MetricsAddr serves /metrics; "0" turns it off; empty means ":MetricsPort".
	MetricsAddr string
	// HealthAddr serves /healthz and /readyz; "0" turns it off; empty means ":HealthProbePort".
	HealthAddr string
	// EnableProfiling serves net/http/pprof under /debug/pprof/ on the metrics endpoint.
	EnableProfiling bool
	// KubeClientQPS and KubeClientBurst rate-limit the client to the API server.
	KubeClientQPS   int
	KubeClientBurst int
	// LeaderElection lets only one replica act at a time; DisableLeaderElection (upstream's
	// DISABLE_LEADER_ELECTION) turns it off too.
	LeaderElection        bool
	DisableLeaderElection bool
	// LeaderElectionNamespace holds the lease; empty means the pod's namespace in a cluster.
	LeaderElectionNamespace string
	// LeaderElectionID names the lease (upstream's LEADER_ELECTION_NAME).
	LeaderElectionID string
	// LeaderElectionLeaseDuration is how long the other replicas wait after the leader last
	// renewed before they take the lease; LeaderElectionRenewDeadline how long the leader keeps
	// failing to renew before it gives up (its writes are fenced off from then on: the margin
	// between the two covers a write in flight); LeaderElectionRetryPeriod the time between
	// attempts. Each lease request times out after half the renew deadline. A leader whose API
	// server is starved for longer than the renew deadline exits, so a loaded control plane
	// wants them longer (and a failover then takes longer).
	LeaderElectionLeaseDuration time.Duration
	LeaderElectionRenewDeadline time.Duration
	LeaderElectionRetryPeriod   time.Duration
	// MemoryLimit in bytes: the Go runtime's soft memory limit is set to 90% of it; -1 leaves
	// the runtime's limit (GOMEMLIMIT) alone.
	MemoryLimit int64
	// CPURequests is the controller container's CPU request in millicores (upstream's
	// CPU_REQUESTS). Accepted and validated; nothing is sized from it yet.
	CPURequests int64
	// BatchIdleDuration and BatchMaxDuration bound the provisioner's batches.
	BatchIdleDuration time.Duration
	BatchMaxDuration  time.Duration
	// RegistrationTTL is how long a NodeClaim may go without its Node registering before the
	// lifecycle controller deletes it (and termination its instance). Upstream fixes it at
	// 15 minutes; a setting here, so tests and demos can shorten it.
	RegistrationTTL time.Duration
	// LogLevel is debug, info or error.
	LogLevel string
	// LogOutputPaths and LogErrorOutputPaths are comma separated: "stdout", "stderr" or files.
	LogOutputPaths      string
	LogErrorOutputPaths string
	// PreferencePolicy is Respect or Ignore; MinValuesPolicy is Strict or BestEffort.
	PreferencePolicy string
	MinValuesPolicy  string
	// IgnoreDRARequests ignores pods' dynamic resource claims when scheduling.
	IgnoreDRARequests bool
	// SchedulingHints writes pods' status.nominatedNodeName (provisioning.Hints); off by
	// default, see the flag's usage.
	SchedulingHints bool
	// FeatureGates are upstream's gates.
	FeatureGates FeatureGates
	// CloudProvider is "sim" (the simulated cloud) or "fake" (the in-memory test double).
	CloudProvider string
	// SimCatalog is an ec2-catalog.json file for the sim; empty means the built-in catalogue.
	SimCatalog string
	// AWS are the aws provider's settings (CLUSTER_NAME, INTERRUPTION_QUEUE, ...), a group
	// of their own parsed with these; validated only with --cloud-provider aws.
	AWS awsprovider.Options
	// Version labels karpenter_build_info; set by the binary, no flag.
	Version string
	// SkipControllerNameValidation lets several operators run in one process (tests);
	// controller-runtime otherwise insists on process-wide unique controller names. No flag.
	SkipControllerNameValidation bool
}

// DefaultOptions are upstream's defaults.
func DefaultOptions() Options {
	return Options{
		MetricsPort:                 8080,
		HealthProbePort:             8081,
		KubeClientQPS:               200,
		KubeClientBurst:             300,
		LeaderElection:              true,
		LeaderElectionID:            "karpenter-leader-election",
		LeaderElectionLeaseDuration: DefaultLeaseDuration,
		LeaderElectionRenewDeadline: DefaultRenewDeadline,
		LeaderElectionRetryPeriod:   DefaultRetryPeriod,
		MemoryLimit:                 -1,
		CPURequests:                 1000,
		BatchIdleDuration:           provisioning.DefaultBatchIdleDuration,
		BatchMaxDuration:            provisioning.DefaultBatchMaxDuration,
		RegistrationTTL:             lifecycle.DefaultRegistrationTTL,
		LogLevel:                    "info",
		LogOutputPaths:              "stdout",
		LogErrorOutputPaths:         "stderr",
		PreferencePolicy:            PreferencePolicyRespect,
		MinValuesPolicy:             MinValuesPolicyStrict,
		IgnoreDRARequests:           true,
		FeatureGates:                DefaultFeatureGates(),
		CloudProvider:               CloudProviderSim,
		AWS:                         awsprovider.DefaultOptions(),
	}
}

// MetricsAddress is where /metrics listens ("0": nowhere).
func (o Options) MetricsAddress() string {
	if o.MetricsAddr != "" {
		return o.MetricsAddr
	}
	return ":" + strconv.Itoa(o.MetricsPort)
}

// HealthAddress is where /healthz and /readyz listen ("0": nowhere).
func (o Options) HealthAddress() string {
	if o.HealthAddr != "" {
		return o.HealthAddr
	}
	return ":" + strconv.Itoa(o.HealthProbePort)
}

// ProvisioningOptions are the provisioner's settings: the batch window. (PREFERENCE_POLICY
// and MIN_VALUES_POLICY are validated but the scheduler does not take them yet.)
func (o Options) ProvisioningOptions() provisioning.Options {
	return provisioning.Options{BatchIdleDuration: o.BatchIdleDuration, BatchMaxDuration: o.BatchMaxDuration, SchedulingHints: o.SchedulingHints}
}

// DisruptionOptions are the disruption engine's settings: the SpotToSpotConsolidation gate.
func (o Options) DisruptionOptions() disruption.Options {
	return disruption.Options{SpotToSpotConsolidation: o.FeatureGates.SpotToSpotConsolidation}
}

// LeaderElects reports whether leader election runs.
func (o Options) LeaderElects() bool { return o.LeaderElection && !o.DisableLeaderElection }

// Validate reports every setting that cannot work, each named by its environment variable
// and flag.
func (o Options) Validate() error {
	var errs []error
	bad := func(env, flagName, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (--%s): %s", env, flagName, fmt.Sprintf(format, args...)))
	}
	if o.BatchIdleDuration <= 0 {
		bad("BATCH_IDLE_DURATION", "batch-idle-duration", "%s is not positive", o.BatchIdleDuration)
	}
	if o.BatchMaxDuration <= 0 {
		bad("BATCH_MAX_DURATION", "batch-max-duration", "%s is not positive", o.BatchMaxDuration)
	}
	if o.BatchIdleDuration > o.BatchMaxDuration {
		bad("BATCH_IDLE_DURATION", "batch-idle-duration", "%s exceeds BATCH_MAX_DURATION %s", o.BatchIdleDuration, o.BatchMaxDuration)
	}
	if o.RegistrationTTL <= 0 {
		bad("REGISTRATION_TTL", "registration-ttl", "%s is not positive", o.RegistrationTTL)
	}
	switch o.LogLevel {
	case "debug", "info", "error":
	default:
		bad("LOG_LEVEL", "log-level", "%q is not debug, info or error", o.LogLevel)
	}
	if err := checkLogPaths(o.LogOutputPaths); err != nil {
		bad("LOG_OUTPUT_PATHS", "log-output-paths", "%v", err)
	}
	if err := checkLogPaths(o.LogErrorOutputPaths); err != nil {
		bad("LOG_ERROR_OUTPUT_PATHS", "log-error-output-paths", "%v", err)
	}
	checkPort := func(env, flagName string, port int, addr string) {
		if addr != "" {
			if addr == "0" {
				return
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				bad(env, flagName, "address %q: %v", addr, err)
			}
			return
		}
		if port < 1 || port > 65535 {
			bad(env, flagName, "port %d is not in 1-65535", port)
		}
	}
	checkPort("METRICS_PORT", "metrics-port", o.MetricsPort, o.MetricsAddr)
	checkPort("HEALTH_PROBE_PORT", "health-probe-port", o.HealthProbePort, o.HealthAddr)
	if o.KubeClientQPS <= 0 {
		bad("KUBE_CLIENT_QPS", "kube-client-qps", "%d is not positive", o.KubeClientQPS)
	}
	if o.KubeClientBurst <= 0 {
		bad("KUBE_CLIENT_BURST", "kube-client-burst", "%d is not positive", o.KubeClientBurst)
	}
	if o.MemoryLimit == 0 || o.MemoryLimit < -1 {
		bad("MEMORY_LIMIT", "memory-limit", "%d is neither -1 nor a positive number of bytes", o.MemoryLimit)
	}
	if o.CPURequests <= 0 {
		bad("CPU_REQUESTS", "cpu-requests", "%d millicores is not positive", o.CPURequests)
	}
	if o.PreferencePolicy != PreferencePolicyRespect && o.PreferencePolicy != PreferencePolicyIgnore {
		bad("PREFERENCE_POLICY", "preference-policy", "%q is not %s or %s", o.PreferencePolicy, PreferencePolicyRespect, PreferencePolicyIgnore)
	}
	if o.MinValuesPolicy != MinValuesPolicyStrict && o.MinValuesPolicy != MinValuesPolicyBestEffort {
		bad("MIN_VALUES_POLICY", "min-values-policy", "%q is not %s or %s", o.MinValuesPolicy, MinValuesPolicyStrict, MinValuesPolicyBestEffort)
	}
	switch o.CloudProvider {
	case CloudProviderSim, CloudProviderFake:
	case CloudProviderAWS:
		if err := o.AWS.Validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		bad("CLOUD_PROVIDER", "cloud-provider", "%q is not %s, %s or %s", o.CloudProvider, CloudProviderSim, CloudProviderFake, CloudProviderAWS)
	}
	if o.LeaderElects() && o.LeaderElectionID == "" {
		bad("LEADER_ELECTION_NAME", "leader-election-name", "leader election needs a lease name")
	}
	// client-go's own checks, named here rather than failing at start-up.
	switch {
	case o.LeaderElectionRetryPeriod <= 0:
		bad("LEADER_ELECTION_RETRY_PERIOD", "leader-election-retry-period", "%s is not positive", o.LeaderElectionRetryPeriod)
	case o.LeaderElectionRenewDeadline <= time.Duration(leaderelection.JitterFactor*float64(o.LeaderElectionRetryPeriod)):
		bad("LEADER_ELECTION_RENEW_DEADLINE", "leader-election-renew-deadline", "%s is not above %v times LEADER_ELECTION_RETRY_PERIOD %s",
			o.LeaderElectionRenewDeadline, leaderelection.JitterFactor, o.LeaderElectionRetryPeriod)
	case o.LeaderElectionLeaseDuration <= o.LeaderElectionRenewDeadline:
		bad("LEADER_ELECTION_LEASE_DURATION", "leader-election-lease-duration", "%s is not above LEADER_ELECTION_RENEW_DEADLINE %s",
			o.LeaderElectionLeaseDuration, o.LeaderElectionRenewDeadline)
	}
	return errors.Join(errs...)
}
