package explain_test

import (
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/explain"
)

// A World can be built from objects in memory as well as read from a cluster.
func ExamplePod() {
	pool := func(name string, taints ...corev1.Taint) *v1.NodePool {
		return &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{
			Spec: v1.NodeClaimTemplateSpec{Taints: taints, Requirements: []v1.NodeSelectorRequirementWithMinValues{
				{Key: v1.CapacityTypeLabelKey, Operator: v1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand}},
			}},
		}}}
	}
	w := &explain.World{
		NodePools: []*v1.NodePool{pool("default"), pool("gpu", corev1.Taint{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule})},
		InstanceTypes: map[string][]*cloudprovider.InstanceType{
			"default": catalog.Default(), "gpu": catalog.Default(),
		},
	}
	w.Pods = []*corev1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("6Gi")},
		}}}},
	}}
	report, err := explain.Pod(w, "shop", "web-1", time.Now())
	if err != nil {
		panic(err)
	}
	_ = explain.WriteTable(os.Stdout, report)
	// Output:
	// Pod:           shop/web-1
	// Status:        Pending
	// Summary:       would launch t4g.xlarge (on-demand, us-east-1a) from NodePool default at $0.1344/h
	// Would launch:  t4g.xlarge on-demand us-east-1a from default at $0.1344/h (128 options, 1 pods)
	//
	// NODEPOOL  VERDICT  DETAIL
	// default   Fits     NodePool "default": would launch t4g.xlarge at $0.1344/h
	// gpu       Taint    NodePool "gpu": does not tolerate taint nvidia.com/gpu:NoSchedule
}
