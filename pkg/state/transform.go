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
// and kubectl's last-applied annotation of every kind, of pods what TrimPod drops and of
// Nodes what TrimNode drops. At
// 20,000 pods they are most of the cache's memory. Objects that are not Kubernetes objects
// (tombstones) pass unchanged.
//
// The cached objects are then not what the API server holds: nothing may Update an object
// read from the cache (a merge patch of a changed copy is fine: it carries only the change).
func StripForCache(obj any) (any, error) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		return tomb, nil
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		TrimPod(o)
	case *corev1.Node:
		TrimNode(o)
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
// containers' images, mounts, environment, commands, probes and lifecycle hooks, the
// container statuses, the conditions other than keptPodCondition's, the pod's and host's
// IPs, the QoS class, the service account, the pod's security context, DNS configuration,
// image pull secrets, host aliases and readiness gates.
// Everything scheduling and disruption read stays: requests and limits, ports, restart
// policies (sidecars), volumes backed by claims, drivers or the node, affinity,
// tolerations, spread, priority, owners, labels, annotations, phase and those conditions.
func TrimPod(pod *corev1.Pod) {
	pod.Spec.Volumes = keep(pod.Spec.Volumes, func(v *corev1.Volume) bool {
		return v.Projected == nil && v.ConfigMap == nil && v.Secret == nil && v.DownwardAPI == nil
	})
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			trimContainer(&cs[i])
		}
	}
	pod.Spec.EphemeralContainers = nil
	pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses = nil, nil, nil
	pod.Status.PodIP, pod.Status.PodIPs, pod.Status.HostIP, pod.Status.HostIPs = "", nil, "", nil
	pod.Status.QOSClass = ""
	pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount = "", ""
	pod.Spec.SecurityContext, pod.Spec.DNSConfig, pod.Spec.ImagePullSecrets, pod.Spec.HostAliases, pod.Spec.ReadinessGates = nil, nil, nil, nil, nil
	pod.Status.Conditions = keep(pod.Status.Conditions, func(c *corev1.PodCondition) bool { return keptPodCondition(c.Type) })
}

// keep returns the elements of s that want keeps, in a new slice of their number when it
// drops any (nil when none is left): the decoded slice's array would otherwise stay
// allocated at its full size behind the shorter slice.
func keep[T any](s []T, want func(*T) bool) []T {
	n := 0
	for i := range s {
		if want(&s[i]) {
			n++
		}
	}
	if n == len(s) {
		return s
	}
	if n == 0 {
		return nil
	}
	out := make([]T, 0, n)
	for i := range s {
		if want(&s[i]) {
			out = append(out, s[i])
		}
	}
	return out
}

// keptPodCondition reports whether a pod condition is one read here: PodScheduled (is the
// pod waiting for capacity), Ready (the pod metrics) and DisruptionTarget (being evicted).
func keptPodCondition(t corev1.PodConditionType) bool {
	return t == corev1.PodScheduled || t == corev1.PodReady || t == corev1.DisruptionTarget
}

// TrimNode drops, in place, the parts of a Node no controller here reads: the images it
// holds (often dozens of names and digests), its system info, addresses and kubelet
// endpoint. Scheduling and disruption read its labels, taints, capacity, allocatable and
// conditions, all kept.
func TrimNode(node *corev1.Node) {
	node.Status.Images = nil
	node.Status.NodeInfo = corev1.NodeSystemInfo{}
	node.Status.Addresses = nil
	node.Status.DaemonEndpoints = corev1.NodeDaemonEndpoints{}
}

func trimContainer(c *corev1.Container) {
	c.Command, c.Args, c.WorkingDir = nil, nil, ""
	c.Env, c.EnvFrom = nil, nil
	c.VolumeMounts, c.VolumeDevices = nil, nil
	c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil
	c.TerminationMessagePath, c.TerminationMessagePolicy = "", ""
	c.Image, c.ImagePullPolicy = "", ""
	c.SecurityContext = nil
}
