package state

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
)

// LastAppliedAnnotation is kubectl's copy of the whole applied manifest: as large as the
// object and read by nobody here.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// StripForCache is a cache transform (controller-runtime cache.Options.DefaultTransform)
// that drops what the controller never reads before an object is stored: managed fields
// and kubectl's last-applied annotation of every kind, and of pods what TrimPod drops. At
// 20,000 pods they are most of the cache's memory. Objects that are not Kubernetes objects
// (tombstones) pass unchanged.
//
// The cached objects are then not what the API server holds: nothing may Update an object
// read from the cache (a merge patch of a changed copy is fine: it carries only the change).
func StripForCache(obj any) (any, error) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		return tomb, nil
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		TrimPod(pod)
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil // not an object: nothing to strip
	}
	accessor.SetManagedFields(nil)
	if annotations := accessor.GetAnnotations(); annotations != nil {
		if _, ok := annotations[LastAppliedAnnotation]; ok {
			trimmed := make(map[string]string, len(annotations)-1)
			for k, v := range annotations {
				if k != LastAppliedAnnotation {
					trimmed[k] = v
				}
			}
			accessor.SetAnnotations(trimmed)
		}
	}
	return obj, nil
}

// TrimPod drops, in place, the parts of a pod no controller here reads and that make up
// much of its size: the volumes that only project API data into the containers (the
// service account token every pod gets, ConfigMaps, Secrets, the downward API), the
// containers' mounts, environment, commands, probes and lifecycle hooks, and the container
// statuses. Everything scheduling and disruption read stays: requests and limits, ports,
// restart policies (sidecars), volumes backed by claims, drivers or the node, affinity,
// tolerations, spread, priority, owners, labels, annotations, phase and conditions.
func TrimPod(pod *corev1.Pod) {
	volumes := pod.Spec.Volumes[:0]
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil || v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil {
			continue
		}
		volumes = append(volumes, v)
	}
	clear(pod.Spec.Volumes[len(volumes):])
	pod.Spec.Volumes = volumes
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			trimContainer(&cs[i])
		}
	}
	pod.Spec.EphemeralContainers = nil
	pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses = nil, nil, nil
}

func trimContainer(c *corev1.Container) {
	c.Command, c.Args, c.WorkingDir = nil, nil, ""
	c.Env, c.EnvFrom = nil, nil
	c.VolumeMounts, c.VolumeDevices = nil, nil
	c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil
	c.TerminationMessagePath, c.TerminationMessagePolicy = "", ""
	c.SecurityContext = nil
}
