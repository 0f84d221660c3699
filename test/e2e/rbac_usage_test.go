package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	chart "github.com/gokarpenter/karpenter/charts/karpenter"
	"github.com/gokarpenter/karpenter/pkg/operator"
)

// use is one verb on one resource ("nodes", "pods/eviction", "nodeclaims.karpenter.sh/status").
type use struct{ verb, resource string }

func (u use) String() string { return u.verb + " " + u.resource }

// recorder is an http.RoundTripper that notes the verb and resource of every request.
type recorder struct {
	next    http.RoundTripper
	factory *request.RequestInfoFactory
	mu      sync.Mutex
	seen    map[use]int
	other   map[string]int // non-resource paths (discovery, /version)
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	info, err := r.factory.NewRequestInfo(req)
	r.mu.Lock()
	switch {
	case err == nil && info.IsResourceRequest:
		res := info.Resource
		if info.APIGroup != "" {
			res += "." + info.APIGroup
		}
		if info.Subresource != "" {
			res += "/" + info.Subresource
		}
		r.seen[use{info.Verb, res}]++
	default:
		r.other[req.URL.Path]++
	}
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) uses() sets.Set[use] {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := sets.New[use]()
	for u := range r.seen {
		out.Insert(u)
	}
	return out
}

// rarePaths are uses the scenario below may not reach, and permissions the API server checks
// on the controllers' behalf (no request of theirs shows them), each with the file that
// needs it and a fragment of that code, checked to be still there so the list cannot go
// stale.
var rarePaths = map[use][2]string{
	// Grace-period deletes of pods that would outlive the NodeClaim's deadline.
	{"delete", "pods"}: {"pkg/controllers/nodeclaim/termination/drain.go", "c.kube.Delete(ctx, p, &client.DeleteOptions{GracePeriodSeconds"},
	// Scheduling hints are off unless --scheduling-hints is given.
	{"patch", "pods/status"}: {"pkg/controllers/provisioning/hints.go", "h.kube.Status().Patch(ctx, target"},
	// A launch repeated for the same NodeClaim UID finds the instance already recorded.
	{"get", "siminstances.karpenter.sim.sh"}: {"pkg/cloudprovider/sim/provider.go", "p.client.Get(ctx, client.ObjectKey{Name: inst.Name}, existing)"},
	// OwnerReferencesPermissionEnforcement: setting blockOwnerDeletion on an owner reference
	// needs update on the owner's finalizers.
	{"update", "nodepools.karpenter.sh/finalizers"}:  {"pkg/controllers/provisioning/convert.go", "BlockOwnerDeletion: new(true)"},
	{"update", "nodeclaims.karpenter.sh/finalizers"}: {"pkg/controllers/nodeclaim/lifecycle/registration.go", "BlockOwnerDeletion: new(true)"},
}

// TestChartRBACMatchesWhatTheControllersUse runs the whole operator (sim cloud, leader
// election) against a local control plane through a transport that records every request,
// takes a NodePool through provisioning, registration, a drain with a PodDisruptionBudget,
// consolidation and termination, and compares what was used with what the chart grants.
// Any rule the chart grants beyond what the controllers use fails, and so does a use the
// chart does not grant.
func TestChartRBACMatchesWhatTheControllersUse(t *testing.T) {
	c := startCluster(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(c.run, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{
		factory: &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")},
		seen:    map[use]int{}, other: map[string]int{},
	}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec }
	ctrllog.SetLogger(logr.Discard())
	opts := operator.DefaultOptions()
	opts.MetricsAddr, opts.HealthAddr = "0", "0"
	opts.LeaderElectionNamespace = "default"
	opts.BatchIdleDuration, opts.BatchMaxDuration = time.Second, 5*time.Second
	opts.SkipControllerNameValidation = true
	ctx, cancel := context.WithCancel(context.Background())
	op, err := operator.New(ctx, cfg, opts, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- op.Start(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)

	c.kubectl(t, e2eNodePool, "apply", "-f", "-")
	c.kubectl(t, deploymentYAML("rbac", 3, "500m", "512Mi"), "apply", "-f", "-")
	c.kubectl(t, `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: rbac, namespace: default}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: rbac}}}
`, "apply", "-f", "-")
	eventually(t, 3*time.Minute, "3 pods running", func() (bool, string) {
		out := c.lines(t, "get", "pods", "-l", "app=rbac", "-o", "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}")
		return slices.Equal(out, []string{"Running", "Running", "Running"}), strings.Join(out, ",")
	})
	// Drain one node (evictions under the PDB), then scale to zero: consolidation deletes
	// the empty nodes, termination removes instances, Nodes and finalizers.
	claims := c.lines(t, "get", "nodeclaims", "-o", "name")
	c.kubectl(t, "", "delete", "--wait=false", claims[0])
	eventually(t, 2*time.Minute, "drained nodeclaim gone", func() (bool, string) {
		return c.count(t, claims[0]) == 0, claims[0]
	})
	c.kubectl(t, "", "scale", "deployment/rbac", "--replicas=0")
	eventually(t, 3*time.Minute, "every nodeclaim gone", func() (bool, string) {
		n := c.count(t, "nodeclaims")
		return n == 0, fmt.Sprintf("%d nodeclaims", n)
	})
	stop()

	used := rec.uses()
	for u := range used {
		if u.verb == "watch" {
			// Informers start with a watch that streams the initial list; without that
			// feature, or when it fails, they fall back to list.
			used.Insert(use{"list", u.resource})
		}
	}
	root := c.root
	for u, where := range rarePaths {
		b, err := os.ReadFile(filepath.Join(root, where[0]))
		if err != nil || !strings.Contains(string(b), where[1]) {
			t.Errorf("rare path %v: %s no longer contains %q: drop it from rarePaths (and the chart)", u, where[0], where[1])
		}
		used.Insert(u)
	}
	ms, err := chart.Render(chart.Options{ReleaseName: "karpenter", Namespace: "karpenter"})
	if err != nil {
		t.Fatal(err)
	}
	granted, namespaced := sets.New[use](), sets.New[use]()
	for _, m := range ms {
		var r rbacv1.ClusterRole // a Role has the same rules field
		if !strings.Contains(m.YAML, "kind: ClusterRole\n") && !strings.Contains(m.YAML, "kind: Role\n") {
			continue
		}
		if err := yaml.Unmarshal([]byte(m.YAML), &r); err != nil {
			t.Fatal(err)
		}
		target := granted
		if strings.Contains(m.YAML, "kind: Role\n") {
			target = namespaced
		}
		for _, rule := range r.Rules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						name, sub, _ := strings.Cut(res, "/")
						if g != "" {
							name += "." + g
						}
						if sub != "" {
							name += "/" + sub
						}
						target.Insert(use{v, name})
					}
				}
			}
		}
	}
	usedCluster, usedLeases := sets.New[use](), sets.New[use]()
	for u := range used {
		if strings.HasSuffix(u.resource, "leases.coordination.k8s.io") {
			usedLeases.Insert(u)
		} else {
			usedCluster.Insert(u)
		}
	}
	report := func(what string, s sets.Set[use]) {
		list := make([]string, 0, s.Len())
		for u := range s {
			list = append(list, u.String())
		}
		sort.Strings(list)
		if len(list) > 0 {
			t.Errorf("%s:\n  %s", what, strings.Join(list, "\n  "))
		}
	}
	report("the ClusterRole grants what no controller used", granted.Difference(usedCluster))
	report("controllers used what the ClusterRole does not grant", usedCluster.Difference(granted))
	report("the leader-election Role grants what was not used", namespaced.Difference(usedLeases))
	report("leader election used what the Role does not grant", usedLeases.Difference(namespaced))
	for u := range used {
		if strings.HasPrefix(u.resource, "secrets") || strings.HasPrefix(u.resource, "configmaps") {
			t.Errorf("the controllers touched %v", u)
		}
	}
	rec.mu.Lock()
	counts := make([]string, 0, len(rec.seen))
	for u, n := range rec.seen {
		counts = append(counts, fmt.Sprintf("%v (%d)", u, n))
	}
	rec.mu.Unlock()
	sort.Strings(counts)
	t.Logf("%d verb/resource pairs requested:\n  %s", len(counts), strings.Join(counts, "\n  "))
}
