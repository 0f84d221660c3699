package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/term"
	"k8s.io/utils/clock"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/nodesview"
)

// runNodes is `karpenter nodes`.
func runNodes(args []string, stdout, stderr io.Writer) int {
	if err := nodesCmd(args, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "karpenter nodes: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func nodesCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("nodes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clusterFlags
	cf.add(fs)
	interval := fs.Duration("interval", 2*time.Second, "time between refreshes")
	once := fs.Bool("once", false, "print one frame as plain text and exit (the default when stdout is not a terminal)")
	width := fs.Int("width", 0, "frame width in columns (default: the terminal's, else $COLUMNS, else 100)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: karpenter nodes [flags]\n\n"+
			"A live view of the cluster's nodes: NodePool, instance type, capacity type, price, and CPU and\n"+
			"memory requested against allocatable, refreshed in place. Ctrl-C leaves.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *interval <= 0 {
		return usageError{fmt.Errorf("--interval %s: must be positive", *interval)}
	}
	c, _, err := cf.connect()
	if err != nil {
		return err
	}
	its := catalog.Default()
	if cf.catalogPath != "" {
		if its, err = catalog.Load(cf.catalogPath, cf.region); err != nil {
			return usageError{fmt.Errorf("loading --instance-types: %w", err)}
		}
	}
	prices := nodesview.NewCatalogPrices(its)
	source := func(ctx context.Context) (nodesview.Frame, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return nodesview.Read(ctx, c, prices)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, isFile := stdout.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	widthOf := func() int {
		if *width > 0 {
			return *width
		}
		if tty {
			if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
				return w
			}
		}
		if w, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && w > 0 {
			return w
		}
		return 100
	}
	if *once || !tty {
		frame, err := source(ctx)
		if err != nil {
			return err
		}
		return nodesview.Once(stdout, frame, widthOf(), time.Now())
	}
	return nodesview.Run(ctx, nodesview.Options{Out: stdout, Source: source, Clock: clock.RealClock{}, Interval: *interval, Width: widthOf})
}
