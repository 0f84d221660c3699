package explain

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// Schema is the JSON Schema (2020-12) of WriteJSON's output: a PodReport, NodeReport or
// NodePoolReport, told apart by "kind".
//
//go:embed schema.json
var Schema []byte

// WriteJSON writes a report as indented JSON.
func WriteJSON(w io.Writer, report any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		return fmt.Errorf("writing json: %w", err)
	}
	return nil
}

// WriteTable writes a report for people.
func WriteTable(w io.Writer, report any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch r := report.(type) {
	case *PodReport:
		writePod(tw, r)
	case *NodeReport:
		writeNode(tw, r)
	case *NodePoolReport:
		writeNodePool(tw, r)
	default:
		return fmt.Errorf("writing table: unknown report %T", report)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}

func writePod(w io.Writer, r *PodReport) {
	fmt.Fprintf(w, "Pod:\t%s/%s\n", r.Namespace, r.Name)
	status := "Pending"
	if !r.Pending {
		status = "Not pending"
	}
	fmt.Fprintf(w, "Status:\t%s\n", status)
	fmt.Fprintf(w, "Summary:\t%s\n", r.Summary)
	if r.NominatedTo != nil {
		fmt.Fprintf(w, "Nominated to:\t%s %s\n", r.NominatedTo.Kind, r.NominatedTo.Name)
	}
	if r.Placement != nil {
		fmt.Fprintf(w, "Would go to:\t%s %s\n", r.Placement.Kind, r.Placement.Name)
	}
	if l := r.Launch; l != nil {
		fmt.Fprintf(w, "Would launch:\t%s %s %s from %s at $%.4f/h (%d options, %d pods)\n",
			l.InstanceType, l.CapacityType, l.Zone, l.NodePool, l.PricePerHour, l.InstanceTypeOptions, l.Pods)
	}
	if len(r.NodePools) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "NODEPOOL\tVERDICT\tDETAIL")
	for _, v := range r.NodePools {
		fmt.Fprintf(w, "%s\t%s\t%s\n", v.NodePool, v.Reason, v.Message)
	}
}

func writeNode(w io.Writer, r *NodeReport) {
	fmt.Fprintf(w, "%s:\t%s\n", r.Kind, r.Name)
	if r.Kind == "Node" && r.NodeClaim != "" {
		fmt.Fprintf(w, "NodeClaim:\t%s\n", r.NodeClaim)
	}
	if r.Kind == "NodeClaim" && r.Node != "" {
		fmt.Fprintf(w, "Node:\t%s\n", r.Node)
	}
	if r.NodePool != "" {
		fmt.Fprintf(w, "NodePool:\t%s\n", r.NodePool)
	}
	if r.InstanceType != "" {
		fmt.Fprintf(w, "Type:\t%s %s %s at %s\n", r.InstanceType, r.CapacityType, r.Zone, dollars(r.PricePerHour))
	}
	fmt.Fprintf(w, "Pods to move:\t%d\n", r.Pods)
	verdict := "kept"
	if r.Candidate {
		verdict = "disruption candidate"
	}
	fmt.Fprintf(w, "Verdict:\t%s (%s)\n", verdict, r.Reason)
	if r.Message != "" {
		fmt.Fprintf(w, "Why:\t%s\n", r.Message)
	}
	if c := r.Cheapest; c != nil {
		fmt.Fprintf(w, "Cheapest fit:\t%s %s %s at $%.4f/h\n", c.InstanceType, c.CapacityType, c.Zone, c.PricePerHour)
	}
	if rep := r.Replacement; rep != nil {
		switch {
		case !rep.Fits:
			fmt.Fprintf(w, "Without it:\tsome pods fit nowhere\n")
		case len(rep.NodeClaims) == 0:
			fmt.Fprintf(w, "Without it:\tits pods fit on other nodes\n")
		default:
			fmt.Fprintf(w, "Without it:\t%d new NodeClaim(s) at $%.4f/h\n", len(rep.NodeClaims), rep.PricePerHour)
		}
	}
}

func writeNodePool(w io.Writer, r *NodePoolReport) {
	fmt.Fprintf(w, "NodePool:\t%s\n", r.Name)
	fmt.Fprintf(w, "NodeClaims:\t%d\n", r.NodeClaims)
	if r.Launching {
		fmt.Fprintf(w, "Launching:\tyes\n")
	} else {
		fmt.Fprintf(w, "Launching:\tno: %s\n", r.Message)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "RESOURCE\tUSED\tLIMIT\tUSE")
	for _, u := range r.Resources {
		limit, pct := "-", "-"
		if u.Limit != "" {
			limit, pct = u.Limit, strconv.FormatFloat(u.Percent, 'f', 0, 64)+"%"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", u.Resource, u.Used, limit, pct)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "DISRUPTION REASON\tALLOWED NOW")
	for _, b := range r.Budgets {
		allowed := strconv.Itoa(b.Allowed)
		switch {
		case b.Error != "":
			allowed = "error: " + b.Error
		case b.Allowed < 0:
			allowed = "unlimited"
		}
		fmt.Fprintf(w, "%s\t%s\n", b.Reason, allowed)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CONDITION\tSTATUS\tREASON\tMESSAGE")
	for _, c := range r.Conditions {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.Message)
	}
}

func dollars(p float64) string {
	if p == 0 {
		return "unknown price"
	}
	return fmt.Sprintf("$%.4f/h", p)
}
