package simulate

import (
	"fmt"
	"slices"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// scalable is a workload whose replicas an autoscaler may change: what it takes to make
// more of its pods, and the ones made.
type scalable struct {
	o     origin
	tpl   corev1.PodTemplateSpec
	meta  metav1.ObjectMeta
	owner metav1.OwnerReference
	pods  []*corev1.Pod
}

// autoscaler is a HorizontalPodAutoscaler's target and bounds.
type autoscaler struct {
	o              origin
	apiVersion     string
	self           string // its own name
	kind, ns, name string // of its target, in its namespace
	minReplicas    int32
	maxReplicas    int32
}

// addAutoscaler records a HorizontalPodAutoscaler (autoscaling/v1 or v2).
func (l *loader) addAutoscaler(o origin, obj runtime.Object) error {
	var a autoscaler
	var minReplicas *int32
	switch t := obj.(type) {
	case *autoscalingv2.HorizontalPodAutoscaler:
		defaultNamespace(&t.ObjectMeta)
		a = autoscaler{o: o, apiVersion: autoscalingv2.SchemeGroupVersion.String(), self: t.Name,
			kind: t.Spec.ScaleTargetRef.Kind, ns: t.Namespace, name: t.Spec.ScaleTargetRef.Name, maxReplicas: t.Spec.MaxReplicas}
		minReplicas = t.Spec.MinReplicas
	case *autoscalingv1.HorizontalPodAutoscaler:
		defaultNamespace(&t.ObjectMeta)
		a = autoscaler{o: o, apiVersion: autoscalingv1.SchemeGroupVersion.String(), self: t.Name,
			kind: t.Spec.ScaleTargetRef.Kind, ns: t.Namespace, name: t.Spec.ScaleTargetRef.Name, maxReplicas: t.Spec.MaxReplicas}
		minReplicas = t.Spec.MinReplicas
	}
	a.minReplicas = 1
	if minReplicas != nil {
		a.minReplicas = *minReplicas
	}
	if a.minReplicas < 1 || a.maxReplicas < a.minReplicas {
		return o.wrap(field.Invalid(field.NewPath("spec", "maxReplicas"), a.maxReplicas,
			fmt.Sprintf("must be at least minReplicas (%d), which must be at least 1", a.minReplicas)))
	}
	if err := l.remember(o, "HorizontalPodAutoscaler", a.ns, a.self); err != nil {
		return err
	}
	l.autoscalers = append(l.autoscalers, a)
	return nil
}

// applyAutoscalers scales each autoscaled Deployment, ReplicaSet or ReplicationController to
// its autoscaler's bounds, as the autoscaler does at once on a cluster: a workload of 1
// replica with minReplicas 3 runs 3 pods. Metrics are unknown here, so a workload within its
// bounds keeps its replicas, and one at 0 stays off (an autoscaler does not scale from 0).
// An autoscaler whose target the input lacks, or cannot scale here (a StatefulSet), is
// skipped like the documents that make no pods.
func (l *loader) applyAutoscalers() error {
	drop := map[*corev1.Pod]bool{} // the pods scaled away, taken out of the input once
	for _, a := range l.autoscalers {
		w := l.scalables[scalableKey(a.kind, a.ns, a.name)]
		if w == nil {
			l.skip(a.o, a.apiVersion)
			continue
		}
		n := int32(len(w.pods))
		if n == 0 {
			continue
		}
		want := min(max(n, a.minReplicas), a.maxReplicas)
		if want > n {
			if err := l.checkCount(a.o, field.NewPath("spec", "minReplicas"), want-n); err != nil {
				return err
			}
			for i := n; i < want; i++ {
				pod := podFromTemplate(w.tpl, w.meta, w.owner, int(i))
				if err := l.addExpanded(w.o, pod); err != nil {
					return err
				}
				w.pods = append(w.pods, pod)
			}
		}
		if want < n {
			for _, p := range w.pods[want:] {
				drop[p] = true
			}
			w.pods = w.pods[:want]
		}
	}
	if len(drop) > 0 {
		l.in.Pods = slices.DeleteFunc(l.in.Pods, func(p *corev1.Pod) bool { return drop[p] })
	}
	return nil
}

// scalableKey names a workload an autoscaler may target: "Kind namespace/name".
func scalableKey(kind, namespace, name string) string { return kind + " " + namespace + "/" + name }
