package operator

import (
	"io"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2/textlogger"
)

// NewLogger returns a structured logger writing klog text lines to w. Levels: "debug"
// shows V(1) messages too, "info" the usual ones, "error" only errors.
func NewLogger(level string, w io.Writer) logr.Logger {
	verbosity := 0
	if level == "debug" {
		verbosity = 1
	}
	logger := textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(verbosity), textlogger.Output(w)))
	if level == "error" {
		return logr.New(errorsOnly{logger.GetSink()})
	}
	return logger
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
