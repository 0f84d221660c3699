package chart

import "github.com/gokarpenter/karpenter/pkg/metrics"

// upstreamFamilies are upstream Karpenter's metric families, the list pkg/metrics keeps, with
// their label names.
func upstreamFamilies() map[string][]string {
	out := map[string][]string{}
	for _, f := range metrics.Upstream() {
		out[f.Name] = f.Labels
	}
	return out
}
