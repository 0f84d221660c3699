package provisioning_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/simulate"
)

// TestZonalVolumePodGetsANodeClaimInItsVolumesZone: the controller reads PersistentVolume
// node affinity and StorageClass allowedTopologies from its informers, so a pod whose bound
// volume lives in one zone, and one whose WaitForFirstConsumer class allows one zone, each
// get a NodeClaim in that zone (and so can run there).
func TestZonalVolumePodGetsANodeClaimInItsVolumesZone(t *testing.T) {
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	className := "zonal"
	pvcFor := func(name, volume string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: "volumes", Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: &className, VolumeName: volume,
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
			},
		}
	}
	podWith := func(name, claim string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "volumes", Name: name},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "db", Image: "db", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}},
				Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
			},
		}
	}
	np := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "volumes"}}
	np.Spec.Template.Spec.NodeClassRef = &v1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"}
	np.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{}
	in := &simulate.Input{
		NodePools: []*v1.NodePool{np},
		StorageClasses: []*storagev1.StorageClass{{
			ObjectMeta: metav1.ObjectMeta{Name: className}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &wffc,
			AllowedTopologies: []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
				{Key: v1.LabelTopologyZone, Values: []string{"us-east-1c"}}}}},
		}},
		PersistentVolumes: []*corev1.PersistentVolume{{
			ObjectMeta: metav1.ObjectMeta{Name: "pv-bound"},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName:              className,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-1"}},
				ClaimRef:                      &corev1.ObjectReference{Namespace: "volumes", Name: "bound"},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: v1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-east-1b"}}},
				}}}},
			},
		}},
		PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{pvcFor("bound", "pv-bound"), pvcFor("unbound", "")},
		Pods:                   []*corev1.Pod{podWith("on-bound", "bound"), podWith("on-unbound", "unbound")},
	}
	l := newLive(t, in, catalog.Default())
	res, err := l.ctrl.Provision(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.NodeClaims) != 2 {
		t.Fatalf("created %d NodeClaims, want one per zone (2); unschedulable: %v", len(res.NodeClaims), res.Unschedulable)
	}
	zoneOf := map[string]string{} // pod -> the zone its NodeClaim requires
	for _, nc := range res.NodeClaims {
		var zones []string
		for _, r := range nc.Spec.Requirements {
			if r.Key == v1.LabelTopologyZone && r.Operator == v1.NodeSelectorOpIn {
				zones = r.Values
			}
		}
		for _, p := range in.Pods {
			if name, ok := l.cluster.Nomination(types.NamespacedName{Namespace: p.Namespace, Name: p.Name}); ok && name == nc.Name {
				zoneOf[p.Name] = fmt.Sprint(zones)
			}
		}
	}
	if zoneOf["on-bound"] != "[us-east-1b]" {
		t.Errorf("pod on a volume in us-east-1b got a NodeClaim in zones %s", zoneOf["on-bound"])
	}
	if zoneOf["on-unbound"] != "[us-east-1c]" {
		t.Errorf("pod on a WaitForFirstConsumer claim allowed only in us-east-1c got a NodeClaim in zones %s", zoneOf["on-unbound"])
	}
}
