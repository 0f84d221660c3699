package state_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/state"
)

func TestStripForCache(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name:          "p",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		Annotations:   map[string]string{state.LastAppliedAnnotation: "{...}", v1.DoNotDisruptAnnotationKey: "true"},
	}}
	out, err := state.StripForCache(pod)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	if got.ManagedFields != nil {
		t.Error("managed fields kept")
	}
	if _, ok := got.Annotations[state.LastAppliedAnnotation]; ok {
		t.Error("last-applied annotation kept")
	}
	if got.Annotations[v1.DoNotDisruptAnnotationKey] != "true" {
		t.Error("an annotation the controllers read was dropped")
	}
	tomb := toolscache.DeletedFinalStateUnknown{Key: "default/p", Obj: pod}
	if out, err := state.StripForCache(tomb); err != nil || out != any(tomb) {
		t.Errorf("tombstone changed: %v %v", out, err)
	}
}
