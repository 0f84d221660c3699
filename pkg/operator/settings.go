package operator

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"
)

// LookupEnv finds an environment variable, like os.LookupEnv.
type LookupEnv func(name string) (string, bool)

// Settings is a group of settings parsed alongside the core ones, e.g. a cloud provider's
// (CLUSTER_NAME, ...). Parse applies every group's environment first, then registers and
// parses every group's flags, then validates every group.
type Settings interface {
	// ApplyEnv sets the group's values from the environment; an error names the variable.
	ApplyEnv(lookup LookupEnv) error
	// AddFlags registers the group's flags with its current values as defaults.
	AddFlags(fs *flag.FlagSet)
	// Validate reports every value of the group that cannot work, naming the setting.
	Validate() error
}

var _ Settings = (*Options)(nil)

// Setting is one setting: its environment variable (empty: flag only), its flag and how it
// reads a value into the options.
type Setting struct {
	Env   string
	Flag  string
	Usage string
	value func(o *Options) flag.Value
}

// settings lists every setting, upstream's first. Flags without an environment variable are
// this project's own (or aliases kept for existing command lines).
func settings() []Setting {
	return []Setting{
		{"BATCH_IDLE_DURATION", "batch-idle-duration", "close a provisioning batch after this long without a new pending pod", func(o *Options) flag.Value { return (*durationValue)(&o.BatchIdleDuration) }},
		{"BATCH_MAX_DURATION", "batch-max-duration", "close a provisioning batch this long after it opened", func(o *Options) flag.Value { return (*durationValue)(&o.BatchMaxDuration) }},
		{"FEATURE_GATES", "feature-gates", "feature gates, e.g. SpotToSpotConsolidation=true,NodeRepair=false; known: " + knownGates(), func(o *Options) flag.Value { return &o.FeatureGates }},
		{"LOG_LEVEL", "log-level", "log level: debug, info or error", func(o *Options) flag.Value { return (*stringValue)(&o.LogLevel) }},
		{"LOG_OUTPUT_PATHS", "log-output-paths", "comma separated log destinations: stdout, stderr or file paths", func(o *Options) flag.Value { return (*stringValue)(&o.LogOutputPaths) }},
		{"LOG_ERROR_OUTPUT_PATHS", "log-error-output-paths", "comma separated destinations of error logs: stdout, stderr or file paths", func(o *Options) flag.Value { return (*stringValue)(&o.LogErrorOutputPaths) }},
		{"KUBE_CLIENT_QPS", "kube-client-qps", "sustained queries per second to the kube-apiserver", func(o *Options) flag.Value { return (*intValue)(&o.KubeClientQPS) }},
		{"KUBE_CLIENT_BURST", "kube-client-burst", "burst of queries to the kube-apiserver", func(o *Options) flag.Value { return (*intValue)(&o.KubeClientBurst) }},
		{"METRICS_PORT", "metrics-port", "port of the Prometheus /metrics endpoint", func(o *Options) flag.Value { return (*intValue)(&o.MetricsPort) }},
		{"HEALTH_PROBE_PORT", "health-probe-port", "port of /healthz and /readyz", func(o *Options) flag.Value { return (*intValue)(&o.HealthProbePort) }},
		{"ENABLE_PROFILING", "enable-profiling", "serve /debug/pprof/ on the metrics endpoint", func(o *Options) flag.Value { return (*boolValue)(&o.EnableProfiling) }},
		{"DISABLE_LEADER_ELECTION", "disable-leader-election", "run without leader election (one replica only)", func(o *Options) flag.Value { return (*boolValue)(&o.DisableLeaderElection) }},
		{"LEADER_ELECTION_NAME", "leader-election-name", "name of the leader election lease", func(o *Options) flag.Value { return (*stringValue)(&o.LeaderElectionID) }},
		{"LEADER_ELECTION_LEASE_DURATION", "leader-election-lease-duration", "how long the other replicas wait after the leader's last renewal before taking the lease", func(o *Options) flag.Value { return (*durationValue)(&o.LeaderElectionLeaseDuration) }},
		{"LEADER_ELECTION_RENEW_DEADLINE", "leader-election-renew-deadline", "how long the leader may fail to renew the lease before it stops (and stops writing); lease requests time out after half of it", func(o *Options) flag.Value { return (*durationValue)(&o.LeaderElectionRenewDeadline) }},
		{"LEADER_ELECTION_RETRY_PERIOD", "leader-election-retry-period", "time between attempts to take or renew the lease", func(o *Options) flag.Value { return (*durationValue)(&o.LeaderElectionRetryPeriod) }},
		{"LEADER_ELECTION_NAMESPACE", "leader-election-namespace", "namespace of the leader election lease (default: the pod's namespace)", func(o *Options) flag.Value { return (*stringValue)(&o.LeaderElectionNamespace) }},
		{"MEMORY_LIMIT", "memory-limit", "memory limit of the container in bytes; the Go soft memory limit is set to 90% of it (-1: leave it)", func(o *Options) flag.Value { return (*int64Value)(&o.MemoryLimit) }},
		{"CPU_REQUESTS", "cpu-requests", "CPU request of the container in millicores", func(o *Options) flag.Value { return (*int64Value)(&o.CPURequests) }},
		{"PREFERENCE_POLICY", "preference-policy", "how the scheduler treats preferences (preferred affinities, ScheduleAnyway spreads): Respect or Ignore", func(o *Options) flag.Value { return (*stringValue)(&o.PreferencePolicy) }},
		{"MIN_VALUES_POLICY", "min-values-policy", "how the scheduler treats minValues: Strict or BestEffort", func(o *Options) flag.Value { return (*stringValue)(&o.MinValuesPolicy) }},
		{"IGNORE_DRA_REQUESTS", "ignore-dra-requests", "ignore pods' dynamic resource allocation requests when scheduling", func(o *Options) flag.Value { return (*boolValue)(&o.IgnoreDRARequests) }},
		{"REGISTRATION_TTL", "registration-ttl", "delete a launched NodeClaim whose Node has not registered this long after its creation (upstream's fixed 15m)", func(o *Options) flag.Value { return (*durationValue)(&o.RegistrationTTL) }},
		{"CLOUD_PROVIDER", "cloud-provider", "cloud provider: sim, fake or aws", func(o *Options) flag.Value { return (*stringValue)(&o.CloudProvider) }},
		{"", "kubeconfig", "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)", func(o *Options) flag.Value { return (*stringValue)(&o.Kubeconfig) }},
		{"", "metrics-bind-address", `full address of /metrics, overriding --metrics-port ("0" disables it)`, func(o *Options) flag.Value { return (*stringValue)(&o.MetricsAddr) }},
		{"", "health-probe-bind-address", `full address of /healthz and /readyz, overriding --health-probe-port ("0" disables them)`, func(o *Options) flag.Value { return (*stringValue)(&o.HealthAddr) }},
		{"", "leader-elect", "elect a leader so only one replica acts at a time", func(o *Options) flag.Value { return (*boolValue)(&o.LeaderElection) }},
		{"", "leader-election-id", "alias of --leader-election-name", func(o *Options) flag.Value { return (*stringValue)(&o.LeaderElectionID) }},
		{"", "scheduling-hints", "set a pending pod's status.nominatedNodeName to the node it was planned onto, which kube-scheduler 1.34+ tries first (fewer spilled pods and empty nodes after a burst, but one write per pod: on a small control plane a 1,000-pod burst bound later)", func(o *Options) flag.Value { return (*boolValue)(&o.SchedulingHints) }},
		{"", "sim-catalog", "ec2-catalog.json file for the sim provider (default: the built-in catalogue)", func(o *Options) flag.Value { return (*stringValue)(&o.SimCatalog) }},
	}
}

// AllSettings lists every setting with its environment variable and flag (for docs and tests).
func AllSettings() []Setting { return settings() }

// ApplyEnv sets the options from the environment variables that are set.
func (o *Options) ApplyEnv(lookup LookupEnv) error {
	var errs []error
	for _, s := range settings() {
		if s.Env == "" {
			continue
		}
		if v, ok := lookup(s.Env); ok {
			if err := s.value(o).Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", s.Env, v, err))
			}
		}
	}
	return errors.Join(errs...)
}

// AddFlags binds the options to flags, with the options' current values as defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	for _, s := range settings() {
		usage := s.Usage
		if s.Env != "" {
			usage += " (env " + s.Env + ")"
		}
		fs.Var(s.value(o), s.Flag, usage)
	}
}

// Parse reads the settings of o and of every extra group: environment, then flags (a flag
// beats its environment variable, which beats the default), then validation. Every error
// names the setting.
func (o *Options) Parse(fs *flag.FlagSet, args []string, lookup LookupEnv, extra ...Settings) error {
	groups := append([]Settings{o}, extra...)
	var errs []error
	for _, g := range groups {
		if err := g.ApplyEnv(lookup); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, g := range groups {
		g.AddFlags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, g := range groups {
		if err := g.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not an integer")
	}
	*v = intValue(n)
	return nil
}

type int64Value int64

func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }
func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer")
	}
	*v = int64Value(n)
	return nil
}

type boolValue bool

func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }
func (v *boolValue) Set(s string) error {
	switch s {
	case "true":
		*v = true
	case "false":
		*v = false
	default:
		return fmt.Errorf("not true or false")
	}
	return nil
}

type durationValue time.Duration

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration such as 10s or 1m30s")
	}
	*v = durationValue(d)
	return nil
}
