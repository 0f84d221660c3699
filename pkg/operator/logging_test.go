package operator_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2/textlogger"

	"github.com/gokarpenter/karpenter/pkg/operator"
)

// TestLoggerFollowsTheOutputPaths: info lines go to LOG_OUTPUT_PATHS, errors to
// LOG_ERROR_OUTPUT_PATHS (stdout, stderr or files), and the level filters.
func TestLoggerFollowsTheOutputPaths(t *testing.T) {
	file := filepath.Join(t.TempDir(), "errors.log")
	o := operator.DefaultOptions()
	o.LogOutputPaths, o.LogErrorOutputPaths = "stdout", "stderr,"+file
	var stdout, stderr bytes.Buffer
	logger, closeLogs, err := operator.NewLoggerFor(o, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("launched", "nodeClaim", "a")
	logger.V(1).Info("debug detail")
	logger.Error(errors.New("boom"), "launch failed")
	if err := closeLogs(); err != nil {
		t.Fatal(err)
	}
	fromFile, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		got        string
		want, lack []string
	}{
		"stdout": {stdout.String(), []string{"launched"}, []string{"boom", "debug detail"}},
		"stderr": {stderr.String(), []string{"launch failed", "boom"}, []string{"launched"}},
		"file":   {string(fromFile), []string{"launch failed"}, []string{"launched"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.got, w) {
				t.Errorf("%s lacks %q: %q", name, w, tc.got)
			}
		}
		for _, l := range tc.lack {
			if strings.Contains(tc.got, l) {
				t.Errorf("%s has %q: %q", name, l, tc.got)
			}
		}
	}

	o.LogLevel, o.LogErrorOutputPaths = "error", "stderr"
	stdout.Reset()
	stderr.Reset()
	logger, _, err = operator.NewLoggerFor(o, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("launched")
	logger.Error(errors.New("boom"), "failed")
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "boom") {
		t.Errorf("level error: stdout %q stderr %q", stdout.String(), stderr.String())
	}

	o.LogOutputPaths = filepath.Join(t.TempDir(), "missing-dir", "x.log")
	if _, _, err := operator.NewLoggerFor(o, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "LOG_OUTPUT_PATHS") {
		t.Errorf("an unwritable log path: %v, want an error naming LOG_OUTPUT_PATHS", err)
	}
}

// TestBoolFlagsWithoutValue: --disable-leader-election alone means true, over the environment.
func TestBoolFlagsWithoutValue(t *testing.T) {
	o, err := parse(t, map[string]string{"DISABLE_LEADER_ELECTION": "false", "ENABLE_PROFILING": "false"}, "--disable-leader-election", "--enable-profiling")
	if err != nil {
		t.Fatal(err)
	}
	if o.LeaderElects() || !o.EnableProfiling {
		t.Errorf("leader elects %v, profiling %v; want false, true", o.LeaderElects(), o.EnableProfiling)
	}
}

// TestSplitSinkAppliesNamesAndValuesAsWritten: a logger derived through the split sink's
// deferred names and values writes the lines a text logger given the same names and
// values at once writes (info lines to one writer, errors to the other), from several
// goroutines at once; a derived logger that writes nothing leaves its parent's lines as
// they were.
func TestSplitSinkAppliesNamesAndValuesAsWritten(t *testing.T) {
	var out, errOut, want, wantErr bytes.Buffer
	o := operator.DefaultOptions()
	o.LogLevel, o.LogOutputPaths, o.LogErrorOutputPaths = "debug", "stdout", "stderr"
	split, closeLogs, err := operator.NewLoggerFor(o, &syncWriter{w: &out}, &syncWriter{w: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = closeLogs() }()
	eager := logr.New(textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(1), textlogger.Output(&want))).GetSink())
	eagerErr := logr.New(textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(1), textlogger.Output(&wantErr))).GetSink())
	derive := func(l logr.Logger) logr.Logger {
		return l.WithName("provisioner").WithValues("controller", "provisioning", "batch", 7).WithName("launch").WithValues().WithValues("nodeClaim", "default-x")
	}
	unused := split.WithValues("reconcileID", "never-written")
	_ = unused.WithName("nor-this")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := derive(split)
			l.Info("launched", "i", i)
			l.V(1).Info("detail", "i", i)
			l.V(2).Info("hidden", "i", i)
			l.Error(errors.New("boom"), "launch failed", "i", i)
		})
	}
	wg.Wait()
	split.Info("root line")
	for i := range 8 {
		l := derive(eager)
		l.Info("launched", "i", i)
		l.V(1).Info("detail", "i", i)
		derive(eagerErr).Error(errors.New("boom"), "launch failed", "i", i)
	}
	eager.Info("root line")
	if got, w := lines(out.String()), lines(want.String()); got != w {
		t.Errorf("info lines:\n%s\nwant (any order):\n%s", got, w)
	}
	if got, w := lines(errOut.String()), lines(wantErr.String()); got != w {
		t.Errorf("error lines:\n%s\nwant (any order):\n%s", got, w)
	}
	if n, m := strings.Count(out.String(), "\n"), strings.Count(errOut.String(), "\n"); n != 17 || m != 8 {
		t.Errorf("%d info lines and %d error lines, want 17 and 8", n, m)
	}
	if strings.Contains(out.String()+errOut.String(), "never-written") {
		t.Error("a value of a logger that wrote nothing reached a line")
	}
}

// header is klog's line header up to "] " (level, time, thread, caller).
var header = regexp.MustCompile(`(?m)^[IEW]\d{4} [0-9:.]+\s+\d+ [^\]]+\] `)

// lines are the text's lines without headers, sorted.
func lines(text string) string {
	ls := strings.Split(strings.TrimSpace(header.ReplaceAllString(text, "")), "\n")
	slices.Sort(ls)
	return strings.Join(ls, "\n")
}
