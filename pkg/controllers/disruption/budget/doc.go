// Package budget computes how many of a NodePool's nodes its disruption budgets let go for
// a reason (Empty, Underutilized, Drifted) right now: counts and percentages, reasons, and
// cron schedules with durations. Every disruption method (emptiness, consolidation) asks it
// before deleting a node.
package budget
