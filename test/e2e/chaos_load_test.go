package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// burstPool opens the chaos NodePool to larger instance types for the 5,000-pod burst (the
// requirements are not part of the drift hash: the nodes running keep going) and raises its
// CPU limit.
const burstPool = `{"spec":{"limits":{"cpu":"3000"},"template":{"spec":{"requirements":[
 {"key":"kubernetes.io/arch","operator":"In","values":["amd64"]},
 {"key":"karpenter.sh/capacity-type","operator":"In","values":["spot","on-demand"]},
 {"key":"karpenter.k8s.aws/instance-category","operator":"In","values":["c","m"]},
 {"key":"karpenter.k8s.aws/instance-cpu","operator":"In","values":["2","4","8","16","32","48"]}]}}}}`

// loadScenario is the full run's load: 5,000 pods at once while the emptied nodes of the
// previous step are being consolidated away.
func loadScenario(ch *chaos, run chaosRun) {
	const pods = 5000
	run("burst-5000-while-consolidating", "scale to 0, then at once 0 -> 5,000 pods (100m, 128Mi) while empty nodes are deleted; NodePool opened to 2-48 CPU types", pods, func(t *testing.T, s *sampler, r *row) time.Time {
		// Listing 5,000 pods costs the API server: the sampler and the convergence check
		// read less often.
		r.timeout, r.poll = 25*time.Minute, 15*time.Second
		s.setInterval(10 * time.Second)
		ch.restartWith(t, loadedLease...)
		r.extra = "lease 60 s, renew deadline 40 s from here on"
		ch.scale(t, s, 0)
		ch.waitFor(t, 2*time.Minute, "consolidation under way", func(w *world) bool { return w.deleting() > 0 })
		ch.kubectl(t, "", "patch", "nodepool", "chaos", "--type=merge", "-p", burstPool)
		at := time.Now()
		s.expect(pods)
		ch.kubectl(t, deploymentYAML(chaosApp, pods, "100m", "128Mi"), "apply", "-f", "-")
		t.Cleanup(func() { r.extra = strings.TrimSuffix(ch.fleet()+"; "+r.extra, "; ") }) // after the restarts are added
		return at
	})
}

// fleet describes the NodeClaims running: how many, of which instance types.
func (ch *chaos) fleet() string {
	w, err := ch.read(context.Background(), chaosApp)
	if err != nil {
		return err.Error()
	}
	types := map[string]int{}
	for _, n := range w.nodes {
		if t := n.Labels[corev1.LabelInstanceTypeStable]; t != "" {
			types[t]++
		}
	}
	var parts []string
	for t, n := range types {
		parts = append(parts, fmt.Sprintf("%d %s", n, t))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d nodeclaims: %s", len(w.claims), strings.Join(parts, ", "))
}
