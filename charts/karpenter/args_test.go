package chart

import (
	"flag"
	"io"
	"testing"

	"github.com/gokarpenter/karpenter/pkg/operator"
)

// TestControllerAcceptsRenderedArgs parses the arguments the chart gives the container with
// the controller's own flag set, so the chart cannot drift from `karpenter controller`.
func TestControllerAcceptsRenderedArgs(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults":            nil,
		"debug, no election":  {"logLevel": "debug", "replicas": 1, "leaderElection": map[string]any{"enabled": false}},
		"custom batch window": {"batch": map[string]any{"idleDuration": "2s", "maxDuration": "20s"}},
		"settings": {"settings": map[string]any{
			"featureGates":     map[string]any{"spotToSpotConsolidation": true, "nodeRepair": true},
			"preferencePolicy": "Ignore", "minValuesPolicy": "BestEffort", "kubeClientQPS": 50, "kubeClientBurst": 75,
			"ignoreDRARequests": false, "enableProfiling": true,
		}},
		"aws": {"cloudProvider": "aws", "settings": map[string]any{"aws": map[string]any{
			"clusterName": "prod", "clusterEndpoint": "https://api.prod", "interruptionQueue": "prod-q",
			"vmMemoryOverheadPercent": 0.05, "reservedENIs": 1, "isolatedVPC": true,
		}}},
	} {
		t.Run(name, func(t *testing.T) {
			d := renderRelease(t, "karpenter", values).Deployment
			args := d.Spec.Template.Spec.Containers[0].Args
			if len(args) == 0 || args[0] != "controller" {
				t.Fatalf("args %v do not start with the controller subcommand", args)
			}
			opts := operator.DefaultOptions()
			fs := flag.NewFlagSet("controller", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			opts.AddFlags(fs)
			for _, g := range opts.ProviderSettings() {
				g.AddFlags(fs)
			}
			if err := fs.Parse(args[1:]); err != nil {
				t.Fatalf("controller rejects the chart's args %v: %v", args[1:], err)
			}
			if fs.NArg() != 0 {
				t.Errorf("stray arguments %v", fs.Args())
			}
			if err := opts.Validate(); err != nil {
				t.Errorf("controller options from the chart are invalid: %v", err)
			}
			if name == "defaults" && opts.FeatureGates != operator.DefaultFeatureGates() {
				t.Errorf("the chart's default gates %+v differ from the controller's", opts.FeatureGates)
			}
			if name == "aws" {
				a := opts.AWS
				if opts.CloudProvider != "aws" || a.ClusterName != "prod" || a.ClusterEndpoint != "https://api.prod" || a.InterruptionQueue != "prod-q" ||
					a.VMMemoryOverheadPercent != 0.05 || a.ReservedENIs != 1 || !a.IsolatedVPC {
					t.Errorf("aws settings parsed from the chart's args: %+v (provider %s)", a, opts.CloudProvider)
				}
			}
			if name == "settings" {
				want := operator.DefaultOptions()
				want.FeatureGates.SpotToSpotConsolidation, want.FeatureGates.NodeRepair = true, true
				if opts.FeatureGates != want.FeatureGates || opts.PreferencePolicy != "Ignore" || opts.MinValuesPolicy != "BestEffort" ||
					opts.KubeClientQPS != 50 || opts.KubeClientBurst != 75 || opts.IgnoreDRARequests || !opts.EnableProfiling {
					t.Errorf("the chart's settings did not reach the options: %+v", opts)
				}
			}
		})
	}
}
