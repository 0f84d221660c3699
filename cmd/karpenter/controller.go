package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gokarpenter/karpenter/pkg/operator"
)

// runController runs the controller until SIGINT or SIGTERM and returns the exit code.
func runController(args []string, stdout, stderr io.Writer) int {
	opts := operator.DefaultOptions()
	opts.Version = version
	fs := flag.NewFlagSet("karpenter controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(stderr, "karpenter controller: %v\n", err)
		return 2
	}
	logger := operator.NewLogger(opts.LogLevel, stderr)
	ctrllog.SetLogger(logger)

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
	fmt.Fprintf(stdout, "karpenter controller: cloud provider %s, metrics on %s, health on %s\n", opts.CloudProvider, opts.MetricsAddr, opts.HealthAddr)
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
