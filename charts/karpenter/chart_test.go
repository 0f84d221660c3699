package chart

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestDefaultsRenderAHardenedHADeployment(t *testing.T) {
	r := renderRelease(t, "karpenter", nil)
	d := r.Deployment
	if d == nil || r.ServiceAccount == nil || r.ClusterRole == nil || r.ClusterRoleBinding == nil ||
		r.Role == nil || r.RoleBinding == nil || r.Service == nil || r.PDB == nil {
		t.Fatalf("missing objects: %+v", r)
	}
	if r.ServiceMonitor != nil {
		t.Error("ServiceMonitor rendered although serviceMonitor.enabled is false by default")
	}
	if d.Name != "karpenter" || d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("Deployment %s replicas %s, want karpenter with 2", d.Name, fmt.Sprint(ptr.Deref(d.Spec.Replicas, 0)))
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "ghcr.io/gokarpenter/karpenter:0.1.0" {
		t.Errorf("image %q, want the appVersion tag", c.Image)
	}
	if len(c.Args) == 0 || c.Args[0] != "controller" {
		t.Errorf("args %v must start with the controller subcommand", c.Args)
	}
	for _, a := range []string{"--leader-elect=true", "--leader-election-namespace=karpenter", "--cloud-provider=sim",
		"--log-level=info", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081",
		"--batch-idle-duration=1s", "--batch-max-duration=10s"} {
		if !hasArg(c, a) {
			t.Errorf("args %v lack %s", c.Args, a)
		}
	}
	if got := argWithPrefix(c, "--cluster-name"); len(got) != 0 {
		t.Errorf("sim provider must not get AWS flags: %v", got)
	}

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http-metrics"] != 8080 || ports["http-health"] != 8081 {
		t.Errorf("container ports %v, want http-metrics 8080 and http-health 8081", ports)
	}
	for name, probe := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != name {
			t.Errorf("probe for %s: %+v", name, probe)
			continue
		}
		if port := probe.HTTPGet.Port; port != intstr.FromString("http-health") && port != intstr.FromInt32(8081) {
			t.Errorf("probe %s on port %v, want the health port 8081", name, port.String())
		}
	}

	sc, psc := c.SecurityContext, pod.SecurityContext
	if sc == nil || psc == nil {
		t.Fatal("security contexts missing")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("runAsNonRoot must be true on pod and container")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop [ALL] and no add", sc.Capabilities)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v, want RuntimeDefault", psc.SeccompProfile)
	}
	if pod.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName %q", pod.PriorityClassName)
	}
	if pod.ServiceAccountName != r.ServiceAccount.Name {
		t.Errorf("pod runs as %q, chart creates ServiceAccount %q", pod.ServiceAccountName, r.ServiceAccount.Name)
	}
	if lim := c.Resources.Limits.Memory(); lim.IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources %+v: want a memory limit and a CPU request", c.Resources)
	}

	checkAffinity(t, d.Spec.Template.Labels, pod)
	podLabels := labels.Set(d.Spec.Template.Labels)
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("Deployment selector %v does not match its pods %v (%v)", d.Spec.Selector, podLabels, err)
	}
	if sel, err := metav1.LabelSelectorAsSelector(r.PDB.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("PDB selector %v does not match the pods %v (%v)", r.PDB.Spec.Selector, podLabels, err)
	}
	if mu := r.PDB.Spec.MaxUnavailable; mu == nil || *mu != intstr.FromInt32(1) || r.PDB.Spec.MinAvailable != nil {
		t.Errorf("PDB maxUnavailable %v minAvailable %v, want maxUnavailable 1 only", mu, r.PDB.Spec.MinAvailable)
	}

	svc := r.Service
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service selector %v does not match the pods %v", svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http-metrics") {
		t.Errorf("Service ports %+v, want 8080 -> http-metrics", svc.Spec.Ports)
	}
}

// checkAffinity: never on a Karpenter-managed node; replicas prefer other nodes and zones, with
// selectors that really match the pods (they are rendered through tpl).
func checkAffinity(t *testing.T, podLabels map[string]string, pod corev1.PodSpec) {
	t.Helper()
	a := pod.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		t.Fatalf("affinity %+v lacks a required node affinity", a)
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, term := range terms {
		found := false
		for _, e := range term.MatchExpressions {
			found = found || (e.Key == "karpenter.sh/nodepool" && e.Operator == corev1.NodeSelectorOpDoesNotExist)
		}
		if !found {
			t.Errorf("node selector term %+v lets the controller onto karpenter.sh/nodepool nodes", term)
		}
	}
	if len(terms) == 0 {
		t.Error("no node selector terms")
	}
	keys := map[string]bool{}
	if a.PodAntiAffinity == nil {
		t.Fatal("no pod anti-affinity")
	}
	for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		keys[w.PodAffinityTerm.TopologyKey] = true
		sel, err := metav1.LabelSelectorAsSelector(w.PodAffinityTerm.LabelSelector)
		if err != nil || !sel.Matches(labels.Set(podLabels)) {
			t.Errorf("anti-affinity on %s selects %v, not the controller pods %v", w.PodAffinityTerm.TopologyKey, w.PodAffinityTerm.LabelSelector, podLabels)
		}
	}
	if !keys["kubernetes.io/hostname"] || !keys["topology.kubernetes.io/zone"] {
		t.Errorf("anti-affinity topology keys %v, want hostname and zone", keys)
	}
	if len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Error("required anti-affinity would leave a replica Pending on a one-node cluster")
	}
	for _, c := range pod.TopologySpreadConstraints {
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil || !sel.Matches(labels.Set(podLabels)) {
			t.Errorf("topology spread %s selects %v, not the pods", c.TopologyKey, c.LabelSelector)
		}
	}
}

func TestOverrides(t *testing.T) {
	r := renderRelease(t, "prod", map[string]any{
		"replicas":      3,
		"cloudProvider": "aws",
		"logLevel":      "debug",
		"settings": map[string]any{"aws": map[string]any{
			"clusterName": "prod-eks", "clusterEndpoint": "https://ABC.eks.amazonaws.com", "interruptionQueue": "prod-eks-interruptions",
		}},
		"serviceAccount": map[string]any{"create": false, "name": "karpenter-irsa"},
		"serviceMonitor": map[string]any{"enabled": true, "additionalLabels": map[string]any{"release": "prom"}, "interval": "30s"},
		"image":          map[string]any{"digest": "sha256:0123"},
		"extraEnv":       []any{map[string]any{"name": "AWS_REGION", "value": "eu-west-1"}},
	})
	d := r.Deployment
	if d.Name != "prod-karpenter" || *d.Spec.Replicas != 3 {
		t.Errorf("Deployment %s with %d replicas, want prod-karpenter with 3", d.Name, *d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	for _, a := range []string{"--cloud-provider=aws", "--log-level=debug", "--cluster-name=prod-eks",
		"--cluster-endpoint=https://ABC.eks.amazonaws.com", "--interruption-queue=prod-eks-interruptions",
		"--leader-election-namespace=karpenter"} {
		if !hasArg(c, a) {
			t.Errorf("args %v lack %s", c.Args, a)
		}
	}
	if c.Image != "ghcr.io/gokarpenter/karpenter@sha256:0123" {
		t.Errorf("image %q, want the digest", c.Image)
	}
	if envMap(c.Env)["AWS_REGION"] != "eu-west-1" {
		t.Errorf("extraEnv not applied: %v", c.Env)
	}
	if r.ServiceAccount != nil {
		t.Error("ServiceAccount rendered although serviceAccount.create is false")
	}
	if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "karpenter-irsa" {
		t.Errorf("pod ServiceAccount %q, want the existing karpenter-irsa", sa)
	}
	for kind, subjects := range map[string][]string{
		"ClusterRoleBinding": subjectNames(r.ClusterRoleBinding.Subjects), "RoleBinding": subjectNames(r.RoleBinding.Subjects),
	} {
		if strings.Join(subjects, ",") != "karpenter/karpenter-irsa" {
			t.Errorf("%s subjects %v, want karpenter/karpenter-irsa", kind, subjects)
		}
	}
	if r.ServiceMonitor == nil {
		t.Fatal("serviceMonitor.enabled rendered no ServiceMonitor")
	}
	sm := r.ServiceMonitor
	meta, _ := sm["metadata"].(map[string]any)
	lbls, _ := meta["labels"].(map[string]any)
	spec, _ := sm["spec"].(map[string]any)
	eps, _ := spec["endpoints"].([]any)
	if lbls["release"] != "prom" || len(eps) != 1 {
		t.Fatalf("ServiceMonitor labels %v endpoints %v", lbls, eps)
	}
	if ep := eps[0].(map[string]any); ep["port"] != r.Service.Spec.Ports[0].Name || ep["interval"] != "30s" {
		t.Errorf("ServiceMonitor endpoint %v does not scrape the Service port %q every 30s", ep, r.Service.Spec.Ports[0].Name)
	}
	if allows(r.ClusterRole.Rules, "list", "karpenter.sim.sh", "simnodeclasses") ||
		!allows(r.ClusterRole.Rules, "list", "karpenter.k8s.aws", "ec2nodeclasses") ||
		!allows(r.ClusterRole.Rules, "patch", "karpenter.k8s.aws", "ec2nodeclasses/status") {
		t.Error("the aws provider must be granted ec2nodeclasses (+status) and not the sim API")
	}
}

func TestSingleReplicaWithoutLeaderElection(t *testing.T) {
	r := renderRelease(t, "karpenter", map[string]any{"replicas": 1, "leaderElection": map[string]any{"enabled": false},
		"podDisruptionBudget": map[string]any{"enabled": false}, "service": map[string]any{"enabled": false}})
	c := r.Deployment.Spec.Template.Spec.Containers[0]
	if !hasArg(c, "--leader-elect=false") || len(argWithPrefix(c, "--leader-election-namespace")) != 0 {
		t.Errorf("args %v", c.Args)
	}
	if r.Role != nil || r.RoleBinding != nil || r.PDB != nil || r.Service != nil {
		t.Error("Role/RoleBinding, PDB or Service rendered although disabled")
	}
}

func TestRenderRejectsInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"aws without cluster name", map[string]any{"cloudProvider": "aws"}, "settings.aws.clusterName is required"},
		{"unknown provider", map[string]any{"cloudProvider": "gcp"}, "cloudProvider must be sim or aws"},
		{"unknown log level", map[string]any{"logLevel": "verbose"}, "logLevel must be"},
		{"existing ServiceAccount without a name", map[string]any{"serviceAccount": map[string]any{"create": false}}, "serviceAccount.name is required"},
		{"replicas without leader election", map[string]any{"leaderElection": map[string]any{"enabled": false}}, "leaderElection.enabled must be true"},
		{"ServiceMonitor without Service", map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "service": map[string]any{"enabled": false}}, "needs service.enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(Options{Values: tc.values})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func envMap(env []corev1.EnvVar) map[string]string {
	out := map[string]string{}
	for _, e := range env {
		out[e.Name] = e.Value
	}
	return out
}
