package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// issueSample is the output example of the scheduler issue, verbatim.
const issueSample = `{"nodeClaims": [{"nodePool": "default", "instanceType": "m7i.large",
                 "capacityType": "on-demand", "zone": "us-east-1a",
                 "pricePerHour": 0.1008, "instanceTypeOptions": 42,
                 "pods": ["default/web-0", "default/web-1"]}],
 "existingNodes": [{"name": "node-a", "pods": ["default/api-3"]}],
 "unschedulable": [{"pod": "default/big-0", "reason": "..."}],
 "summary": {"pods": 3, "scheduled": 2, "nodeClaims": 1, "pricePerHour": 0.1008,
             "lowerBoundPricePerHour": 0.0950, "solveSeconds": 0.0012}}`

func sampleResult() *Result {
	return &Result{
		NodeClaims: []NodeClaim{{NodePool: "default", InstanceType: "m7i.large", CapacityType: "on-demand",
			Zone: "us-east-1a", PricePerHour: 0.1008, InstanceTypeOptions: 42, Pods: []string{"default/web-0", "default/web-1"}}},
		ExistingNodes: []ExistingNode{{Name: "node-a", Pods: []string{"default/api-3"}}},
		Unschedulable: []Unschedulable{{Pod: "default/big-0", Reason: "..."}},
		Summary: Summary{Pods: 3, Scheduled: 2, NodeClaims: 1, PricePerHour: 0.1008,
			LowerBoundPricePerHour: 0.0950, SolveSeconds: 0.0012},
	}
}

func keys(m any) string {
	var ks []string
	for k := range m.(map[string]any) {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestJSONKeyNames(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleResult()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{keys(doc), "existingNodes,nodeClaims,summary,unschedulable"},
		{keys(doc["nodeClaims"].([]any)[0]), "capacityType,instanceType,instanceTypeOptions,nodePool,pods,pricePerHour,zone"},
		{keys(doc["existingNodes"].([]any)[0]), "name,pods"},
		{keys(doc["unschedulable"].([]any)[0]), "pod,reason"},
		{keys(doc["summary"]), "lowerBoundPricePerHour,nodeClaims,pods,pricePerHour,scheduled,solveSeconds"},
	} {
		if c.got != c.want {
			t.Errorf("keys %s, want %s", c.got, c.want)
		}
	}
}

func TestIssueSampleRoundTrips(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(issueSample))
	dec.DisallowUnknownFields()
	var r Result
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decoding the issue's sample: %v", err)
	}
	if !reflect.DeepEqual(&r, sampleResult()) {
		t.Errorf("decoded %+v, want %+v", r, sampleResult())
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &r); err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal([]byte(issueSample), &a)
	_ = json.Unmarshal(buf.Bytes(), &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("re-encoded\n%s\ndiffers from the sample", buf.String())
	}
}

func TestOutputValidatesAgainstSchema(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("schema dialect %v", s["$schema"])
	}
	valid := func(name string, doc any) {
		if err := validate(s, doc, "$"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	invalid := func(name, text string) {
		var doc any
		if err := json.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatal(err)
		}
		if validate(s, doc, "$") == nil {
			t.Errorf("%s validates, want an error", name)
		}
	}
	for name, r := range map[string]*Result{"sample": sampleResult(), "empty": {}, "claim without pods": {NodeClaims: []NodeClaim{{InstanceTypeOptions: 1, CapacityType: "spot"}}}} {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		valid(name, doc)
	}
	var doc any
	_ = json.Unmarshal([]byte(issueSample), &doc)
	valid("issue sample", doc)
	// The validator is not a rubber stamp.
	invalid("extra key", strings.Replace(issueSample, `"zone"`, `"region": "x", "zone"`, 1))
	invalid("missing key", strings.Replace(issueSample, `"pod": "default/big-0", `, ``, 1))
	invalid("missing summary field", strings.Replace(issueSample, `"scheduled": 2,`, ``, 1))
	invalid("null list", strings.Replace(issueSample, `"pods": ["default/api-3"]`, `"pods": null`, 1))
	invalid("bad capacity type", strings.Replace(issueSample, `"on-demand"`, `"ondemand"`, 1))
	invalid("pod without namespace", strings.Replace(issueSample, `"default/big-0"`, `"big-0"`, 1))
	invalid("fractional count", strings.Replace(issueSample, `"pods": 3`, `"pods": 3.5`, 1))
}

// validate checks doc against the subset of JSON Schema 2020-12 that schema.json uses, and
// fails on any keyword outside that subset so a schema change cannot be silently ignored.
func validate(schema map[string]any, doc any, at string) error {
	for k := range schema {
		switch k {
		case "$schema", "$id", "title", "description", "type", "required", "additionalProperties",
			"properties", "items", "minimum", "enum", "pattern":
		default:
			return fmt.Errorf("%s: schema keyword %q is not understood by the test validator", at, k)
		}
	}
	switch schema["type"] {
	case "object":
		obj, ok := doc.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %v is not an object", at, doc)
		}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range schema["required"].([]any) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: missing %s", at, r)
			}
		}
		for k, v := range obj {
			sub, ok := props[k]
			if !ok {
				if schema["additionalProperties"] == false {
					return fmt.Errorf("%s: unexpected %s", at, k)
				}
				continue
			}
			if err := validate(sub.(map[string]any), v, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := doc.([]any)
		if !ok {
			return fmt.Errorf("%s: %v is not an array", at, doc)
		}
		for i, v := range arr {
			if err := validate(schema["items"].(map[string]any), v, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		s, ok := doc.(string)
		if !ok {
			return fmt.Errorf("%s: %v is not a string", at, doc)
		}
		if enum, ok := schema["enum"].([]any); ok {
			found := false
			for _, e := range enum {
				found = found || e == s
			}
			if !found {
				return fmt.Errorf("%s: %q not in %v", at, s, enum)
			}
		}
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			return fmt.Errorf("%s: %q does not match %s", at, s, p)
		}
	case "number", "integer":
		n, ok := doc.(float64)
		if !ok || (schema["type"] == "integer" && n != math.Trunc(n)) {
			return fmt.Errorf("%s: %v is not an %v", at, doc, schema["type"])
		}
		if m, ok := schema["minimum"].(float64); ok && n < m {
			return fmt.Errorf("%s: %v < %v", at, n, m)
		}
	default:
		return fmt.Errorf("%s: schema type %v is not understood by the test validator", at, schema["type"])
	}
	return nil
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, sampleResult()); err != nil {
		t.Fatal(err)
	}
	want := `NODEPOOL  INSTANCE TYPE  CAPACITY TYPE  ZONE        PRICE/HOUR  OPTIONS  PODS
default   m7i.large      on-demand      us-east-1a  $0.1008     42       2

EXISTING NODE  PODS
node-a         1

UNSCHEDULABLE POD  REASON
default/big-0      ...

3 pods, 2 scheduled, 1 unschedulable; 1 new NodeClaims at $0.1008/hour (lower bound $0.0950/hour, +6.1%); solved in 1.2ms
`
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := WriteTable(&buf, &Result{}); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "0 pods, 0 scheduled, 0 unschedulable; 0 new NodeClaims at $0.0000/hour; solved in 0µs\n" {
		t.Errorf("empty table: %q", got)
	}
}
