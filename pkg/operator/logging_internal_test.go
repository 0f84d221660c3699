package operator

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2/textlogger"
)

// TestSplitSinkAppliesNamesAndValuesAsWritten: a logger derived through the split sink's
// deferred names and values writes the lines a text logger given the same names and
// values at once writes (info lines to one writer, errors to the other), from several
// goroutines at once; a derived logger that writes nothing leaves its parent's lines as
// they were.
func TestSplitSinkAppliesNamesAndValuesAsWritten(t *testing.T) {
	var out, errOut, want, wantErr safeBuffer
	split := newSplitLogger("debug", &out, &errOut)
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

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
