package metrics

import (
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

// exposed is a registry with a computed family (const labels, values that need escaping,
// special floats) next to a gathered one.
func exposed(t *testing.T) *Registry {
	t.Helper()
	reg := NewRegistry()
	g := NewComputedGauge(prometheus.GaugeOpts{Namespace: "karpenter", Subsystem: "test", Name: "computed",
		Help: "A help text with a \\ and a\nnewline.", ConstLabels: prometheus.Labels{"zz": "last", "aa": "first"}},
		[]string{"name", "node"})
	g.SetSource(func(emit func(float64, ...string)) {
		emit(1, "plain", "n1")
		emit(0, `quote " back \ slash`, "line\nbreak")
		emit(2.5e-7, "small", "")
		emit(math.Inf(1), "inf", "n2")
		emit(math.NaN(), "nan", "n3")
		emit(-1, "minus", "n4")
	})
	reg.MustRegister(g)
	empty := NewComputedGauge(prometheus.GaugeOpts{Namespace: "karpenter", Name: "empty", Help: "Never has series."}, []string{"x"})
	empty.SetSource(func(func(float64, ...string)) {})
	reg.MustRegister(empty)
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "karpenter", Name: "gathered_total", Help: "A gathered family."}, []string{"reason"})
	c.WithLabelValues("drift").Add(3)
	reg.MustRegister(c)
	return reg
}

func scrape(t *testing.T, h http.Handler, gzipped bool) (string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if gzipped {
		req.Header.Set("Accept-Encoding", "deflate, gzip;q=0.8")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var body io.Reader = rec.Body
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), rec.Header()
}

// TestHandlerServesWhatGatherGives parses a scrape and compares it, family by family and
// series by series, with what Gather gives for the same registry: the computed families
// are written by hand, so escaping, const labels, special values and the families with no
// series must come out as the encoder would write them.
func TestHandlerServesWhatGatherGives(t *testing.T) {
	reg := exposed(t)
	want, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, gzipped := range []bool{false, true} {
		text, header := scrape(t, reg.Handler(nil, func(err error) { t.Errorf("onError: %v", err) }), gzipped)
		if got := header.Get("Content-Encoding") == "gzip"; got != gzipped {
			t.Errorf("gzip asked %v, served gzipped %v", gzipped, got)
		}
		if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("Content-Type %q", ct)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		parsed, err := parser.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatalf("parsing the scrape: %v\n%s", err, text)
		}
		if len(parsed) != len(want) {
			t.Errorf("scrape has %d families, Gather %d:\n%s", len(parsed), len(want), text)
		}
		for _, w := range want {
			got, ok := parsed[w.GetName()]
			if !ok {
				t.Errorf("family %s missing from the scrape", w.GetName())
				continue
			}
			if !sameFamily(w, got) {
				t.Errorf("family %s:\nscraped  %v\ngathered %v", w.GetName(), got, w)
			}
		}
		if strings.Contains(text, "karpenter_empty") {
			t.Errorf("a computed family with no series wrote its header:\n%s", text)
		}
	}
}

// sameFamily compares two families' help, type and series (labels and value; NaN equals
// NaN), in order.
func sameFamily(a, b *dto.MetricFamily) bool {
	if a.GetHelp() != b.GetHelp() || a.GetType() != b.GetType() || len(a.Metric) != len(b.Metric) {
		return false
	}
	index := map[uint64]*dto.Metric{}
	for _, m := range b.Metric {
		index[model.LabelsToSignature(labelMap(m))] = m
	}
	for _, m := range a.Metric {
		o, ok := index[model.LabelsToSignature(labelMap(m))]
		if !ok {
			return false
		}
		va, vb := value(m), value(o)
		if va != vb && !(math.IsNaN(va) && math.IsNaN(vb)) {
			return false
		}
		if !proto.Equal(&dto.Metric{Label: m.Label}, &dto.Metric{Label: o.Label}) {
			return false
		}
	}
	return true
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, p := range m.Label {
		out[p.GetName()] = p.GetValue()
	}
	return out
}

func value(m *dto.Metric) float64 {
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// TestHandlerSkipsBadSeries: a source emitting the wrong number of label values loses that
// series only, and the error says which family.
func TestHandlerSkipsBadSeries(t *testing.T) {
	reg := NewRegistry()
	g := NewComputedGauge(prometheus.GaugeOpts{Name: "two_labels", Help: "h"}, []string{"a", "b"})
	g.SetSource(func(emit func(float64, ...string)) {
		emit(1, "x", "y")
		emit(1, "only-one")
		emit(2, "z", "w")
	})
	reg.MustRegister(g)
	var errs []error
	text, _ := scrape(t, reg.Handler(nil, func(err error) { errs = append(errs, err) }), false)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "two_labels") {
		t.Errorf("errors %v, want one naming two_labels", errs)
	}
	if !strings.Contains(text, `two_labels{a="x",b="y"} 1`) || !strings.Contains(text, `two_labels{a="z",b="w"} 2`) {
		t.Errorf("the good series are missing:\n%s", text)
	}
	if strings.Contains(text, "only-one") {
		t.Errorf("the bad series was written:\n%s", text)
	}
}

// TestRegistryRegistersOnce: registering the same computed family twice is the
// AlreadyRegisteredError Register resolves, and Unregister removes it from scrapes.
func TestRegistryRegistersOnce(t *testing.T) {
	reg := NewRegistry()
	g := NewComputedGauge(prometheus.GaugeOpts{Name: "once", Help: "h"}, []string{"a"})
	g.SetSource(func(emit func(float64, ...string)) { emit(1, "x") })
	got, err := Register(reg, g)
	if err != nil || got != g {
		t.Fatalf("Register = %v, %v", got, err)
	}
	again, err := Register(reg, NewComputedGauge(prometheus.GaugeOpts{Name: "once", Help: "h"}, []string{"a"}))
	if err != nil || again != g {
		t.Fatalf("second Register = %p, %v; want the first (%p)", again, err, g)
	}
	if !reg.Unregister(g) {
		t.Fatal("Unregister = false")
	}
	if text, _ := scrape(t, reg.Handler(nil, nil), false); strings.Contains(text, "once") {
		t.Errorf("an unregistered family was scraped:\n%s", text)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip": true, "gzip;q=0": false, "gzip; q=0.5": true, "identity": false, "x-gzip": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
