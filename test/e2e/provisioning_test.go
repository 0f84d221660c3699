package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// controller is `karpenter controller` running as a process against a cluster.
type controller struct {
	cmd     *exec.Cmd
	log     string
	health  int
	metrics int
}

// buildKarpenter builds the binary under test once per test.
func buildKarpenter(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "karpenter")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/karpenter")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building karpenter: %v\n%s", err, out)
	}
	return bin
}

func (c *cluster) startController(t *testing.T, bin string, extra ...string) *controller {
	t.Helper()
	ctl := &controller{log: filepath.Join(c.run, "karpenter.log"), health: freePort(t), metrics: freePort(t)}
	logFile, err := os.Create(ctl.log)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"controller", "--cloud-provider=sim", "--leader-elect=false",
		"--kubeconfig", filepath.Join(c.run, "admin.kubeconfig"),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ctl.metrics),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ctl.health),
		"--batch-idle-duration=1s", "--batch-max-duration=10s"}, extra...)
	ctl.cmd = exec.Command(bin, args...)
	ctl.cmd.Stdout, ctl.cmd.Stderr = logFile, logFile
	if err := ctl.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ctl.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = ctl.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = ctl.cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(ctl.log)
			lines := strings.Split(string(b), "\n")
			t.Logf("controller log (last 40 lines):\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return ctl
}

// peakRSSMiB is the controller's high-water resident memory.
func (ctl *controller) peakRSSMiB(t *testing.T) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", ctl.cmd.Process.Pid))
	if err != nil {
		t.Logf("reading controller memory: %v", err)
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

func (c *cluster) count(t *testing.T, args ...string) int {
	t.Helper()
	out, err := c.tryKubectl("", append([]string{"get", "--no-headers", "--ignore-not-found"}, args...)...)
	if err != nil {
		t.Logf("kubectl get %v: %v: %s", args, err, out)
		return -1
	}
	return len(strings.Fields(strings.TrimSpace(out))) / max(1, columns(out))
}

// columns is how many whitespace-separated fields each line of out has.
func columns(out string) int {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return len(strings.Fields(line))
}

func (c *cluster) lines(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := c.tryKubectl("", args...)
	if err != nil {
		t.Logf("kubectl %v: %v: %s", args, err, out)
		return nil
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

const e2eNodePool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: e2e}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.sim.sh, kind: SimNodeClass, name: e2e}
      requirements:
        - {key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}
  disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: 5s}
  limits: {cpu: "400"}
---
apiVersion: karpenter.sim.sh/v1alpha1
kind: SimNodeClass
metadata: {name: e2e}
spec:
  bootDelay: 1s
`

func deploymentYAML(name string, replicas int, cpu, memory string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: default}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: app, image: app.invalid/%[1]s:1, resources: {requests: {cpu: %[3]s, memory: %[4]s}}}]
`, name, replicas, cpu, memory)
}

// TestProvisioning is the main job end to end: the real kube-scheduler reports pods
// unschedulable, the controller plans and launches NodeClaims on the simulated cloud, nodes
// register (KWOK plays their kubelets), the pods bind and run; scaling to zero removes the
// nodes; a pod no NodePool can fit gets an event and no launch; no instance is left behind.
func TestProvisioning(t *testing.T) {
	c := startCluster(t)
	ctl := c.startController(t, buildKarpenter(t, c.root))
	c.kubectl(t, e2eNodePool, "apply", "-f", "-")

	t.Run("burst of 100 pods", func(t *testing.T) {
		start := time.Now()
		c.kubectl(t, deploymentYAML("burst", 100, "500m", "512Mi"), "apply", "-f", "-")
		var firstClaim time.Duration
		eventually(t, 3*time.Minute, "100 pods Running on launched nodes", func() (bool, string) {
			if firstClaim == 0 && c.count(t, "nodeclaims") > 0 {
				firstClaim = time.Since(start)
			}
			pods := c.lines(t, "get", "pods", "-l", "app=burst", "-o", "jsonpath={range .items[*]}{.status.phase} {.spec.nodeName}{\"\\n\"}{end}")
			running := 0
			for _, p := range pods {
				if strings.HasPrefix(p, "Running i-") {
					running++
				}
			}
			return running == 100, fmt.Sprintf("%d/100 running", running)
		})
		t.Logf("burst of 100 pods: first NodeClaim after %v, all Running after %v, %d nodes, controller peak RSS %.0f MiB",
			firstClaim.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond),
			c.count(t, "nodes", "-l", "karpenter.sh/nodepool=e2e"), ctl.peakRSSMiB(t))
		claims := c.lines(t, "get", "nodeclaims", "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}")
		if len(claims) == 0 {
			t.Error("no NodeClaim listed after the burst")
		}
		for _, nc := range claims {
			if !strings.HasSuffix(nc, " True") {
				t.Errorf("NodeClaim not Ready: %s", nc)
			}
		}
		// One burst launches once: no NodeClaim without pods on its node.
		for _, n := range c.lines(t, "get", "nodes", "-l", "karpenter.sh/nodepool=e2e", "-o", "name") {
			name := strings.TrimPrefix(n, "node/")
			if pods := c.lines(t, "get", "pods", "-A", "--field-selector", "spec.nodeName="+name, "-o", "name"); len(pods) == 0 {
				t.Errorf("node %s was launched but holds no pod", name)
			}
		}
	})

	t.Run("pod that fits no NodePool", func(t *testing.T) {
		before := c.count(t, "nodeclaims")
		c.kubectl(t, deploymentYAML("huge", 1, "2000", "1Gi"), "apply", "-f", "-")
		eventually(t, time.Minute, "a FailedScheduling event from karpenter", func() (bool, string) {
			out, _ := c.tryKubectl("", "get", "events", "--field-selector", "reason=FailedScheduling,involvedObject.kind=Pod", "-o",
				"jsonpath={range .items[*]}{.source.component}: {.message}{\"\\n\"}{end}")
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "karpenter") && strings.Contains(l, "e2e") {
					t.Logf("event: %s", l)
					return true, out
				}
			}
			return false, out
		})
		time.Sleep(3 * time.Second) // a launch would show up within a batch window
		if after := c.count(t, "nodeclaims"); after != before {
			t.Errorf("NodeClaims went from %d to %d for a pod that fits nowhere", before, after)
		}
		c.kubectl(t, "", "delete", "deployment", "huge")
	})

	t.Run("scale to zero removes the nodes", func(t *testing.T) {
		start := time.Now()
		c.kubectl(t, "", "scale", "deployment", "burst", "--replicas=0")
		eventually(t, 3*time.Minute, "no nodes and no NodeClaims left", func() (bool, string) {
			nodes, claims := c.count(t, "nodes", "-l", "karpenter.sh/nodepool=e2e"), c.count(t, "nodeclaims")
			return nodes == 0 && claims == 0, fmt.Sprintf("%d nodes, %d NodeClaims", nodes, claims)
		})
		t.Logf("scale to zero: nodes gone after %v", time.Since(start).Round(100*time.Millisecond))
	})

	// No orphaned instance: the simulated cloud's records are gone with the NodeClaims.
	c.kubectl(t, "", "delete", "nodepool", "e2e")
	eventually(t, time.Minute, "no SimInstance left", func() (bool, string) {
		n := c.count(t, "siminstances")
		return n == 0, fmt.Sprintf("%d SimInstances", n)
	})
}
