// Package status exports operator_<kind>_status_condition_{count,current_status_seconds,
// transitions_total,transition_seconds} and operator_<kind>_termination_* for NodePools and
// NodeClaims, the way upstream's operator library does for its CRDs: one series per object and
// current condition, transitions counted as this controller observes them.
package status
