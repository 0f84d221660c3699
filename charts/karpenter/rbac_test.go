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
	{"create", "", "nodes", true},
	{"patch", "", "nodes", true},
	{"delete", "", "nodes", true},
	{"list", "", "pods", true},
	{"delete", "", "pods", true},
	{"create", "", "pods/eviction", true},
	{"create", "", "events", true},
	{"patch", "events.k8s.io", "events", true},
	{"watch", "apps", "daemonsets", true},
	{"list", "apps", "replicasets", true},
	{"list", "apps", "statefulsets", true},
	{"list", "policy", "poddisruptionbudgets", true},
	{"watch", "", "persistentvolumeclaims", true},
	{"list", "", "persistentvolumes", true},
	{"list", "storage.k8s.io", "storageclasses", true},
	{"watch", "storage.k8s.io", "csinodes", true},
	{"watch", "", "namespaces", true},
	{"list", "karpenter.sim.sh", "simnodeclasses", true},
	{"patch", "karpenter.sim.sh", "simnodeclasses/status", true},
	{"create", "karpenter.sim.sh", "siminstances", true},

	{"delete", "karpenter.sh", "nodepools", false},
	{"create", "karpenter.sh", "nodepools", false},
	{"create", "", "pods", false},
	{"update", "", "pods", false},
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
