package simulate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// fastYAMLCases are documents the fast path must read exactly as the general parser does,
// or decline: each line of YAML 1.1 that looks like a string and is not (yes, on, 0777,
// 1e3, ...), and each structure outside the subset.
var fastYAMLCases = []struct {
	name, doc string
	accept    bool // the fast path must read it (the examples' shapes)
}{
	{"plain pod", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    app.kubernetes.io/name: web\nspec:\n  containers:\n    - name: main\n      image: registry.example.com/a/b:v1.2.3\n      resources:\n        requests:\n          cpu: 100m\n          memory: 1.5Gi\n", true},
	{"sequence at the key's column", "a:\n- u\n- v\nb: 1\n", true},
	{"dash alone", "a:\n  -\n    b: c\n  -\n", true},
	{"empty and null values", "a:\nb: ~\nc: null\nd: []\ne: {}\n", true},
	{"quoted", "a: \"x y <&>\"\nb: 'it is'\nc: \"\"\n", true},
	{"numbers and quantities", "a: 0\nb: 42\nc: 2Gi\nd: 500m\ne: 08Gi\nf: 5E\ng: 30s\nh: 1h30m\ni: 1.5e3x\n", true},
	{"flow sequence of scalars", "a: [\"x\", z, 3, 2Gi]\nb: []\n", true},
	{"comments and blank lines", "# head\na: b\n\n  # indented comment\nc:\n  d: e\n", true},
	{"urls and paths", "a: http://x.example/y?z=1\nb: /var/lib/kubelet\n", true},
	{"key order", "zeta: 1\nalpha: 2\nmid:\n  b: 1\n  a: 2\n", true},
	{"mapping items with nested sequences", "s:\n  - name: a\n    ports:\n    - containerPort: 80\n    image: i\n  - name: b\n", true},

	{"yes", "a: yes\n", false},
	{"y in a sequence", "a:\n- x\n- y\n", false},
	{"n in a flow sequence", "a: [m, n]\n", false},
	{"on key", "on: push\n", false},
	{"True", "a: True\n", false},
	{"octal", "a: 0777\n", false},
	{"float", "a: 1.5\n", false},
	{"exponent", "a: 1e3\n", false},
	{"underscore int", "a: 1_000\n", false},
	{"negative", "a: -1\n", false},
	{"dot float", "a: .5\n", false},
	{"inf", "a: .inf\n", false},
	{"timestamp", "a: 2001-12-14\n", false},
	{"hex", "a: 0x1F\n", false},
	{"huge int", "a: 123456789012345678901234\n", false},
	{"anchor and alias", "a: &x b\nc: *x\n", false},
	{"merge key", "a: &x\n  b: 1\nc:\n  <<: *x\n", false},
	{"tag", "a: !!str 1\n", false},
	{"block scalar", "a: |\n  line\n", false},
	{"folded scalar", "a: >\n  line\n", false},
	{"multi-line plain", "a: one\n  two\n", false},
	{"flow mapping", "a: {b: c}\n", false},
	{"flow sequence of a float", "a: [1, 2.5]\n", false},
	{"nested flow sequence", "a: [[1], 2]\n", false},
	{"flow sequence with an empty item", "a: [1, , 2]\n", false},
	{"flow sequence with a comma in quotes", "a: [\"x,y\"]\n", false},
	{"hex ending in a letter", "a: 0xAB\n", false},
	{"float ending in a dot", "a: 1.\n", false},
	{"duplicate key", "a: 1\na: 2\n", false},
	{"tab", "a:\n\tb: c\n", false},
	{"crlf", "a: b\r\n", false},
	{"comment after value", "a: b # c\n", false},
	{"escape", "a: \"x\\ty\"\n", false},
	{"quoted key", "\"a\": b\n", false},
	{"numeric key", "1: b\n", false},
	{"nested dash", "a:\n  - - x\n", false},
	{"bad indentation", "a:\n    b: c\n  d: e\n", false},
	{"colon in value", "a: b: c\n", false},
	{"non-ascii", "a: café\n", false},
	{"root sequence", "- a\n", false},
	{"root scalar", "a\n", false},
	{"indented root", "  a: b\n", false},
	{"empty", "# nothing\n", false},
	{"directive", "%YAML 1.1\n---\na: b\n", false},
}

// TestFastYAMLDeclinesHugeMappings: duplicates are found by scanning a mapping's keys, so a
// mapping past maxFastKeys goes to the general parser instead of taking quadratic time.
func TestFastYAMLDeclinesHugeMappings(t *testing.T) {
	var b strings.Builder
	for i := range maxFastKeys {
		fmt.Fprintf(&b, "k%d: v\n", i)
	}
	if _, ok := fastYAMLToJSON([]byte(b.String())); !ok {
		t.Fatalf("a mapping of %d keys declined", maxFastKeys)
	}
	b.WriteString("one-more: v\n")
	if _, ok := fastYAMLToJSON([]byte(b.String())); ok {
		t.Fatalf("a mapping of %d keys read on the fast path", maxFastKeys+1)
	}
}

func TestFastYAMLMatchesTheGeneralParser(t *testing.T) {
	for _, c := range fastYAMLCases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := fastYAMLToJSON([]byte(c.doc))
			if ok != c.accept {
				t.Fatalf("fast path accepted = %v, want %v (output %s)", ok, c.accept, got)
			}
			if !ok {
				return
			}
			want, err := yaml.YAMLToJSONStrict([]byte(c.doc))
			if err != nil {
				t.Fatalf("the general parser refuses what the fast path read as %s: %v", got, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("fast path:\n%s\ngeneral parser:\n%s", got, want)
			}
		})
	}
}

// TestFastYAMLReadsTheExamples: every document of examples/ and of the benchmark's pod file
// takes the fast path (else it would not be faster where it matters) and converts exactly
// as the general parser does.
func TestFastYAMLReadsTheExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	var docs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range strings.Split(string(b), "\n---\n") {
			if strings.TrimSpace(strings.TrimPrefix(d, "---\n")) != "" {
				docs = append(docs, strings.TrimPrefix(d, "---\n"))
			}
		}
	}
	declined := 0
	for _, d := range docs {
		got, ok := fastYAMLToJSON([]byte(d))
		if !ok {
			declined++
			t.Logf("declined:\n%s", d)
			continue
		}
		want, err := yaml.YAMLToJSONStrict([]byte(d))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("document:\n%s\nfast path: %s\ngeneral parser: %s (%v)", d, got, want, err)
		}
	}
	if declined > 0 {
		t.Errorf("%d of %d example documents declined", declined, len(docs))
	}
}

// FuzzFastYAML: whatever the fast path reads, the general parser reads the same.
func FuzzFastYAML(f *testing.F) {
	for _, c := range fastYAMLCases {
		f.Add(c.doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, ok := fastYAMLToJSON([]byte(doc))
		if !ok {
			return
		}
		want, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("the general parser refuses %q, which the fast path read as %s: %v", doc, got, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: fast path %s, general parser %s", doc, got, want)
		}
	})
}
