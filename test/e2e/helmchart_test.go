package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	chart "github.com/gokarpenter/karpenter/charts/karpenter"
)

// access is one `kubectl auth can-i` question asked as the chart's ServiceAccount.
type access struct {
	verb, resource, subresource, namespace string // namespace "" means all namespaces (-A)
	want                                   bool
}

// chartAccess: what the controller must be able to do, and a few things it must not.
var chartAccess = []access{
	{"create", "pods", "eviction", "", true},
	{"delete", "pods", "", "", true},
	{"list", "pods", "", "", true},
	{"patch", "nodes", "", "", true},
	{"create", "nodes", "", "", true},
	{"delete", "nodes", "", "", true},
	{"list", "nodeclaims.karpenter.sh", "", "", true},
	{"create", "nodeclaims.karpenter.sh", "", "", true},
	{"patch", "nodeclaims.karpenter.sh", "status", "", true},
	{"watch", "nodepools.karpenter.sh", "", "", true},
	{"create", "events", "", "", true},
	{"list", "poddisruptionbudgets.policy", "", "", true},
	{"watch", "daemonsets.apps", "", "", true},
	{"get", "simnodeclasses.karpenter.sim.sh", "", "", true},
	{"create", "siminstances.karpenter.sim.sh", "", "", true},
	{"watch", "siminstances.karpenter.sim.sh", "", "", true}, // the sim provider resyncs from the cache
	{"create", "leases.coordination.k8s.io", "", "karpenter", true},
	{"update", "leases.coordination.k8s.io", "", "karpenter", true},

	{"delete", "secrets", "", "", false},
	{"get", "secrets", "", "karpenter", false},
	{"create", "deployments.apps", "", "", false},
	{"create", "pods", "", "", false},
	{"delete", "nodepools.karpenter.sh", "", "", false},
	{"create", "clusterrolebindings.rbac.authorization.k8s.io", "", "", false},
	{"list", "ec2nodeclasses.karpenter.k8s.aws", "", "", false},
	{"create", "leases.coordination.k8s.io", "", "default", false},
	{"get", "configmaps", "", "karpenter", false},
	{"list", "csinodes.storage.k8s.io", "", "", true}, // per-node CSI attach limits
	{"get", "nodes", "", "", false},
}

// TestHelmChart renders the chart with the Helm Go library, installs it for real on a local
// control plane (CRDs first, then every object, in namespace karpenter), checks that the API
// server admits the controller pods the Deployment asks for (they cannot run: there is no image
// registry), and asks the API server, as the chart's ServiceAccount, the RBAC questions above.
func TestHelmChart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane; runs without -short")
	}
	manifests, err := chart.Render(chart.Options{ReleaseName: "karpenter", Namespace: "karpenter"})
	if err != nil {
		t.Fatal(err)
	}
	crds, err := chart.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t)
	start := time.Now()

	c.kubectl(t, joinManifests(crds), "apply", "--server-side", "--field-manager=helm-chart-e2e", "-f", "-")
	c.kubectl(t, "", "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
	c.kubectl(t, "", "create", "namespace", "karpenter")
	out := c.kubectl(t, joinManifests(manifests), "apply", "--server-side", "--field-manager=helm-chart-e2e", "-f", "-")
	if n := strings.Count(out, "serverside-applied"); n != len(manifests) {
		t.Fatalf("applied %d of %d objects:\n%s", n, len(manifests), out)
	}
	for _, obj := range []string{"-n karpenter serviceaccount/karpenter", "-n karpenter deployment/karpenter",
		"-n karpenter poddisruptionbudget/karpenter", "-n karpenter service/karpenter", "-n karpenter role/karpenter",
		"-n karpenter rolebinding/karpenter", "clusterrole/karpenter", "clusterrolebinding/karpenter"} {
		c.kubectl(t, "", append([]string{"get", "-o", "name"}, strings.Fields(obj)...)...)
	}
	if replicas := c.kubectl(t, "", "-n", "karpenter", "get", "deployment/karpenter", "-o", "jsonpath={.spec.replicas}"); replicas != "2" {
		t.Errorf("Deployment replicas %q, want 2", replicas)
	}
	if port := c.kubectl(t, "", "-n", "karpenter", "get", "service/karpenter", "-o", "jsonpath={.spec.ports[0].port}"); port != "8080" {
		t.Errorf("Service port %q, want 8080", port)
	}
	// The ReplicaSet controller creates the pods, so their spec (priority class, security
	// context, affinity, probes, GOMEMLIMIT from the memory limit) passes admission.
	eventually(t, 90*time.Second, "2 controller pods created", func() (bool, string) {
		pods, err := c.tryKubectl("", "-n", "karpenter", "get", "pods", "-l", "app.kubernetes.io/name=karpenter",
			"-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.priorityClassName}{\"\\n\"}{end}")
		if err == nil && strings.Count(pods, "system-cluster-critical\n") == 2 {
			return true, pods
		}
		rs, _ := c.tryKubectl("", "-n", "karpenter", "get", "replicasets,events", "-o", "wide")
		return false, pods + "\n" + rs
	})
	t.Logf("chart installed and controller pods admitted in %v", time.Since(start).Round(time.Millisecond))

	for _, a := range chartAccess {
		args := []string{"auth", "can-i", a.verb, a.resource, "--as=system:serviceaccount:karpenter:karpenter"}
		if a.subresource != "" {
			args = append(args, "--subresource="+a.subresource)
		}
		if a.namespace == "" {
			args = append(args, "--all-namespaces")
		} else {
			args = append(args, "-n", a.namespace)
		}
		out, err := c.tryKubectl("", args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		answer := strings.TrimSpace(lines[len(lines)-1])
		if (answer != "yes" && answer != "no") || (answer == "yes") != (err == nil) {
			t.Errorf("%s: unexpected answer %q (err %v)", a, out, err)
			continue
		}
		if got := answer == "yes"; got != a.want {
			t.Errorf("%s: allowed=%v, want %v", a, got, a.want)
		}
	}
}

func (a access) String() string {
	s := "can-i " + a.verb + " " + a.resource
	if a.subresource != "" {
		s += "/" + a.subresource
	}
	if a.namespace != "" {
		s += fmt.Sprintf(" in %s", a.namespace)
	}
	return s
}

func joinManifests(ms []chart.Manifest) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString("---\n# Source: " + m.Source + "\n" + m.YAML)
	}
	return b.String()
}
