package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// TestExamplesPlan runs every example through the scheduler and checks the rendered result:
// it validates against schema.json, its totals agree with its rows, and every pod is
// accounted for exactly once.
func TestExamplesPlan(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range append(files, filepath.Join("..", "..", "examples")) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := Load([]string{f})
			if err != nil {
				t.Fatal(err)
			}
			snap := Snapshot(in, catalog.Default())
			plan := scheduling.Solve(snap, in.Pods)
			r := NewResult(plan, len(in.Pods), scheduling.LowerBound(snap, in.Pods), time.Millisecond)

			var buf bytes.Buffer
			if err := WriteJSON(&buf, r); err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if err := validate(s, doc, "$"); err != nil {
				t.Errorf("output does not match schema.json: %v\n%s", err, buf.String())
			}

			seen := map[string]int{}
			price := 0.0
			for _, nc := range r.NodeClaims {
				price += nc.PricePerHour
				if nc.InstanceType == "" || nc.Zone == "" || nc.InstanceTypeOptions < 1 || len(nc.Pods) == 0 {
					t.Errorf("incomplete NodeClaim %+v", nc)
				}
				for _, p := range nc.Pods {
					seen[p]++
				}
			}
			for _, e := range r.ExistingNodes {
				for _, p := range e.Pods {
					seen[p]++
				}
			}
			for _, u := range r.Unschedulable {
				seen[u.Pod]++
				if u.Reason == "" {
					t.Errorf("pod %s unschedulable without a reason", u.Pod)
				}
			}
			for _, p := range in.Pods {
				if n := seen[p.Namespace+"/"+p.Name]; n != 1 {
					t.Errorf("pod %s/%s appears %d times in the result", p.Namespace, p.Name, n)
				}
			}
			if r.Summary.Pods != len(in.Pods) || r.Summary.Scheduled != len(in.Pods)-len(r.Unschedulable) {
				t.Errorf("summary %+v disagrees with %d pods, %d unschedulable", r.Summary, len(in.Pods), len(r.Unschedulable))
			}
			if math.Abs(price-r.Summary.PricePerHour) > 1e-6 {
				t.Errorf("summary price %v, rows add up to %v", r.Summary.PricePerHour, price)
			}
			if r.Summary.LowerBoundPricePerHour > r.Summary.PricePerHour+1e-9 {
				t.Errorf("lower bound %v above the plan's price %v", r.Summary.LowerBoundPricePerHour, r.Summary.PricePerHour)
			}
		})
	}
}

// TestLeftoversBesideFullNodes: a burst's leftovers (four 1-CPU pods, in the sample NodePool,
// which has a CPU limit) beside twelve nodes with 600m free each cost what they cost alone,
// through the path simulate and the controller share. They used to get a c6g.large each
// ($0.1088/h) instead of an m6g.xlarge and a c6g.large ($0.0888/h): the free room was counted
// as if pods could be split across it.
func TestLeftoversBesideFullNodes(t *testing.T) {
	var docs []string
	for i := range 4 {
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: leftover-%d, namespace: default}
spec:
  containers: [{name: app, image: app, resources: {requests: {cpu: "1", memory: 2560Mi}}}]`, i))
	}
	pending := strings.Join(docs, "\n---\n")
	for i := range 12 {
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: full-%d
  labels: {kubernetes.io/arch: arm64, kubernetes.io/os: linux, kubernetes.io/hostname: full-%d, node.kubernetes.io/instance-type: m6g.16xlarge, topology.kubernetes.io/zone: us-east-1a, karpenter.sh/capacity-type: spot, karpenter.sh/nodepool: default}
status:
  capacity: {cpu: "64", memory: 256Gi, pods: "737"}
  allocatable: {cpu: 600m, memory: 64Gi, pods: "110"}`, i, i))
	}
	dir := t.TempDir()
	plan := func(name, text string) *scheduling.Plan {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		in, err := Load([]string{filepath.Join("..", "..", "config", "samples", "nodepool.yaml"), path})
		if err != nil {
			t.Fatal(err)
		}
		return scheduling.Solve(Snapshot(in, catalog.Default()), in.Pods)
	}
	alone, beside := plan("alone.yaml", pending), plan("beside.yaml", strings.Join(docs, "\n---\n"))
	if len(beside.ExistingNodes) > 0 || len(beside.NewNodeClaims) != len(alone.NewNodeClaims) || math.Abs(beside.Price-alone.Price) > 1e-9 {
		t.Errorf("beside the full nodes: %d new NodeClaims at $%.4f/h (%d pods on them); alone: %d at $%.4f/h",
			len(beside.NewNodeClaims), beside.Price, len(beside.ExistingNodes), len(alone.NewNodeClaims), alone.Price)
	}
	if alone.Price > 0.0888+1e-9 {
		t.Errorf("alone: $%.4f/h, want at most $0.0888/h (an m6g.xlarge and a c6g.large)", alone.Price)
	}
}

// TestEC2NodeClassShapesCapacity: the kubelet settings of the EC2NodeClass a NodePool names
// shape the types it launches, as the AWS provider shapes them: with maxPods 8 no NodeClaim
// holds more than 8 pods, where without it the same small pods share a node by the dozen.
func TestEC2NodeClassShapesCapacity(t *testing.T) {
	const manifests = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: small}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: small}
      requirements: [{key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}]
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: small}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  role: KarpenterNodeRole
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  someFieldOfALaterVersion: true
KUBELET
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tiny}
spec:
  replicas: 40
  selector: {matchLabels: {app: tiny}}
  template:
    metadata: {labels: {app: tiny}}
    spec: {containers: [{name: c, image: x, resources: {requests: {cpu: 50m, memory: 64Mi}}}]}
`
	most := func(kubelet string) int {
		path := write(t, t.TempDir(), "small.yaml", strings.Replace(manifests, "KUBELET", kubelet, 1))
		in, err := Load([]string{path})
		if err != nil {
			t.Fatal(err)
		}
		plan := scheduling.Solve(Snapshot(in, catalog.Default()), PendingPods(in))
		if len(plan.Unschedulable) > 0 {
			t.Fatalf("%s unschedulable: %s", plan.Unschedulable[0].Pod.Name, plan.Unschedulable[0].Reason)
		}
		n := 0
		for _, nc := range plan.NewNodeClaims {
			n = max(n, len(nc.Pods))
		}
		return n
	}
	if n := most("  kubelet: {maxPods: 8}"); n > 8 {
		t.Errorf("a NodeClaim holds %d pods under maxPods 8", n)
	}
	if n := most(""); n <= 8 {
		t.Errorf("without maxPods the most pods on a NodeClaim is %d: the test no longer shows the limit", n)
	}
}

// TestNodeClaimsInFlight: a NodeClaim in the input without a Node (capacity in flight, as
// in a dump of a cluster mid-launch) takes the pending pods that fit it, as the controller
// would plan them, instead of a new NodeClaim.
func TestNodeClaimsInFlight(t *testing.T) {
	const manifests = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
---
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: default-abcde
  labels: {karpenter.sh/nodepool: default}
spec:
  nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
  requirements:
  - {key: node.kubernetes.io/instance-type, operator: In, values: [m6g.xlarge]}
  - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
  - {key: karpenter.sh/nodepool, operator: In, values: [default]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: x, resources: {requests: {cpu: "1", memory: 1Gi}}}]}
`
	path := write(t, t.TempDir(), "inflight.yaml", manifests)
	in, err := Load([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	plan := scheduling.Solve(Snapshot(in, catalog.Default()), PendingPods(in))
	if len(plan.NewNodeClaims) != 0 || len(plan.Unschedulable) != 0 || len(plan.ExistingNodes) != 1 || len(plan.ExistingNodes[0].Pods) != 3 {
		t.Fatalf("plan: %d new NodeClaims, %d unschedulable, existing %+v; want the 3 pods on default-abcde", len(plan.NewNodeClaims), len(plan.Unschedulable), plan.ExistingNodes)
	}
	if plan.ExistingNodes[0].Name != "default-abcde" {
		t.Errorf("pods planned onto %s, want default-abcde", plan.ExistingNodes[0].Name)
	}
}
