package chart

import (
	"fmt"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// grant is one access question: may the controller do verb on group/resource?
type grant struct {
	verb, group, resource string
	want                  bool
}

func (g grant) String() string { return fmt.Sprintf("%s %s.%s", g.verb, g.resource, g.group) }

// controllerNeeds lists what the controller does (allowed) and a few things it must never be
// able to do (denied). The e2e test asks a real API server the same questions.
var controllerNeeds = []grant{
	{"list", "karpenter.sh", "nodepools", true},
	{"patch", "karpenter.sh", "nodepools/status", true},
	{"create", "karpenter.sh", "nodeclaims", true},
	{"delete", "karpenter.sh", "nodeclaims", true},
	{"patch", "karpenter.sh", "nodeclaims/status", true},
	{"update", "karpenter.sh", "nodeclaims/finalizers", true},
	{"watch", "", "nodes", true},
	{"create", "", "nodes", true}, // sim mode: the registrar plays the kubelets
	{"patch", "", "nodes", true},
	{"delete", "", "nodes", true},
	{"list", "", "pods", true},
	{"delete", "", "pods", true},
	{"create", "", "pods/eviction", true},
	{"patch", "", "pods/status", true},
	{"create", "", "events", true},
	{"patch", "", "events", true},
	{"watch", "apps", "daemonsets", true},
	{"list", "policy", "poddisruptionbudgets", true},
	{"get", "karpenter.sim.sh", "simnodeclasses", true},
	{"watch", "", "persistentvolumeclaims", true},
	{"list", "", "persistentvolumes", true},
	{"list", "storage.k8s.io", "storageclasses", true},
	{"watch", "storage.k8s.io", "csinodes", true},
	{"watch", "", "namespaces", true},
	{"create", "karpenter.sim.sh", "siminstances", true},

	// Granted once, never used (test/e2e/rbac_usage_test.go records what is).
	{"get", "", "nodes", false},
	{"update", "", "nodes", false},
	{"get", "", "pods", false},
	{"get", "karpenter.sh", "nodeclaims", false},
	{"update", "karpenter.sh", "nodepools", false},
	{"update", "karpenter.sh", "nodeclaims/status", false},
	{"patch", "events.k8s.io", "events", false},
	{"list", "apps", "replicasets", false},
	{"list", "apps", "statefulsets", false},
	{"patch", "karpenter.sim.sh", "simnodeclasses/status", false},
	{"update", "karpenter.sim.sh", "siminstances", false},

	{"delete", "karpenter.sh", "nodepools", false},
	{"create", "karpenter.sh", "nodepools", false},
	{"create", "", "pods", false},
	{"update", "", "pods", false},
	{"patch", "", "pods", false},
	{"update", "", "pods/status", false},
	{"get", "", "secrets", false},
	{"list", "", "secrets", false},
	{"delete", "", "secrets", false},
	{"get", "", "configmaps", false},
	{"create", "apps", "deployments", false},
	{"delete", "apps", "daemonsets", false},
	{"delete", "policy", "poddisruptionbudgets", false},
	{"delete", "", "persistentvolumes", false},
	{"create", "rbac.authorization.k8s.io", "clusterrolebindings", false},
	{"escalate", "rbac.authorization.k8s.io", "clusterroles", false},
	{"impersonate", "", "serviceaccounts", false},
	{"create", "", "serviceaccounts/token", false},
	{"list", "karpenter.k8s.aws", "ec2nodeclasses", false},
	{"list", "coordination.k8s.io", "leases", false},
}

func TestClusterRoleIsLeastPrivilege(t *testing.T) {
	r := renderRelease(t, "karpenter", nil)
	for _, rule := range r.ClusterRole.Rules {
		for _, list := range [][]string{rule.Verbs, rule.APIGroups, rule.Resources} {
			if slices.Contains(list, "*") {
				t.Errorf("wildcard in rule %+v", rule)
			}
		}
		if len(rule.NonResourceURLs) != 0 {
			t.Errorf("non-resource URLs granted: %+v", rule)
		}
	}
	for _, g := range controllerNeeds {
		if got := allows(r.ClusterRole.Rules, g.verb, g.group, g.resource); got != g.want {
			t.Errorf("ClusterRole: %v allowed=%v, want %v", g, got, g.want)
		}
	}
	if r.ClusterRoleBinding.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.ClusterRole.Name}) {
		t.Errorf("ClusterRoleBinding refers to %+v", r.ClusterRoleBinding.RoleRef)
	}
	if got := subjectNames(r.ClusterRoleBinding.Subjects); len(got) != 1 || got[0] != "karpenter/karpenter" {
		t.Errorf("ClusterRoleBinding subjects %v, want the karpenter/karpenter ServiceAccount", got)
	}
}

func TestLeaderElectionRoleIsNamespaced(t *testing.T) {
	r := renderRelease(t, "karpenter", nil)
	for _, g := range []grant{
		{"get", "coordination.k8s.io", "leases", true},
		{"create", "coordination.k8s.io", "leases", true},
		{"update", "coordination.k8s.io", "leases", true},
		{"patch", "coordination.k8s.io", "leases", false},
		{"watch", "coordination.k8s.io", "leases", false},
		{"delete", "coordination.k8s.io", "leases", false},
		{"get", "", "configmaps", false},
		{"get", "", "secrets", false},
	} {
		if got := allows(r.Role.Rules, g.verb, g.group, g.resource); got != g.want {
			t.Errorf("Role: %v allowed=%v, want %v", g, got, g.want)
		}
	}
	if r.RoleBinding.RoleRef.Kind != "Role" || r.RoleBinding.RoleRef.Name != r.Role.Name || r.Role.Namespace != "karpenter" {
		t.Errorf("RoleBinding %+v / Role namespace %q", r.RoleBinding.RoleRef, r.Role.Namespace)
	}
}

func subjectNames(subjects []rbacv1.Subject) []string {
	var out []string
	for _, s := range subjects {
		if s.Kind == rbacv1.ServiceAccountKind {
			out = append(out, s.Namespace+"/"+s.Name)
		}
	}
	return out
}

// TestOnlyTheSimCreatesNodes: nodes are created by kubelets; only the simulated cloud plays
// them, so only its ClusterRole may create Nodes.
func TestOnlyTheSimCreatesNodes(t *testing.T) {
	aws := renderRelease(t, "karpenter", map[string]any{
		"cloudProvider": "aws",
		"settings":      map[string]any{"aws": map[string]any{"clusterName": "prod-eks"}},
	})
	if allows(aws.ClusterRole.Rules, "create", "", "nodes") {
		t.Error("the aws ClusterRole grants create on nodes")
	}
	if allows(aws.ClusterRole.Rules, "list", "karpenter.sim.sh", "siminstances") {
		t.Error("the aws ClusterRole grants the sim's API")
	}
	if sim := renderRelease(t, "karpenter", nil); !allows(sim.ClusterRole.Rules, "create", "", "nodes") {
		t.Error("the sim ClusterRole cannot create the Nodes of its instances")
	}
}
