package nodesview

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MinWidth is the narrowest frame Render draws; narrower widths are widened to it.
const MinWidth = 72

const (
	barFull  = "█"
	barEmpty = "░"
)

// column is one fixed-width text column.
type column struct {
	title string
	max   int // widest it may grow
	cell  func(r *Row, now time.Time) string
}

var columns = []column{
	{"NODE", 28, func(r *Row, _ time.Time) string { return r.Name }},
	{"NODEPOOL", 12, func(r *Row, _ time.Time) string { return orDash(r.NodePool) }},
	{"TYPE", 14, func(r *Row, _ time.Time) string { return orDash(r.InstanceType) }},
	{"CAPACITY", 9, func(r *Row, _ time.Time) string { return orDash(r.CapacityType) }},
	{"ZONE", 12, func(r *Row, _ time.Time) string { return orDash(r.Zone) }},
	{"$/H", 8, func(r *Row, _ time.Time) string {
		if r.PricePerHour == 0 {
			return "-"
		}
		return fmt.Sprintf("%.4f", r.PricePerHour)
	}},
	{"PODS", 4, func(r *Row, _ time.Time) string { return fmt.Sprint(r.Pods) }},
	{"STATUS", 9, func(r *Row, _ time.Time) string { return r.Status }},
	{"AGE", 5, func(r *Row, now time.Time) string { return age(now.Sub(r.Created)) }},
}

// Render draws one frame: a summary line (nodes, pending pods, price, totals), a header,
// and a line per row with CPU and memory requested against allocatable as bars. Every line is at most width cells wide. It reads
// nothing but its arguments.
func Render(f Frame, width int, now time.Time) []string {
	rows := f.Rows
	width = max(width, MinWidth)
	var price float64
	var cpuReq, cpuAlloc, memReq, memAlloc int64
	launching := 0
	for _, r := range rows {
		if r.Status == "Launching" {
			launching++
		}
		price += r.PricePerHour
		cpuReq, cpuAlloc = cpuReq+r.CPURequested, cpuAlloc+r.CPUAllocatable
		memReq, memAlloc = memReq+r.MemRequested, memAlloc+r.MemAllocatable
	}
	summary := fmt.Sprintf("karpenter nodes  %d nodes  %d launching  %d pending pods  $%.4f/h  cpu %s/%s (%s)  memory %s/%s (%s)",
		len(rows)-launching, launching, f.Pending, price, cores(cpuReq), cores(cpuAlloc), pct(cpuReq, cpuAlloc), gib(memReq), gib(memAlloc), pct(memReq, memAlloc))
	clock := now.UTC().Format("15:04:05 UTC")
	lines := []string{fit(padBetween(summary, clock, width), width)}

	// Fixed columns as wide as their widest cell (within max); the rest goes to two bars.
	widths := make([]int, len(columns))
	for i, c := range columns {
		widths[i] = utf8.RuneCountInString(c.title)
		for j := range rows {
			widths[i] = max(widths[i], min(c.max, utf8.RuneCountInString(c.cell(&rows[j], now))))
		}
	}
	fixed := 0
	for _, w := range widths {
		fixed += w + 1
	}
	barCol := max((width-fixed-1)/2, 10)
	head := make([]string, 0, len(columns)+2)
	for i, c := range columns {
		head = append(head, pad(c.title, widths[i]))
	}
	head = append(head, pad("CPU", barCol), "MEMORY")
	lines = append(lines, fit(strings.Join(head, " "), width))
	for j := range rows {
		r := &rows[j]
		cells := make([]string, 0, len(columns)+2)
		for i, c := range columns {
			cells = append(cells, pad(c.cell(r, now), widths[i]))
		}
		cells = append(cells, bar(r.CPURequested, r.CPUAllocatable, barCol), bar(r.MemRequested, r.MemAllocatable, barCol))
		lines = append(lines, fit(strings.Join(cells, " "), width))
	}
	if len(rows) == 0 {
		lines = append(lines, "no nodes")
	}
	return lines
}

// bar draws used/total in n cells: a bar and the percentage, e.g. "██████░░░░  60%".
func bar(used, total int64, n int) string {
	cells := n - 5
	filled := 0
	if total > 0 {
		filled = int(min(used, total) * int64(cells) / total)
	}
	return strings.Repeat(barFull, filled) + strings.Repeat(barEmpty, cells-filled) + fmt.Sprintf(" %3s%%", pctNum(used, total))
}

func pct(used, total int64) string { return pctNum(used, total) + "%" }

func pctNum(used, total int64) string {
	if total <= 0 {
		return "-"
	}
	return fmt.Sprint(used * 100 / total)
}

func cores(milli int64) string { return fmt.Sprintf("%.1f", float64(milli)/1000) }

func gib(bytes int64) string { return fmt.Sprintf("%.1fGi", float64(bytes)/(1<<30)) }

func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pad left-aligns s in n cells, cutting it with "~" when longer.
func pad(s string, n int) string {
	if l := utf8.RuneCountInString(s); l <= n {
		return s + strings.Repeat(" ", n-l)
	}
	return string([]rune(s)[:n-1]) + "~"
}

// fit cuts a line to width cells and drops trailing spaces.
func fit(s string, width int) string {
	if utf8.RuneCountInString(s) > width {
		s = string([]rune(s)[:width])
	}
	return strings.TrimRight(s, " ")
}

// padBetween puts left and right at the two ends of a width-cell line.
func padBetween(left, right string, width int) string {
	gap := width - utf8.RuneCountInString(left) - utf8.RuneCountInString(right)
	if gap < 2 {
		return left
	}
	return left + strings.Repeat(" ", gap) + right
}
