package scheduling

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/scheduling/internal/labelreq"
)

// class is a set of pending pods the scheduler cannot tell apart: same namespace, labels,
// requests, node requirements, tolerations, affinity, spread, host ports and volumes.
type class struct {
	id     int
	pods   []*corev1.Pod
	next   int // index of the first pod not yet handled
	req    vec
	ns     string
	labels map[string]string
	tols   []corev1.Toleration
	ports  []hostPort
	vols   map[string]int64 // CSI driver -> volumes one pod attaches
	// variants are the class's constraints, strictest first: variant 0 treats every
	// preference as required; each later one drops one more preference.
	variants []*variant
	level    int     // current variant
	matched  []int   // topology groups whose selector matches the class's pods
	owns     []int   // anti-affinity groups the class's pods own (required terms)
	err      error   // the pods cannot be scheduled at all
	free     bool    // isFree: no topology bookkeeping, may be mixed onto any node
	size     float64 // value of one pod at the dual prices
	pos      int     // position in solver.order
	// reserved counts the pods expected to fit existing nodes' room (wholeOnExisting) until
	// the class's turn, when tryNodes tries those nodes first: mixFill leaves them alone.
	reserved int
	bucket   *bucket // the simulation bucket the class's pods are counted in
	// skips, per variant and alternative: nodes that never take the class again.
	skips [][]skipList
}

// variant is one way to schedule a class.
type variant struct {
	alts []reqSet // node requirement alternatives (ORed terms), each ∧ nodeSelector ∧ volumes
	topo []constraint
	owns []int // anti-affinity groups owned under this variant
	keys []keyPlan
	// compat caches altCompat: [alternative][pool index].
	compat [][]*compatSet
}

type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

func (h hostPort) conflicts(o hostPort) bool {
	if h.port != o.port || h.protocol != o.protocol {
		return false
	}
	return h.ip == o.ip || h.ip == "" || o.ip == "" || h.ip == "0.0.0.0" || o.ip == "0.0.0.0"
}

// podHostPorts are the node ports a pod takes. On the host network every container port is
// one: the API server defaults such a port's hostPort to its containerPort, and pods read
// from manifests (simulate) have not been through it.
func podHostPorts(spec *corev1.PodSpec) []hostPort {
	var out []hostPort
	add := func(cs []corev1.Container) {
		for i := range cs {
			for _, p := range cs[i].Ports {
				port := p.HostPort
				if port == 0 && spec.HostNetwork {
					port = p.ContainerPort
				}
				if port > 0 {
					out = append(out, hostPort{ip: p.HostIP, protocol: cmp.Or(p.Protocol, corev1.ProtocolTCP), port: port})
				}
			}
		}
	}
	add(spec.InitContainers)
	add(spec.Containers)
	return out
}

// classKey is a byte string that is equal for pods the scheduler treats identically.
func classKey(pod *corev1.Pod, req *vec, b *strings.Builder) string {
	b.Reset()
	b.WriteString(pod.Namespace)
	for _, k := range slices.Sorted(mapKeys(pod.Labels)) {
		b.WriteString("\x00l")
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(pod.Labels[k])
	}
	for _, x := range req.a {
		b.WriteByte(0)
		b.WriteString(strconv.FormatInt(x, 36))
	}
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(len(req.x))) // length first: the overflow is binary
	b.WriteByte(':')
	b.WriteString(req.x)
	for _, k := range slices.Sorted(mapKeys(pod.Spec.NodeSelector)) {
		b.WriteString("\x00s")
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(pod.Spec.NodeSelector[k])
	}
	if a := pod.Spec.Affinity; a != nil {
		raw, _ := a.Marshal()
		b.WriteString("\x00a")
		b.Write(raw)
	}
	for i := range pod.Spec.Tolerations {
		raw, _ := pod.Spec.Tolerations[i].Marshal()
		b.WriteString("\x00t")
		b.Write(raw)
	}
	for i := range pod.Spec.TopologySpreadConstraints {
		raw, _ := pod.Spec.TopologySpreadConstraints[i].Marshal()
		b.WriteString("\x00c")
		b.Write(raw)
	}
	for _, h := range podHostPorts(&pod.Spec) {
		fmt.Fprintf(b, "\x00p%s/%s/%d", h.ip, h.protocol, h.port)
	}
	for i := range pod.Spec.Volumes {
		if c := pod.Spec.Volumes[i].PersistentVolumeClaim; c != nil {
			b.WriteString("\x00v")
			b.WriteString(c.ClaimName)
		}
	}
	return b.String()
}

// buildClasses groups pods into classes, in first-seen order.
func (s *solver) buildClasses(pods []*corev1.Pod) {
	index := map[string]int{}
	var b strings.Builder
	for _, pod := range pods {
		pc := s.podClass(pod, &b)
		req, err, key := pc.req, pc.err, pc.key
		if i, ok := index[key]; ok {
			s.classes[i].pods = append(s.classes[i].pods, pod)
			continue
		}
		c := &class{id: len(s.classes), pods: []*corev1.Pod{pod}, req: req, ns: pod.Namespace,
			labels: pod.Labels, tols: pod.Spec.Tolerations, ports: podHostPorts(&pod.Spec), vols: s.volumeDrivers(pod.Namespace, &pod.Spec), err: err}
		index[key] = c.id
		s.classes = append(s.classes, c)
	}
	for _, c := range s.classes {
		if c.err == nil {
			c.err = s.buildVariants(c)
		}
	}
}

// fieldNodeName is the one node field a node selector term may match (matchFields): the
// node's name. The solver matches it as a label existing nodes carry (when some pod asks,
// see solver.byNodeName) and new NodeClaims lack, whose names are not known: a pod pinned
// to a node by name goes there or nowhere, and NotIn a name still admits new nodes.
const fieldNodeName = "metadata.name"

// usesNodeName reports whether a pod's required node affinity matches node names.
func usesNodeName(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	return slices.ContainsFunc(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms,
		func(t corev1.NodeSelectorTerm) bool { return len(t.MatchFields) > 0 })
}

// nodeAlternatives is nodeSelector ∧ (term1 ∨ term2 ∨ ...) as a list of requirement sets.
func nodeAlternatives(pod *corev1.Pod) ([]reqSet, error) {
	base := labelreq.FromLabels(pod.Spec.NodeSelector)
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return []reqSet{base}, nil
	}
	var alts []reqSet
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		exprs := term.MatchExpressions
		for _, f := range term.MatchFields {
			if f.Key != fieldNodeName {
				return nil, fmt.Errorf("required node affinity: matchFields key %q: only %s is supported", f.Key, fieldNodeName)
			}
			exprs = append(slices.Clip(exprs), f)
		}
		r, err := labelreq.FromSelectorTerm(exprs)
		if err != nil {
			return nil, fmt.Errorf("required node affinity: %w", err)
		}
		r, _ = r.And(base)
		alts = append(alts, r)
	}
	if len(alts) == 0 {
		return nil, fmt.Errorf("required node affinity has no terms")
	}
	return alts, nil
}

// crossAlts returns every a ∧ b.
func crossAlts(as, bs []reqSet) []reqSet {
	if len(bs) == 0 {
		return as
	}
	var out []reqSet
	for _, a := range as {
		for _, b := range bs {
			r, _ := a.And(b)
			out = append(out, r)
		}
	}
	return out
}

// volumeDrivers counts, per CSI driver, the volumes a pod of the namespace and spec
// attaches: its claims (the driver of the bound PersistentVolume, else its StorageClass's
// provisioner) and inline CSI volumes.
func (s *solver) volumeDrivers(namespace string, spec *corev1.PodSpec) map[string]int64 {
	var out map[string]int64
	vt := &s.snap.Volumes
	for i := range spec.Volumes {
		driver := ""
		switch src := &spec.Volumes[i]; {
		case src.CSI != nil:
			driver = src.CSI.Driver
		case src.PersistentVolumeClaim != nil:
			pvc := vt.Claims[namespace+"/"+src.PersistentVolumeClaim.ClaimName]
			if pvc == nil {
				continue
			}
			if pv := vt.Volumes[pvc.Spec.VolumeName]; pvc.Spec.VolumeName != "" && pv != nil {
				if pv.Spec.CSI != nil {
					driver = pv.Spec.CSI.Driver
				}
			} else if pvc.Spec.StorageClassName != nil {
				if sc := vt.StorageClasses[*pvc.Spec.StorageClassName]; sc != nil {
					driver = sc.Provisioner
				}
			}
		}
		if driver != "" {
			if out == nil {
				out = map[string]int64{}
			}
			out[driver]++
		}
	}
	return out
}

// volumeAlternatives resolves the pod's claims to ORed requirement sets (nil: unconstrained).
func (s *solver) volumeAlternatives(pod *corev1.Pod) ([]reqSet, error) {
	var alts []reqSet
	vt := &s.snap.Volumes
	for i := range pod.Spec.Volumes {
		src := pod.Spec.Volumes[i].PersistentVolumeClaim
		if src == nil {
			continue
		}
		pvc := vt.Claims[pod.Namespace+"/"+src.ClaimName]
		if pvc == nil {
			continue
		}
		var terms []reqSet
		if pv := vt.Volumes[pvc.Spec.VolumeName]; pvc.Spec.VolumeName != "" && pv != nil {
			if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
				for _, t := range na.Required.NodeSelectorTerms {
					r, err := labelreq.FromSelectorTerm(t.MatchExpressions)
					if err != nil {
						return nil, fmt.Errorf("volume %s node affinity: %w", pv.Name, err)
					}
					terms = append(terms, r)
				}
			}
		} else if pvc.Spec.StorageClassName != nil {
			if sc := vt.StorageClasses[*pvc.Spec.StorageClassName]; sc != nil {
				for _, t := range sc.AllowedTopologies {
					var r reqSet
					for _, e := range t.MatchLabelExpressions {
						kr, err := labelreq.New(e.Key, string(corev1.NodeSelectorOpIn), e.Values)
						if err != nil {
							return nil, err
						}
						r = r.With(kr)
					}
					terms = append(terms, r)
				}
			}
		}
		if len(terms) > 0 {
			if alts == nil {
				alts = []reqSet{nil}
			}
			alts = crossAlts(alts, terms)
		}
	}
	return alts, nil
}
