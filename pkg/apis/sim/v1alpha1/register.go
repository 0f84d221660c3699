package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is the API group of the simulated cloud.
const Group = "karpenter.sim.sh"

// SchemeGroupVersion is karpenter.sim.sh/v1alpha1.
var SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: "v1alpha1"}

// Kinds of this group.
const (
	KindSimNodeClass = "SimNodeClass"
	KindSimInstance  = "SimInstance"
)

// AddToScheme registers SimNodeClass and SimInstance with a scheme. Callers build their
// own scheme; this package keeps none.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion,
		&SimNodeClass{}, &SimNodeClassList{},
		&SimInstance{}, &SimInstanceList{},
	)
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
