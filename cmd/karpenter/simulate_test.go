package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/simulate"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSimulateJSON(t *testing.T) {
	code, out, errOut := runCmd("simulate", "-f", "../../examples/web-zone-spread.yaml", "-f", "../../examples/gpu-job.yaml", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var r simulate.Result
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("output is not the documented shape: %v\n%s", err, out)
	}
	if r.Summary.Pods != 13 || r.Summary.Scheduled != 13 || len(r.NodeClaims) == 0 {
		t.Errorf("summary %+v, %d NodeClaims; want 13 pods all scheduled", r.Summary, len(r.NodeClaims))
	}
	gpusOf := map[string]int64{}
	for _, it := range catalog.Default() {
		q := it.Capacity["nvidia.com/gpu"]
		gpusOf[it.Name] = q.Value()
	}
	var gpus, gpuPods int64
	for _, nc := range r.NodeClaims {
		if nc.NodePool != "gpu" {
			continue
		}
		if !strings.HasPrefix(nc.InstanceType, "g") {
			t.Errorf("GPU pool NodeClaim on %s", nc.InstanceType)
		}
		gpus += gpusOf[nc.InstanceType]
		gpuPods += int64(len(nc.Pods))
	}
	// The train pods limit one GPU each without requesting it: the request defaults to the limit.
	if gpuPods == 0 || gpus < gpuPods {
		t.Errorf("%d GPU pods placed on NodeClaims with %d GPUs in total", gpuPods, gpus)
	}
}

func TestSimulateTable(t *testing.T) {
	code, out, errOut := runCmd("simulate", "-f", "../../examples")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"NODEPOOL", "INSTANCE TYPE", "pods", "lower bound"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestSimulateSkipsWhatMakesNoPods: documents that make no pods are planned around, and
// named on stderr while stdout holds the plan alone.
func TestSimulateSkipsWhatMakesNoPods(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app.yaml")
	var b strings.Builder
	for i := range 7 {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata: {name: s%d}\nspec: {ports: [{port: 80}]}\n---\n", i)
	}
	if err := os.WriteFile(app, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd("simulate", "-f", "../../examples/web-zone-spread.yaml", "-f", app, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r simulate.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Summary.Pods == 0 {
		t.Fatalf("stdout is not a plan of the example's pods (%v): %s", err, out)
	}
	for _, want := range []string{"skipped 7 document(s)", "Service s0 (" + app + ", document 1)", "Service s4", "and 2 more"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	if strings.Contains(errOut, "Service s5") {
		t.Errorf("stderr names more than %d documents: %q", 5, errOut)
	}
}

// TestSimulateLeavesOutWhatTheControllerWould: a gated pod and one for another scheduler are
// not planned (the controller leaves them to their gate and their scheduler), and stderr
// says so.
func TestSimulateLeavesOutWhatTheControllerWould(t *testing.T) {
	dir := t.TempDir()
	pods := filepath.Join(dir, "pods.yaml")
	if err := os.WriteFile(pods, []byte(`apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  schedulingGates: [{name: example.com/wait}]
  containers: [{name: c, image: x, resources: {requests: {cpu: "1"}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: other}
spec:
  schedulerName: batch-scheduler
  containers: [{name: c, image: x, resources: {requests: {cpu: "1"}}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd("simulate", "-f", "../../examples/web-zone-spread.yaml", "-f", pods, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r simulate.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, nc := range r.NodeClaims {
		for _, p := range nc.Pods {
			if strings.HasSuffix(p, "/gated") || strings.HasSuffix(p, "/other") {
				t.Errorf("%s planned onto %s", p, nc.InstanceType)
			}
		}
	}
	if !strings.Contains(errOut, "2 pod(s) not planned") || !strings.Contains(errOut, "default/gated, default/other") {
		t.Errorf("stderr %q does not name the two pods left out", errOut)
	}
}

// TestSimulateBadInput: every kind of bad input exits 2, names the file (and document), and
// prints nothing on stdout that could be mistaken for a result.
func TestSimulateBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknown := write("unknown.yaml", "apiVersion: v1\nkind: Servise\nmetadata: {name: web}\n")
	badPool := write("pool.yaml", `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: bad}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements: [{key: kubernetes.io/arch, operator: Equals, values: [amd64]}]
`)
	badPod := write("pod.yaml", `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: x, resources: {requests: {cpu: lots}}}]
`)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing file", []string{"-f", filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml"}},
		{"unknown kind", []string{"-f", unknown}, []string{"unknown.yaml", "document 1", "Servise"}},
		{"invalid NodePool", []string{"-f", badPool}, []string{"pool.yaml", "document 1", "operator"}},
		{"unparseable requests", []string{"-f", badPod}, []string{"pod.yaml", "document 1"}},
		{"no input", nil, []string{"no input"}},
		{"bad output", []string{"-f", badPool, "-o", "yaml"}, []string{"-o"}},
		{"no pools", []string{"-f", write("only-pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n")}, []string{"no NodePool"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(append([]string{"simulate"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout must be empty on bad input, got %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not mention %q", errOut, w)
				}
			}
		})
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	if code, out, _ := runCmd("version"); code != 0 || !strings.HasPrefix(out, "karpenter ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	if code, _, errOut := runCmd("frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
}
