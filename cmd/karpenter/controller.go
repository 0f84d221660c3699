package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gokarpenter/karpenter/pkg/operator"
)

// providerSettings are the settings groups parsed with the core settings: a cloud
// provider's own (CLUSTER_NAME, ...) plug in here.
func providerSettings(opts *operator.Options) []operator.Settings { return opts.ProviderSettings() }

// parseControllerOptions reads the controller's settings from the environment and args. A
// flag beats its environment variable, which beats the default; errors name the setting.
func parseControllerOptions(args []string, lookup operator.LookupEnv, stderr io.Writer, extra ...operator.Settings) (operator.Options, error) {
	opts := operator.DefaultOptions()
	opts.Version = version
	fs := flag.NewFlagSet("karpenter controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	err := opts.Parse(fs, args, lookup, append(providerSettings(&opts), extra...)...)
	return opts, err
}

// runController runs the controller until SIGINT or SIGTERM and returns the exit code.
func runController(args []string, stdout, stderr io.Writer) int {
	opts, err := parseControllerOptions(args, os.LookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "karpenter controller: invalid settings: %v\n", err)
		return 2
	}
	logger, closeLogs, err := operator.NewLoggerFor(opts, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "karpenter controller: %v\n", err)
		return 2
	}
	defer func() { _ = closeLogs() }()
	ctrllog.SetLogger(logger)
	if opts.MemoryLimit > 0 {
		debug.SetMemoryLimit(opts.MemoryLimit / 10 * 9)
	}
	if !opts.EnableProfiling {
		// Heap profiles are served only with profiling on: without it, sampling
		// allocations for them only holds memory (their buckets, ~3 MB at 2,000 nodes).
		runtime.MemProfileRate = 0
	}

	cfg, err := restConfig(opts.Kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "karpenter controller: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = ctrllog.IntoContext(ctx, logger)
	op, err := operator.New(ctx, cfg, opts, logger)
	if err != nil {
		fmt.Fprintf(stderr, "karpenter controller: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "karpenter controller: cloud provider %s, metrics on %s, health on %s\n", opts.CloudProvider, opts.MetricsAddress(), opts.HealthAddress())
	if err := op.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "karpenter controller: %v\n", err)
		return 1
	}
	return 0
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}
