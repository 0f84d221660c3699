package test

import (
	"strings"

	"k8s.io/client-go/tools/record"
)

// Recorder is a record.FakeRecorder with readers for what was recorded.
type Recorder struct {
	*record.FakeRecorder
	seen []string
}

// NewRecorder returns a Recorder that buffers up to 10,000 events.
func NewRecorder() *Recorder { return &Recorder{FakeRecorder: record.NewFakeRecorder(10000)} }

// drain moves the buffered events into seen.
func (r *Recorder) drain() {
	for {
		select {
		case e := <-r.Events:
			r.seen = append(r.seen, e)
		default:
			return
		}
	}
}

// All returns every event recorded so far, as "<type> <reason> <message>".
func (r *Recorder) All() []string {
	r.drain()
	return append([]string(nil), r.seen...)
}

// Reasons returns the reasons of every event recorded so far, in order.
func (r *Recorder) Reasons() []string {
	var out []string
	for _, e := range r.All() {
		if f := strings.Fields(e); len(f) > 1 {
			out = append(out, f[1])
		}
	}
	return out
}

// Has reports whether an event with this reason, and a message containing substr, was
// recorded.
func (r *Recorder) Has(reason, substr string) bool {
	for _, e := range r.All() {
		f := strings.SplitN(e, " ", 3)
		if len(f) > 1 && f[1] == reason && (substr == "" || (len(f) == 3 && strings.Contains(f[2], substr))) {
			return true
		}
	}
	return false
}

// Reset forgets the events recorded so far.
func (r *Recorder) Reset() {
	r.drain()
	r.seen = nil
}
