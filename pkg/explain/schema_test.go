package explain

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("explain.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("explain.json")
	if err != nil {
		t.Fatalf("compiling schema.json: %v", err)
	}
	return s
}

func validateJSON(t *testing.T, s *jsonschema.Schema, report any) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, report); err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("%T does not match schema.json: %v", report, err)
	}
}

// TestJSONMatchesSchema validates real reports of every kind against schema.json, and checks
// that the schema refuses what it should (so the check can fail).
func TestJSONMatchesSchema(t *testing.T) {
	s := compileSchema(t)
	c := newCluster(t)
	old := c.now.Add(-2 * time.Hour)
	c.create(nodePool("general"))
	c.create(nodePool("broken"))
	c.managedNode("json-node", "general", "m5.xlarge", old)
	c.boundPod("json-running", "1", "json-node", old)
	c.pendingPod("json-pending", "2")
	c.pendingPod("json-huge", "500", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{v1.LabelArch: "arm64"} })
	w := c.world()
	for _, name := range []string{"json-pending", "json-huge", "json-running"} {
		validateJSON(t, s, must[*PodReport](t)(Pod(w, c.ns, name, c.now)))
	}
	validateJSON(t, s, must[*NodeReport](t)(Node(w, ControllerEligibility{}, "node", "json-node", c.now)))
	validateJSON(t, s, must[*NodeReport](t)(Node(w, ControllerEligibility{}, "nodeclaim", "json-node", c.now)))
	validateJSON(t, s, must[*NodePoolReport](t)(NodePool(w, "general", c.now)))
	validateJSON(t, s, must[*NodePoolReport](t)(NodePool(w, "broken", c.now)))

	for _, bad := range []string{
		`{"kind":"Pod","namespace":"a","name":"b","pending":true,"summary":"x","nodePools":[{"nodePool":"p","reason":"Sunspots","message":"m"}]}`,
		`{"kind":"Node","name":"n","pricePerHour":-1,"pods":0,"candidate":false,"reason":"PDB","message":""}`,
		`{"kind":"NodePool","name":"p","nodeClaims":0,"resources":[],"budgets":[],"launching":true}`,
	} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		if s.Validate(inst) == nil {
			t.Errorf("schema accepts %s", bad)
		}
	}
}

// TestSchemaListsEveryReason keeps schema.json's reason enums equal to the vocabulary.
func TestSchemaListsEveryReason(t *testing.T) {
	var doc struct {
		Defs map[string]struct {
			Enum []string `json:"enum"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema, &doc); err != nil {
		t.Fatal(err)
	}
	pod := []reason.Code{reason.NodePoolNotLaunching, reason.Taint, reason.Requirement, reason.Resources, reason.Limit, reason.VolumeZone, reason.Topology, reason.Fits}
	node := []reason.Code{reason.NotManaged, reason.Deleting, reason.NotRegistered, reason.NotInitialized, reason.BeingDisrupted, reason.Nominated,
		reason.DoNotDisruptNode, reason.DoNotDisruptPod, reason.PDB, reason.NotConsolidatable, reason.Budget, reason.NoCheaperReplacement, reason.SpotToSpot, reason.Candidate}
	for def, codes := range map[string][]reason.Code{"podReason": pod, "nodeReason": node} {
		got := doc.Defs[def].Enum
		if len(got) != len(codes) {
			t.Errorf("%s: schema lists %v, vocabulary %v", def, got, codes)
			continue
		}
		for i := range codes {
			if got[i] != string(codes[i]) {
				t.Errorf("%s[%d]: schema %s, vocabulary %s", def, i, got[i], codes[i])
			}
		}
	}
}
