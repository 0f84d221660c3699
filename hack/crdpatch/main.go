package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Patterns: a qualified name (upstream's for taint keys and values) and a label value.
const (
	QualifiedName = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`
	LabelValue    = `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
)

// patch sets key = value in the schema object found at path (from openAPIV3Schema).
type patch struct {
	path  []string
	key   string
	value any
}

func taintPatches(prefix ...string) []patch {
	var out []patch
	for _, field := range []string{"taints", "startupTaints"} {
		props := append(append([]string{}, prefix...), "properties", field, "items", "properties")
		out = append(out,
			patch{append(append([]string{}, props...), "key"), "minLength", 1},
			patch{append(append([]string{}, props...), "key"), "pattern", QualifiedName},
			patch{append(append([]string{}, props...), "value"), "pattern", QualifiedName},
			patch{append(append([]string{}, props...), "effect"), "enum", []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}},
		)
	}
	return out
}

// Patches are the rules added to each CRD file.
func Patches() map[string][]patch {
	labels := []string{"properties", "spec", "properties", "template", "properties", "metadata", "properties", "labels", "additionalProperties"}
	return map[string][]patch{
		"karpenter.sh_nodepools.yaml": append(taintPatches("properties", "spec", "properties", "template", "properties", "spec"),
			patch{labels, "maxLength", 63}, patch{labels, "pattern", LabelValue}),
		"karpenter.sh_nodeclaims.yaml": taintPatches("properties", "spec"),
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crdpatch CRD_DIR")
		os.Exit(2)
	}
	for file, patches := range Patches() {
		if err := patchFile(filepath.Join(os.Args[1], file), patches); err != nil {
			fmt.Fprintf(os.Stderr, "crdpatch: %v\n", err)
			os.Exit(1)
		}
	}
}

func patchFile(path string, patches []patch) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading CRD: %w", err)
	}
	out, err := Apply(src, patches)
	if err != nil {
		return fmt.Errorf("patching %s: %w", path, err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil { //nolint:gosec // a generated, committed file
		return fmt.Errorf("writing CRD: %w", err)
	}
	return nil
}

// Apply applies the patches to every version's schema of a CRD document; a path that does not
// exist is an error, so a renamed field cannot silently lose its rules.
func Apply(src []byte, patches []patch) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("decoding CRD: %w", err)
	}
	versions := lookup(doc.Content[0], "spec", "versions")
	if versions == nil || versions.Kind != yaml.SequenceNode {
		return nil, errors.New("no spec.versions")
	}
	for _, v := range versions.Content {
		schema := lookup(v, "schema", "openAPIV3Schema")
		if schema == nil {
			return nil, errors.New("a version has no schema.openAPIV3Schema")
		}
		for _, p := range patches {
			obj := lookup(schema, p.path...)
			if obj == nil || obj.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("no schema at %s", strings.Join(p.path, "."))
			}
			var val yaml.Node
			if err := val.Encode(p.value); err != nil {
				return nil, fmt.Errorf("encoding %v: %w", p.value, err)
			}
			set(obj, p.key, &val)
		}
	}
	var buf bytes.Buffer
	buf.WriteString("---\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(doc.Content[0]); err != nil {
		return nil, fmt.Errorf("encoding CRD: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding CRD: %w", err)
	}
	return buf.Bytes(), nil
}

func lookup(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// set replaces key's value in a mapping node, or appends key in sorted position.
func set(m *yaml.Node, key string, val *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = val
			return
		}
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	at := len(m.Content)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value > key {
			at = i
			break
		}
	}
	m.Content = append(m.Content[:at], append([]*yaml.Node{k, val}, m.Content[at:]...)...)
}
