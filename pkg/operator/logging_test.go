package operator_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
