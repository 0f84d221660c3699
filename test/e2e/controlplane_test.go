package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gokarpenter/karpenter/pkg/test"
)

// cluster is a control plane started by cp.sh in its own run folder and on free ports, so it
// never touches one a developer has running.
type cluster struct {
	root, run string
	env       []string
}

func freePort(t *testing.T) int {
	t.Helper()
	return freeRange(t, 1)
}

// freeRange finds n consecutive free ports (etcd uses client, peer and metrics ports in a row),
// below the ephemeral range (see test.FreePorts).
func freeRange(t *testing.T, n int) int {
	t.Helper()
	p, err := test.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startCluster(t *testing.T, extraEnv ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane; runs without -short")
	}
	root, err := test.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{root: root}
	// The run folders live in one made before the cleanup that stops the control plane is
	// registered: cleanups run last registered first, and a folder from t.TempDir inside the
	// loop below was removed (pid files and all) before cp.sh down could read which
	// processes to stop, leaving the whole control plane running.
	base := t.TempDir()
	t.Cleanup(func() {
		if out, err := c.cp("down"); err != nil {
			t.Errorf("cp.sh down: %v\n%s", err, out)
		}
	})
	// cp.sh refuses a port something else took between our check and its start; that is a race
	// with another process, not a defect, so stop what started and try other ports in a fresh
	// run folder (etcd's data would remember the old peer port).
	for attempt := 1; ; attempt++ {
		c.run = filepath.Join(base, strconv.Itoa(attempt))
		if err := os.MkdirAll(c.run, 0o755); err != nil {
			t.Fatal(err)
		}
		c.env = append(os.Environ(),
			"CP_RUN="+c.run,
			fmt.Sprintf("CP_ETCD_PORT=%d", freeRange(t, 3)),
			fmt.Sprintf("CP_APISERVER_PORT=%d", freePort(t)),
			fmt.Sprintf("CP_SCHEDULER_PORT=%d", freePort(t)),
			fmt.Sprintf("CP_KCM_PORT=%d", freePort(t)),
		)
		c.env = append(c.env, extraEnv...)
		out, err := c.cp("up")
		if err == nil {
			return c
		}
		if attempt < 3 && strings.Contains(out, "is taken by another process") {
			t.Logf("cp.sh up, attempt %d: a port was taken, retrying on others:\n%s", attempt, out)
			if out, err := c.cp("down"); err != nil {
				t.Fatalf("cp.sh down after a port clash: %v\n%s", err, out)
			}
			continue
		}
		t.Fatalf("cp.sh up: %v\n%s", err, out)
	}
}

func (c *cluster) cp(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.root, "hack/controlplane/cp.sh"), args...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cluster) kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := c.tryKubectl(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) tryKubectl(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.root, "bin/kubectl"), append([]string{"--kubeconfig", filepath.Join(c.run, "admin.kubeconfig")}, args...)...)
	cmd.Env = append(c.env, "KUBECACHEDIR="+filepath.Join(c.run, "kube-cache"))
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// eventually polls f until it returns true or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := f()
		if ok {
			return
		}
		last = state
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s not reached within %v; last state:\n%s", what, timeout, last)
}

// TestControlPlane is the README's promise: up, apply a NodePool, see the printer columns,
// the real scheduler binds pods to a KWOK node that KWOK keeps Running, a second up does not
// clobber, down stops every process.
func TestControlPlane(t *testing.T) {
	c := startCluster(t)

	out := c.kubectl(t, "", "apply", "-f", filepath.Join(c.root, "config/samples/nodepool.yaml"))
	if !strings.Contains(out, "nodepool.karpenter.sh/default") {
		t.Fatalf("apply: %s", out)
	}
	wide := c.kubectl(t, "", "get", "nodepools", "-o", "wide")
	for _, col := range []string{"NAME", "NODECLASS", "NODES", "READY", "AGE", "WEIGHT", "CPU", "MEMORY"} {
		if !strings.Contains(strings.SplitN(wide, "\n", 2)[0], col) {
			t.Errorf("kubectl get nodepools -o wide lacks column %s:\n%s", col, wide)
		}
	}
	if !strings.Contains(wide, "default") || !strings.Contains(wide, "10") {
		t.Errorf("NodePool row missing name or weight:\n%s", wide)
	}
	// An invalid NodePool is refused by the CRD's validation with the field named.
	bad := strings.Replace(readFile(t, filepath.Join(c.root, "config/samples/nodepool.yaml")), `values: ["4"]`, `values: ["four"]`, 1)
	if out, err := c.tryKubectl(bad, "apply", "-f", "-"); err == nil || !strings.Contains(out, "spec.template.spec.requirements") {
		t.Errorf("invalid NodePool: err=%v out=%s", err, out)
	}

	// A KWOK node and a Deployment: kube-scheduler binds, KWOK runs the pods.
	c.kubectl(t, kwokNode, "apply", "-f", "-")
	c.kubectl(t, "", "wait", "--for=condition=Ready", "node/kwok-node-1", "--timeout=60s")
	c.kubectl(t, smokeDeployment, "apply", "-f", "-")
	eventually(t, 90*time.Second, "3 smoke pods Running on kwok-node-1", func() (bool, string) {
		out, err := c.tryKubectl("", "get", "pods", "-l", "app=smoke", "-o",
			"jsonpath={range .items[*]}{.spec.nodeName} {.status.phase}{\"\\n\"}{end}")
		return err == nil && strings.Count(out, "kwok-node-1 Running") == 3, out
	})

	// A second up leaves the running processes alone.
	out, err := c.cp("up")
	if err != nil || strings.Count(out, "already running") != 5 {
		t.Errorf("second up: err=%v\n%s", err, out)
	}
	pids := map[string]string{}
	for _, n := range []string{"etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kwok"} {
		pids[n] = strings.TrimSpace(readFile(t, filepath.Join(c.run, n+".pid")))
	}
	if out, err := c.cp("status"); err != nil {
		t.Errorf("status: %v\n%s", err, out)
	}

	if out, err := c.cp("down"); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	for n, pid := range pids {
		if _, err := os.Stat("/proc/" + pid); err == nil {
			if exe, _ := os.Readlink("/proc/" + pid + "/exe"); strings.Contains(exe, n) {
				t.Errorf("%s (pid %s) still runs after down", n, pid)
			}
		}
	}
	if out, err := c.cp("status"); err == nil {
		t.Errorf("status after down should fail:\n%s", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const kwokNode = `apiVersion: v1
kind: Node
metadata:
  name: kwok-node-1
  labels: {kubernetes.io/hostname: kwok-node-1, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
  annotations: {kwok.x-k8s.io/node: fake}
spec:
  taints: [{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}]
status:
  capacity: {cpu: "4", memory: 16Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
`

const smokeDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: smoke, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: smoke}}
  template:
    metadata: {labels: {app: smoke}}
    spec:
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers: [{name: app, image: registry.invalid/app:1, resources: {requests: {cpu: 500m, memory: 256Mi}}}]
`
