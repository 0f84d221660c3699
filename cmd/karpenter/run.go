package main

import (
	"fmt"
	"io"
)

// run dispatches a subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "controller":
		return runController(args[1:], stdout, stderr)
	case "simulate":
		return runSimulate(args[1:], stdout, stderr)
	case "explain":
		return runExplain(args[1:], stdout, stderr)
	case "nodes":
		return runNodes(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "karpenter: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `karpenter - a Kubernetes node autoscaler speaking the Karpenter v1 API

Usage:
  karpenter controller [flags]
                       run the controller (see karpenter controller --help)
  karpenter simulate -f FILE_OR_DIR ... [--instance-types CATALOG.json] [--region R] [-o table|json]
                       plan pending pods onto new and existing nodes without a cluster
  karpenter explain [-o table|json] pod NS/NAME | node NAME | nodeclaim NAME | nodepool NAME
                       say why a pod is pending, why a node is kept, what a NodePool may still do
  karpenter nodes [--once] [--interval 2s]
                       a live view of nodes: type, price, CPU and memory requested vs allocatable
  karpenter version    print the version
  karpenter help       print this help
`)
}
