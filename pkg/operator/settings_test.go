package operator_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gokarpenter/karpenter/pkg/operator"
)

func envOf(kv map[string]string) operator.LookupEnv {
	return func(name string) (string, bool) { v, ok := kv[name]; return v, ok }
}

func parse(t *testing.T, env map[string]string, args ...string) (operator.Options, error) {
	t.Helper()
	o := operator.DefaultOptions()
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	err := o.Parse(fs, args, envOf(env))
	return o, err
}

// TestSettingsPrecedence: a flag beats its environment variable, which beats the default.
func TestSettingsPrecedence(t *testing.T) {
	for _, tc := range []struct {
		env, flag              string
		envV, flagV            string
		get                    func(operator.Options) any
		def, fromEnv, fromFlag any
	}{
		{"BATCH_MAX_DURATION", "batch-max-duration", "20s", "30s", func(o operator.Options) any { return o.BatchMaxDuration }, 10 * time.Second, 20 * time.Second, 30 * time.Second},
		{"BATCH_IDLE_DURATION", "batch-idle-duration", "2s", "3s", func(o operator.Options) any { return o.BatchIdleDuration }, time.Second, 2 * time.Second, 3 * time.Second},
		{"LOG_LEVEL", "log-level", "debug", "error", func(o operator.Options) any { return o.LogLevel }, "info", "debug", "error"},
		{"KUBE_CLIENT_QPS", "kube-client-qps", "50", "70", func(o operator.Options) any { return o.KubeClientQPS }, 200, 50, 70},
		{"KUBE_CLIENT_BURST", "kube-client-burst", "60", "80", func(o operator.Options) any { return o.KubeClientBurst }, 300, 60, 80},
		{"METRICS_PORT", "metrics-port", "9000", "9100", func(o operator.Options) any { return o.MetricsAddress() }, ":8080", ":9000", ":9100"},
		{"HEALTH_PROBE_PORT", "health-probe-port", "9001", "9101", func(o operator.Options) any { return o.HealthAddress() }, ":8081", ":9001", ":9101"},
		{"PREFERENCE_POLICY", "preference-policy", "Ignore", "Respect", func(o operator.Options) any { return o.PreferencePolicy }, "Respect", "Ignore", "Respect"},
		{"MIN_VALUES_POLICY", "min-values-policy", "BestEffort", "Strict", func(o operator.Options) any { return o.MinValuesPolicy }, "Strict", "BestEffort", "Strict"},
		{"DISABLE_LEADER_ELECTION", "disable-leader-election", "true", "false", func(o operator.Options) any { return o.LeaderElects() }, true, false, true},
		{"LEADER_ELECTION_NAME", "leader-election-name", "from-env", "from-flag", func(o operator.Options) any { return o.LeaderElectionID }, "karpenter-leader-election", "from-env", "from-flag"},
		{"LEADER_ELECTION_NAMESPACE", "leader-election-namespace", "env-ns", "flag-ns", func(o operator.Options) any { return o.LeaderElectionNamespace }, "", "env-ns", "flag-ns"},
		{"LEADER_ELECTION_LEASE_DURATION", "leader-election-lease-duration", "60s", "45s", func(o operator.Options) any { return o.LeaderElectionLeaseDuration }, 15 * time.Second, time.Minute, 45 * time.Second},
		{"LEADER_ELECTION_RENEW_DEADLINE", "leader-election-renew-deadline", "12s", "11s", func(o operator.Options) any { return o.LeaderElectionRenewDeadline }, 10 * time.Second, 12 * time.Second, 11 * time.Second},
		{"LEADER_ELECTION_RETRY_PERIOD", "leader-election-retry-period", "1s", "3s", func(o operator.Options) any { return o.LeaderElectionRetryPeriod }, 2 * time.Second, time.Second, 3 * time.Second},
		{"ENABLE_PROFILING", "enable-profiling", "true", "false", func(o operator.Options) any { return o.EnableProfiling }, false, true, false},
		{"MEMORY_LIMIT", "memory-limit", "1073741824", "2147483648", func(o operator.Options) any { return o.MemoryLimit }, int64(-1), int64(1 << 30), int64(2 << 30)},
		{"CPU_REQUESTS", "cpu-requests", "500", "250", func(o operator.Options) any { return o.CPURequests }, int64(1000), int64(500), int64(250)},
		{"LOG_OUTPUT_PATHS", "log-output-paths", "stderr", "stdout,/tmp/k.log", func(o operator.Options) any { return o.LogOutputPaths }, "stdout", "stderr", "stdout,/tmp/k.log"},
		{"LOG_ERROR_OUTPUT_PATHS", "log-error-output-paths", "stdout", "stderr", func(o operator.Options) any { return o.LogErrorOutputPaths }, "stderr", "stdout", "stderr"},
		{"REGISTRATION_TTL", "registration-ttl", "2m", "30s", func(o operator.Options) any { return o.RegistrationTTL }, 15 * time.Minute, 2 * time.Minute, 30 * time.Second},
		{"IGNORE_DRA_REQUESTS", "ignore-dra-requests", "false", "true", func(o operator.Options) any { return o.IgnoreDRARequests }, true, false, true},
		{"FEATURE_GATES", "feature-gates", "SpotToSpotConsolidation=true", "NodeRepair=true", func(o operator.Options) any { return o.FeatureGates.String() },
			"CapacityBuffer=false,NodeOverlay=false,NodeRepair=false,ReservedCapacity=true,SpotToSpotConsolidation=false,StaticCapacity=false",
			"CapacityBuffer=false,NodeOverlay=false,NodeRepair=false,ReservedCapacity=true,SpotToSpotConsolidation=true,StaticCapacity=false",
			// the flag's gates are applied over the environment's: both are on
			"CapacityBuffer=false,NodeOverlay=false,NodeRepair=true,ReservedCapacity=true,SpotToSpotConsolidation=true,StaticCapacity=false"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			for _, step := range []struct {
				name string
				env  map[string]string
				args []string
				want any
			}{
				{"default", nil, nil, tc.def},
				{"env", map[string]string{tc.env: tc.envV}, nil, tc.fromEnv},
				{"flag over env", map[string]string{tc.env: tc.envV}, []string{"--" + tc.flag + "=" + tc.flagV}, tc.fromFlag},
			} {
				o, err := parse(t, step.env, step.args...)
				if err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				if got := tc.get(o); got != step.want {
					t.Errorf("%s: got %v, want %v", step.name, got, step.want)
				}
			}
		})
	}
}

// TestSettingsRefuseInvalidValues: each bad value, from the environment or a flag, is refused
// with an error naming the setting.
func TestSettingsRefuseInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"BATCH_MAX_DURATION": "ten"}, nil, "BATCH_MAX_DURATION"},
		{nil, []string{"--batch-max-duration=ten"}, "batch-max-duration"},
		{map[string]string{"BATCH_IDLE_DURATION": "-1s"}, nil, "BATCH_IDLE_DURATION"},
		{map[string]string{"BATCH_IDLE_DURATION": "1m"}, nil, "BATCH_IDLE_DURATION"},
		{map[string]string{"FEATURE_GATES": "Drift=true"}, nil, `FEATURE_GATES="Drift=true": unknown feature gate "Drift"`},
		{nil, []string{"--feature-gates=Warp=true"}, `unknown feature gate "Warp"`},
		{map[string]string{"FEATURE_GATES": "NodeRepair=maybe"}, nil, "FEATURE_GATES"},
		{map[string]string{"FEATURE_GATES": "NodeRepair"}, nil, "FEATURE_GATES"},
		{map[string]string{"LOG_LEVEL": "loud"}, nil, "LOG_LEVEL"},
		{map[string]string{"LOG_OUTPUT_PATHS": " , "}, nil, "LOG_OUTPUT_PATHS"},
		{map[string]string{"LOG_ERROR_OUTPUT_PATHS": ""}, nil, "LOG_ERROR_OUTPUT_PATHS"},
		{map[string]string{"KUBE_CLIENT_QPS": "fast"}, nil, "KUBE_CLIENT_QPS"},
		{map[string]string{"KUBE_CLIENT_QPS": "0"}, nil, "KUBE_CLIENT_QPS"},
		{map[string]string{"KUBE_CLIENT_BURST": "-3"}, nil, "KUBE_CLIENT_BURST"},
		{map[string]string{"METRICS_PORT": "70000"}, nil, "METRICS_PORT"},
		{map[string]string{"METRICS_PORT": "http"}, nil, "METRICS_PORT"},
		{map[string]string{"HEALTH_PROBE_PORT": "0"}, nil, "HEALTH_PROBE_PORT"},
		{nil, []string{"--metrics-bind-address=nohost"}, "METRICS_PORT"},
		{map[string]string{"PREFERENCE_POLICY": "respect"}, nil, "PREFERENCE_POLICY"},
		{map[string]string{"MIN_VALUES_POLICY": "Loose"}, nil, "MIN_VALUES_POLICY"},
		{map[string]string{"DISABLE_LEADER_ELECTION": "yes"}, nil, "DISABLE_LEADER_ELECTION"},
		{map[string]string{"ENABLE_PROFILING": "1"}, nil, "ENABLE_PROFILING"},
		{map[string]string{"IGNORE_DRA_REQUESTS": "no"}, nil, "IGNORE_DRA_REQUESTS"},
		{map[string]string{"MEMORY_LIMIT": "1Gi"}, nil, "MEMORY_LIMIT"},
		{map[string]string{"MEMORY_LIMIT": "0"}, nil, "MEMORY_LIMIT"},
		{map[string]string{"CPU_REQUESTS": "-5"}, nil, "CPU_REQUESTS"},
		{map[string]string{"LEADER_ELECTION_NAME": ""}, nil, "LEADER_ELECTION_NAME"},
		{map[string]string{"CLOUD_PROVIDER": "mars"}, nil, "CLOUD_PROVIDER"},
		{map[string]string{"REGISTRATION_TTL": "0s"}, nil, "REGISTRATION_TTL"},
		{nil, []string{"--registration-ttl=soon"}, "registration-ttl"},
		{nil, []string{"--no-such-flag"}, "no-such-flag"},
		{nil, []string{"stray"}, "unexpected arguments"},
	} {
		_, err := parse(t, tc.env, tc.args...)
		if err == nil {
			t.Errorf("env %v args %v: accepted", tc.env, tc.args)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v args %v: error %q does not name %q", tc.env, tc.args, err, tc.want)
		}
	}
}

// TestSettingsCoverUpstream: every upstream setting that applies here has its environment
// variable and flag. (KARPENTER_SERVICE is for upstream's webhooks, which this project has
// not; CLUSTER_* and the other AWS settings belong to the aws provider's settings group.)
func TestSettingsCoverUpstream(t *testing.T) {
	flags := map[string]string{}
	for _, s := range operator.AllSettings() {
		if s.Env != "" {
			flags[s.Env] = s.Flag
		}
	}
	for env, flagName := range map[string]string{
		"BATCH_IDLE_DURATION": "batch-idle-duration", "BATCH_MAX_DURATION": "batch-max-duration",
		"FEATURE_GATES": "feature-gates", "LOG_LEVEL": "log-level", "LOG_OUTPUT_PATHS": "log-output-paths",
		"LOG_ERROR_OUTPUT_PATHS": "log-error-output-paths", "KUBE_CLIENT_QPS": "kube-client-qps",
		"KUBE_CLIENT_BURST": "kube-client-burst", "METRICS_PORT": "metrics-port", "HEALTH_PROBE_PORT": "health-probe-port",
		"ENABLE_PROFILING": "enable-profiling", "DISABLE_LEADER_ELECTION": "disable-leader-election",
		"LEADER_ELECTION_NAME": "leader-election-name", "LEADER_ELECTION_NAMESPACE": "leader-election-namespace",
		"MEMORY_LIMIT": "memory-limit", "CPU_REQUESTS": "cpu-requests", "PREFERENCE_POLICY": "preference-policy",
		"MIN_VALUES_POLICY": "min-values-policy", "IGNORE_DRA_REQUESTS": "ignore-dra-requests",
	} {
		if got, ok := flags[env]; !ok || got != flagName {
			t.Errorf("%s: flag %q, want --%s", env, got, flagName)
		}
	}
}

type extraGroup struct {
	name string
	err  error
}

func (g *extraGroup) ApplyEnv(lookup operator.LookupEnv) error {
	if v, ok := lookup("CLUSTER_NAME"); ok {
		g.name = v
	}
	return nil
}
func (g *extraGroup) AddFlags(fs *flag.FlagSet) { fs.StringVar(&g.name, "cluster-name", g.name, "") }
func (g *extraGroup) Validate() error           { return g.err }

// TestSettingsExtraGroups: a provider's settings group is parsed with the same precedence and
// its validation errors stop the parse.
func TestSettingsExtraGroups(t *testing.T) {
	o := operator.DefaultOptions()
	g := &extraGroup{}
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	if err := o.Parse(fs, []string{"--cluster-name=flag"}, envOf(map[string]string{"CLUSTER_NAME": "env"}), g); err != nil {
		t.Fatal(err)
	}
	if g.name != "flag" {
		t.Errorf("cluster name = %q, want the flag's", g.name)
	}
	g = &extraGroup{err: errorString("CLUSTER_NAME (--cluster-name): required")}
	o = operator.DefaultOptions()
	if err := o.Parse(flag.NewFlagSet("c", flag.ContinueOnError), nil, envOf(nil), g); err == nil || !strings.Contains(err.Error(), "CLUSTER_NAME") {
		t.Errorf("extra group's validation error lost: %v", err)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestSettingsReachTheControllers: the batch window and the SpotToSpotConsolidation gate
// become the provisioner's and the disruption engine's options.
func TestSettingsReachTheControllers(t *testing.T) {
	o, err := parse(t, map[string]string{"FEATURE_GATES": "SpotToSpotConsolidation=true"}, "--batch-idle-duration=2s", "--batch-max-duration=20s", "--scheduling-hints")
	if err != nil {
		t.Fatal(err)
	}
	if p := o.ProvisioningOptions(); p.BatchIdleDuration != 2*time.Second || p.BatchMaxDuration != 20*time.Second || !p.SchedulingHints {
		t.Errorf("provisioning options %+v", p)
	}
	if operator.DefaultOptions().ProvisioningOptions().SchedulingHints {
		t.Error("scheduling hints are on by default")
	}
	if !o.DisruptionOptions().SpotToSpotConsolidation {
		t.Error("the SpotToSpotConsolidation gate did not reach the disruption engine")
	}
	if operator.DefaultOptions().DisruptionOptions().SpotToSpotConsolidation {
		t.Error("SpotToSpotConsolidation is on by default")
	}
}
