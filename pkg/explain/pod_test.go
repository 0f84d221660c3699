package explain

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/explain/reason"
)

// TestPodReasons builds one NodePool per rule and a pod per rule, and checks that each
// NodePool's verdict names the rule (and the exact taint or requirement) that blocks it.
func TestPodReasons(t *testing.T) {
	c := newCluster(t)
	c.create(nodePool("general", func(np *v1.NodePool) {
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements, requirement(v1.LabelTopologyZone, "us-east-1a"))
	}))
	c.create(nodePool("gpu", func(np *v1.NodePool) {
		np.Spec.Weight = ptr.To[int32](10)
		np.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
	}))
	c.create(nodePool("tiny", func(np *v1.NodePool) {
		np.Spec.Limits = v1.Limits{corev1.ResourceCPU: resource.MustParse("2")}
	}))
	c.create(nodePool("broken"))
	// A pool with 10 CPUs, 8 of which its one node already holds.
	c.create(nodePool("full", func(np *v1.NodePool) {
		np.Spec.Limits = v1.Limits{corev1.ResourceCPU: resource.MustParse("10")}
	}))
	c.managedNode("full-1", "full", "m5.2xlarge", c.now.Add(-time.Hour))
	c.boundPod("filler", "7500m", "full-1", c.now.Add(-time.Hour))
	// An unmanaged node holding the database the "affine" pod wants to share a host with.
	c.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "static-1", Labels: map[string]string{corev1.LabelHostname: "static-1"}}})
	db := c.boundPod("db", "100m", "static-1", c.now.Add(-time.Hour))
	_ = db

	zone := "us-east-1b"
	c.create(&corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: c.ns + "-data"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-1"}},
			ClaimRef:               &corev1.ObjectReference{Namespace: c.ns, Name: "data"},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: v1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
			}}}},
		},
	})
	c.create(&corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: c.ns + "-data",
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	})

	c.pendingPod("plain", "100m")
	c.pendingPod("arm", "100m", func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"team": "a", v1.LabelArch: v1.ArchitectureArm64}
	})
	c.pendingPod("huge", "1000")
	c.pendingPod("big", "4")
	c.pendingPod("three", "3")
	c.pendingPod("zoned", "100m", func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	})
	c.pendingPod("affine", "100m", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		}}}}
	})
	w := c.world()

	for _, tc := range []struct {
		pod, pool string
		want      reason.Code
		message   string
	}{
		{"plain", "general", reason.Fits, "would launch"},
		{"plain", "gpu", reason.Taint, "nvidia.com/gpu=true:NoSchedule"},
		{"plain", "broken", reason.NodePoolNotLaunching, "broken-class not found"},
		{"arm", "general", reason.Requirement, "kubernetes.io/arch=arm64 (nodeSelector) is not met: requires kubernetes.io/arch In [arm64], NodePool allows kubernetes.io/arch In [amd64]"},
		{"arm", "gpu", reason.Taint, "nvidia.com/gpu"},
		{"huge", "general", reason.Resources, "cpu"},
		{"big", "general", reason.Fits, ""},
		{"big", "tiny", reason.Limit, "limits"},
		{"zoned", "general", reason.VolumeZone, "volumes"},
		{"plain", "full", reason.Fits, ""},        // a 2-CPU node still fits in the 2 CPUs left
		{"three", "full", reason.Limit, "limits"}, // a 4-CPU node does not
		{"three", "general", reason.Fits, ""},
		{"zoned", "tiny", reason.Fits, ""},
		{"affine", "general", reason.Topology, "affinity"},
	} {
		r := must[*PodReport](t)(Pod(w, c.ns, tc.pod, c.now))
		v := verdictFor(t, r, tc.pool)
		if v.Reason != tc.want || !strings.Contains(v.Message, tc.message) {
			t.Errorf("pod %s on NodePool %s: got %s %q, want %s containing %q", tc.pod, tc.pool, v.Reason, v.Message, tc.want, tc.message)
		}
		if v.Reason == reason.Fits && (v.Launch == nil || v.Launch.PricePerHour <= 0 || v.Launch.NodePool != tc.pool) {
			t.Errorf("pod %s on NodePool %s fits but launches %+v", tc.pod, tc.pool, v.Launch)
		}
	}

	// The whole-batch answer agrees with the per-pool verdicts: "big" goes to general
	// (tiny's limit is too small), "huge" fits nowhere and says so with the scheduler's reason.
	big := must[*PodReport](t)(Pod(w, c.ns, "big", c.now))
	if big.Launch == nil || big.Launch.NodePool != "general" || big.Launch.Zone != "us-east-1a" {
		t.Errorf("big: launch %+v, want one from general in us-east-1a", big.Launch)
	}
	huge := must[*PodReport](t)(Pod(w, c.ns, "huge", c.now))
	if huge.Launch != nil || huge.Placement != nil || !strings.Contains(huge.Summary, "incompatible with NodePool") {
		t.Errorf("huge: %+v", huge)
	}
	if bound := must[*PodReport](t)(Pod(w, c.ns, "db", c.now)); bound.Pending || bound.Node != "static-1" || len(bound.NodePools) != 0 {
		t.Errorf("db: %+v", bound)
	}
	if _, err := Pod(w, c.ns, "nope", c.now); err == nil {
		t.Error("explaining a missing pod: no error")
	}

}

// TestPodNominated checks the nomination read from the provisioner's Nominated event, and
// that a pending pod with room on an in-flight NodeClaim is placed there, not launched for.
func TestPodNominated(t *testing.T) {
	c := newCluster(t)
	c.create(nodePool("general"))
	nc, _ := c.managedNode("inflight-1", "general", "m5.xlarge", time.Time{}, func(nc *v1.NodeClaim, _ *corev1.Node) {})
	// Make it in flight: the NodeClaim exists, its Node does not.
	if err := c.c.Delete(c.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nc.Name}}); err != nil {
		t.Fatal(err)
	}
	p := c.pendingPod("web", "500m")
	c.event(p, reason.EventNominated, reason.NominatedMessage(nc.Name), c.now.Add(-5*time.Second))
	r := must[*PodReport](t)(Pod(c.world(), c.ns, "web", c.now))
	if r.NominatedTo == nil || *r.NominatedTo != (Target{Kind: "NodeClaim", Name: nc.Name}) {
		t.Errorf("nominatedTo %+v, want NodeClaim %s", r.NominatedTo, nc.Name)
	}
	if r.Placement == nil || *r.Placement != (Target{Kind: "NodeClaim", Name: nc.Name}) || r.Launch != nil {
		t.Errorf("placement %+v launch %+v, want the in-flight NodeClaim and no launch", r.Placement, r.Launch)
	}

	// A nomination to an initialised NodeClaim lapses DefaultNominationTTL after the later of
	// the event and the initialisation, as in the controller's state.
	ready, _ := c.managedNode("ready-1", "general", "m5.xlarge", c.now.Add(-time.Hour))
	late := c.pendingPod("late", "500m")
	c.event(late, reason.EventNominated, reason.NominatedMessage(ready.Name), c.now.Add(-time.Minute))
	fresh := c.pendingPod("fresh", "500m")
	c.event(fresh, reason.EventNominated, reason.NominatedMessage(ready.Name), c.now.Add(-time.Second))
	w := c.world()
	if got := w.Nominations(c.now)[ready.Name]; len(got) != 1 || got[0].Name != "fresh" {
		t.Errorf("nominations to %s: %v, want only fresh", ready.Name, got)
	}
	if r := must[*PodReport](t)(Pod(w, c.ns, "late", c.now)); r.NominatedTo != nil {
		t.Errorf("late: nominated to %+v after the nomination lapsed", r.NominatedTo)
	}
	pending := w.Pending(c.now)
	if slices.ContainsFunc(pending, func(p *corev1.Pod) bool { return p.Name == "fresh" || p.Name == "web" }) ||
		!slices.ContainsFunc(pending, func(p *corev1.Pod) bool { return p.Name == "late" }) {
		t.Errorf("pending %v: want late, and not the validly nominated fresh and web", podNames(pending))
	}
}

func podNames(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}
