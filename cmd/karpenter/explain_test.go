package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/explain"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// startCluster starts an API server for one test and writes its kubeconfig.
func startCluster(t *testing.T) (client.Client, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the API server; runs without -short")
	}
	env, err := test.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(kubeconfigFor(env.Config), path); err != nil {
		t.Fatal(err)
	}
	return env.Client, path
}

func kubeconfigFor(cfg *rest.Config) clientcmdapi.Config {
	return clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"test": {Server: cfg.Host, CertificateAuthorityData: cfg.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"test": {ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}},
		Contexts:       map[string]*clientcmdapi.Context{"test": {Cluster: "test", AuthInfo: "test"}},
		CurrentContext: "test",
	}
}

// TestExplainCommand runs `karpenter explain` against a live API server found through
// $KUBECONFIG and through --kubeconfig, on a NodePool of the simulated cloud whose
// SimNodeClass narrows it to one zone.
func TestExplainCommand(t *testing.T) {
	c, kubeconfig := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, obj := range []client.Object{
		&simv1alpha1.SimNodeClass{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: simv1alpha1.SimNodeClassSpec{Zones: []string{"us-east-1b"}}},
		&v1.NodePool{
			ObjectMeta: metav1.ObjectMeta{Name: "default"},
			Spec: v1.NodePoolSpec{
				Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
					Requirements: []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelArch, Operator: v1.NodeSelectorOpIn, Values: []string{"amd64"}}},
					NodeClassRef: &v1.NodeClassReference{Group: simv1alpha1.Group, Kind: simv1alpha1.KindSimNodeClass, Name: "default"},
					ExpireAfter:  v1.MustParseNillableDuration("720h"),
				}},
				Disruption: v1.Disruption{ConsolidateAfter: v1.MustParseNillableDuration("30s"), ConsolidationPolicy: v1.ConsolidationPolicyWhenEmptyOrUnderutilized},
			},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{v1.LabelArch: "arm64"},
				Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}},
			},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "api"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
		},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	t.Setenv("KUBECONFIG", kubeconfig)
	code, out, errOut := runCmd("explain", "pod", "default/web")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Pod:", "default/web", "Pending", "default", "Requirement", "kubernetes.io/arch=arm64 (nodeSelector)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	t.Log("\n" + out)
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	code, out, errOut = runCmd("explain", "--kubeconfig", kubeconfig, "-o", "json", "pod", "default/api")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(explain.Schema))
	if err != nil {
		t.Fatal(err)
	}
	compiler := jsonschema.NewCompiler()
	if err := compiler.AddResource("explain.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := compiler.Compile("explain.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(inst); err != nil {
		t.Errorf("-o json does not match pkg/explain/schema.json: %v", err)
	}
	var r explain.PodReport
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The SimNodeClass allows only us-east-1b: the sim's catalogue, not the raw one, was used.
	if r.Launch == nil || r.Launch.Zone != "us-east-1b" || len(r.NodePools) != 1 || r.NodePools[0].Reason != reason.Fits {
		t.Errorf("api: launch %+v verdicts %+v, want a launch in us-east-1b", r.Launch, r.NodePools)
	}

	// A pod named without a namespace is looked up in -n, else the context's namespace.
	if code, out, errOut = runCmd("explain", "--kubeconfig", kubeconfig, "pod", "api"); code != 0 || !strings.Contains(out, "default/api") {
		t.Errorf("pod in the context's namespace: exit %d %s %s", code, out, errOut)
	}
	if code, _, errOut = runCmd("explain", "--kubeconfig", kubeconfig, "-n", "other", "pod", "api"); code != 1 || !strings.Contains(errOut, `pod "other/api" not found`) {
		t.Errorf("pod in -n other: exit %d %s", code, errOut)
	}
	code, out, _ = runCmd("explain", "--kubeconfig", kubeconfig, "nodepool", "default")
	if code != 0 || !strings.Contains(out, "DISRUPTION REASON") {
		t.Errorf("nodepool: exit %d\n%s", code, out)
	}
	if code, _, errOut = runCmd("explain", "--kubeconfig", kubeconfig, "node", "nope"); code != 1 || !strings.Contains(errOut, `node "nope" not found`) {
		t.Errorf("missing node: exit %d %q", code, errOut)
	}
	if code, _, errOut = runCmd("explain", "--kubeconfig", kubeconfig, "deployment", "x"); code != 2 || !strings.Contains(errOut, "want pod, node") {
		t.Errorf("bad kind: exit %d %q", code, errOut)
	}
	// Not a terminal: `nodes` prints one plain frame.
	if code, out, errOut = runCmd("nodes", "--kubeconfig", kubeconfig, "--width", "90"); code != 0 ||
		!strings.HasPrefix(out, "karpenter nodes  0 nodes  0 launching  2 pending pods  $0.0000/h") || strings.Contains(out, "\x1b") {
		t.Errorf("nodes: exit %d %q %s", code, out, errOut)
	}
	if code, _, _ = runCmd("explain", "--kubeconfig", filepath.Join(t.TempDir(), "nope"), "nodepool", "default"); code != 1 {
		t.Errorf("missing kubeconfig: exit %d, want 1", code)
	}

}
