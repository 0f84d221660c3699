package scheduling

import (
	"maps"
	"math"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/pods"

	"github.com/gokarpenter/karpenter/pkg/scheduling/internal/labelreq"
)

// node is an existing node or a NodeClaim being planned.
type node struct {
	idx      int
	name     string
	existing bool
	labels   map[string]string // existing nodes only
	taints   []corev1.Taint
	free     vec
	ports    []hostPort
	volLimit map[string]int64 // existing nodes: attachable volumes per CSI driver
	volUsed  map[string]int64
	pods     []*corev1.Pod // pending pods placed here
	hostDom  int32
	noAnti   bool // existing nodes: no pod listed in ExistingNode.Pods has pod anti-affinity

	// NodeClaims only.
	pool    *pool
	reqs    reqSet
	zm      uint64
	cm      uint8
	bits    []uint64 // compatible positions in pool.types
	target  int      // position in pool.types the node is sized for
	used    vec      // pods' requests, DaemonSets excluded
	applied []*compatSet
	runs    []run // the classes of pods, in order: runs[i].k pods of runs[i].c
}

// run is k consecutive pods of class c in a NodeClaim's pod list (see repack).
type run struct {
	c *class
	k int
}

func (s *solver) addExistingNodes() {
	// One array for all the nodes and maps sized up front, a previous solve's through a
	// Memo (see scratch): a disruption sweep builds thousands of existing nodes per
	// candidate it simulates, and growing these maps was a quarter of each simulation.
	sc := s.memo.takeScratch()
	s.scratch = sc
	all := sc.existingNodes(len(s.snap.Nodes))
	if s.doms[labelHostname] == nil && sc.hosts != nil {
		s.doms[labelHostname] = sc.hosts
	}
	s.reserveDomains(labelHostname, len(s.snap.Nodes))
	if s.nodes == nil {
		s.nodes = sc.list
	}
	s.nodes = slices.Grow(s.nodes, len(s.snap.Nodes))
	for i := range s.snap.Nodes {
		en := &s.snap.Nodes[i]
		n := &all[i]
		labels := en.Labels
		if s.byNodeName {
			labels = maps.Clone(labels)
			if labels == nil {
				labels = map[string]string{}
			}
			labels[fieldNodeName] = en.Name
		}
		*n = node{idx: len(s.nodes), name: en.Name, existing: true, labels: labels, taints: en.Taints, volLimit: en.VolumeLimits}
		s.nodes = append(s.nodes, n)
		if u := s.nodeUse(en); u != nil {
			n.hostDom = s.domainID(labelHostname, u.host)
			n.free = u.free
			n.ports = append(n.ports, u.ports...)
			n.noAnti = !u.anti
			continue
		}
		n.hostDom = s.domainID(labelHostname, hostnameOf(en.Labels, en.Name))
		n.free = s.u.res.vecOf(en.Allocatable)
		en.eachPod(func(p RunningPod) { s.occupy(n, p) })
	}
	s.existing = len(s.nodes)
	for _, p := range s.snap.Pods {
		if p.Spec.NodeName == "" || pods.IsTerminal(p) {
			continue
		}
		if n := s.existingByName()[p.Spec.NodeName]; n != nil {
			s.occupy(n, RunningPodOf(p))
		}
	}
}

// existingByName indexes the existing and in-flight nodes by name, on first use: most
// solves never need it (their snapshot's pods are all pending).
func (s *solver) existingByName() map[string]*node {
	if s.byName == nil {
		s.byName = make(map[string]*node, s.existing)
		for _, n := range s.nodes[:s.existing] {
			s.byName[n.name] = n
		}
	}
	return s.byName
}

// hostnameOf is a node's hostname label, else its name.
func hostnameOf(labels map[string]string, name string) string {
	if v, ok := labels[labelHostname]; ok {
		return v
	}
	return name
}

func (s *solver) hostname(n *node) string { return hostnameOf(n.labels, n.name) }

// occupy accounts for an unfinished pod's resources and host ports. A pod whose requests
// cannot be read fills the node.
func (s *solver) occupy(n *node, p RunningPod) {
	r, err := s.u.res.podRequests(p.Spec)
	if err != nil {
		// What the pod uses is unknown: count the node as full rather than the pod as
		// using nothing.
		n.free.clamp(math.MinInt64, 0)
		r = vec{}
	}
	n.free.sub(&r)
	n.ports = append(n.ports, podHostPorts(p.Spec)...)
	if n.volLimit != nil {
		n.addVolumes(s.volumeDrivers(p.Meta.Namespace, p.Spec), 1)
	}
}

// addVolumes counts k pods' worth of volumes against the node's attach limits.
func (n *node) addVolumes(vols map[string]int64, k int) {
	for d, v := range vols {
		if n.volUsed == nil {
			n.volUsed = map[string]int64{}
		}
		n.volUsed[d] += v * int64(k)
	}
}

// volumeRoom is how many pods attaching vols the node's volume limits still take (limit
// when nothing binds).
func (n *node) volumeRoom(vols map[string]int64, limit int) int {
	for d, v := range vols {
		if lim, ok := n.volLimit[d]; ok && v > 0 {
			limit = min(limit, int(max(lim-n.volUsed[d], 0)/v))
		}
	}
	return limit
}

// existingPods calls f for every running pod with its node; with antiOnly, it may skip the
// nodes whose pods have no pod anti-affinity (see node.noAnti).
func (s *solver) existingPods(antiOnly bool, f func(n *node, p RunningPod)) {
	for i, n := range s.nodes[:s.existing] {
		if antiOnly && n.noAnti {
			continue
		}
		s.snap.Nodes[i].eachPod(func(p RunningPod) { f(n, p) })
	}
	for _, p := range s.snap.Pods {
		if p.Spec.NodeName == "" || pods.IsTerminal(p) {
			continue
		}
		if n := s.existingByName()[p.Spec.NodeName]; n != nil {
			f(n, RunningPodOf(p))
		}
	}
}

// countExisting registers running pods' anti-affinity terms and counts them in groups.
func (s *solver) countExisting() {
	s.existingPods(true, func(n *node, p RunningPod) {
		a := p.Spec.Affinity
		if a == nil || a.PodAntiAffinity == nil {
			return
		}
		pc := &class{ns: p.Meta.Namespace, labels: p.Meta.Labels}
		for i := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			con, err := s.affinityConstraint(pc, kindAnti, &a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i])
			if err != nil {
				continue
			}
			g := s.groups[con.group]
			if v, ok := n.labels[g.key]; ok || g.key == labelHostname {
				d := n.hostDom
				if g.key != labelHostname {
					d = s.domainID(g.key, v)
				}
				g.owners = bump(g.owners, d, 1)
			}
		}
	})
	if len(s.groups) == 0 {
		return
	}
	s.existingPods(false, func(n *node, p RunningPod) {
		for _, g := range s.groups {
			if !g.matchesPod(p.Meta.Namespace, p.Meta.Labels) || !g.countsNode(n.labels, n.taints) {
				continue
			}
			if d, ok := s.existingDomain(n, g.key); ok {
				g.counts = bump(g.counts, d, 1)
				g.total++
			}
		}
	})
}

func (s *solver) existingDomain(n *node, key string) (int32, bool) {
	if key == labelHostname {
		return n.hostDom, true
	}
	v, ok := n.labels[key]
	if !ok {
		return 0, false
	}
	return s.domainID(key, v), true
}

// pin fixes a NodeClaim's value for key.
func (s *solver) pin(n *node, key string, d int32) {
	name := s.doms[key].names[d]
	kr, _ := labelreq.New(key, string(corev1.NodeSelectorOpIn), []string{name})
	n.reqs = n.reqs.With(kr)
	switch key {
	case labelZone:
		for i, z := range s.u.zones {
			if z == name {
				n.zm &= 1 << i
			}
		}
	case labelCapacityType:
		for i, c := range s.u.cts {
			if c == name {
				n.cm &= 1 << i
			}
		}
	}
}

// setTarget sizes NodeClaim n for its pool's type at position j: its free room is that
// type's allocatable less the DaemonSets' overhead and what n already holds.
func (s *solver) setTarget(n *node, j int) {
	n.target = j
	n.free = s.u.types[n.pool.types[j]].alloc
	n.free.sub(&n.pool.dsOverhead)
	n.free.sub(&n.used)
}

// keepClaims makes the planned NodeClaims those of the current ones, then of added, that
// keep reports true for, and numbers them again.
func (s *solver) keepClaims(added []*node, keep func(*node) bool) {
	kept := s.nodes[:s.existing:s.existing] // appending copies: s.nodes is read below
	for _, ns := range [][]*node{s.nodes[s.existing:], added} {
		for _, n := range ns {
			if keep(n) {
				kept = append(kept, n)
			}
		}
	}
	for i, n := range kept[s.existing:] {
		n.idx = s.existing + i
		n.name = claimName(n.idx)
	}
	s.nodes = kept
}

func claimName(i int) string { return "nodeclaim-" + strconv.Itoa(i) }
