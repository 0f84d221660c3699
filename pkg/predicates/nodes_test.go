package predicates_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/gokarpenter/karpenter/pkg/predicates"
)

func node() *corev1.Node {
	created := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", ResourceVersion: "10", Labels: map[string]string{"karpenter.sh/nodepool": "p"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kwok", Operation: metav1.ManagedFieldsOperationUpdate}}},
		Spec: corev1.NodeSpec{ProviderID: "sim:///z/i-1"},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1930m")},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: created, LastTransitionTime: created},
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: created, LastTransitionTime: created},
			},
		},
	}
}

// heartbeat is what a kubelet's status update writes when nothing changed: new heartbeat
// times, a new resource version, new managed fields.
func heartbeat(n *corev1.Node) *corev1.Node {
	out := n.DeepCopy()
	out.ResourceVersion = "11"
	out.ManagedFields[0].Time = &metav1.Time{Time: time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)}
	for i := range out.Status.Conditions {
		out.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC))
	}
	return out
}

func TestHeartbeatOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*corev1.Node)
		want   bool
	}{
		{"heartbeat", func(*corev1.Node) {}, true},
		{"ready turns false", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, false},
		{"condition reason", func(n *corev1.Node) { n.Status.Conditions[1].Reason = "Pressure" }, false},
		{"transition time", func(n *corev1.Node) { n.Status.Conditions[1].LastTransitionTime = metav1.Now() }, false},
		{"condition added", func(n *corev1.Node) {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeDiskPressure})
		}, false},
		{"taint", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "karpenter.sh/disrupted", Effect: corev1.TaintEffectNoSchedule}}
		}, false},
		{"label", func(n *corev1.Node) { n.Labels["x"] = "y" }, false},
		{"allocatable", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("2") }, false},
		// Quantities compare by value, as equality.Semantic compares them.
		{"allocatable spelt anew", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("1.93") }, true},
		{"capacity reported", func(n *corev1.Node) {
			n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		}, false},
		{"resource added", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("110") }, false},
		{"label removed", func(n *corev1.Node) { n.Labels = nil }, false},
		{"annotation", func(n *corev1.Node) { n.Annotations = map[string]string{"a": "b"} }, false},
		{"empty annotations", func(n *corev1.Node) { n.Annotations = map[string]string{} }, true},
		{"created anew", func(n *corev1.Node) { n.CreationTimestamp = metav1.Now() }, false},
		{"provider id", func(n *corev1.Node) { n.Spec.ProviderID = "sim:///z/i-2" }, false},
		{"deleting", func(n *corev1.Node) { now := metav1.Now(); n.DeletionTimestamp = &now }, false},
		{"resync (same version)", func(n *corev1.Node) { n.ResourceVersion = "10" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := node()
			updated := heartbeat(old)
			tc.change(updated)
			if got := predicates.HeartbeatOnly(old, updated); got != tc.want {
				t.Errorf("HeartbeatOnly = %v, want %v", got, tc.want)
			}
			if got := predicates.IgnoreNodeHeartbeats().Update(event.UpdateEvent{ObjectOld: old, ObjectNew: updated}); got == tc.want {
				t.Errorf("IgnoreNodeHeartbeats passes the update: %v, want %v", got, !tc.want)
			}
			// The cached objects are left as they were.
			if old.ResourceVersion != "10" || len(old.ManagedFields) != 1 || len(updated.Status.Conditions) < 2 {
				t.Errorf("HeartbeatOnly changed its arguments: %+v", old.ObjectMeta)
			}
		})
	}
	// Compared without reflection: a heartbeat of a node with a dozen labels and four
	// resources costs no allocation for its fields and entries (149 with equality.Semantic).
	old := node()
	for i := range 12 {
		old.Labels[fmt.Sprintf("label-%d", i)] = "v"
	}
	old.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("20Gi")}
	old.Status.Allocatable = old.Status.Capacity.DeepCopy()
	updated := heartbeat(old)
	// None: the two copies it compares stay on the stack (they went to the heap while a
	// comparison took the address of a field, 2 KB a heartbeat).
	if n := testing.AllocsPerRun(50, func() { predicates.HeartbeatOnly(old, updated) }); n > 0 {
		t.Errorf("%v allocations per heartbeat, want none", n)
	}
	if predicates.HeartbeatOnly(&corev1.Pod{}, &corev1.Pod{}) {
		t.Error("a pod update is no node heartbeat")
	}
	n := node()
	if !predicates.IgnoreNodeHeartbeats().Create(event.CreateEvent{Object: n}) || !predicates.IgnoreNodeHeartbeats().Delete(event.DeleteEvent{Object: n}) {
		t.Error("creates and deletes must pass")
	}
}

func TestHealthOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*corev1.Node)
		want   bool
	}{
		{"heartbeat", func(*corev1.Node) {}, true},
		{"ready turns unknown", func(n *corev1.Node) {
			n.Status.Conditions[0].Status, n.Status.Conditions[0].Reason = corev1.ConditionUnknown, "NodeStatusUnknown"
			n.Status.Conditions[0].LastTransitionTime = metav1.Now()
		}, true},
		{"lifecycle taints", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: predicates.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
				{Key: predicates.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: time.Now()}}}
		}, true},
		{"condition added", func(n *corev1.Node) {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeDiskPressure})
		}, true},
		{"addresses reported", func(n *corev1.Node) {
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.255.0.1"}}
		}, true},
		{"ttl annotation", func(n *corev1.Node) { n.Annotations = map[string]string{"node.alpha.kubernetes.io/ttl": "15"} }, true},
		{"ttl and another annotation", func(n *corev1.Node) {
			n.Annotations = map[string]string{"node.alpha.kubernetes.io/ttl": "15", "karpenter.sh/do-not-disrupt": "true"}
		}, false},
		{"another taint", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: predicates.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
				{Key: "karpenter.sh/disrupted", Effect: corev1.TaintEffectNoSchedule}}
		}, false},
		{"label", func(n *corev1.Node) { n.Labels["x"] = "y" }, false},
		{"annotation", func(n *corev1.Node) { n.Annotations = map[string]string{"karpenter.sh/do-not-disrupt": "true"} }, false},
		{"allocatable", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("2") }, false},
		{"unschedulable", func(n *corev1.Node) { n.Spec.Unschedulable = true }, false},
		{"deleting", func(n *corev1.Node) { now := metav1.Now(); n.DeletionTimestamp = &now }, false},
		{"resync (same version)", func(n *corev1.Node) { n.ResourceVersion = "10" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := node()
			updated := heartbeat(old)
			tc.change(updated)
			if got := predicates.HealthOnly(old, updated); got != tc.want {
				t.Errorf("HealthOnly = %v, want %v", got, tc.want)
			}
			if got := predicates.IgnoreNodeHealth().Update(event.UpdateEvent{ObjectOld: old, ObjectNew: updated}); got == tc.want {
				t.Errorf("IgnoreNodeHealth passes the update: %v, want %v", got, !tc.want)
			}
		})
	}
}

func TestPodStatusOnly(t *testing.T) {
	pod := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "d", ResourceVersion: "1"},
			Spec:       corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "c"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*corev1.Pod)
		want   bool
	}{
		{"ready turns false", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"container statuses", func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c"}} }, true},
		{"same version", func(p *corev1.Pod) { p.ResourceVersion = "1" }, false},
		{"phase failed", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, false},
		{"phase succeeded", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, false},
		{"phase pending to running", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }, true},
		{"started", func(p *corev1.Pod) {
			now := metav1.Now()
			p.Status.StartTime, p.Status.PodIP, p.Status.HostIP = &now, "10.0.0.1", "192.168.0.1"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}}
		}, true},
		{"requests", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		}, false},
		{"resize status", func(p *corev1.Pod) { p.Status.Resize = corev1.PodResizeStatusInProgress }, false},
		{"moved", func(p *corev1.Pod) { p.Spec.NodeName = "m" }, false},
		{"unbound", func(p *corev1.Pod) { p.Spec.NodeName = "" }, false},
		{"annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{"a": "b"} }, false},
		{"deleting", func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, updated := pod(), pod()
			updated.ResourceVersion = "2"
			tc.change(updated)
			if got := predicates.PodStatusOnly(old, updated); got != tc.want {
				t.Errorf("PodStatusOnly = %v, want %v", got, tc.want)
			}
		})
	}
	unbound := pod()
	unbound.Spec.NodeName = ""
	changed := unbound.DeepCopy()
	changed.ResourceVersion = "2"
	changed.Status.Conditions[0].Status = corev1.ConditionFalse
	if predicates.PodStatusOnly(unbound, changed) {
		t.Error("an unbound pod's conditions say whether it waits for capacity")
	}
}

// TestRestEqualSeesEveryField sets each field of a Node's metadata, spec and status in
// turn to a value other than a heartbeat's and checks both predicates see the change,
// except the fields each ignores by design. The comparison is written out field by field
// (reflection allocated for every field): a field a new Kubernetes version adds fails
// here until it is compared.
func TestRestEqualSeesEveryField(t *testing.T) {
	heartbeatIgnores := map[string]bool{"ObjectMeta.ResourceVersion": true, "ObjectMeta.ManagedFields": true}
	healthIgnores := map[string]bool{"ObjectMeta.ResourceVersion": true, "ObjectMeta.ManagedFields": true, "Status.Conditions": true,
		"Status.Addresses": true, "Status.DaemonEndpoints": true, "Status.Images": true}
	for _, part := range []string{"ObjectMeta", "Spec", "Status"} {
		fields := reflect.ValueOf(node()).Elem().FieldByName(part).Type()
		for i := range fields.NumField() {
			name := part + "." + fields.Field(i).Name
			t.Run(name, func(t *testing.T) {
				old := node()
				updated := heartbeat(old)
				f := reflect.ValueOf(updated).Elem().FieldByName(part).Field(i)
				setOther(t, f)
				if got := predicates.HeartbeatOnly(old, updated); got != heartbeatIgnores[name] {
					t.Errorf("HeartbeatOnly = %v after %s changed", got, name)
				}
				if got := predicates.HealthOnly(old, updated); got != healthIgnores[name] {
					t.Errorf("HealthOnly = %v after %s changed", got, name)
				}
			})
		}
	}
}

// setOther gives v a value other than the test node's.
func setOther(t *testing.T, v reflect.Value) {
	switch v.Interface().(type) {
	case metav1.Time:
		v.Set(reflect.ValueOf(metav1.NewTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "-other")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		} else {
			v.Set(reflect.Zero(v.Type()))
		}
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range v.MapKeys() {
			m.SetMapIndex(k, v.MapIndex(k))
		}
		key := reflect.New(v.Type().Key()).Elem()
		key.SetString("other-key")
		m.SetMapIndex(key, reflect.Zero(v.Type().Elem()))
		v.Set(m)
	case reflect.Struct:
		setOther(t, v.Field(0))
	default:
		t.Fatalf("no other value for a %s", v.Type())
	}
}
