package explain

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

// catalogue serves the built-in catalogue to every NodePool except those named "broken".
type catalogue struct{}

func (catalogue) GetInstanceTypes(_ context.Context, np *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
	if np.Name == "broken" {
		return nil, errors.New("node class broken-class not found")
	}
	return catalog.Default(), nil
}

// cluster creates fixture objects in a namespace of its own; the cluster-scoped ones it
// creates are deleted when the test ends.
type cluster struct {
	t   *testing.T
	ctx context.Context
	c   client.Client
	ns  string
	now time.Time
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "explain-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// Cluster-scoped objects are shared by the whole environment: start from none.
	for _, l := range []client.Object{&v1.NodePool{}, &v1.NodeClaim{}, &corev1.Node{}} {
		if err := env.Client.DeleteAllOf(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, nc := range list[v1.NodeClaimList](t, ctx).Items {
		if len(nc.Finalizers) > 0 {
			nc.Finalizers = nil
			_ = env.Client.Update(ctx, &nc)
		}
	}
	t.Cleanup(func() {
		// Read lists every namespace: leave no pod behind for the next test.
		for _, obj := range []client.Object{&corev1.Pod{}, &corev1.Event{}} {
			_ = env.Client.DeleteAllOf(context.Background(), obj, client.InNamespace(ns.Name), client.GracePeriodSeconds(0))
		}
	})
	return &cluster{t: t, ctx: ctx, c: env.Client, ns: ns.Name, now: time.Now().Add(time.Hour).Truncate(time.Second)}
}

func list[L any, PL interface {
	*L
	client.ObjectList
}](t *testing.T, ctx context.Context) L {
	var l L
	if err := env.Client.List(ctx, PL(&l)); err != nil {
		t.Fatal(err)
	}
	return l
}

func (c *cluster) create(obj client.Object) {
	c.t.Helper()
	if err := c.c.Create(c.ctx, obj); err != nil {
		c.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func (c *cluster) world() *World {
	c.t.Helper()
	w, err := Read(c.ctx, c.c, catalogue{})
	if err != nil {
		c.t.Fatal(err)
	}
	return w
}

func nodePool(name string, mutate ...func(*v1.NodePool)) *v1.NodePool {
	np := &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.NodePoolSpec{
			Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
				Requirements: []v1.NodeSelectorRequirementWithMinValues{
					{Key: v1.CapacityTypeLabelKey, Operator: v1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand}},
					{Key: v1.LabelArch, Operator: v1.NodeSelectorOpIn, Values: []string{v1.ArchitectureAmd64}},
				},
				NodeClassRef: &v1.NodeClassReference{Group: "karpenter.test.sh", Kind: "TestNodeClass", Name: "default"},
				ExpireAfter:  v1.MustParseNillableDuration("720h"),
			}},
			Disruption: v1.Disruption{
				ConsolidateAfter:    v1.MustParseNillableDuration("30s"),
				ConsolidationPolicy: v1.ConsolidationPolicyWhenEmptyOrUnderutilized,
				Budgets:             []v1.Budget{{Nodes: "10%"}},
			},
		},
	}
	for _, m := range mutate {
		m(np)
	}
	return np
}

func requirement(key string, values ...string) v1.NodeSelectorRequirementWithMinValues {
	return v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}
}

// pendingPod is a pod kube-scheduler marked unschedulable, owned by a ReplicaSet.
func (c *cluster) pendingPod(name, cpu string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	c.t.Helper()
	p := c.pod(name, cpu, "", mutate...)
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, LastTransitionTime: metav1.NewTime(c.now.Add(-time.Minute))}}
	if err := c.c.Status().Update(c.ctx, p); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// boundPod is a running pod on node, scheduled at scheduled.
func (c *cluster) boundPod(name, cpu, node string, scheduled time.Time, mutate ...func(*corev1.Pod)) *corev1.Pod {
	c.t.Helper()
	p := c.pod(name, cpu, node, mutate...)
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(scheduled)}}
	if err := c.c.Status().Update(c.ctx, p); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *cluster) pod(name, cpu, node string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	c.t.Helper()
	truth := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: name, Labels: map[string]string{"app": name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name + "-rs", UID: "00000000-0000-0000-0000-000000000001", Controller: &truth}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("128Mi")}}}}},
	}
	for _, m := range mutate {
		m(p)
	}
	c.create(p)
	return p
}

// managedNode creates a NodeClaim of the pool launched as instanceType (on-demand,
// us-east-1a), initialised at initialized, and its Ready Node.
func (c *cluster) managedNode(name, pool, instanceType string, initialized time.Time, mutate ...func(*v1.NodeClaim, *corev1.Node)) (*v1.NodeClaim, *corev1.Node) {
	c.t.Helper()
	var it *cloudprovider.InstanceType
	for _, x := range catalog.Default() {
		if x.Name == instanceType {
			it = x
		}
	}
	if it == nil {
		c.t.Fatalf("no instance type %s in the catalogue", instanceType)
	}
	labels := map[string]string{v1.NodePoolLabelKey: pool, v1.LabelInstanceType: instanceType,
		v1.CapacityTypeLabelKey: v1.CapacityTypeOnDemand, v1.LabelTopologyZone: "us-east-1a", v1.LabelArch: it.Labels[v1.LabelArch]}
	nc := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: v1.NodeClaimSpec{
			Requirements: []v1.NodeSelectorRequirementWithMinValues{requirement(v1.LabelInstanceType, instanceType)},
			NodeClassRef: &v1.NodeClassReference{Group: "karpenter.test.sh", Kind: "TestNodeClass", Name: "default"},
			ExpireAfter:  v1.MustParseNillableDuration(v1.Never),
		},
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{ProviderID: "test:///" + name},
	}
	node.Labels[corev1.LabelHostname] = name
	for _, m := range mutate {
		m(nc, node)
	}
	c.create(nc)
	nc.Status.ProviderID = node.Spec.ProviderID
	nc.Status.NodeName = name
	nc.Status.Capacity = it.Capacity
	nc.Status.Allocatable = it.Allocatable()
	if !initialized.IsZero() {
		meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{Type: v1.ConditionTypeInitialized,
			Status: metav1.ConditionTrue, Reason: "Initialized", LastTransitionTime: metav1.NewTime(initialized)})
	}
	if err := c.c.Status().Update(c.ctx, nc); err != nil {
		c.t.Fatal(err)
	}
	taints := node.Spec.Taints
	c.create(node)
	// The API server's admission adds node.kubernetes.io/not-ready; the node lifecycle
	// controller (absent here) would remove it once the node is Ready.
	node.Spec.Taints = taints
	if err := c.c.Update(c.ctx, node); err != nil {
		c.t.Fatal(err)
	}
	node.Status.Capacity = it.Capacity
	node.Status.Allocatable = it.Allocatable()
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	if err := c.c.Status().Update(c.ctx, node); err != nil {
		c.t.Fatal(err)
	}
	return nc, node
}

// event records a core/v1 event on a pod, seen last at when.
func (c *cluster) event(pod *corev1.Pod, reason, message string, when time.Time) {
	c.t.Helper()
	c.create(&corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: pod.Namespace, GenerateName: pod.Name + "."},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Reason:         reason, Message: message, Type: corev1.EventTypeNormal,
		FirstTimestamp: metav1.NewTime(when), LastTimestamp: metav1.NewTime(when), Count: 1,
	})
}

func verdictFor(t *testing.T, r *PodReport, pool string) PoolVerdict {
	t.Helper()
	for _, v := range r.NodePools {
		if v.NodePool == pool {
			return v
		}
	}
	t.Fatalf("no verdict for NodePool %s in %+v", pool, r.NodePools)
	return PoolVerdict{}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(fmt.Errorf("explaining: %w", err))
		}
		return v
	}
}

// lastPodEvent sets the NodeClaim's status.lastPodEventTime, as the controller's pod-event
// tracking does when a pod is bound to or leaves its node.
func (c *cluster) lastPodEvent(name string, at time.Time) {
	c.t.Helper()
	nc := &v1.NodeClaim{}
	if err := c.c.Get(c.ctx, client.ObjectKey{Name: name}, nc); err != nil {
		c.t.Fatal(err)
	}
	nc.Status.LastPodEventTime = metav1.NewTime(at)
	if err := c.c.Status().Update(c.ctx, nc); err != nil {
		c.t.Fatal(err)
	}
}

// setCondition sets a True condition on the NodeClaim.
func (c *cluster) setCondition(name, condition string) {
	c.t.Helper()
	nc := &v1.NodeClaim{}
	if err := c.c.Get(c.ctx, client.ObjectKey{Name: name}, nc); err != nil {
		c.t.Fatal(err)
	}
	meta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{Type: condition, Status: metav1.ConditionTrue, Reason: condition})
	if err := c.c.Status().Update(c.ctx, nc); err != nil {
		c.t.Fatal(err)
	}
}
