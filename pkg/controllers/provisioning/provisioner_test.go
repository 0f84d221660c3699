package provisioning_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
)

func TestNodeClaimIsBuiltFromTheTemplate(t *testing.T) {
	h := newHarness(t)
	np := h.createNodePool(nodePool("tmpl", func(np *v1.NodePool) {
		tmpl := &np.Spec.Template
		tmpl.ObjectMeta.Labels = map[string]string{"team": "checkout"}
		tmpl.ObjectMeta.Annotations = map[string]string{"example.com/owner": "ops"}
		tmpl.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelArch, Operator: v1.NodeSelectorOpIn, Values: []string{v1.ArchitectureAmd64}}}
		tmpl.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "checkout", Effect: corev1.TaintEffectNoSchedule}}
		tmpl.Spec.StartupTaints = []corev1.Taint{{Key: "cni.example.com/not-ready", Effect: corev1.TaintEffectNoSchedule}}
		tmpl.Spec.ExpireAfter = v1.MustParseNillableDuration("24h")
		tmpl.Spec.TerminationGracePeriod = &metav1.Duration{Duration: time.Hour}
	}))
	tolerate := func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "checkout", Effect: corev1.TaintEffectNoSchedule}}
	}
	pod := h.createPendingPod("web", "1", tolerate)

	res := h.provision()
	if len(res.NodeClaims) != 1 {
		t.Fatalf("created %d nodeclaims, want 1", len(res.NodeClaims))
	}
	ncs := h.nodeClaims()
	if len(ncs) != 1 {
		t.Fatalf("API server has %d nodeclaims, want 1", len(ncs))
	}
	nc := ncs[0]
	if !strings.HasPrefix(nc.Name, "tmpl-") || len(nc.Name) != len("tmpl-")+5 {
		t.Errorf("name = %q, want tmpl-<5 characters>", nc.Name)
	}
	if len(nc.OwnerReferences) != 1 || nc.OwnerReferences[0].Kind != "NodePool" || nc.OwnerReferences[0].UID != np.UID {
		t.Errorf("owner references = %+v", nc.OwnerReferences)
	}
	if nc.Labels[v1.NodePoolLabelKey] != "tmpl" || nc.Labels["team"] != "checkout" || nc.Labels[v1.LabelArch] != v1.ArchitectureAmd64 {
		t.Errorf("labels = %v", nc.Labels)
	}
	if nc.Annotations["example.com/owner"] != "ops" {
		t.Errorf("annotations = %v", nc.Annotations)
	}
	its, ok := requirement(&nc, v1.LabelInstanceType)
	if !ok || its.Operator != v1.NodeSelectorOpIn || !slices.Equal(its.Values, []string{"small", "medium", "large"}) {
		t.Errorf("instance type requirement = %+v, want In [small medium large] (price order)", its)
	}
	if cpu := nc.Spec.Resources.Requests[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("requests = %v, want cpu 1", nc.Spec.Resources.Requests)
	}
	if len(nc.Spec.Taints) != 1 || nc.Spec.Taints[0].Key != "dedicated" || len(nc.Spec.StartupTaints) != 1 {
		t.Errorf("taints = %v, startup taints = %v", nc.Spec.Taints, nc.Spec.StartupTaints)
	}
	if nc.Spec.NodeClassRef == nil || nc.Spec.NodeClassRef.Name != "default" || nc.Spec.ExpireAfter.String() != "24h0m0s" ||
		nc.Spec.TerminationGracePeriod == nil || nc.Spec.TerminationGracePeriod.Duration != time.Hour {
		t.Errorf("spec = %+v", nc.Spec)
	}
	if got, ok := h.cluster.Nomination(types.NamespacedName{Namespace: h.ns, Name: pod.Name}); !ok || got != nc.Name {
		t.Errorf("pod nominated to %q (%v), want %s", got, ok, nc.Name)
	}
}

func TestOneBurstLaunchesOnceEvenAcrossARestart(t *testing.T) {
	h := newHarness(t)
	h.createNodePool(nodePool("burst"))
	for _, name := range []string{"a", "b", "c"} {
		h.createPendingPod(name, "500m")
	}
	first := h.provision()
	if len(first.NodeClaims) == 0 {
		t.Fatal("no nodeclaim created for the burst")
	}
	want := len(h.nodeClaims())

	// The same pods, still pending: they are nominated, so nothing happens.
	if res := h.provision(); len(res.NodeClaims) != 0 {
		t.Fatalf("second round created %d more nodeclaims", len(res.NodeClaims))
	}
	// After a restart the nominations are gone, but the in-flight NodeClaims are in the
	// API server: the pods are placed on them, nothing new is launched.
	h.restart()
	h.eventually("nodeclaims back in state", func() bool { return len(h.cluster.NodeClaims()) == want })
	res := h.provision()
	if len(res.NodeClaims) != 0 || res.Nominated != 3 {
		t.Fatalf("after restart: created %d nodeclaims, nominated %d pods; want 0 and 3", len(res.NodeClaims), res.Nominated)
	}
	if got := len(h.nodeClaims()); got != want {
		t.Fatalf("%d nodeclaims after restart, want %d", got, want)
	}
}

func TestHigherWeightNodePoolIsPreferred(t *testing.T) {
	h := newHarness(t)
	h.createNodePool(nodePool("light", func(np *v1.NodePool) { np.Spec.Weight = new(int32(10)) }))
	h.createNodePool(nodePool("heavy", func(np *v1.NodePool) { np.Spec.Weight = new(int32(50)) }))
	h.createNodePool(nodePool("unweighted"))
	h.createPendingPod("p", "1")
	res := h.provision()
	if len(res.NodeClaims) != 1 || res.NodeClaims[0].Labels[v1.NodePoolLabelKey] != "heavy" {
		t.Fatalf("nodeclaims = %+v, want one from nodepool heavy", res.NodeClaims)
	}
}

func TestLimitsCapNewCapacity(t *testing.T) {
	h := newHarness(t)
	h.createNodePool(nodePool("limited", func(np *v1.NodePool) {
		np.Spec.Limits = v1.Limits{corev1.ResourceCPU: resource.MustParse("4")}
	}))
	// Each pod needs a node of its own (1.5 of a small node's 1.9 allocatable cpus); under a
	// 4 cpu limit only two small nodes fit.
	for _, name := range []string{"a", "b", "c"} {
		h.createPendingPod(name, "1500m")
	}
	res := h.provision()
	if len(res.NodeClaims) != 2 || len(res.Unschedulable) != 1 {
		t.Fatalf("created %d nodeclaims, %d unschedulable; want 2 and 1", len(res.NodeClaims), len(res.Unschedulable))
	}
	h.events()
	// The limit is used up: the remaining pod still gets nothing, and says why.
	h.eventually("nodeclaims in state", func() bool { return len(h.cluster.NodeClaims()) == 2 })
	res = h.provision()
	if len(res.NodeClaims) != 0 || len(res.Unschedulable) != 1 {
		t.Fatalf("second round created %d nodeclaims, %d unschedulable; want 0 and 1", len(res.NodeClaims), len(res.Unschedulable))
	}
	if evs := h.events(); !slices.ContainsFunc(evs, func(e string) bool { return strings.HasPrefix(e, "Warning FailedScheduling") }) {
		t.Errorf("events = %v, want a FailedScheduling warning", evs)
	}
}

func TestPodThatFitsNoNodePoolGetsAnEventAndNoLaunch(t *testing.T) {
	h := newHarness(t)
	h.createNodePool(nodePool("default"))
	h.createPendingPod("huge", "100")
	res := h.provision()
	if len(res.NodeClaims) != 0 || len(res.Unschedulable) != 1 {
		t.Fatalf("created %d nodeclaims, %d unschedulable; want 0 and 1", len(res.NodeClaims), len(res.Unschedulable))
	}
	evs := h.events()
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning FailedScheduling Failed to schedule pod: ") || len(evs[0]) <= len("Warning FailedScheduling Failed to schedule pod: ") {
		t.Fatalf("events = %q, want one FailedScheduling warning with a reason", evs)
	}
	if len(h.cloud.Calls(fake.MethodCreate)) != 0 || len(h.nodeClaims()) != 0 {
		t.Fatal("something was launched for a pod that fits nowhere")
	}
}

func TestNotSyncedStateProvisionsNothing(t *testing.T) {
	h := newHarness(t)
	h.createNodePool(nodePool("default"))
	h.createPendingPod("p", "1")
	h.cluster.AddSyncCheck(func() bool { return false })
	if _, err := h.ctrl.Provision(h.ctx); err == nil {
		t.Fatal("provisioned on a state that is not synced")
	}
	if len(h.nodeClaims()) != 0 {
		t.Fatal("nodeclaim created from an unsynced state")
	}
}

// TestNominatedPodsArePlannedAgainWithNewOnes: two in-flight NodeClaims each hold one small
// nominated pod, and a new pod fits neither next to it. Keeping the nominations would launch
// a third node; the kube-scheduler binds by its own scores and fits all three pods on the
// two nodes, so that node would end up empty. The provisioner plans the nominated pods again
// with the new one and launches nothing.
func TestNominatedPodsArePlannedAgainWithNewOnes(t *testing.T) {
	h := newHarness(t)
	h.createNodePool(nodePool("joint"))
	// Two rounds make two "small" NodeClaims (1.9 CPU allocatable): a 1 CPU and a 0.5 CPU pod each.
	for round, names := range [][]string{{"a-big", "a-small"}, {"b-big", "b-small"}} {
		h.createPendingPod(names[0], "1")
		h.createPendingPod(names[1], "500m")
		if res := h.provision(); len(res.NodeClaims) != 1 {
			t.Fatalf("round %d created %d nodeclaims, want 1", round, len(res.NodeClaims))
		}
	}
	if n := len(h.nodeClaims()); n != 2 {
		t.Fatalf("%d nodeclaims in flight, want 2", n)
	}
	// The big pods went elsewhere (deleted here): each NodeClaim holds 0.5 CPU of nominations.
	for _, name := range []string{"a-big", "b-big"} {
		if err := env.Client.Delete(h.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}}, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
	}
	h.eventually("big pods gone from state", func() bool { return countNominated(h) == 2 })
	h.createPendingPod("new", "1500m")
	res := h.provision()
	if len(res.NodeClaims) != 0 {
		t.Fatalf("created %d nodeclaims for a pod the in-flight capacity holds once the nominations are planned again", len(res.NodeClaims))
	}
	for _, name := range []string{"a-small", "b-small", "new"} {
		if _, ok := h.cluster.Nomination(types.NamespacedName{Namespace: h.ns, Name: name}); !ok {
			t.Errorf("pod %s is not nominated", name)
		}
	}
	if n := len(h.nodeClaims()); n != 2 {
		t.Errorf("%d nodeclaims, want the 2 in flight", n)
	}
}

func countNominated(h *harness) int {
	n := 0
	for _, pods := range h.cluster.Objects().Nominated {
		n += len(pods)
	}
	return n
}
