// Package fake is an in-memory CloudProvider for controller tests. It launches by the same
// rule as real providers (cloudprovider.Candidates and Cheapest), records every call, and
// lets a test inject errors per method, mark offerings unavailable and declare instances
// drifted. It has no clock and no delays: what a test sets up is what the next call sees.
package fake
