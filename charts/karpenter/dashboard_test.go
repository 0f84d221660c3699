package chart

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/gokarpenter/karpenter/pkg/metrics"
)

// grafanaDashboard is the part of a Grafana dashboard the test reads.
type grafanaDashboard struct {
	Title  string `json:"title"`
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// metricSelector finds `name{matchers}` and bare `name` uses of karpenter_/operator_ metrics.
var (
	metricUse   = regexp.MustCompile(`\b((?:karpenter|operator)_[a-z0-9_]+)(\{[^}]*\})?`)
	matcherName = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!~|!=|=)`)
)

// TestDashboardsShipAsConfigMaps renders the chart with dashboards and the ServiceMonitor
// on, parses every dashboard in its ConfigMap, and checks each query uses only upstream
// metric families, with label matchers those families carry, and that the panels the issue
// asks for are there.
func TestDashboardsShipAsConfigMaps(t *testing.T) {
	ms, err := Render(Options{Values: map[string]any{
		"dashboards":     map[string]any{"enabled": true, "annotations": map[string]any{"grafana_folder": "Karpenter"}},
		"serviceMonitor": map[string]any{"enabled": true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var cms []*corev1.ConfigMap
	monitors := 0
	for _, m := range ms {
		switch {
		case strings.Contains(m.YAML, "\nkind: ConfigMap\n"):
			cm := &corev1.ConfigMap{}
			if err := yaml.UnmarshalStrict([]byte(m.YAML), cm); err != nil {
				t.Fatalf("%s: %v", m.Source, err)
			}
			cms = append(cms, cm)
		case strings.Contains(m.YAML, "\nkind: ServiceMonitor\n"):
			monitors++
		}
	}
	if len(cms) != 1 || monitors != 1 {
		t.Fatalf("%d dashboard ConfigMaps and %d ServiceMonitors, want 1 and 1", len(cms), monitors)
	}
	cm := cms[0]
	if cm.Name != "karpenter-dashboard-karpenter" || cm.Namespace != "karpenter" || cm.Labels["grafana_dashboard"] != "1" ||
		cm.Annotations["grafana_folder"] != "Karpenter" {
		t.Errorf("ConfigMap %s/%s labels %v annotations %v", cm.Namespace, cm.Name, cm.Labels, cm.Annotations)
	}
	families := upstreamFamilies()
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(cm.Data["karpenter.json"]))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("karpenter.json does not parse: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard without uid or title")
	}
	var exprs []string
	titles := map[string]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	for _, v := range d.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metricUse.FindAllStringSubmatch(e, -1) {
			name, labels, ok := family(m[1], families)
			if !ok {
				t.Errorf("query %q uses %s, which is not an upstream metric family", e, m[1])
				continue
			}
			used[name] = true
			for _, lm := range matcherName.FindAllStringSubmatch(m[2], -1) {
				if !slices.Contains(labels, lm[1]) && !(lm[1] == "le" && name != m[1]) {
					t.Errorf("query %q matches label %s, which %s does not carry (%v)", e, lm[1], name, labels)
				}
			}
		}
	}
	// Panels on families the controller does not serve yet stay empty until it does.
	var missing []string
	for name := range used {
		if metrics.Status(name) == metrics.Missing {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	t.Logf("dashboard families not served yet: %v", missing)
	// What the issue asks the dashboard to show.
	for _, want := range []string{"karpenter_nodes_allocatable", "karpenter_cloudprovider_instance_type_offering_price_estimate",
		"karpenter_pods_state", "karpenter_voluntary_disruption_decisions_total", "karpenter_scheduler_scheduling_duration_seconds"} {
		if !used[want] {
			t.Errorf("the dashboard does not use %s", want)
		}
	}
	for _, want := range []string{"CPU capacity by instance type", "CPU capacity by capacity type", "Cost per hour", "Pending pods",
		"Disruption decisions", "Scheduling latency"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// family maps a series name to its family (histograms and summaries serve name_bucket,
// name_sum and name_count) and that family's labels; ok is false when it is none.
func family(series string, families map[string][]string) (string, []string, bool) {
	if l, ok := families[series]; ok {
		return series, l, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok {
			if l, ok := families[base]; ok {
				return base, l, true
			}
		}
	}
	return series, nil, false
}

// TestDashboardsOffByDefault: no ConfigMap unless asked for.
func TestDashboardsOffByDefault(t *testing.T) {
	ms, err := Render(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.Contains(m.YAML, "\nkind: ConfigMap\n") {
			t.Errorf("%s renders a ConfigMap with dashboards.enabled false", m.Source)
		}
	}
}
