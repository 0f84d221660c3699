package nodesview

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		used, total int64
		want        string
	}{
		{0, 1000, "░░░░░   0%"},
		{500, 1000, "██░░░  50%"},
		{1000, 1000, "█████ 100%"},
		{3000, 1000, "█████ 300%"}, // over-committed: the bar is full, the number says how much
		{5, 0, "░░░░░   -%"},
	} {
		if got := bar(tc.used, tc.total, 10); got != tc.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tc.used, tc.total, got, tc.want)
		}
	}
}

// TestRenderFitsWidth: at any width every line fits, long names are cut with "~", and the
// totals line adds the rows up.
func TestRenderFitsWidth(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rows := []Row{
		{Name: "a-very-long-node-name-that-does-not-fit-anywhere.ec2.internal", NodePool: "default", InstanceType: "m5.xlarge",
			CapacityType: "on-demand", Zone: "us-east-1a", PricePerHour: 0.192, CPURequested: 2000, CPUAllocatable: 4000,
			MemRequested: 1 << 30, MemAllocatable: 4 << 30, Pods: 3, Status: "Ready", Created: now.Add(-3 * 24 * time.Hour)},
		{Name: "b", NodePool: "spot", InstanceType: "c6g.large", CapacityType: "spot", Zone: "us-east-1b", PricePerHour: 0.0272,
			CPURequested: 1000, CPUAllocatable: 2000, MemRequested: 1 << 30, MemAllocatable: 4 << 30, Status: "Deleting", Created: now.Add(-90 * time.Second)},
	}
	for width := 40; width <= 220; width += 7 {
		lines := Render(Frame{Rows: rows, Pending: 7}, width, now)
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > max(width, MinWidth) {
				t.Fatalf("width %d: line of %d cells: %q", width, n, l)
			}
		}
		if len(lines) != 4 {
			t.Fatalf("width %d: %d lines", width, len(lines))
		}
	}
	lines := Render(Frame{Rows: rows, Pending: 7}, 200, now)
	if !strings.Contains(lines[0], "2 nodes  0 launching  7 pending pods  $0.2192/h  cpu 3.0/6.0 (50%)  memory 2.0Gi/8.0Gi (25%)") || !strings.HasSuffix(lines[0], "12:00:00 UTC") {
		t.Errorf("summary %q", lines[0])
	}
	if !strings.Contains(lines[2], "a-very-long-node-name-that-~") || !strings.Contains(lines[2], " 3d ") || !strings.Contains(lines[3], " 90s ") {
		t.Errorf("rows:\n%s\n%s", lines[2], lines[3])
	}
	if got := Render(Frame{}, 80, now); got[len(got)-1] != "no nodes" {
		t.Errorf("empty: %q", got)
	}
}
