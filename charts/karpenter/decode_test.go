package chart

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// release is a rendered chart decoded into typed objects, at most one of each kind.
type release struct {
	ServiceAccount     *corev1.ServiceAccount
	ClusterRole        *rbacv1.ClusterRole
	ClusterRoleBinding *rbacv1.ClusterRoleBinding
	Role               *rbacv1.Role
	RoleBinding        *rbacv1.RoleBinding
	Service            *corev1.Service
	Deployment         *appsv1.Deployment
	PDB                *policyv1.PodDisruptionBudget
	// ServiceMonitor has no Go type among our dependencies; it is checked as a map.
	ServiceMonitor map[string]any
}

// renderRelease renders the chart in namespace "karpenter" with the given values and decodes
// every object strictly (unknown or duplicate fields fail), checking its apiVersion, its
// namespace and its labels on the way.
func renderRelease(t *testing.T, releaseName string, values map[string]any) release {
	t.Helper()
	ms, err := Render(Options{ReleaseName: releaseName, Values: values})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	var r release
	for _, m := range ms {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(m.YAML), &tm); err != nil {
			t.Fatalf("%s: not YAML: %v\n%s", m.Source, err, m.YAML)
		}
		var meta *metav1.ObjectMeta
		switch tm.Kind {
		case "ServiceAccount":
			meta = &decodeInto(t, m, "v1", &r.ServiceAccount).ObjectMeta
		case "ClusterRole":
			meta = &decodeInto(t, m, "rbac.authorization.k8s.io/v1", &r.ClusterRole).ObjectMeta
		case "ClusterRoleBinding":
			meta = &decodeInto(t, m, "rbac.authorization.k8s.io/v1", &r.ClusterRoleBinding).ObjectMeta
		case "Role":
			meta = &decodeInto(t, m, "rbac.authorization.k8s.io/v1", &r.Role).ObjectMeta
		case "RoleBinding":
			meta = &decodeInto(t, m, "rbac.authorization.k8s.io/v1", &r.RoleBinding).ObjectMeta
		case "Service":
			meta = &decodeInto(t, m, "v1", &r.Service).ObjectMeta
		case "Deployment":
			meta = &decodeInto(t, m, "apps/v1", &r.Deployment).ObjectMeta
		case "PodDisruptionBudget":
			meta = &decodeInto(t, m, "policy/v1", &r.PDB).ObjectMeta
		case "ServiceMonitor":
			if tm.APIVersion != "monitoring.coreos.com/v1" || r.ServiceMonitor != nil {
				t.Fatalf("%s: unexpected or second ServiceMonitor (%s)", m.Source, tm.APIVersion)
			}
			if err := yaml.UnmarshalStrict([]byte(m.YAML), &r.ServiceMonitor); err != nil {
				t.Fatalf("%s: %v", m.Source, err)
			}
			continue
		default:
			t.Fatalf("%s renders an unexpected kind %q", m.Source, tm.Kind)
		}
		clusterScoped := tm.Kind == "ClusterRole" || tm.Kind == "ClusterRoleBinding"
		if ns := meta.Namespace; clusterScoped != (ns == "") || (!clusterScoped && ns != "karpenter") {
			t.Errorf("%s %s: namespace %q, want the release namespace on namespaced kinds only", tm.Kind, meta.Name, ns)
		}
		if meta.Labels["app.kubernetes.io/managed-by"] != "Helm" || meta.Labels["app.kubernetes.io/instance"] != releaseName {
			t.Errorf("%s %s: missing standard labels: %v", tm.Kind, meta.Name, meta.Labels)
		}
	}
	return r
}

// decodeInto strictly decodes m into a new *T stored in *dst, failing on a second object of
// the same kind or a wrong apiVersion.
func decodeInto[T any](t *testing.T, m Manifest, apiVersion string, dst **T) *T {
	t.Helper()
	var tm metav1.TypeMeta
	_ = yaml.Unmarshal([]byte(m.YAML), &tm)
	if tm.APIVersion != apiVersion {
		t.Fatalf("%s: %s has apiVersion %q, want %q", m.Source, tm.Kind, tm.APIVersion, apiVersion)
	}
	if *dst != nil {
		t.Fatalf("%s: a second %s", m.Source, tm.Kind)
	}
	v := new(T)
	if err := yaml.UnmarshalStrict([]byte(m.YAML), v); err != nil {
		t.Fatalf("%s does not decode strictly into %T: %v\n%s", m.Source, v, err, m.YAML)
	}
	*dst = v
	return v
}

// allows says whether rules grant verb on group/resource, with RBAC's matching (including "*",
// so a wildcard slipping in is caught by the deny cases too).
func allows(rules []rbacv1.PolicyRule, verb, group, resource string) bool {
	match := func(list []string, v string) bool { return slices.Contains(list, v) || slices.Contains(list, "*") }
	for _, r := range rules {
		if match(r.Verbs, verb) && match(r.APIGroups, group) && match(r.Resources, resource) {
			return true
		}
	}
	return false
}

// hasArg says whether the container has the exact argument arg.
func hasArg(c corev1.Container, arg string) bool { return slices.Contains(c.Args, arg) }

// argWithPrefix returns the container arguments starting with prefix.
func argWithPrefix(c corev1.Container, prefix string) []string {
	var out []string
	for _, a := range c.Args {
		if strings.HasPrefix(a, prefix) {
			out = append(out, a)
		}
	}
	return out
}
