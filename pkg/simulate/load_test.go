package simulate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

const examplesDir = "../../examples"

func podNames(pods []*corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	return names
}

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) < 6 {
		t.Fatalf("examples: %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := Load([]string{f})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(in.NodePools) == 0 || len(in.NodeClasses) == 0 || len(in.Pods) == 0 {
				t.Errorf("%d NodePools, %d node classes, %d pods", len(in.NodePools), len(in.NodeClasses), len(in.Pods))
			}
		})
	}
	in, err := Load([]string{examplesDir})
	if err != nil {
		t.Fatalf("Load(examples): %v", err)
	}
	// 9 web + 4 train + 6 api + 40 workers + 3 db + 1 report.
	if got := len(in.Pods); got != 63 {
		t.Errorf("%d pending pods in the examples, want 63", got)
	}
}

func TestExpansion(t *testing.T) {
	in, err := Load([]string{filepath.Join(examplesDir, "statefulset-zonal-volumes.yaml"), filepath.Join(examplesDir, "gpu-job.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"data/db-0", "data/db-1", "data/db-2", "ml/train-0", "ml/train-1", "ml/train-2", "ml/train-3"}
	if got := podNames(in.Pods); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pods %v, want %v", got, want)
	}
	db2 := in.Pods[2]
	if db2.Labels["app"] != "db" || db2.Labels[LabelStatefulSetPodName] != "db-2" || db2.Labels[LabelPodIndex] != "2" {
		t.Errorf("db-2 labels %v", db2.Labels)
	}
	if ref := db2.OwnerReferences; len(ref) != 1 || ref[0].Kind != "StatefulSet" || ref[0].Name != "db" || !*ref[0].Controller {
		t.Errorf("db-2 owner %v", ref)
	}
	if v := db2.Spec.Volumes; len(v) != 1 || v[0].PersistentVolumeClaim == nil || v[0].PersistentVolumeClaim.ClaimName != "data-db-2" {
		t.Errorf("db-2 volumes %+v", v)
	}
	// data-db-0 and -1 come from the file (bound), data-db-2 from the template (unbound).
	var claims []string
	for _, c := range in.PersistentVolumeClaims {
		claims = append(claims, c.Namespace+"/"+c.Name+"="+c.Spec.VolumeName)
	}
	if got := strings.Join(claims, " "); got != "data/data-db-0=pv-db-0 data/data-db-1=pv-db-1 data/data-db-2=" {
		t.Errorf("claims %s", got)
	}
	train := in.Pods[3]
	gpu := train.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"]
	if train.OwnerReferences[0].Kind != "Job" || train.Labels[LabelJobName] != "train" || gpu.Value() != 1 {
		t.Errorf("train-0: owner %v labels %v gpu %s", train.OwnerReferences, train.Labels, gpu.String())
	}
	if len(in.PersistentVolumes) != 2 || len(in.StorageClasses) != 1 {
		t.Errorf("%d PVs, %d StorageClasses", len(in.PersistentVolumes), len(in.StorageClasses))
	}
}

func TestExistingCluster(t *testing.T) {
	in, err := Load([]string{filepath.Join(examplesDir, "existing-cluster.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Nodes) != 1 || len(in.BoundPods) != 1 || len(in.DaemonSets) != 1 || len(in.Pods) != 1 {
		t.Fatalf("%d nodes, %d bound, %d daemonsets, %d pending", len(in.Nodes), len(in.BoundPods), len(in.DaemonSets), len(in.Pods))
	}
	alloc := in.Nodes[0].Status.Allocatable[corev1.ResourceCPU]
	if alloc.Cmp(resource.MustParse("3920m")) != 0 || in.Nodes[0].Labels["topology.kubernetes.io/zone"] != "us-east-1a" {
		t.Errorf("node %+v", in.Nodes[0])
	}
	if p := in.BoundPods[0]; p.Namespace != "default" || p.Spec.NodeName != "ip-10-0-1-17.ec2.internal" {
		t.Errorf("bound pod %s/%s on %q", p.Namespace, p.Name, p.Spec.NodeName)
	}
	if ds := in.DaemonSets[0]; ds.Namespace != "logging" || ds.Spec.Template.Labels["app"] != "fluent-bit" {
		t.Errorf("daemonset %s/%s", ds.Namespace, ds.Name)
	}
}

func TestNodePoolDecoded(t *testing.T) {
	in, err := Load([]string{filepath.Join(examplesDir, "weighted-nodepools.yaml"), filepath.Join(examplesDir, "arm64-nodepool.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	spot := in.NodePools[0]
	if spot.Name != "spot-first" || *spot.Spec.Weight != 100 || spot.Spec.Template.Spec.NodeClassRef.Name != "weighted" {
		t.Errorf("spot NodePool %+v", spot.Spec)
	}
	limit := spot.Spec.Limits[corev1.ResourceCPU]
	if limit.Cmp(resource.MustParse("64")) != 0 {
		t.Errorf("spot limit %s", limit.String())
	}
	r := in.NodePools[2].Spec.Template.Spec.Requirements[1]
	if r.Key != "karpenter.k8s.aws/instance-family" || r.Operator != v1.NodeSelectorOpIn || r.MinValues == nil || *r.MinValues != 2 {
		t.Errorf("graviton requirement %+v", r)
	}
}

// write makes a manifest file in a temporary directory.
func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const nodePool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
`

const pod = `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
    - name: c
      image: busybox
      resources: {requests: {cpu: 100m, memory: 64Mi}}
`

func TestDirectoryAndDocuments(t *testing.T) {
	dir := t.TempDir()
	// Comments, empty documents and a leading separator do not count as documents.
	write(t, dir, "b/pool.yml", "# pools\n---\n"+nodePool+"---\n# nothing\n---\n")
	write(t, dir, "a/pod.json", `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
		"spec": {"containers": [{"name": "c", "image": "busybox"}]}}`)
	write(t, dir, "a/notes.txt", "not a manifest")
	in, err := Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.NodePools) != 1 || len(in.Pods) != 1 || in.Pods[0].Namespace != "default" {
		t.Errorf("%d NodePools, pods %v", len(in.NodePools), podNames(in.Pods))
	}
	// The second document of a file is document 2 even after comment-only documents.
	p := write(t, dir, "c.yaml", "---\n# c\n---\n"+pod+"---\n"+strings.Replace(pod, "100m", "lots", 1))
	_, err = Load([]string{p})
	var ie *InputError
	if !errors.As(err, &ie) || ie.File != p || ie.Doc != 2 || ie.Kind != "Pod" {
		t.Fatalf("error %v (%#v)", err, ie)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	deployment := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx, resources: {requests: {cpu: 250m}}}]
`
	for _, tc := range []struct {
		name, content string
		doc           int
		want          []string
		is            error
	}{{
		name: "misspelt-kind", content: nodePool + "---\napiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: s}\nspec: {}\n",
		doc: 2, want: []string{"document 2 (Deploymnet s)", "unknown kind apps/v1 Deploymnet"}, is: ErrUnknownKind,
	}, {
		name: "kind-in-an-old-version", content: "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: w}\n",
		doc: 1, want: []string{"document 1 (Deployment w)", "unknown kind extensions/v1beta1 Deployment", "apps/v1"}, is: ErrUnknownKind,
	}, {
		name: "bad-list-item", content: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n" +
			"- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec: {containers: [{name: c, image: x, resources: {requests: {cpu: lots}}}]}\n",
		doc: 1, want: []string{"document 1, item 2 (Pod p)"},
	}, {
		name: "no-nodeclassref", content: strings.Replace(nodePool, "      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n", "", 1),
		doc: 1, want: []string{"(NodePool default)", "spec.template.spec.nodeClassRef: Required value"},
	}, {
		name: "bad-operator", content: strings.Replace(nodePool, "operator: In", "operator: Within", 1),
		doc: 1, want: []string{`spec.template.spec.requirements[0].operator: Unsupported value: "Within"`},
	}, {
		name: "unknown-field", content: strings.Replace(nodePool, "  template:", "  templates: {}\n  template:", 1),
		doc: 1, want: []string{`unknown field "spec.templates"`},
	}, {
		name: "bad-quantity", content: deployment + "---\n" + strings.Replace(deployment, "250m", "a quarter", 1),
		doc: 2, want: []string{"document 2 (Deployment web)", "quantities must match"},
	}, {
		name: "duplicate-pod", content: deployment + "---\n" + strings.Replace(pod, "name: p", "name: web-1", 1),
		doc: 2, want: []string{"Pod default/web-1: defined twice (first in"}, is: ErrDuplicate,
	}, {
		name: "negative-request", content: strings.Replace(pod, "100m", "-1", 1),
		doc: 1, want: []string{`spec.containers[0].resources.requests[cpu]: Invalid value: "-1"`},
	}, {
		name: "unknown-node", content: strings.Replace(pod, "spec:\n", "spec:\n  nodeName: gone\n", 1),
		doc: 1, want: []string{`spec.nodeName: Not found: node "gone"`},
	}, {
		name: "no-kind", content: "apiVersion: v1\nmetadata: {name: x}\n",
		doc: 1, want: []string{"no kind"},
	}, {
		name: "no-name", content: "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: c, image: i}]}\n",
		doc: 1, want: []string{"metadata.name: Required value"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, dir, tc.name+".yaml", tc.content)
			in, err := Load([]string{p})
			if err == nil {
				t.Fatalf("no error; input %+v", in)
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.File != p || ie.Doc != tc.doc {
				t.Fatalf("error %q is not an InputError for %s document %d: %#v", err, p, tc.doc, ie)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, p+": document ") {
				t.Errorf("error %q does not start with the file and document", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", msg, tc.is)
			}
		})
	}
}

// TestSkippedAndListed: a whole application's manifests load as they are. Kinds that make no
// pods (ConfigMaps, Services, PodDisruptionBudgets, custom resources) are skipped and
// listed, a List's items (what `kubectl get -o yaml` writes) are read one by one, a
// CronJob is planned as the Job it creates (nothing while suspended) and a
// ReplicationController as its replicas.
func TestSkippedAndListed(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "app.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec: {anything: [1, 2]}
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, resourceVersion: "7"}
  spec:
    replicas: 2
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec: {containers: [{name: c, image: x}]}
  status: {replicas: 2}
- apiVersion: v1
  kind: Service
  metadata: {name: web}
  spec: {ports: [{port: 80}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      parallelism: 2
      template:
        spec: {restartPolicy: Never, containers: [{name: c, image: x}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: paused}
spec:
  suspend: true
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 1
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: c, image: x}]}
`)
	in, err := Load([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	var skipped []string
	for _, s := range in.Skipped {
		skipped = append(skipped, s.String())
	}
	want := []string{"ConfigMap cfg (" + p + ", document 1)", "PodDisruptionBudget web (" + p + ", document 2)",
		"Widget w (" + p + ", document 3)", "Service web (" + p + ", document 4, item 2)"}
	if strings.Join(skipped, "; ") != strings.Join(want, "; ") {
		t.Errorf("skipped %q, want %q", skipped, want)
	}
	pods := podNames(in.Pods)
	if got := strings.Join(pods, " "); got != "default/web-0 default/web-1 default/report-0 default/report-1 default/legacy-0" {
		t.Errorf("pods %s", got)
	}
	report, legacy := in.Pods[2], in.Pods[4]
	if o := report.OwnerReferences; len(o) != 1 || o[0].Kind != "Job" || report.Labels[LabelJobName] != "report" {
		t.Errorf("report-0: owner %v labels %v", o, report.Labels)
	}
	if o := legacy.OwnerReferences; len(o) != 1 || o[0].Kind != "ReplicationController" || o[0].APIVersion != "v1" || legacy.Labels["app"] != "legacy" {
		t.Errorf("legacy-0: owner %v labels %v", o, legacy.Labels)
	}
}

func TestMissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load([]string{missing})
	var ie *InputError
	if !errors.As(err, &ie) || ie.File != missing || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(nil); !IsInputError(err) {
		t.Errorf("no paths: %v", err)
	}
	if _, err := Load([]string{t.TempDir()}); !IsInputError(err) {
		t.Errorf("empty directory: %v", err)
	}
}

func TestWorkloadCounts(t *testing.T) {
	dir := t.TempDir()
	template := `
  template:
    metadata: {labels: {app: x}}
    spec: {containers: [{name: c, image: i}]}
`
	for _, tc := range []struct {
		name, manifest string
		want           []string
		ownerKind      string
	}{
		{"deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: x}}" + template,
			[]string{"shop/web-0", "shop/web-1", "shop/web-2"}, "Deployment"},
		{"replicaset-default-one", "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs}\nspec:\n  selector: {matchLabels: {app: x}}" + template,
			[]string{"default/rs-0"}, "ReplicaSet"},
		{"deployment-zero", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: x}}" + template,
			nil, ""},
		{"job-capped-by-completions", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  parallelism: 5\n  completions: 2" + template,
			[]string{"default/j-0", "default/j-1"}, "Job"},
		{"job-default-parallelism", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  completions: 4" + template,
			[]string{"default/j-0"}, "Job"},
		{"job-suspended", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  suspend: true\n  parallelism: 3" + template,
			nil, ""},
		{"statefulset", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec:\n  replicas: 2\n  serviceName: s\n  selector: {matchLabels: {app: x}}" + template,
			[]string{"default/s-0", "default/s-1"}, "StatefulSet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Load([]string{write(t, dir, tc.name+".yaml", tc.manifest)})
			if err != nil {
				t.Fatal(err)
			}
			if got := podNames(in.Pods); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("pods %v, want %v", got, tc.want)
			}
			for _, p := range in.Pods {
				if p.Labels["app"] != "x" || p.OwnerReferences[0].Kind != tc.ownerKind || p.Status.Phase != corev1.PodPending {
					t.Errorf("%s: labels %v owner %v phase %s", p.Name, p.Labels, p.OwnerReferences, p.Status.Phase)
				}
			}
		})
	}
}

// TestLimitRangeDefaults: pods get the requests and limits their namespace's LimitRange
// gives containers that set none, as admission would, after their requests default to
// their own limits; other namespaces' pods are untouched.
func TestLimitRangeDefaults(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "team.yaml", `apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: team}
spec:
  initContainers: [{name: init, image: x}]
  containers: [{name: c, image: x}]
---
apiVersion: v1
kind: Pod
metadata: {name: capped, namespace: team}
spec: {containers: [{name: c, image: x, resources: {limits: {cpu: "2"}}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: elsewhere}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: LimitRange
metadata: {name: b-defaults, namespace: team}
spec:
  limits:
  - type: Container
    default: {cpu: 500m}
    defaultRequest: {cpu: 250m}
    max: {memory: 1Gi}
  - type: Pod
    max: {cpu: "8"}
---
apiVersion: v1
kind: LimitRange
metadata: {name: a-first, namespace: team}
spec:
  limits:
  - type: Container
    min: {ephemeral-storage: 1Gi}
`)
	in, err := Load([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	resources := func(pod *corev1.Pod, c corev1.Container) string {
		r := c.Resources
		return fmt.Sprintf("%s/%s requests cpu=%s memory=%s storage=%s limits cpu=%s memory=%s", pod.Name, c.Name,
			r.Requests.Cpu(), r.Requests.Memory(), r.Requests.StorageEphemeral(), r.Limits.Cpu(), r.Limits.Memory())
	}
	var got []string
	for _, pod := range in.Pods {
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			got = append(got, resources(pod, c))
		}
	}
	want := []string{
		// max memory is the default memory limit, and the default limit the default request.
		"bare/init requests cpu=250m memory=1Gi storage=1Gi limits cpu=500m memory=1Gi",
		"bare/c requests cpu=250m memory=1Gi storage=1Gi limits cpu=500m memory=1Gi",
		// its own CPU limit is its CPU request, before the LimitRange is looked at.
		"capped/c requests cpu=2 memory=1Gi storage=1Gi limits cpu=2 memory=1Gi",
		"elsewhere/c requests cpu=0 memory=0 storage=0 limits cpu=0 memory=0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("resources:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAutoscalersScaleTheirTargets: a Deployment, ReplicaSet or ReplicationController an
// autoscaler targets runs within the autoscaler's bounds, as on a cluster: 1 replica with
// minReplicas 3 is 3 pods, 10 with maxReplicas 4 is 4, one at 0 stays at 0. An autoscaler
// whose target is missing is skipped and listed.
func TestAutoscalersScaleTheirTargets(t *testing.T) {
	deployment := func(name, replicas string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: shop}
spec:
  %s
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec: {containers: [{name: c, image: x}]}
`, name, replicas, name, name)
	}
	hpa := func(apiVersion, name, kind, target, bounds string) string {
		return fmt.Sprintf(`apiVersion: %s
kind: HorizontalPodAutoscaler
metadata: {name: %s, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: %s, name: %s}
  %s
`, apiVersion, name, kind, target, bounds)
	}
	docs := []string{
		deployment("web", "# replicas unset: 1"), hpa("autoscaling/v2", "web", "Deployment", "web", "minReplicas: 3\n  maxReplicas: 10"),
		deployment("api", "replicas: 10"), hpa("autoscaling/v1", "api", "Deployment", "api", "maxReplicas: 4"),
		deployment("idle", "replicas: 0"), hpa("autoscaling/v2", "idle", "Deployment", "idle", "minReplicas: 2\n  maxReplicas: 5"),
		hpa("autoscaling/v2", "ghost", "Deployment", "ghost", "minReplicas: 2\n  maxReplicas: 5"),
	}
	dir := t.TempDir()
	p := write(t, dir, "app.yaml", strings.Join(docs, "---\n"))
	in, err := Load([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, pod := range in.Pods {
		count[pod.OwnerReferences[0].Name]++
	}
	if count["web"] != 3 || count["api"] != 4 || count["idle"] != 0 {
		t.Errorf("pods by workload %v, want web 3, api 4, idle 0", count)
	}
	if len(in.Skipped) != 1 || in.Skipped[0].Name != "ghost" {
		t.Errorf("skipped %v, want the autoscaler of the missing Deployment", in.Skipped)
	}
	bad := write(t, dir, "bad.yaml", hpa("autoscaling/v2", "web", "Deployment", "web", "minReplicas: 5\n  maxReplicas: 2"))
	if _, err := Load([]string{bad}); err == nil || !strings.Contains(err.Error(), "spec.maxReplicas") {
		t.Errorf("maxReplicas below minReplicas: error %v, want one naming spec.maxReplicas", err)
	}
}
