package main

import (
	"strings"
	"testing"
)

const crd = `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        properties:
          spec:
            properties:
              taints:
                items:
                  properties:
                    effect:
                      type: string
                    key:
                      type: string
                    value:
                      type: string
                  type: object
                type: array
`

func TestApplyAddsRulesInPlace(t *testing.T) {
	out, err := Apply([]byte(crd), []patch{
		{[]string{"properties", "spec", "properties", "taints", "items", "properties", "effect"}, "enum", []string{"NoSchedule"}},
		{[]string{"properties", "spec", "properties", "taints", "items", "properties", "key"}, "minLength", 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"effect:\n                      enum:\n                      - NoSchedule\n                      type: string", "key:\n                      minLength: 1\n                      type: string"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	again, err := Apply(out, []patch{{[]string{"properties", "spec", "properties", "taints", "items", "properties", "key"}, "minLength", 1}})
	if err != nil || string(again) != string(out) {
		t.Errorf("applying twice changed the output (err %v)", err)
	}
}

func TestApplyRefusesAMissingPath(t *testing.T) {
	_, err := Apply([]byte(crd), []patch{{[]string{"properties", "spec", "properties", "startupTaints"}, "maxItems", 1}})
	if err == nil || !strings.Contains(err.Error(), "startupTaints") {
		t.Fatalf("error %v, want one naming the missing path", err)
	}
}
