package metrics

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Sample is one gauge value with its labels.
type Sample struct {
	Gauge  *prometheus.GaugeVec
	Labels prometheus.Labels
	Value  float64
}

// Store remembers which gauge series it set under which key (an object, usually), so a
// newer set of samples for the key replaces the older one and series that are no longer
// wanted are deleted rather than left at their last value. Safe for concurrent use.
type Store struct {
	mu   sync.Mutex
	keys map[string][]Sample
}

// NewStore returns an empty Store.
func NewStore() *Store { return &Store{keys: map[string][]Sample{}} }

// Update sets the samples of key and deletes the key's earlier series that are not among them.
func (s *Store) Update(key string, samples []Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.update(key, samples)
}

func (s *Store) update(key string, samples []Sample) {
	// The same samples again (the instance types' thousands of offering series, every
	// pass): the series are already set, as the store is their only writer.
	if len(samples) > 0 && slices.EqualFunc(s.keys[key], samples, sameSample) {
		s.keys[key] = samples
		return
	}
	keep := map[string]bool{}
	for _, smp := range samples {
		smp.Gauge.With(smp.Labels).Set(smp.Value)
		keep[seriesID(smp)] = true
	}
	for _, old := range s.keys[key] {
		if !keep[seriesID(old)] {
			old.Gauge.Delete(old.Labels)
		}
	}
	if len(samples) == 0 {
		delete(s.keys, key)
		return
	}
	s.keys[key] = samples
}

// sameSample reports whether two samples set the same series to the same value.
func sameSample(a, b Sample) bool {
	return a.Gauge == b.Gauge && math.Float64bits(a.Value) == math.Float64bits(b.Value) && maps.Equal(a.Labels, b.Labels)
}

// Delete deletes every series of key.
func (s *Store) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.update(key, nil)
}

// ReplaceAll makes all the store's keys exactly those of byKey.
func (s *Store) ReplaceAll(byKey map[string][]Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key := range s.keys {
		if _, ok := byKey[key]; !ok {
			s.update(key, nil)
		}
	}
	for key, samples := range byKey {
		s.update(key, samples)
	}
}

// seriesID identifies a series: its gauge (by identity) and label values in label-name order.
func seriesID(s Sample) string {
	names := make([]string, 0, len(s.Labels))
	for n := range s.Labels {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%p", s.Gauge)
	for _, n := range names {
		b.WriteString("\x00" + n + "=" + s.Labels[n])
	}
	return b.String()
}
