package simulate

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// TestExamplesPlan runs every example through the scheduler and checks the rendered result:
// it validates against schema.json, its totals agree with its rows, and every pod is
// accounted for exactly once.
func TestExamplesPlan(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range append(files, filepath.Join("..", "..", "examples")) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := Load([]string{f})
			if err != nil {
				t.Fatal(err)
			}
			snap := Snapshot(in, catalog.Default())
			plan := scheduling.Solve(snap, in.Pods)
			r := NewResult(plan, len(in.Pods), scheduling.LowerBound(snap, in.Pods), time.Millisecond)

			var buf bytes.Buffer
			if err := WriteJSON(&buf, r); err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if err := validate(s, doc, "$"); err != nil {
				t.Errorf("output does not match schema.json: %v\n%s", err, buf.String())
			}

			seen := map[string]int{}
			price := 0.0
			for _, nc := range r.NodeClaims {
				price += nc.PricePerHour
				if nc.InstanceType == "" || nc.Zone == "" || nc.InstanceTypeOptions < 1 || len(nc.Pods) == 0 {
					t.Errorf("incomplete NodeClaim %+v", nc)
				}
				for _, p := range nc.Pods {
					seen[p]++
				}
			}
			for _, e := range r.ExistingNodes {
				for _, p := range e.Pods {
					seen[p]++
				}
			}
			for _, u := range r.Unschedulable {
				seen[u.Pod]++
				if u.Reason == "" {
					t.Errorf("pod %s unschedulable without a reason", u.Pod)
				}
			}
			for _, p := range in.Pods {
				if n := seen[p.Namespace+"/"+p.Name]; n != 1 {
					t.Errorf("pod %s/%s appears %d times in the result", p.Namespace, p.Name, n)
				}
			}
			if r.Summary.Pods != len(in.Pods) || r.Summary.Scheduled != len(in.Pods)-len(r.Unschedulable) {
				t.Errorf("summary %+v disagrees with %d pods, %d unschedulable", r.Summary, len(in.Pods), len(r.Unschedulable))
			}
			if math.Abs(price-r.Summary.PricePerHour) > 1e-6 {
				t.Errorf("summary price %v, rows add up to %v", r.Summary.PricePerHour, price)
			}
			if r.Summary.LowerBoundPricePerHour > r.Summary.PricePerHour+1e-9 {
				t.Errorf("lower bound %v above the plan's price %v", r.Summary.LowerBoundPricePerHour, r.Summary.PricePerHour)
			}
		})
	}
}
