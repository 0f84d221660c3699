// Package metrics defines every karpenter_* Prometheus collector the controllers and providers
// write, once, so each is registered once per registerer however many writers use it. Add new
// definitions here rather than in the package that writes them.
package metrics
