package operator

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2/textlogger"
)

// NewLogger returns a structured logger writing klog text lines to w. Levels: "debug"
// shows V(1) messages too, "info" the usual ones, "error" only errors.
func NewLogger(level string, w io.Writer) logr.Logger {
	return newSplitLogger(level, w, w)
}

// NewLoggerFor returns the logger the options ask for: info lines to LOG_OUTPUT_PATHS,
// errors to LOG_ERROR_OUTPUT_PATHS. stdout and stderr stand for the process's own; close
// releases the files it opened.
func NewLoggerFor(o Options, stdout, stderr io.Writer) (logger logr.Logger, closeFn func() error, err error) {
	var files []*os.File
	open := func(paths string) (io.Writer, error) {
		var ws []io.Writer
		for _, p := range splitPaths(paths) {
			switch p {
			case "stdout":
				ws = append(ws, stdout)
			case "stderr":
				ws = append(ws, stderr)
			default:
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
				if err != nil {
					return nil, fmt.Errorf("opening log file: %w", err)
				}
				files = append(files, f)
				ws = append(ws, f)
			}
		}
		return io.MultiWriter(ws...), nil
	}
	closeAll := func() error {
		var errs []error
		for _, f := range files {
			errs = append(errs, f.Close())
		}
		return errors.Join(errs...)
	}
	out, err := open(o.LogOutputPaths)
	if err != nil {
		_ = closeAll()
		return logr.Discard(), nil, fmt.Errorf("LOG_OUTPUT_PATHS (--log-output-paths): %w", err)
	}
	errOut, err := open(o.LogErrorOutputPaths)
	if err != nil {
		_ = closeAll()
		return logr.Discard(), nil, fmt.Errorf("LOG_ERROR_OUTPUT_PATHS (--log-error-output-paths): %w", err)
	}
	return newSplitLogger(o.LogLevel, out, errOut), closeAll, nil
}

// checkLogPaths checks a comma separated list of log destinations.
func checkLogPaths(paths string) error {
	if len(splitPaths(paths)) == 0 {
		return errors.New("no destination (use stdout, stderr or a file path)")
	}
	return nil
}

func splitPaths(paths string) []string {
	var out []string
	for _, p := range strings.Split(paths, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newSplitLogger(level string, out, errOut io.Writer) logr.Logger {
	verbosity := 0
	if level == "debug" {
		verbosity = 1
	}
	infoSink := textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(verbosity), textlogger.Output(out))).GetSink()
	errSink := textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(verbosity), textlogger.Output(errOut))).GetSink()
	if level == "error" {
		infoSink = errorsOnly{infoSink}
	}
	return logr.New(newSplitSink(infoSink, errSink))
}

// splitSink sends Info lines to one sink and Error lines to another. The names and values
// a logger is given reach the two sinks only when it writes a line: controller-runtime
// gives each reconcile a logger with its own values (controller, object, reconcile ID) and
// most of them write nothing, while both text sinks copied the values at once (14 MB of
// what a quiet 2,000-node controller allocated in two minutes). The values' slice is kept
// as given; loggers' callers do not change it afterwards.
type splitSink struct {
	// base is the root's info sink: names and values do not change what it enables.
	base logr.LogSink
	// parent is the sink this one was derived from, with name (WithName) or kv
	// (WithValues); nil at the root, whose info and err are set.
	parent *splitSink
	name   string
	kv     []any
	once   sync.Once
	info   logr.LogSink
	err    logr.LogSink
}

func newSplitSink(info, err logr.LogSink) *splitSink {
	return &splitSink{base: info, info: info, err: err}
}

// sinks are the two sinks with every name and value applied, on first use.
func (s *splitSink) sinks() (info, err logr.LogSink) {
	if s.parent == nil {
		return s.info, s.err
	}
	s.once.Do(func() {
		info, err := s.parent.sinks()
		if s.kv != nil {
			s.info, s.err = info.WithValues(s.kv...), err.WithValues(s.kv...)
		} else {
			s.info, s.err = info.WithName(s.name), err.WithName(s.name)
		}
	})
	return s.info, s.err
}

func (s *splitSink) Init(ri logr.RuntimeInfo) {
	ri.CallDepth++
	info, err := s.sinks()
	info.Init(ri)
	err.Init(ri)
}
func (s *splitSink) Enabled(level int) bool { return s.base.Enabled(level) }
func (s *splitSink) Info(level int, msg string, kv ...any) {
	info, _ := s.sinks()
	info.Info(level, msg, kv...)
}
func (s *splitSink) Error(e error, msg string, kv ...any) {
	_, err := s.sinks()
	err.Error(e, msg, kv...)
}
func (s *splitSink) WithValues(kv ...any) logr.LogSink {
	if len(kv) == 0 {
		return s
	}
	return &splitSink{base: s.base, parent: s, kv: kv}
}
func (s *splitSink) WithName(name string) logr.LogSink {
	return &splitSink{base: s.base, parent: s, name: name}
}

// errorsOnly drops every Info message of the sink it wraps.
type errorsOnly struct{ logr.LogSink }

func (errorsOnly) Enabled(int) bool         { return false }
func (errorsOnly) Info(int, string, ...any) {}
func (s errorsOnly) WithName(name string) logr.LogSink {
	return errorsOnly{s.LogSink.WithName(name)}
}
func (s errorsOnly) WithValues(kv ...any) logr.LogSink {
	return errorsOnly{s.LogSink.WithValues(kv...)}
}
