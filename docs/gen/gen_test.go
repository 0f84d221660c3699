package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferenceIsCurrent fails when docs/reference differs from what the CRDs generate:
// run `make docs` and commit.
func TestReferenceIsCurrent(t *testing.T) {
	pages, err := Pages()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "reference")
	onDisk, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range onDisk {
		if _, ok := pages[filepath.Base(p)]; !ok {
			t.Errorf("%s is not generated from any CRD any more: delete it", p)
		}
	}
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("docs/reference/%s is stale (%v): run make docs and commit", name, err)
		}
	}
}

// TestReferenceContent spot-checks that the pages say what the schema enforces.
func TestReferenceContent(t *testing.T) {
	pages, err := Pages()
	if err != nil {
		t.Fatal(err)
	}
	np := string(pages["nodepool.md"])
	for _, want := range []string{
		"`apiVersion: karpenter.sh/v1`, `kind: NodePool`, cluster-scoped",
		"| `spec.template.spec.requirements[].key` | string | yes |",
		"| `spec.disruption.consolidationPolicy` | string |",
		`one of "WhenEmpty", "WhenEmptyOrUnderutilized"`,
		"| `spec.weight` | integer |",
		"≤ 100",
		"`spec.disruption.budgets[]`: 'schedule' must be set with 'duration'",
		"## status",
	} {
		if !strings.Contains(np, want) {
			t.Errorf("nodepool.md lacks %q", want)
		}
	}
	for _, page := range []string{"nodeclaim.md", "simnodeclass.md", "README.md"} {
		if len(pages[page]) == 0 {
			t.Errorf("no %s", page)
		}
	}
	if !strings.Contains(string(pages["README.md"]), "[nodepool.md](nodepool.md)") {
		t.Error("the index does not link the NodePool page")
	}
}
