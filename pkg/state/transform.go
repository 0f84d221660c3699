package state

import (
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
)

// LastAppliedAnnotation is kubectl's copy of the whole applied manifest: as large as the
// object and read by nobody here.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// StripForCache is a cache transform (controller-runtime cache.Options.DefaultTransform)
// that drops what the controller never reads before an object is stored: managed fields
// and kubectl's last-applied annotation. At 20,000 pods they are most of the cache's memory.
// Objects that are not Kubernetes objects (tombstones) pass unchanged.
func StripForCache(obj any) (any, error) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		return tomb, nil
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
