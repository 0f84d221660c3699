package scheduling

import (
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// NodePoolFromAPI turns a karpenter.sh/v1 NodePool into the scheduler's input. used is the
// capacity the pool's nodes already have (counted against its limits); instanceTypes are the
// shapes its node class may launch. The pool's own name becomes a karpenter.sh/nodepool label.
func NodePoolFromAPI(np *v1.NodePool, instanceTypes []*cloudprovider.InstanceType, used corev1.ResourceList) NodePool {
	tmpl := np.Spec.Template
	labels := make(map[string]string, len(tmpl.ObjectMeta.Labels)+1)
	for k, v := range tmpl.ObjectMeta.Labels {
		labels[k] = v
	}
	labels[v1.NodePoolLabelKey] = np.Name
	reqs := make([]Requirement, 0, len(tmpl.Spec.Requirements))
	for _, r := range tmpl.Spec.Requirements {
		reqs = append(reqs, Requirement{
			Key:       r.Key,
			Operator:  string(r.Operator),
			Values:    append([]string(nil), r.Values...),
			MinValues: r.MinValues,
		})
	}
	var weight int32
	if np.Spec.Weight != nil {
		weight = *np.Spec.Weight
	}
	var limits corev1.ResourceList
	if len(np.Spec.Limits) > 0 {
		limits = corev1.ResourceList(np.Spec.Limits).DeepCopy()
	}
	return NodePool{
		Name:          np.Name,
		Weight:        weight,
		Requirements:  reqs,
		Labels:        labels,
		Taints:        append([]corev1.Taint(nil), tmpl.Spec.Taints...),
		StartupTaints: append([]corev1.Taint(nil), tmpl.Spec.StartupTaints...),
		Limits:        limits,
		Used:          used,
		InstanceTypes: instanceTypes,
	}
}
