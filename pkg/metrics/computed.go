package metrics

import (
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// GaugeSource lists a computed gauge's series: it calls emit with each series' value and
// label values (in the family's label order). emit keeps nothing it is given.
type GaugeSource func(emit func(value float64, labelValues ...string))

// ComputedGauge is a gauge family whose series are computed when it is scraped, from a
// source that lists them (objects in an informer's cache, typically), instead of a series
// stored per object and kept up to date by events: per-object families over thousands of
// NodeClaims and pods otherwise hold tens of MiB for values read once per scrape.
type ComputedGauge struct {
	desc *prometheus.Desc
	// name, help, labelNames and constLabels (name-value pairs) are the description's, for
	// WriteText, which writes a series' labels by name (as a gathered metric has them):
	// labelOrder indexes constLabels, then labelNames past len(constLabels).
	name, help  string
	labelNames  []string
	constLabels [][2]string
	labelOrder  []int

	mu     sync.RWMutex
	source GaugeSource
}

var _ prometheus.Collector = (*ComputedGauge)(nil)

// NewComputedGauge returns a family with no source: it reports nothing until SetSource.
func NewComputedGauge(opts prometheus.GaugeOpts, labelNames []string) *ComputedGauge {
	name := prometheus.BuildFQName(opts.Namespace, opts.Subsystem, opts.Name)
	g := &ComputedGauge{desc: prometheus.NewDesc(name, opts.Help, labelNames, opts.ConstLabels),
		name: name, help: opts.Help, labelNames: slices.Clone(labelNames)}
	var names []string
	for n, v := range opts.ConstLabels {
		g.constLabels = append(g.constLabels, [2]string{n, v})
		names = append(names, n)
	}
	names = append(names, labelNames...)
	g.labelOrder = make([]int, len(names))
	for i := range g.labelOrder {
		g.labelOrder[i] = i
	}
	slices.SortStableFunc(g.labelOrder, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	return g
}

// SetSource sets where the series come from.
func (g *ComputedGauge) SetSource(source GaugeSource) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.source = source
}

// Describe sends the family's description.
func (g *ComputedGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect sends every series the source lists.
func (g *ComputedGauge) Collect(ch chan<- prometheus.Metric) {
	g.mu.RLock()
	source := g.source
	g.mu.RUnlock()
	if source == nil {
		return
	}
	source(func(value float64, labelValues ...string) {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, value, labelValues...)
	})
}
