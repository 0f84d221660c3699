package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/simulate"
)

// pathList is a repeatable -f flag.
type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

// usageError is bad command-line or manifest input: exit status 2, nothing printed on stdout.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func runSimulate(args []string, stdout, stderr io.Writer) int {
	if err := simulateCmd(args, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "karpenter simulate: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) || simulate.IsInputError(err) {
			return 2
		}
		return 1
	}
	return 0
}

func simulateCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files pathList
	fs.Var(&files, "f", "manifest file or directory (repeatable): NodePools, Pods, workloads, Nodes, volumes")
	catalogPath := fs.String("instance-types", "", "instance-type catalogue in the ec2-catalog.json format (default: the built-in catalogue)")
	region := fs.String("region", catalog.DefaultRegion, "region whose offerings and prices the catalogue gives")
	output := fs.String("o", "table", "output format: table or json")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: karpenter simulate -f FILE_OR_DIR ... [--instance-types CATALOG.json] [--region R] [-o table|json]\n\n"+
			"Plans where pending pods would go and which machines would be launched, without a cluster.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (pass files with -f)", fs.Arg(0))}
	}
	if len(files) == 0 {
		return usageError{errors.New("no input: pass at least one -f FILE_OR_DIR")}
	}
	if *output != "table" && *output != "json" {
		return usageError{fmt.Errorf("-o %q: want table or json", *output)}
	}
	in, err := simulate.Load(files)
	if err != nil {
		return err
	}
	reportSkipped(stderr, in.Skipped)
	var its []*cloudprovider.InstanceType
	if *catalogPath == "" {
		if *region != catalog.DefaultRegion {
			return usageError{fmt.Errorf("--region %s: the built-in catalogue only has %s; pass --instance-types", *region, catalog.DefaultRegion)}
		}
		its = catalog.Default()
	} else if its, err = catalog.Load(*catalogPath, *region); err != nil {
		return usageError{fmt.Errorf("loading --instance-types: %w", err)}
	}
	if len(in.NodePools) == 0 && len(in.Nodes) == 0 {
		return usageError{errors.New("the input has no NodePool and no Node: nothing could host the pods")}
	}

	snap := simulate.Snapshot(in, its)
	start := time.Now()
	pods := simulate.PendingPods(in)
	reportUnplanned(stderr, in.Pods, pods)
	plan := scheduling.Solve(snap, pods)
	if plan.Err != nil {
		return fmt.Errorf("planning (a bug: please report it with the input): %w", plan.Err)
	}
	solve := time.Since(start)
	result := simulate.NewResult(plan, len(pods), scheduling.LowerBound(snap, pods), solve)
	if *output == "json" {
		return simulate.WriteJSON(stdout, result)
	}
	return simulate.WriteTable(stdout, result)
}

// maxListed is how many documents or pods a note on stderr names before counting the rest.
const maxListed = 5

// someOf joins the first maxListed names and counts the rest.
func someOf(names []string) string {
	if len(names) > maxListed {
		names = append(names[:maxListed:maxListed], fmt.Sprintf("and %d more", len(names)-maxListed))
	}
	return strings.Join(names, ", ")
}

// reportSkipped notes on stderr the documents left out of the plan, so a misplaced kind
// does not go unnoticed while stdout stays the plan alone.
func reportSkipped(stderr io.Writer, skipped []simulate.Skipped) {
	if len(skipped) == 0 {
		return
	}
	names := make([]string, len(skipped))
	for i, s := range skipped {
		names[i] = s.String()
	}
	fmt.Fprintf(stderr, "karpenter simulate: skipped %d document(s) of kinds that neither make pods nor place them: %s\n",
		len(skipped), someOf(names))
}

// reportUnplanned notes on stderr the unbound pods left out of the plan, as the controller
// leaves them: gated, for another scheduler, finished, terminating or a DaemonSet's.
func reportUnplanned(stderr io.Writer, unbound, planned []*corev1.Pod) {
	if len(unbound) == len(planned) {
		return
	}
	in := make(map[*corev1.Pod]bool, len(planned))
	for _, p := range planned {
		in[p] = true
	}
	var names []string
	for _, p := range unbound {
		if !in[p] {
			names = append(names, p.Namespace+"/"+p.Name)
		}
	}
	fmt.Fprintf(stderr, "karpenter simulate: %d pod(s) not planned, as the controller would not plan them "+
		"(scheduling gates, another scheduler, finished, terminating or a DaemonSet's): %s\n", len(names), someOf(names))
}
