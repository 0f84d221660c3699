package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestCRDsMatchConfig keeps crds/ a copy of the CRDs controller-gen writes to config/crd: a
// chart installing stale CRDs would reject or silently prune new fields.
func TestCRDsMatchConfig(t *testing.T) {
	want, err := filepath.Glob("../../config/crd/*.yaml")
	if err != nil || len(want) == 0 {
		t.Fatalf("no CRDs in config/crd (%v)", err)
	}
	got, err := filepath.Glob("crds/*")
	if err != nil {
		t.Fatal(err)
	}
	base := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = filepath.Base(p)
		}
		return out
	}
	const fix = "copy them: cp config/crd/*.yaml charts/karpenter/crds/ (and remove files config/crd no longer has)"
	if !slices.Equal(base(want), base(got)) {
		t.Fatalf("charts/karpenter/crds has %v, config/crd has %v; %s", base(got), base(want), fix)
	}
	for _, p := range want {
		a, errA := os.ReadFile(p)
		b, errB := os.ReadFile(filepath.Join("crds", filepath.Base(p)))
		if errA != nil || errB != nil {
			t.Fatalf("reading %s: %v %v", p, errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("charts/karpenter/crds/%s differs from config/crd; %s", filepath.Base(p), fix)
		}
	}
	// The embedded chart carries the same files.
	crds, err := CRDs()
	if err != nil || len(crds) != len(want) {
		t.Fatalf("embedded chart has %d CRDs (%v), want %d", len(crds), err, len(want))
	}
}

// TestValuesAreDocumented: every value in values.yaml has a comment (a key whose parent is
// documented as a whole, like resources.requests.cpu, counts as documented), and README.md
// lists every documented value.
func TestValuesAreDocumented(t *testing.T) {
	src, err := os.ReadFile("values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) != 1 {
		t.Fatalf("values.yaml: %v", err)
	}
	var documented []string
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			path := prefix + key.Value
			switch {
			case strings.TrimSpace(key.HeadComment) != "":
				documented = append(documented, path)
			case val.Kind == yaml.MappingNode && len(val.Content) > 0:
				walk(val, path+".")
			default:
				t.Errorf("values.yaml: %s has no comment", path)
			}
		}
	}
	walk(doc.Content[0], "")
	if len(documented) < 20 {
		t.Fatalf("only %d documented values found: %v", len(documented), documented)
	}
	for _, path := range documented {
		if !strings.Contains(string(readme), "`"+path+"`") {
			t.Errorf("README.md does not list `%s`", path)
		}
	}
}
