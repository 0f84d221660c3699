// Package metrics defines the Prometheus collectors that more than one controller writes,
// so each is registered once per registerer however many controllers use it.
package metrics
