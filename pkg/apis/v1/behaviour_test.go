package v1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// createJSON creates an object from raw JSON (so the Go types' own zero values do not hide the
// server's defaults) and decodes what the server stored into out.
func createJSON(ctx context.Context, t *testing.T, raw string, out any) {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(raw), &obj.Object); err != nil {
		t.Fatalf("test JSON: %v", err)
	}
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatalf("creating: %v", err)
	}
	b, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("decoding stored object into Go type: %v\n%s", err, b)
	}
}

// TestDefaults creates a NodePool that sets nothing optional and checks what the API server
// filled in, decoded through the Go types.
func TestDefaults(t *testing.T) {
	test.RequireEnvironment(t, env)
	np := &v1.NodePool{}
	createJSON(test.Context(t), t, `{"apiVersion":"karpenter.sh/v1","kind":"NodePool","metadata":{"name":"defaults"},
		"spec":{"template":{"spec":{"requirements":[],"nodeClassRef":{"group":"g","kind":"K","name":"n"}}}}}`, np)
	if d := np.Spec.Template.Spec.ExpireAfter; d.IsNever() || d.Duration.Hours() != 720 {
		t.Errorf("expireAfter default = %v, want 720h", d)
	}
	if d := np.Spec.Disruption.ConsolidateAfter; d.IsNever() || *d.Duration != 0 {
		t.Errorf("consolidateAfter default = %v, want 0s", d)
	}
	if np.Spec.Disruption.ConsolidationPolicy != v1.ConsolidationPolicyWhenEmptyOrUnderutilized {
		t.Errorf("consolidationPolicy default = %q", np.Spec.Disruption.ConsolidationPolicy)
	}
	if len(np.Spec.Disruption.Budgets) != 1 || np.Spec.Disruption.Budgets[0].Nodes != "10%" {
		t.Errorf("budgets default = %+v, want one budget of 10%%", np.Spec.Disruption.Budgets)
	}

	nc := &v1.NodeClaim{}
	createJSON(test.Context(t), t, `{"apiVersion":"karpenter.sh/v1","kind":"NodeClaim","metadata":{"name":"defaults"},
		"spec":{"requirements":[],"nodeClassRef":{"group":"g","kind":"K","name":"n"}}}`, nc)
	if d := nc.Spec.ExpireAfter; d.IsNever() || d.Duration.Hours() != 720 {
		t.Errorf("NodeClaim expireAfter default = %v, want 720h", d)
	}
}

// TestTypedRoundTrip writes through the Go types and reads the same values back, "Never"
// included.
func TestTypedRoundTrip(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	np := minimalNodePool("roundtrip")
	np.Spec.Template.Spec.ExpireAfter = v1.MustParseNillableDuration(v1.Never)
	np.Spec.Disruption.ConsolidateAfter = v1.MustParseNillableDuration("90s")
	np.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
		{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{"m5.large", "m6i.large"}, MinValues: ptrInt(2)},
	}
	if err := env.Client.Create(ctx, np); err != nil {
		t.Fatal(err)
	}
	got := &v1.NodePool{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(np), got); err != nil {
		t.Fatal(err)
	}
	if !got.Spec.Template.Spec.ExpireAfter.IsNever() {
		t.Errorf("expireAfter = %v, want Never", got.Spec.Template.Spec.ExpireAfter)
	}
	if got.Spec.Disruption.ConsolidateAfter.String() != "1m30s" {
		t.Errorf("consolidateAfter = %v, want 1m30s", got.Spec.Disruption.ConsolidateAfter)
	}
	if r := got.Spec.Template.Spec.Requirements; len(r) != 1 || r[0].MinValues == nil || *r[0].MinValues != 2 {
		t.Errorf("requirements = %+v", r)
	}
}

func ptrInt(i int) *int { return &i }

func minimalNodePool(name string) *v1.NodePool {
	return &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.NodePoolSpec{
			Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
				Requirements: []v1.NodeSelectorRequirementWithMinValues{},
				NodeClassRef: &v1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"},
				ExpireAfter:  v1.MustParseNillableDuration("720h"),
			}},
			Disruption: v1.Disruption{ConsolidateAfter: v1.MustParseNillableDuration("0s")},
		},
	}
}

// TestImmutability checks the update rules: a NodeClaim's spec never changes, a NodePool's
// nodeClassRef keeps its group and kind but may point at another name.
func TestImmutability(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)

	nc := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "immutable"},
		Spec: v1.NodeClaimSpec{
			Requirements: []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelArch, Operator: v1.NodeSelectorOpIn, Values: []string{"amd64"}}},
			NodeClassRef: &v1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"},
			ExpireAfter:  v1.MustParseNillableDuration("720h"),
		},
	}
	if err := env.Client.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	nc.Spec.Requirements[0].Values = []string{"arm64"}
	err := env.Client.Update(ctx, nc)
	if err == nil || !strings.Contains(err.Error(), "spec is immutable") || !strings.Contains(err.Error(), "spec") {
		t.Errorf("NodeClaim spec update: err = %v, want spec is immutable", err)
	}
	// Labels and status may change.
	fresh := &v1.NodeClaim{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(nc), fresh); err != nil {
		t.Fatal(err)
	}
	fresh.Labels = map[string]string{"example.com/x": "y"}
	if err := env.Client.Update(ctx, fresh); err != nil {
		t.Errorf("NodeClaim label update rejected: %v", err)
	}

	np := minimalNodePool("immutable-ref")
	if err := env.Client.Create(ctx, np); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		change  func(*v1.NodeClassReference)
		wantErr string
	}{
		{"group", func(r *v1.NodeClassReference) { r.Group = "karpenter.sim.sh" }, "nodeClassRef.group is immutable"},
		{"kind", func(r *v1.NodeClassReference) { r.Kind = "SimNodeClass" }, "nodeClassRef.kind is immutable"},
		{"name", func(r *v1.NodeClassReference) { r.Name = "other" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := &v1.NodePool{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(np), cur); err != nil {
				t.Fatal(err)
			}
			tc.change(cur.Spec.Template.Spec.NodeClassRef)
			err := env.Client.Update(ctx, cur)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("update rejected: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), "spec.template.spec.nodeClassRef"):
				t.Errorf("error does not name the field: %v", err)
			}
		})
	}
}

// TestPrinterColumns asks the API server for the table form kubectl prints, so the columns are
// proven served, not just present in YAML.
func TestPrinterColumns(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	np := minimalNodePool("columns")
	np.Spec.Weight = new(int32(7))
	if err := env.Client.Create(ctx, np); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		resource string
		want     []string
	}{
		{"nodepools", []string{"Name", "NodeClass", "Nodes", "Ready", "Age", "Weight", "CPU", "Memory"}},
		{"nodeclaims", []string{"Name", "Type", "Capacity", "Zone", "Node", "Ready", "Age", "ID", "NodePool", "NodeClass"}},
	} {
		table := fetchTable(ctx, t, tc.resource)
		var names []string
		for _, c := range table.ColumnDefinitions {
			names = append(names, c.Name)
		}
		if strings.Join(names, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s columns = %v, want %v", tc.resource, names, tc.want)
		}
		if tc.resource == "nodepools" {
			found := false
			for _, row := range table.Rows {
				if row.Cells[0] == "columns" {
					found = true
					if row.Cells[1] != "default" || fmt.Sprint(row.Cells[5]) != "7" {
						t.Errorf("row = %v, want NodeClass default and Weight 7", row.Cells)
					}
				}
			}
			if !found {
				t.Errorf("no row for NodePool columns in %v", table.Rows)
			}
		}
	}
}

func fetchTable(ctx context.Context, t *testing.T, resource string) *metav1.Table {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.GroupVersion = &v1.SchemeGroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializerFor(env)
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	body, err := rc.Get().Resource(resource).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	if err != nil {
		t.Fatalf("getting %s as a table: %v", resource, err)
	}
	table := &metav1.Table{}
	if err := json.Unmarshal(body, table); err != nil {
		t.Fatalf("decoding table: %v", err)
	}
	return table
}
