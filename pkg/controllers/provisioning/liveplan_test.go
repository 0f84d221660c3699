package provisioning_test

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/controllers/provisioning"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/simulate"
	"github.com/gokarpenter/karpenter/pkg/state"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// live is a cluster built in the API server from a simulate input, with a provisioner
// whose state is fed by real informers.
type live struct {
	t       *testing.T
	ctx     context.Context
	in      *simulate.Input
	cloud   *fake.Provider
	cluster *state.Cluster
	ctrl    *provisioning.Controller
	created []client.Object
}

// newLive creates every object of in (pending pods marked Unschedulable by the
// kube-scheduler, Nodes with their status) and waits until the provisioner's state has
// seen them all. Everything is deleted when the test ends.
func newLive(t *testing.T, in *simulate.Input, its []*cloudprovider.InstanceType) *live {
	t.Helper()
	test.RequireEnvironment(t, env)
	l := &live{t: t, ctx: test.Context(t), in: in, cloud: fake.New(fake.Options{InstanceTypes: its})}
	t.Cleanup(l.cleanup)
	namespaces := map[string]bool{}
	for _, p := range slices.Concat(in.Pods, in.BoundPods) {
		namespaces[p.Namespace] = true
	}
	for _, c := range in.PersistentVolumeClaims {
		namespaces[c.Namespace] = true
	}
	for _, d := range in.DaemonSets {
		namespaces[d.Namespace] = true
	}
	for ns := range namespaces {
		if err := env.Client.Create(l.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, o := range in.StorageClasses {
		l.create(o.DeepCopy())
	}
	for _, o := range in.PersistentVolumes {
		l.create(o.DeepCopy())
	}
	for _, o := range in.PersistentVolumeClaims {
		l.create(o.DeepCopy())
	}
	for _, o := range in.NodePools {
		l.create(o.DeepCopy())
	}
	for _, o := range in.DaemonSets {
		l.create(o.DeepCopy())
	}
	for _, n := range in.Nodes {
		n = n.DeepCopy()
		status := n.Status
		if !slices.ContainsFunc(status.Conditions, func(c corev1.NodeCondition) bool { return c.Type == corev1.NodeReady }) {
			status.Conditions = append(status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue})
		}
		l.create(n)
		n.Status = status
		if err := env.Client.Status().Update(l.ctx, n); err != nil {
			t.Fatal(err)
		}
		// The API server taints new Nodes not-ready; the node lifecycle controller, absent
		// here, lifts the taint once the node reports Ready.
		n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
		if err := env.Client.Update(l.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range in.BoundPods {
		p = p.DeepCopy()
		l.create(p)
		p.Status.Phase = corev1.PodRunning
		if err := env.Client.Status().Update(l.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range in.Pods {
		p = p.DeepCopy()
		for i := range p.OwnerReferences {
			// The API server wants the owner's UID; simulate's expanded pods have none.
			p.OwnerReferences[i].UID = types.UID("uid-" + p.OwnerReferences[i].Kind + "-" + p.OwnerReferences[i].Name)
		}
		l.create(p)
		p.Status.Conditions = []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, LastTransitionTime: metav1.Now(),
		}}
		if err := env.Client.Status().Update(l.ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	informers, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	l.cluster = state.NewCluster(state.Options{Clock: clocktesting.NewFakeClock(time.Now())})
	if err := l.cluster.Register(l.ctx, informers); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(l.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = informers.Start(runCtx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	l.ctrl = provisioning.NewController(provisioning.Deps{
		Client: env.Client, Cluster: l.cluster, CloudProvider: l.cloud, Recorder: record.NewFakeRecorder(100000),
	})
	eventually(t, "state has seen the input", func() bool {
		if !l.cluster.Synced() {
			return false
		}
		objs := l.cluster.Objects()
		for _, n := range objs.Nodes {
			if len(n.Status.Conditions) == 0 || slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady }) {
				return false // status or taints not written yet
			}
		}
		bound := 0
		for _, on := range l.cluster.BoundPods() {
			bound += len(on)
		}
		return len(l.cluster.PendingPods()) == len(simulate.PendingPods(in)) && len(objs.Nodes) == len(in.Nodes) &&
			bound == len(in.BoundPods) && len(objs.DaemonSets) == len(in.DaemonSets) &&
			len(objs.PersistentVolumeClaims) == len(in.PersistentVolumeClaims) &&
			len(objs.PersistentVolumes) == len(in.PersistentVolumes) &&
			len(objs.StorageClasses) == len(in.StorageClasses) && len(l.cluster.NodePools()) == len(in.NodePools)
	})
	return l
}

func (l *live) create(obj client.Object) {
	l.t.Helper()
	if err := env.Client.Create(l.ctx, obj); err != nil {
		l.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	l.created = append(l.created, obj)
}

// cleanup deletes what the test created, and every NodeClaim, dropping finalizers that no
// controller runs here to remove.
func (l *live) cleanup() {
	ctx := context.Background()
	var ncs v1.NodeClaimList
	if env.Client.List(ctx, &ncs) == nil {
		for i := range ncs.Items {
			l.created = append(l.created, &ncs.Items[i])
		}
	}
	for _, obj := range slices.Backward(l.created) {
		_ = env.Client.Delete(ctx, obj, client.GracePeriodSeconds(0))
	}
	for _, obj := range l.created {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
			if apierrors.IsNotFound(err) {
				break
			}
			if err == nil && len(obj.GetFinalizers()) > 0 {
				obj.SetFinalizers(nil)
				_ = env.Client.Update(ctx, obj)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// planLines renders what a plan launches and where its pods go, in a canonical order: one
// line per NodeClaim (its NodeClaim object's nodepool, requirements and pods, as
// provisioning.NodeClaimFor writes it), then the pods left for existing nodes and the pods
// that cannot be placed.
func planLines(claims []*v1.NodeClaim, podsOf func(*v1.NodeClaim) []string, onExisting, unschedulable []string) []string {
	var lines []string
	for _, nc := range claims {
		var reqs []string
		for _, r := range nc.Spec.Requirements {
			reqs = append(reqs, fmt.Sprintf("%s %s %v", r.Key, r.Operator, r.Values))
		}
		slices.Sort(reqs)
		pods := podsOf(nc)
		slices.Sort(pods)
		lines = append(lines, fmt.Sprintf("nodeclaim pool=%s reqs=[%s] pods=%v", nc.Labels[v1.NodePoolLabelKey], strings.Join(reqs, "; "), pods))
	}
	slices.Sort(lines)
	slices.Sort(onExisting)
	slices.Sort(unschedulable)
	return append(lines, fmt.Sprintf("existing %v", onExisting), fmt.Sprintf("unschedulable %v", unschedulable))
}

// simulatedPlan is what `karpenter simulate` plans for the input.
func simulatedPlan(in *simulate.Input, its []*cloudprovider.InstanceType) (*scheduling.Plan, []string) {
	plan := scheduling.Solve(simulate.Snapshot(in, its), simulate.PendingPods(in))
	byName := map[string]*v1.NodePool{}
	for _, np := range in.NodePools {
		byName[np.Name] = np
	}
	var claims []*v1.NodeClaim
	pods := map[*v1.NodeClaim][]string{}
	for _, planned := range plan.NewNodeClaims {
		nc := provisioning.NodeClaimFor(byName[planned.NodePool], planned)
		claims = append(claims, nc)
		pods[nc] = podKeys(planned.Pods)
	}
	var onExisting []string
	for _, e := range plan.ExistingNodes {
		onExisting = append(onExisting, podKeys(e.Pods)...)
	}
	var unschedulable []string
	for _, u := range plan.Unschedulable {
		unschedulable = append(unschedulable, u.Pod.Namespace+"/"+u.Pod.Name)
	}
	return plan, planLines(claims, func(nc *v1.NodeClaim) []string { return pods[nc] }, onExisting, unschedulable)
}

// provisionLive runs one provisioning round and reads back what it did: the NodeClaims in
// the API server, the pods nominated to each, and the pods left to existing nodes.
func (l *live) provisionLive() []string {
	l.t.Helper()
	res, err := l.ctrl.Provision(l.ctx)
	if err != nil {
		l.t.Fatalf("provisioning: %v", err)
	}
	nominated := map[string][]string{}
	unschedulable := map[string]bool{}
	for _, u := range res.Unschedulable {
		unschedulable[u.Pod.Namespace+"/"+u.Pod.Name] = true
	}
	var onExisting []string
	for _, p := range l.in.Pods {
		key := p.Namespace + "/" + p.Name
		if nc, ok := l.cluster.Nomination(types.NamespacedName{Namespace: p.Namespace, Name: p.Name}); ok {
			nominated[nc] = append(nominated[nc], key)
		} else if !unschedulable[key] {
			onExisting = append(onExisting, key)
		}
	}
	return planLines(res.NodeClaims, func(nc *v1.NodeClaim) []string { return nominated[nc.Name] }, onExisting, slices.Sorted(mapKeys(unschedulable)))
}

func podKeys(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Namespace + "/" + p.Name
	}
	return out
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestLivePathPlansLikeSimulate feeds every example, and all of them together, through
// the controller (API server, informers, state, provisioner) and through simulate's
// adapter, and wants the same NodeClaims with the same pods.
func TestLivePathPlansLikeSimulate(t *testing.T) {
	root, err := test.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	cases := map[string][]string{"all examples": {filepath.Join(root, "examples")}}
	for _, f := range files {
		cases[filepath.Base(f)] = []string{f}
	}
	for _, name := range slices.SortedFunc(mapKeys(cases), cmp.Compare[string]) {
		t.Run(name, func(t *testing.T) {
			in, err := simulate.Load(cases[name])
			if err != nil {
				t.Fatal(err)
			}
			its := catalog.Default()
			plan, want := simulatedPlan(in, its)
			if len(plan.NewNodeClaims) == 0 && len(plan.ExistingNodes) == 0 {
				t.Fatalf("simulate plans nothing for %s; the comparison would prove nothing", name)
			}
			got := newLive(t, in, its).provisionLive()
			if !slices.Equal(got, want) {
				t.Errorf("live plan differs from simulate's\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			}
		})
	}
}
