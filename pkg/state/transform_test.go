package state_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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

// The pod a cluster's admission leaves (service account token volume, mounts, env, probes,
// container statuses) loses what no controller reads and keeps what scheduling reads.
func TestStripForCacheTrimsPods(t *testing.T) {
	yes := true
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "a"}},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Volumes: []corev1.Volume{
				{Name: "kube-api-access-x", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-0"}}},
				{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
			},
			InitContainers: []corev1.Container{{Name: "sidecar", RestartPolicy: &always,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "app:1", Command: []string{"run"}, Env: []corev1.EnvVar{{Name: "A", Value: "1"}},
				VolumeMounts:  []corev1.VolumeMount{{Name: "kube-api-access-x", MountPath: "/var/run/secrets"}},
				Ports:         []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}},
				LivenessProbe: &corev1.Probe{}, SecurityContext: &corev1.SecurityContext{Privileged: &yes},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
			}},
			Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "app:1", ImageID: "sha256:..."}},
			PodIP:             "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}, QOSClass: corev1.PodQOSBurstable,
		},
	}
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
	pod.Spec.ServiceAccountName = "default"
	out, err := state.StripForCache(pod)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	var names []string
	for _, v := range got.Spec.Volumes {
		names = append(names, v.Name)
	}
	if fmt.Sprint(names) != "[data scratch]" {
		t.Errorf("volumes kept: %v, want the claim-backed ones [data scratch]", names)
	}
	c := got.Spec.Containers[0]
	if c.Command != nil || c.Env != nil || c.VolumeMounts != nil || c.LivenessProbe != nil || c.SecurityContext != nil || c.Image != "" {
		t.Errorf("container keeps what nobody reads: %+v", c)
	}
	if got.Status.ContainerStatuses != nil || got.Status.PodIPs != nil || got.Status.QOSClass != "" || got.Spec.SecurityContext != nil || got.Spec.ServiceAccountName != "" {
		t.Errorf("pod keeps what nobody reads: %+v", got)
	}
	var conditions []corev1.PodConditionType
	for _, c := range got.Status.Conditions {
		conditions = append(conditions, c.Type)
	}
	// The shorter lists are new slices: the decoded arrays would stay allocated behind them.
	if fmt.Sprint(conditions) != "[PodScheduled Ready]" || cap(got.Status.Conditions) != 2 || cap(got.Spec.Volumes) != 2 {
		t.Errorf("conditions %v (capacity %d), volume capacity %d: want [PodScheduled Ready] in slices of their length",
			conditions, cap(got.Status.Conditions), cap(got.Spec.Volumes))
	}
	if len(c.Ports) != 1 || c.Ports[0].HostPort != 8080 || !c.Resources.Requests.Cpu().Equal(resource.MustParse("1")) ||
		got.Spec.InitContainers[0].RestartPolicy == nil || got.Spec.InitContainers[0].Resources.Requests.Cpu().IsZero() ||
		len(got.Spec.Tolerations) != 1 || got.Spec.NodeName != "n1" || got.Labels["app"] != "a" ||
		got.Status.Phase != corev1.PodRunning {
		t.Errorf("a field scheduling reads was dropped: %+v", got)
	}
}

// A Node loses its images, system info, addresses and kubelet endpoint, and keeps what
// scheduling and disruption read.
func TestStripForCacheTrimsNodes(t *testing.T) {
	node := realisticNode(0)
	out, err := state.StripForCache(node)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Node)
	if got.Status.Images != nil || got.Status.NodeInfo != (corev1.NodeSystemInfo{}) || got.Status.Addresses != nil || got.Status.DaemonEndpoints != (corev1.NodeDaemonEndpoints{}) {
		t.Errorf("node keeps what nobody reads: %+v", got.Status)
	}
	if got.Spec.ProviderID == "" || len(got.Spec.Taints) != 1 || got.Labels[v1.LabelTopologyZone] == "" ||
		got.Status.Allocatable.Cpu().IsZero() || got.Status.Capacity.Memory().IsZero() || len(got.Status.Conditions) != 4 {
		t.Errorf("a field scheduling reads was dropped: %+v", got)
	}
}
