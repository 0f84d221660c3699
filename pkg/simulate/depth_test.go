package simulate

import (
	"strings"
	"testing"
)

func TestTooDeep(t *testing.T) {
	pod := `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: c
    command: |
      a:
        b:
          c: {[
    resources:
      requests: {cpu: "1"}
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - labelSelector:
            matchExpressions:
              - key: app
                operator: In
                values: ["[[[", x]
          topologyKey: zone
`
	deepBlock := "spec:\n"
	for i := range 70 {
		deepBlock += strings.Repeat("  ", i+1) + "k" + "x" + ":\n"
	}
	deepBlock += strings.Repeat("  ", 71) + "leaf: 1\n"
	deepSeq := "spec:\n  items:\n  " + strings.Repeat("- ", 70) + "x\n"
	deepFlow := `{"kind": "Pod", "spec": ` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "}"
	cases := []struct {
		name, doc string
		deep      bool
		path      string
	}{
		{"pod with block scalar and quoted brackets", pod, false, ""},
		{"deep block mappings", deepBlock, true, "spec.kx.kx.kx"},
		{"deep sequences on one line", deepSeq, true, "spec.items[][][]"},
		{"deep JSON", deepFlow, true, "..."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, deep := tooDeep([]byte(tc.doc), 64)
			if deep != tc.deep || !strings.HasPrefix(path, tc.path) {
				t.Errorf("tooDeep = %q, %v; want %v with a path starting %q", path, deep, tc.deep, tc.path)
			}
		})
	}
	if _, deep := tooDeep([]byte(pod), 9); !deep {
		t.Error("the pod nests 10 levels (spec.affinity...values[]); a limit of 9 must catch it")
	}
	if _, deep := tooDeep([]byte(pod), 10); deep {
		t.Error("the pod nests 10 levels; a limit of 10 must let it through")
	}
}
