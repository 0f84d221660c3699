package snapshot

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// Volumes indexes the claims, volumes and classes the scheduler resolves pod volumes with:
// a bound claim follows its PersistentVolume's node affinity; an unbound one (a
// WaitForFirstConsumer class, typically) its StorageClass's allowedTopologies.
func Volumes(claims []*corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, classes []*storagev1.StorageClass) scheduling.VolumeTopology {
	v := scheduling.VolumeTopology{
		Claims:         make(map[string]*corev1.PersistentVolumeClaim, len(claims)),
		Volumes:        make(map[string]*corev1.PersistentVolume, len(volumes)),
		StorageClasses: make(map[string]*scheduling.StorageClass, len(classes)),
	}
	for _, c := range claims {
		v.Claims[c.Namespace+"/"+c.Name] = c
	}
	for _, pv := range volumes {
		v.Volumes[pv.Name] = pv
	}
	for _, sc := range classes {
		v.StorageClasses[sc.Name] = &scheduling.StorageClass{Name: sc.Name, Provisioner: sc.Provisioner, AllowedTopologies: sc.AllowedTopologies}
	}
	return v
}

// VolumeLimits maps node names to the attachable volume count of each CSI driver their
// CSINode reports; drivers without a count are unlimited.
func VolumeLimits(csiNodes []*storagev1.CSINode) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, cn := range csiNodes {
		limits := map[string]int64{}
		for _, d := range cn.Spec.Drivers {
			if d.Allocatable != nil && d.Allocatable.Count != nil {
				limits[d.Name] = int64(*d.Allocatable.Count)
			}
		}
		if len(limits) > 0 {
			out[cn.Name] = limits
		}
	}
	return out
}
