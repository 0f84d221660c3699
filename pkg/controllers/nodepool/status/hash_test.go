package status

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/internal/fixtures"
)

func TestHash(t *testing.T) {
	base := fixtures.NodePool("p")
	base.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "a", Effect: corev1.TaintEffectNoSchedule}, {Key: "b", Effect: corev1.TaintEffectNoExecute}}
	h0, err := Hash(base)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(*v1.NodePool)
		same   bool
	}{
		{"nothing", func(*v1.NodePool) {}, true},
		{"requirements", func(p *v1.NodePool) {
			p.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelArch, Operator: v1.NodeSelectorOpIn, Values: []string{"arm64"}}}
		}, true},
		{"disruption and limits", func(p *v1.NodePool) {
			p.Spec.Disruption.ConsolidateAfter = v1.MustParseNillableDuration("1h")
			p.Spec.Limits = v1.Limits{corev1.ResourceCPU: {}}
		}, true},
		{"taint order", func(p *v1.NodePool) {
			ts := p.Spec.Template.Spec.Taints
			ts[0], ts[1] = ts[1], ts[0]
		}, true},
		{"label", func(p *v1.NodePool) { p.Spec.Template.ObjectMeta.Labels = map[string]string{"team": "a"} }, false},
		{"annotation", func(p *v1.NodePool) { p.Spec.Template.ObjectMeta.Annotations = map[string]string{"x": "y"} }, false},
		{"taint", func(p *v1.NodePool) { p.Spec.Template.Spec.Taints = nil }, false},
		{"startup taint", func(p *v1.NodePool) {
			p.Spec.Template.Spec.StartupTaints = []corev1.Taint{{Key: "s", Effect: corev1.TaintEffectNoSchedule}}
		}, false},
		{"node class", func(p *v1.NodePool) { p.Spec.Template.Spec.NodeClassRef.Name = "other" }, false},
		{"expireAfter", func(p *v1.NodePool) { p.Spec.Template.Spec.ExpireAfter = v1.MustParseNillableDuration(v1.Never) }, false},
		{"terminationGracePeriod", func(p *v1.NodePool) { p.Spec.Template.Spec.TerminationGracePeriod = &metav1.Duration{} }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := base.DeepCopy()
			c.change(p)
			h, err := Hash(p)
			if err != nil {
				t.Fatal(err)
			}
			if (h == h0) != c.same {
				t.Errorf("hash changed = %v, want changed = %v", h != h0, !c.same)
			}
		})
	}
}
