package state

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// storePod is a ReplicaSet pod as the API server serves it, with what the transform drops.
func storePod(name, node, rv string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default", UID: types.UID("uid-" + name), ResourceVersion: rv,
			GenerateName: "web-", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs"}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Spec: corev1.PodSpec{
			NodeName: node,
			Containers: []corev1.Container{{Name: "app", Image: "nginx", Env: []corev1.EnvVar{{Name: "A", Value: "b"}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}}},
			Tolerations:  []corev1.Toleration{{Key: "team", Operator: corev1.TolerationOpExists}},
			NodeSelector: map[string]string{"kubernetes.io/arch": "arm64"},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.0.0.1", StartTime: &metav1.Time{},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
			},
		},
	}
}

// recorder records the events a handler is told, one line each.
type recorder struct{ events []string }

func (r *recorder) OnAdd(obj any, initial bool) {
	p := obj.(*corev1.Pod)
	r.events = append(r.events, fmt.Sprintf("add %s node=%q initial=%v", p.Name, p.Spec.NodeName, initial))
}

func (r *recorder) OnUpdate(oldObj, newObj any) {
	o, n := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	r.events = append(r.events, fmt.Sprintf("update %s rv %s->%s node %q->%q", n.Name, o.ResourceVersion, n.ResourceVersion, o.Spec.NodeName, n.Spec.NodeName))
}

func (r *recorder) OnDelete(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		r.events = append(r.events, fmt.Sprintf("delete %s (tombstone of %s)", tomb.Key, tomb.Obj.(*corev1.Pod).Name))
		return
	}
	r.events = append(r.events, "delete "+obj.(*corev1.Pod).Name)
}

func (r *recorder) take() []string { e := r.events; r.events = nil; return e }

func wantEvents(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: events\n  %q\nwant\n  %q", what, got, want)
	}
}

// The store tells handlers what client-go's informer would: the first list as adds in the
// initial list, watch events as they come, and after a relist only what changed, a pod gone
// meanwhile as a tombstone. A handler added late is first told of every pod.
func TestPodStoreEvents(t *testing.T) {
	s := NewPodStore(nil, nil)
	early := &recorder{}
	if _, err := s.AddEventHandler(early); err != nil {
		t.Fatal(err)
	}
	if s.HasSynced() {
		t.Fatal("synced before the first list")
	}
	if err := s.Replace([]any{storePod("a", "", "1")}, "1"); err != nil {
		t.Fatal(err)
	}
	if !s.HasSynced() {
		t.Fatal("not synced after the first list")
	}
	wantEvents(t, "first list", early.take(), `add a node="" initial=true`)

	must(t, s.Add(storePod("b", "n1", "2")))
	must(t, s.Update(storePod("a", "n2", "3")))
	wantEvents(t, "watch", early.take(), `add b node="n1" initial=false`, `update a rv 1->3 node ""->"n2"`)

	late := &recorder{}
	if _, err := s.AddEventHandler(late); err != nil {
		t.Fatal(err)
	}
	got := late.take()
	if len(got) != 2 {
		t.Fatalf("late handler told %q, want both pods as initial adds", got)
	}

	// A relist: a unchanged, b gone, c new.
	must(t, s.Replace([]any{storePod("a", "n2", "3"), storePod("c", "n1", "5")}, "5"))
	wantEvents(t, "relist", early.take(), `add c node="n1" initial=false`, `delete default/b (tombstone of b)`)

	must(t, s.Delete(storePod("c", "n1", "6")))
	must(t, s.Delete(storePod("c", "n1", "6"))) // unknown by now: not told again
	wantEvents(t, "delete", early.take(), "delete c")
	if s.Len() != 1 {
		t.Errorf("store holds %d pods, want 1", s.Len())
	}
}

// A relist that finds a namesake (same name, new UID) tells the old pod's delete first.
func TestPodStoreRelistNamesake(t *testing.T) {
	s := NewPodStore(nil, nil)
	r := &recorder{}
	must(t, s.Replace([]any{storePod("a", "n1", "1")}, "1"))
	if _, err := s.AddEventHandler(r); err != nil {
		t.Fatal(err)
	}
	r.take()
	again := storePod("a", "", "7")
	again.UID = "uid-a-2"
	must(t, s.Replace([]any{again}, "7"))
	wantEvents(t, "namesake", r.take(), "delete default/a (tombstone of a)", `add a node="" initial=false`)
}

// A pod read back is the transformed pod the API server sent, whatever the record shares;
// pods of one template share one spec.
func TestPodRecordRoundTrip(t *testing.T) {
	c := NewCompactor(0)
	in := storePod("a", "n1", "1")
	in.DeletionTimestamp = &metav1.Time{}
	in.Status.NominatedNodeName, in.Status.Reason, in.Status.ObservedGeneration = "n9", "Evicted", 3
	in.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")} // kept aside (rest)
	want := in.DeepCopy()
	if _, err := c.Transform(want); err != nil {
		t.Fatal(err)
	}
	ra := newPodRecord(want, c)
	if got := ra.pod(); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
	// A ref reads the same pod, built or written into a reused Pod.
	scratch := storePod("stale", "n7", "7")
	if (PodRef{r: ra}).Into(scratch); !equality.Semantic.DeepEqual(scratch, want) || (PodRef{r: ra}).NodeName() != "n1" {
		t.Errorf("written into a Pod\n%+v\nwant\n%+v", scratch, want)
	}
	if got := (PodRef{r: ra}).Pod(); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("ref read back\n%+v\nwant\n%+v", got, want)
	}
	if RefOf(want).Into(scratch); !equality.Semantic.DeepEqual(scratch, want) || RefOf(want).Pod() != want {
		t.Error("a ref to a listed pod does not read as that pod")
	}
	b := storePod("b", "n2", "2")
	if _, err := c.Transform(b); err != nil {
		t.Fatal(err)
	}
	rb := newPodRecord(b, c)
	if ra.spec != rb.spec {
		t.Error("two pods of one template keep two specs")
	}
	if got := rb.pod().Spec.NodeName; got != "n2" {
		t.Errorf("b reads back on node %q, want n2", got)
	}
	if ra.provisionable || rb.provisionable || rb.terminal {
		t.Errorf("bound running pods: provisionable %v/%v terminal %v", ra.provisionable, rb.provisionable, rb.terminal)
	}
}

// Every field of a PodStatus reads back as it was set, one at a time: a field PodStatus
// gains that the record neither keeps itself nor notices (hasRest) fails here.
func TestPodStatusKeepsEveryField(t *testing.T) {
	typ := reflect.TypeFor[corev1.PodStatus]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		var in corev1.PodStatus
		v := reflect.ValueOf(&in).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString("x")
		case reflect.Int64:
			v.SetInt(7)
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
		case reflect.Map:
			m := reflect.MakeMap(v.Type())
			m.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), reflect.Zero(v.Type().Elem()))
			v.Set(m)
		default:
			t.Fatalf("PodStatus.%s: no test value for a %s", f.Name, v.Kind())
		}
		pod := storePod("a", "n1", "1")
		pod.Status = in
		r := newPodRecord(pod, nil)
		if got := r.pod().Status; !reflect.DeepEqual(got, in) {
			t.Errorf("PodStatus.%s set reads back as %+v", f.Name, got)
		}
	}
}

// A record hands out one Pod while something holds it.
func TestPodRecordSharesItsPodWhileHeld(t *testing.T) {
	r := newPodRecord(storePod("a", "n1", "1"), nil)
	p := r.pod()
	if r.pod() != p {
		t.Error("a record built a second Pod while the first was held")
	}
	if p.Spec.NodeName != "n1" || p.Name != "a" {
		t.Errorf("got %s on %q", p.Name, p.Spec.NodeName)
	}
}

// Get and List through the cache return copies the caller may change; List filters as
// controller-runtime's cache does, and by spec.nodeName.
func TestPodCacheReads(t *testing.T) {
	s := NewPodStore(nil, nil)
	other := storePod("x", "n1", "4")
	other.Namespace, other.Labels = "batch", map[string]string{"app": "job"}
	must(t, s.Replace([]any{storePod("a", "n1", "1"), storePod("b", "n2", "2"), storePod("p", "", "3"), other}, "4"))
	c := NewPodCache(nil, s)
	ctx := context.Background()

	got := &corev1.Pod{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "a"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "n1" || got.Labels["app"] != "web" || got.Kind != "Pod" {
		t.Errorf("got %s on %q labels %v kind %q", got.Name, got.Spec.NodeName, got.Labels, got.Kind)
	}
	got.Labels["app"] = "changed"
	got.Spec.Tolerations[0].Key = "changed"
	again := &corev1.Pod{}
	must(t, c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "b"}, again))
	if again.Labels["app"] != "web" || again.Spec.Tolerations[0].Key != "team" {
		t.Errorf("a change to one read reached the store: labels %v tolerations %v", again.Labels, again.Spec.Tolerations)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "gone"}, &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("getting a missing pod: %v, want NotFound", err)
	}

	for _, tc := range []struct {
		name string
		opts []client.ListOption
		want []string
	}{
		{"all", nil, []string{"a", "b", "p", "x"}},
		{"namespace", []client.ListOption{client.InNamespace("batch")}, []string{"x"}},
		{"labels", []client.ListOption{client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(labels.Set{"app": "web"})}}, []string{"a", "b", "p"}},
		{"node", []client.ListOption{client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", "n1")}}, []string{"a", "x"}},
		{"unbound", []client.ListOption{client.MatchingFields{"spec.nodeName": ""}}, []string{"p"}},
	} {
		list := &corev1.PodList{}
		if err := c.List(ctx, list, tc.opts...); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		if fmt.Sprint(names) != fmt.Sprint(tc.want) {
			t.Errorf("%s: listed %v, want %v", tc.name, names, tc.want)
		}
	}
	err := c.List(ctx, &corev1.PodList{}, client.MatchingFields{"status.phase": "Running"})
	if err == nil {
		t.Error("a field selector the store cannot serve was accepted")
	}
}

// The Cluster fed from the store's records holds the same pods and follows its events.
func TestClusterObservesPodStore(t *testing.T) {
	s := NewPodStore(nil, nil)
	must(t, s.Replace([]any{storePod("a", "n1", "1")}, "1"))
	c := NewCluster(Options{})
	s.observe(&recordObserver{set: c.setPod, remove: c.DeletePod})
	must(t, s.Add(storePod("b", "", "2")))
	if n := len(c.PodRefs()); n != 2 {
		t.Fatalf("cluster holds %d pods, want 2", n)
	}
	if c.pods[types.NamespacedName{Namespace: "default", Name: "a"}] != s.pods[types.NamespacedName{Namespace: "default", Name: "a"}] {
		t.Error("the cluster keeps a record of its own, not the store's")
	}
	gen := c.Generation()
	must(t, s.Delete(storePod("a", "n1", "3")))
	if n := len(c.PodRefs()); n != 1 || c.Generation() == gen {
		t.Errorf("after a delete: %d pods, generation %d (was %d)", n, c.Generation(), gen)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPodConditionsKeySeesEveryField: pods share a conditions slice only when every field
// of every condition is equal, so the key must change with each field.
func TestPodConditionsKeySeesEveryField(t *testing.T) {
	base := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, Reason: "r", Message: "m", ObservedGeneration: 2,
		LastProbeTime: metav1.Unix(100, 0), LastTransitionTime: metav1.Unix(200, 0)}
	want := string(podConditionsKey(nil, []corev1.PodCondition{base}))
	typ := reflect.TypeFor[corev1.PodCondition]()
	for i := range typ.NumField() {
		changed := base
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Int64:
			v.SetInt(v.Int() + 1)
		case reflect.Struct: // metav1.Time
			v.Set(reflect.ValueOf(metav1.Unix(300, 0)))
		default:
			t.Fatalf("PodCondition.%s: no test value for a %s", typ.Field(i).Name, v.Kind())
		}
		if string(podConditionsKey(nil, []corev1.PodCondition{changed})) == want {
			t.Errorf("PodCondition.%s changed, the key did not", typ.Field(i).Name)
		}
	}
	// Fields run into each other only when their lengths do not separate them.
	a := []corev1.PodCondition{{Type: "ab", Status: "c"}}
	b := []corev1.PodCondition{{Type: "a", Status: "bc"}}
	if string(podConditionsKey(nil, a)) == string(podConditionsKey(nil, b)) {
		t.Error("conditions differing in where one string ends share a key")
	}
	zero := []corev1.PodCondition{{Type: "a"}}
	epoch := []corev1.PodCondition{{Type: "a", LastTransitionTime: metav1.Unix(0, 0)}}
	if string(podConditionsKey(nil, zero)) == string(podConditionsKey(nil, epoch)) {
		t.Error("a zero time and the epoch share a key")
	}
}

// A podRecord is one of the 20,000 things the state holds at scale: it fits the
// allocator's 352-byte size class (it took 384 while podStatus kept the message, reason
// and nominated node that pods seldom carry).
func TestPodRecordFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(podRecord{}); size > 352 {
		t.Errorf("a podRecord is %d bytes, over 352", size)
	}
}
