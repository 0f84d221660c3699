package simulate

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is the output of `karpenter simulate`; its JSON form is described by schema.json.
type Result struct {
	NodeClaims    []NodeClaim     `json:"nodeClaims"`
	ExistingNodes []ExistingNode  `json:"existingNodes"`
	Unschedulable []Unschedulable `json:"unschedulable"`
	Summary       Summary         `json:"summary"`
}

// NodeClaim is one machine the plan launches. InstanceType, CapacityType, Zone and
// PricePerHour are those of the cheapest available offering among its options.
type NodeClaim struct {
	NodePool            string  `json:"nodePool"`
	InstanceType        string  `json:"instanceType"`
	CapacityType        string  `json:"capacityType"`
	Zone                string  `json:"zone"`
	PricePerHour        float64 `json:"pricePerHour"`
	InstanceTypeOptions int     `json:"instanceTypeOptions"`
	// Pods are "namespace/name".
	Pods []string `json:"pods"`
}

// ExistingNode is a node of the input that the plan puts pending pods on.
type ExistingNode struct {
	Name string   `json:"name"`
	Pods []string `json:"pods"`
}

// Unschedulable is a pod the plan cannot place, with why.
type Unschedulable struct {
	Pod    string `json:"pod"`
	Reason string `json:"reason"`
}

// Summary totals the plan. PricePerHour is the sum of the NodeClaims' prices;
// LowerBoundPricePerHour is the fractional lower bound of CATALOG.md.
type Summary struct {
	Pods                   int     `json:"pods"`
	Scheduled              int     `json:"scheduled"`
	NodeClaims             int     `json:"nodeClaims"`
	PricePerHour           float64 `json:"pricePerHour"`
	LowerBoundPricePerHour float64 `json:"lowerBoundPricePerHour"`
	SolveSeconds           float64 `json:"solveSeconds"`
}

//go:embed schema.json
var schema []byte

// Schema returns the JSON Schema (draft 2020-12) of the JSON output.
func Schema() []byte { return append([]byte(nil), schema...) }

// WriteJSON writes the result as indented JSON. Absent lists are written as [], never null.
func WriteJSON(w io.Writer, r *Result) error {
	out := *r
	out.NodeClaims = nonNil(out.NodeClaims)
	out.ExistingNodes = nonNil(out.ExistingNodes)
	out.Unschedulable = nonNil(out.Unschedulable)
	claims := make([]NodeClaim, len(out.NodeClaims))
	for i, c := range out.NodeClaims {
		c.Pods = nonNil(c.Pods)
		claims[i] = c
	}
	out.NodeClaims = claims
	nodes := make([]ExistingNode, len(out.ExistingNodes))
	for i, n := range out.ExistingNodes {
		n.Pods = nonNil(n.Pods)
		nodes[i] = n
	}
	out.ExistingNodes = nodes
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("writing result: %w", err)
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// WriteTable writes the result for people: new NodeClaims, existing nodes used, pods that
// cannot be placed, and a summary line.
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var b strings.Builder
	if len(r.NodeClaims) > 0 {
		b.WriteString("NODEPOOL\tINSTANCE TYPE\tCAPACITY TYPE\tZONE\tPRICE/HOUR\tOPTIONS\tPODS\n")
		for _, c := range r.NodeClaims {
			fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t$%.4f\t%d\t%d\n", c.NodePool, c.InstanceType, c.CapacityType,
				c.Zone, c.PricePerHour, c.InstanceTypeOptions, len(c.Pods))
		}
		b.WriteString("\n")
	}
	if len(r.ExistingNodes) > 0 {
		b.WriteString("EXISTING NODE\tPODS\n")
		for _, n := range r.ExistingNodes {
			fmt.Fprintf(&b, "%s\t%d\n", n.Name, len(n.Pods))
		}
		b.WriteString("\n")
	}
	if len(r.Unschedulable) > 0 {
		b.WriteString("UNSCHEDULABLE POD\tREASON\n")
		for _, u := range r.Unschedulable {
			fmt.Fprintf(&b, "%s\t%s\n", u.Pod, u.Reason)
		}
		b.WriteString("\n")
	}
	if _, err := io.WriteString(tw, b.String()); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	if _, err := io.WriteString(w, summaryLine(r.Summary)); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}

// summaryLine reads like "10 pods, 9 scheduled, 1 unschedulable; 2 new NodeClaims at
// $0.2016/hour (lower bound $0.1900/hour, +6.1%); solved in 1.2ms".
func summaryLine(s Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d pods, %d scheduled, %d unschedulable; %d new NodeClaims at $%.4f/hour",
		s.Pods, s.Scheduled, s.Pods-s.Scheduled, s.NodeClaims, s.PricePerHour)
	if s.LowerBoundPricePerHour > 0 {
		fmt.Fprintf(&b, " (lower bound $%.4f/hour, %+.1f%%)", s.LowerBoundPricePerHour,
			100*(s.PricePerHour/s.LowerBoundPricePerHour-1))
	}
	fmt.Fprintf(&b, "; solved in %s\n", formatSeconds(s.SolveSeconds))
	return b.String()
}

// formatSeconds prints a duration in the unit that keeps it readable.
func formatSeconds(sec float64) string {
	switch {
	case sec < 1e-3:
		return fmt.Sprintf("%.0fµs", sec*1e6)
	case sec < 1:
		return fmt.Sprintf("%.1fms", sec*1e3)
	default:
		return fmt.Sprintf("%.2fs", sec)
	}
}
