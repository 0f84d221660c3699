package disruption

import (
	"context"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
	"github.com/gokarpenter/karpenter/pkg/state"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

// harness is one disruption controller on its own cluster state, fed by a real informer
// cache, over a pool of the fake cloud's "small" (2 CPU, $0.1/h) and "large" (8 CPU,
// $0.4/h) machines; each keeps 100m CPU for the system.
type harness struct {
	t        *testing.T
	ctx      context.Context
	ctrl     *Controller
	cloud    *fake.Provider
	cluster  *state.Cluster
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
	reg      *prometheus.Registry
	pool     *v1.NodePool
	ns       string
	// kube is the client the controller gets, env.Client when nil; a test wraps it to
	// inject API failures.
	kube client.Client
}

func instanceTypes() []*cloudprovider.InstanceType {
	mk := func(name, cpu string, price float64) *cloudprovider.InstanceType {
		return &cloudprovider.InstanceType{
			Name:     name,
			Labels:   map[string]string{v1.LabelInstanceType: name, v1.LabelArch: v1.ArchitectureAmd64, v1.LabelOS: v1.OSLinux},
			Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Overhead: cloudprovider.Overhead{KubeReserved: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
			Offerings: []cloudprovider.Offering{
				{Zone: "zone-a", CapacityType: v1.CapacityTypeOnDemand, PricePerHour: price, Available: true},
			},
		}
	}
	return []*cloudprovider.InstanceType{mk("small", "2", 0.1), mk("large", "8", 0.4)}
}

// newHarness creates a WhenEmptyOrUnderutilized pool with the budget and consolidateAfter.
// The fake clock starts on a whole second: condition times are stored with second
// precision.
func newHarness(t *testing.T, budget, consolidateAfter string, mutate ...func(*v1.NodePool)) *harness {
	t.Helper()
	test.RequireEnvironment(t, env)
	h := &harness{t: t, ctx: test.Context(t), cloud: fake.New(fake.Options{InstanceTypes: instanceTypes()}),
		clock: clocktesting.NewFakeClock(time.Now().Truncate(time.Second)), recorder: record.NewFakeRecorder(1000),
		ns: fixtures.Name(t, "")}
	t.Cleanup(func() {
		if err := fixtures.Cleanup(context.Background(), env.Client, h.ns); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
		_ = env.Client.DeleteAllOf(context.Background(), &policyv1.PodDisruptionBudget{}, client.InNamespace(h.ns))
	})
	if err := fixtures.Namespace(h.ctx, env.Client, h.ns); err != nil {
		t.Fatal(err)
	}
	informers := env.Cache(t)
	h.cluster = state.NewCluster(state.Options{Clock: h.clock})
	if err := h.cluster.Register(h.ctx, informers); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = informers.Start(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	h.reg = prometheus.NewRegistry()
	h.ctrl = h.newController()
	h.pool = fixtures.NodePool(fixtures.Name(t, "pool"))
	h.pool.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmptyOrUnderutilized
	h.pool.Spec.Disruption.Budgets = []v1.Budget{{Nodes: budget}}
	h.pool.Spec.Disruption.ConsolidateAfter = v1.MustParseNillableDuration(consolidateAfter)
	for _, m := range mutate {
		m(h.pool)
	}
	if err := env.Client.Create(h.ctx, h.pool); err != nil {
		t.Fatal(err)
	}
	return h
}

// node launches a NodeClaim of the instance type and creates its Node.
func (h *harness) node(name, instanceType string) (*v1.NodeClaim, *corev1.Node) {
	h.t.Helper()
	nc := fixtures.NodeClaim(fixtures.Name(h.t, name), h.pool.Name)
	nc.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{instanceType}}}
	nc, err := fixtures.Launch(h.ctx, env.Client, h.cloud, nc, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	node, err := fixtures.Node(h.ctx, env.Client, nc)
	if err != nil {
		h.t.Fatal(err)
	}
	// Play the kubelet and the node lifecycle controller: Ready, and the not-ready taint
	// the API server put on at creation gone.
	if err := test.MarkNodeReady(h.ctx, env.Client, node.Name); err != nil {
		h.t.Fatal(err)
	}
	if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(node), node); err != nil {
		h.t.Fatal(err)
	}
	stored := node.DeepCopy()
	node.Spec.Taints = nil
	if err := env.Client.Patch(h.ctx, node, client.MergeFrom(stored)); err != nil {
		h.t.Fatal(err)
	}
	return nc, node
}

// pod creates a running pod on the node requesting cpu, owned by a ReplicaSet unless
// options say otherwise.
func (h *harness) pod(name, node, cpu string, opts ...fixtures.PodOption) *corev1.Pod {
	h.t.Helper()
	opts = append([]fixtures.PodOption{fixtures.OwnedBy("ReplicaSet"), requests(cpu)}, opts...)
	p, err := fixtures.Pod(h.ctx, env.Client, h.ns, name, node, opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func requests(cpu string) fixtures.PodOption {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
}

func bare(p *corev1.Pod) { p.OwnerReferences = nil }

// pdb creates a PodDisruptionBudget over the pods labelled app=<app> whose status allows
// the given number of disruptions (no disruption controller runs in envtest).
func (h *harness) pdb(app string, allowed int32) {
	h.t.Helper()
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: app},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
	}
	if err := env.Client.Create(h.ctx, pdb); err != nil {
		h.t.Fatal(err)
	}
	pdb.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed, CurrentHealthy: 1 + allowed, DesiredHealthy: 1, ExpectedPods: 1 + allowed}
	if err := env.Client.Status().Update(h.ctx, pdb); err != nil {
		h.t.Fatal(err)
	}
}

// reconcile waits until the cluster state has caught up with the API server, then makes
// one pass.
func (h *harness) reconcile() Result {
	h.t.Helper()
	h.waitForState()
	res, err := h.ctrl.Reconcile(h.ctx)
	if res.Started != nil {
		h.t.Logf("started %s %s: %s", res.Started.Method, res.Started.Decision(), res.Started.Why)
	}
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return res
}

// waitForState waits until the cluster state holds the API server's NodeClaims, Nodes and
// NodePool at their current versions, and every bound pod of the test.
func (h *harness) waitForState() {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !h.stateCurrent() {
		if time.Now().After(deadline) {
			h.t.Fatal("timed out waiting for the cluster state")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) stateCurrent() bool {
	if !h.cluster.Synced() {
		return false
	}
	claims, nodes, pods := &v1.NodeClaimList{}, &corev1.NodeList{}, &corev1.PodList{}
	pools := &v1.NodePoolList{}
	for _, l := range []client.ObjectList{claims, nodes, pools} {
		if err := env.Client.List(h.ctx, l); err != nil {
			return false
		}
	}
	if err := env.Client.List(h.ctx, pods, client.InNamespace(h.ns)); err != nil {
		return false
	}
	versions := map[string]string{}
	for _, nc := range h.cluster.NodeClaims() {
		versions["nc/"+nc.Name] = nc.ResourceVersion
	}
	for _, n := range h.cluster.Nodes() {
		versions["node/"+n.Name] = n.ResourceVersion
	}
	for _, np := range h.cluster.NodePools() {
		versions["np/"+np.Name] = np.ResourceVersion
	}
	want := 0
	for _, nc := range claims.Items {
		want++
		if versions["nc/"+nc.Name] != nc.ResourceVersion {
			return false
		}
	}
	for _, n := range nodes.Items {
		want++
		if versions["node/"+n.Name] != n.ResourceVersion {
			return false
		}
	}
	for _, np := range pools.Items {
		want++
		if versions["np/"+np.Name] != np.ResourceVersion {
			return false
		}
	}
	if want != len(versions) {
		return false
	}
	inState, bound := 0, 0
	onNode := map[string]bool{}
	for _, n := range h.cluster.Snapshot(nil, nil).Nodes {
		onNode[n.Name] = true
		for _, p := range n.Pods {
			if p.Namespace == h.ns {
				inState++
			}
		}
		for _, p := range n.Running {
			if p.Meta.Namespace == h.ns {
				inState++
			}
		}
	}
	for _, p := range pods.Items {
		if onNode[p.Spec.NodeName] && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			bound++
		}
	}
	return inState == bound
}

// deleting returns the names of the pool's NodeClaims being deleted.
func (h *harness) deleting() map[string]bool {
	h.t.Helper()
	list := &v1.NodeClaimList{}
	if err := env.Client.List(h.ctx, list, client.MatchingLabels{v1.NodePoolLabelKey: h.pool.Name}); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, nc := range list.Items {
		if nc.DeletionTimestamp != nil {
			out[nc.Name] = true
		}
	}
	return out
}

// tainted returns the names of the nodes carrying karpenter.sh/disrupted.
func (h *harness) tainted() map[string]bool {
	h.t.Helper()
	list := &corev1.NodeList{}
	if err := env.Client.List(h.ctx, list, client.MatchingLabels{v1.NodePoolLabelKey: h.pool.Name}); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]bool{}
	for i := range list.Items {
		if HasDisruptedTaint(&list.Items[i]) {
			out[list.Items[i].Name] = true
		}
	}
	return out
}

// finishTerminations plays termination: deleting NodeClaims and their Nodes lose their
// finalizers, and the nodes' pods go.
func (h *harness) finishTerminations() {
	h.t.Helper()
	for name := range h.deleting() {
		for _, obj := range []client.Object{&v1.NodeClaim{}, &corev1.Node{}} {
			if err := env.Client.Get(h.ctx, client.ObjectKey{Name: name}, obj); err != nil {
				h.t.Fatal(err)
			}
			stored := obj.DeepCopyObject().(client.Object)
			obj.SetFinalizers(nil)
			if err := env.Client.Patch(h.ctx, obj, client.MergeFrom(stored)); err != nil {
				h.t.Fatal(err)
			}
			if err := env.Client.Delete(h.ctx, obj); client.IgnoreNotFound(err) != nil {
				h.t.Fatal(err)
			}
		}
		if err := env.Client.DeleteAllOf(h.ctx, &corev1.Pod{}, client.InNamespace(h.ns), client.MatchingFields{"spec.nodeName": name}, client.GracePeriodSeconds(0)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// newController builds a controller on the harness's state, as a restarted process would.
func (h *harness) newController() *Controller {
	h.t.Helper()
	kube := h.kube
	if kube == nil {
		kube = env.Client
	}
	c, err := NewController(Deps{Client: kube, Cluster: h.cluster, CloudProvider: h.cloud, Recorder: h.recorder,
		Clock: h.clock, Registerer: h.reg})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func names(t *testing.T, suffixes ...string) map[string]bool {
	out := map[string]bool{}
	for _, s := range suffixes {
		out[fixtures.Name(t, s)] = true
	}
	return out
}

// claims returns the pool's NodeClaims by name.
func (h *harness) claims() map[string]*v1.NodeClaim {
	h.t.Helper()
	list := &v1.NodeClaimList{}
	if err := env.Client.List(h.ctx, list, client.MatchingLabels{v1.NodePoolLabelKey: h.pool.Name}); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]*v1.NodeClaim{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// replacements returns the NodeClaims a command launched.
func (h *harness) replacements() []*v1.NodeClaim {
	h.t.Helper()
	var out []*v1.NodeClaim
	for _, nc := range h.claims() {
		if nc.Annotations[RoleAnnotationKey] == RoleReplacement {
			out = append(out, nc)
		}
	}
	return out
}

// initialize plays the lifecycle controller for a NodeClaim the engine created: launch on
// the fake cloud, registration, a Ready Node, Initialized.
func (h *harness) initialize(nc *v1.NodeClaim) {
	h.t.Helper()
	launched, err := h.cloud.Create(h.ctx, nc)
	if err != nil {
		h.t.Fatal(err)
	}
	stored := nc.DeepCopy()
	nc.Status.ProviderID = launched.Status.ProviderID
	nc.Status.Capacity = launched.Status.Capacity
	nc.Status.Allocatable = launched.Status.Allocatable
	nc.Status.NodeName = nc.Name
	for _, c := range []string{v1.ConditionTypeLaunched, v1.ConditionTypeRegistered, v1.ConditionTypeInitialized} {
		meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: c, LastTransitionTime: metav1.NewTime(h.clock.Now())})
	}
	if err := env.Client.Status().Patch(h.ctx, nc, client.MergeFrom(stored)); err != nil {
		h.t.Fatal(err)
	}
	stored = nc.DeepCopy()
	maps.Copy(nc.Labels, launched.Labels)
	if err := env.Client.Patch(h.ctx, nc, client.MergeFrom(stored)); err != nil {
		h.t.Fatal(err)
	}
	node, err := fixtures.Node(h.ctx, env.Client, nc)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := test.MarkNodeReady(h.ctx, env.Client, node.Name); err != nil {
		h.t.Fatal(err)
	}
	if err := env.Client.Get(h.ctx, client.ObjectKeyFromObject(node), node); err != nil {
		h.t.Fatal(err)
	}
	stored2 := node.DeepCopy()
	node.Spec.Taints = nil
	if err := env.Client.Patch(h.ctx, node, client.MergeFrom(stored2)); err != nil {
		h.t.Fatal(err)
	}
}

// setCondition sets a condition on a NodeClaim.
func (h *harness) setCondition(name, typ, reason string) {
	h.t.Helper()
	nc := &v1.NodeClaim{}
	if err := env.Client.Get(h.ctx, client.ObjectKey{Name: name}, nc); err != nil {
		h.t.Fatal(err)
	}
	stored := nc.DeepCopy()
	meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, LastTransitionTime: metav1.NewTime(h.clock.Now())})
	if err := env.Client.Status().Patch(h.ctx, nc, client.MergeFrom(stored)); err != nil {
		h.t.Fatal(err)
	}
}

// events drains the recorder.
func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}
