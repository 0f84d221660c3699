package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const rollNodePool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: roll}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.sim.sh, kind: SimNodeClass, name: roll}
      requirements:
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge, m5.2xlarge]}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 5s
    budgets: [{nodes: "2"}]
  limits: {cpu: "200"}
---
apiVersion: karpenter.sim.sh/v1alpha1
kind: SimNodeClass
metadata: {name: roll}
spec:
  bootDelay: 1s
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
`

// spreadDeployment runs one small pod per node (required hostname anti-affinity): it keeps
// the cluster at three nodes or more for the roll, and its pods have no
// PodDisruptionBudget, so two nodes can be disrupted at once.
const spreadDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: spread, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      terminationGracePeriodSeconds: 0
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {labelSelector: {matchLabels: {app: spread}}, topologyKey: kubernetes.io/hostname}
      containers: [{name: app, image: app.invalid/spread:1, resources: {requests: {cpu: 200m, memory: 256Mi}}}]
`

// TestDisruption end to end: after a scale-down consolidation shrinks the cluster, a spread
// tier (one pod per node) brings it to three nodes or more; then a SimNodeClass image change
// rolls every node with the budget's concurrency: 2 nodes disrupted at once at least once
// (commands stay in flight together), never 3, and the web tier's PodDisruptionBudget
// (maxUnavailable 1) is never broken (sampled about every second). Every pod runs at the end.
func TestDisruption(t *testing.T) {
	c := startCluster(t)
	c.startController(t, buildKarpenter(t, c.root))
	c.kubectl(t, rollNodePool, "apply", "-f", "-")
	c.kubectl(t, deploymentYAML("web", 12, "700m", "1Gi"), "apply", "-f", "-")
	running := func(app string) int {
		n := 0
		for _, p := range c.lines(t, "get", "pods", "-l", "app="+app, "-o", "jsonpath={range .items[*]}{.status.phase} {.metadata.deletionTimestamp}{\"\\n\"}{end}") {
			if strings.TrimSpace(p) == "Running" {
				n++
			}
		}
		return n
	}
	eventually(t, 3*time.Minute, "12 web pods running", func() (bool, string) {
		n := running("web")
		return n == 12, fmt.Sprintf("%d/12", n)
	})
	peak := c.count(t, "nodeclaims")

	c.kubectl(t, "", "scale", "deployment", "web", "--replicas=4")
	eventually(t, 2*time.Minute, "consolidation shrinks the cluster", func() (bool, string) {
		n := c.count(t, "nodeclaims")
		return n > 0 && n < peak && running("web") == 4, fmt.Sprintf("%d nodeclaims (peak %d), %d/4 running", n, peak, running("web"))
	})
	c.kubectl(t, spreadDeployment, "apply", "-f", "-")
	eventually(t, 3*time.Minute, "3 spread pods running on 3 nodes or more", func() (bool, string) {
		n, nodes := running("spread"), c.count(t, "nodeclaims")
		return n == 3 && nodes >= 3, fmt.Sprintf("%d/3 spread running, %d nodeclaims", n, nodes)
	})
	time.Sleep(10 * time.Second) // let an in-flight command finish before the roll
	before := map[string]bool{}
	for _, n := range c.lines(t, "get", "nodeclaims", "-o", "name") {
		before[n] = true
	}
	c.kubectl(t, "", "patch", "simnodeclass", "roll", "--type=merge", "-p", `{"spec":{"imageID":"sim-image-rolled"}}`)
	maxDisrupting, maxUnavailable := 0, 0
	eventually(t, 4*time.Minute, "every node launched before the image change replaced", func() (bool, string) {
		old, disrupting := 0, 0
		for _, l := range c.lines(t, "get", "nodeclaims", "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp} {.metadata.annotations.karpenter\.sh/disruption-role}{"\n"}{end}`) {
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			if before["nodeclaim.karpenter.sh/"+f[0]] {
				old++
			}
			if len(f) > 1 && (f[1] == "candidate" || strings.Contains(f[1], "T")) {
				disrupting++
			}
		}
		maxDisrupting = max(maxDisrupting, disrupting)
		maxUnavailable = max(maxUnavailable, 4-running("web"))
		return old == 0 && running("web") == 4 && running("spread") == 3,
			fmt.Sprintf("%d old nodeclaims, %d disrupting (max %d), %d/4 web and %d/3 spread running", old, disrupting, maxDisrupting, running("web"), running("spread"))
	})
	t.Logf("roll: at most %d nodes disrupted at once (budget 2), at most %d web pods unavailable (PDB 1)", maxDisrupting, maxUnavailable)
	if maxDisrupting > 2 {
		t.Errorf("%d nodes disrupted at once, the budget allows 2", maxDisrupting)
	}
	if maxDisrupting < 2 {
		t.Errorf("the roll never disrupted 2 nodes at once (max %d), the budget allows 2 and %d nodes drifted", maxDisrupting, len(before))
	}
	if maxUnavailable > 1 {
		t.Errorf("%d web pods unavailable at once, the PodDisruptionBudget allows 1", maxUnavailable)
	}
	out := c.kubectl(t, "", "get", "nodeclaims", "-o", `jsonpath={range .items[*]}{.status.conditions[?(@.type=="Drifted")].status}{"\n"}{end}`)
	if strings.Contains(out, "True") {
		t.Errorf("drifted nodeclaims left after the roll:\n%s", out)
	}
}
