package simulate

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Labels the controllers of expanded workloads put on their pods.
const (
	LabelStatefulSetPodName = "statefulset.kubernetes.io/pod-name"
	LabelPodIndex           = "apps.kubernetes.io/pod-index"
	LabelJobName            = "batch.kubernetes.io/job-name"
)

// templatePath is where a workload keeps its pod spec.
func templatePath() *field.Path { return field.NewPath("spec", "template", "spec") }

// defaultNamespace sets the namespace "default" when the manifest has none.
func defaultNamespace(meta *metav1.ObjectMeta) {
	if meta.Namespace == "" {
		meta.Namespace = metav1.NamespaceDefault
	}
}

// addPod files a standalone Pod: bound when it names a node, pending otherwise.
func (l *loader) addPod(o origin, pod *corev1.Pod) error {
	defaultNamespace(&pod.ObjectMeta)
	if err := validatePodSpec(&pod.Spec, field.NewPath("spec")); err != nil {
		return o.wrap(err)
	}
	if len(l.in.Pods)+len(l.in.BoundPods) >= MaxPods {
		return o.errorf("the input may hold at most %d pods", MaxPods)
	}
	if err := l.remember(o, "Pod", pod.Namespace, pod.Name); err != nil {
		return err
	}
	if pod.Spec.NodeName != "" {
		l.in.BoundPods = append(l.in.BoundPods, pod)
		l.boundPods = append(l.boundPods, o)
		return nil
	}
	l.in.Pods = append(l.in.Pods, pod)
	return nil
}

// addReplicas expands a Deployment, ReplicaSet or ReplicationController into replicas pods
// (1 when unset).
func (l *loader) addReplicas(o origin, apiVersion, kind string, meta metav1.ObjectMeta, replicas *int32, tpl corev1.PodTemplateSpec) error {
	defaultNamespace(&meta)
	if err := validatePodSpec(&tpl.Spec, templatePath()); err != nil {
		return o.wrap(err)
	}
	n := int32(1)
	if replicas != nil {
		n = *replicas
	}
	if err := l.checkCount(o, field.NewPath("spec", "replicas"), n); err != nil {
		return err
	}
	if err := l.remember(o, kind, meta.Namespace, meta.Name); err != nil {
		return err
	}
	owner := ownerReference(apiVersion, kind, meta.Name)
	w := &scalable{o: o, tpl: tpl, meta: meta, owner: owner}
	for i := range int(n) {
		pod := podFromTemplate(tpl, meta, owner, i)
		if err := l.addExpanded(o, pod); err != nil {
			return err
		}
		w.pods = append(w.pods, pod)
	}
	l.scalables[scalableKey(kind, meta.Namespace, meta.Name)] = w
	return nil
}

// addStatefulSet expands a StatefulSet into pods name-0..name-(n-1), each with the claims of
// its volumeClaimTemplates (<template>-<pod>), which are created when the input lacks them.
func (l *loader) addStatefulSet(o origin, sts *appsv1.StatefulSet) error {
	defaultNamespace(&sts.ObjectMeta)
	if err := validatePodSpec(&sts.Spec.Template.Spec, templatePath()); err != nil {
		return o.wrap(err)
	}
	n := int32(1)
	if sts.Spec.Replicas != nil {
		n = *sts.Spec.Replicas
	}
	if err := l.checkCount(o, field.NewPath("spec", "replicas"), n); err != nil {
		return err
	}
	if err := l.remember(o, "StatefulSet", sts.Namespace, sts.Name); err != nil {
		return err
	}
	owner := ownerReference(appsv1.SchemeGroupVersion.String(), "StatefulSet", sts.Name)
	for i := range int(n) {
		pod := podFromTemplate(sts.Spec.Template, sts.ObjectMeta, owner, i)
		pod.Labels[LabelStatefulSetPodName] = pod.Name
		pod.Labels[LabelPodIndex] = strconv.Itoa(i)
		for _, t := range sts.Spec.VolumeClaimTemplates {
			claim := t.DeepCopy()
			claim.Name = t.Name + "-" + pod.Name
			claim.Namespace = sts.Namespace
			claim.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"}
			l.claims = append(l.claims, generatedClaim{claim: claim})
			setClaimVolume(pod, t.Name, claim.Name)
		}
		if err := l.addExpanded(o, pod); err != nil {
			return err
		}
	}
	return nil
}

// addJob expands a Job, or the Job a CronJob creates, into min(parallelism, completions)
// pods (parallelism 1 when unset; none while suspended). spec is the Job's spec, at path
// in the document.
func (l *loader) addJob(o origin, kind string, meta metav1.ObjectMeta, spec *batchv1.JobSpec, path *field.Path) error {
	defaultNamespace(&meta)
	if err := validatePodSpec(&spec.Template.Spec, path.Child("template", "spec")); err != nil {
		return o.wrap(err)
	}
	n := int32(1)
	if spec.Parallelism != nil {
		n = *spec.Parallelism
	}
	if n < 0 {
		return o.wrap(field.Invalid(path.Child("parallelism"), n, "must not be negative"))
	}
	if c := spec.Completions; c != nil {
		if *c < 0 {
			return o.wrap(field.Invalid(path.Child("completions"), *c, "must not be negative"))
		}
		n = min(n, *c)
	}
	if spec.Suspend != nil && *spec.Suspend {
		n = 0
	}
	countField := path.Child("parallelism")
	if c := spec.Completions; c != nil && *c == n && (spec.Parallelism == nil || *spec.Parallelism > n) {
		countField = path.Child("completions")
	}
	if err := l.checkCount(o, countField, n); err != nil {
		return err
	}
	if err := l.remember(o, kind, meta.Namespace, meta.Name); err != nil {
		return err
	}
	owner := ownerReference(batchv1.SchemeGroupVersion.String(), "Job", meta.Name)
	for i := range int(n) {
		pod := podFromTemplate(spec.Template, meta, owner, i)
		pod.Labels[LabelJobName] = meta.Name
		if err := l.addExpanded(o, pod); err != nil {
			return err
		}
	}
	return nil
}

// checkCount refuses a negative pod count, and one that would take the input past MaxPods
// pods, before any pod is made.
func (l *loader) checkCount(o origin, path *field.Path, n int32) error {
	if n < 0 {
		return o.wrap(field.Invalid(path, n, "must not be negative"))
	}
	if left := MaxPods - len(l.in.Pods) - len(l.in.BoundPods); int(n) > left {
		return o.wrap(field.Invalid(path, n, fmt.Sprintf("the input may hold at most %d pods (%d left)", MaxPods, max(left, 0))))
	}
	return nil
}

// addExpanded files a pod made from a workload's template.
func (l *loader) addExpanded(o origin, pod *corev1.Pod) error {
	if err := l.remember(o, "Pod", pod.Namespace, pod.Name); err != nil {
		return err
	}
	l.in.Pods = append(l.in.Pods, pod)
	return nil
}

// generatedClaim is a StatefulSet claim to add unless the input defines it.
type generatedClaim struct {
	claim *corev1.PersistentVolumeClaim
}

// podFromTemplate makes pod number i of a workload: named <workload>-<i>, in the workload's
// namespace, with the template's labels, annotations and spec and a controller reference.
func podFromTemplate(tpl corev1.PodTemplateSpec, workload metav1.ObjectMeta, owner metav1.OwnerReference, i int) *corev1.Pod {
	t := tpl.DeepCopy()
	labels := t.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            fmt.Sprintf("%s-%d", workload.Name, i),
			Namespace:       workload.Namespace,
			Labels:          labels,
			Annotations:     t.Annotations,
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Spec:   t.Spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

// ownerReference is the controller reference of an expanded pod.
func ownerReference(apiVersion, kind, name string) metav1.OwnerReference {
	controller := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, Controller: &controller}
}

// setClaimVolume points the pod's volume named volume at claim, adding the volume if the
// template does not declare it (the StatefulSet controller does the same).
func setClaimVolume(pod *corev1.Pod, volume, claim string) {
	source := corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == volume {
			pod.Spec.Volumes[i].VolumeSource = source
			return
		}
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: volume, VolumeSource: source})
}
