package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gokarpenter/karpenter/pkg/simulate"
)

const limitsPool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements: []
`

// TestSimulateHostileInput: input built to exhaust memory or time is refused with exit
// status 2 and a message naming the file and the field, within a second, without the
// process growing by more than a few dozen MiB.
func TestSimulateHostileInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deployment := func(field string, n int) string {
		return limitsPool + fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: huge}
spec:
  %s: %d
  selector: {matchLabels: {app: huge}}
  template:
    metadata: {labels: {app: huge}}
    spec: {containers: [{name: c, image: x}]}
`, field, n)
	}
	job := limitsPool + `---
apiVersion: batch/v1
kind: Job
metadata: {name: wide}
spec:
  parallelism: 2000000000
  template:
    spec: {restartPolicy: Never, containers: [{name: c, image: x}]}
`
	var deep strings.Builder
	deep.WriteString(limitsPool + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec:\n  containers: [{name: c, image: x}]\n  overhead:\n")
	for i := range 2000 { // about 4 MB
		deep.WriteString(strings.Repeat(" ", 4+2*i) + "x:\n")
	}
	deepFlow := limitsPool + "---\n" + `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "f"}, "spec": {"x": ` +
		strings.Repeat("[", 500000) + strings.Repeat("]", 500000) + "}}\n"
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(limitsPool), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, simulate.MaxFileBytes+1); err != nil { // sparse: nothing written
		t.Fatal(err)
	}
	// The pods of the first workload count against the limit of the second.
	twoLarge := deployment("replicas", simulate.MaxPods/2) + strings.Replace(deployment("replicas", simulate.MaxPods/2+1), "huge", "second", 1)[len(limitsPool):]
	for _, tc := range []struct {
		name string
		path string
		want []string
		// slow: the input is legitimate up to the limit and takes its time to expand.
		slow bool
	}{
		{"millions of replicas", write("replicas.yaml", deployment("replicas", 2147483647)), []string{"replicas.yaml", "document 2 (Deployment huge)", "spec.replicas", "at most"}, false},
		{"job parallelism", write("job.yaml", job), []string{"job.yaml", "document 2 (Job wide)", "spec.parallelism"}, false},
		{"limit over several workloads", write("two.yaml", twoLarge), []string{"two.yaml", "document 3 (Deployment second)", "spec.replicas", "left"}, true},
		{"file over the size limit", big, []string{"big.yaml", "larger than the limit"}, false},
		{"deep block nesting", write("deep.yaml", deep.String()), []string{"deep.yaml", "document 2", "spec.overhead.x.x", "nesting deeper than"}, false},
		{"deep flow nesting", write("flow.json", deepFlow), []string{"flow.json", "document 2", "nesting deeper than"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			code, out, errOut := runCmd("simulate", "-f", tc.path)
			elapsed := time.Since(start)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if code != 2 || out != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing (stderr %q)", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not mention %q", errOut, w)
				}
			}
			if elapsed > time.Second && !tc.slow {
				t.Errorf("took %v, want under a second", elapsed)
			}
			if grown := int64(after.TotalAlloc-before.TotalAlloc) >> 20; grown > 200 {
				t.Errorf("allocated %d MiB refusing the input", grown)
			}
		})
	}
}

// TestSimulateReportsTheFirstBadDocument: documents are decoded in parallel, yet the error
// reported is the first bad document's, as when they were read one by one.
func TestSimulateReportsTheFirstBadDocument(t *testing.T) {
	var b strings.Builder
	b.WriteString(limitsPool)
	for i := range 3000 {
		image := "x"
		if i == 1700 || i == 2900 {
			image = "x\n      bogus: 1" // an unknown field
		}
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p-%d}\nspec:\n  containers:\n    - name: c\n      image: %s\n", i, image)
	}
	p := filepath.Join(t.TempDir(), "many.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		code, _, errOut := runCmd("simulate", "-f", p)
		if code != 2 || !strings.Contains(errOut, "document 1702 (Pod p-1700)") || !strings.Contains(errOut, `unknown field "spec.containers[0].bogus"`) {
			t.Fatalf("exit %d, stderr %q; want document 1702's unknown field", code, errOut)
		}
	}
}

// BenchmarkSimulate20kPods runs the whole command on 20,000 pod documents (about 9 MB),
// generated here: `go test -run '^$' -bench Simulate20k -benchtime=1x ./cmd/karpenter/`.
func BenchmarkSimulate20kPods(b *testing.B) {
	path := filepath.Join(b.TempDir(), "pods.yaml")
	if err := os.WriteFile(path, []byte(manyPods(20000)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if code, _, errOut := runCmd("simulate", "-f", path, "-o", "json"); code != 0 {
			b.Fatalf("exit %d: %s", code, errOut)
		}
	}
}

// manyPods is a NodePool and n pod documents of about 450 bytes each, from 50 apps.
func manyPods(n int) string {
	var b strings.Builder
	b.WriteString(limitsPool)
	cpus := []string{"100m", "250m", "500m", "1"}
	mems := []string{"128Mi", "256Mi", "512Mi", "1Gi"}
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata:
  name: pod-%d
  namespace: default
  labels:
    app: app-%d
    tier: backend
spec:
  containers:
    - name: main
      image: registry.example.com/team/app-%d:v1.2.3
      resources:
        requests:
          cpu: %s
          memory: %s
        limits:
          memory: 2Gi
  tolerations:
    - key: example.com/dedicated
      operator: Equal
      value: backend
      effect: NoSchedule
`, i, i%50, i%50, cpus[i%4], mems[(i/4)%4])
	}
	return b.String()
}
