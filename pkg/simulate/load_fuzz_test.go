package simulate

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary manifests to Load: it must never panic, and must either return
// an input or an *InputError (naming the file and document), never another kind of error.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"",
		"apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: a}\nspec: {template: {spec: {nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: d}, requirements: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]}}, limits: {cpu: 100}}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i, resources: {requests: {cpu: 500m}}}]}}}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: n, containers: [{name: c, image: i}]}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n}\n",
		"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {replicas: 2, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}, volumeClaimTemplates: [{metadata: {name: data}, spec: {resources: {requests: {storage: 1Gi}}}}]}\n",
		"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"j\"},\"spec\":{\"parallelism\":-1}}",
		"apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Pod, metadata: {name: x}}]\n",
		"apiVersion: karpenter.sh/v1\nkind: NodePool\nspec: {limits: {cpu: 1e999999}}\n",
		"- a\n- b\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: huge}\nspec: {replicas: 2147483647}\n",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, manifest string) {
		path := filepath.Join(dir, "input.yaml")
		if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		in, err := Load([]string{path})
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Load returned %T (%v), want an *InputError", err, err)
			}
			return
		}
		if in == nil {
			t.Fatal("Load returned neither input nor error")
		}
	})
}
