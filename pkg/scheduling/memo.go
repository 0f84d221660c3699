package scheduling

import (
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Memo remembers what solves read from the pods running on existing nodes (per node, its
// allocatable less its pods' requests, and their host ports) and from the pods to place
// (requests and scheduling class). Many solves over one snapshot then read each pod once: disruption simulates removing one set of candidates after
// another from the same cluster, and reading the requests of every running pod was most of
// each simulation. A Memo changes no result. It knows a node's pods by the identity of
// ExistingNode.Pods and Running (each one's first element's address and its length) and of
// its Allocatable map, and pods by pointer, so the caller must not modify a pod, a Pods or
// Running slice in place or an Allocatable map while a Memo that has seen them is in use (a
// disruption pass's are read-only). It is not safe for concurrent solves. Use NewMemo.
type Memo struct {
	// byTable: requests are vectors over a solve's resource dimensions, which depend on the
	// extended resources the pods to place ask for; one memo per set of dimensions.
	byTable map[string]*tableMemo
}

// tableMemo is a Memo for one set of resource dimensions.
type tableMemo struct {
	nodes map[string]*nodeUse       // by node name
	pods  map[*corev1.Pod]*podClass // pods to place
	// spare are the scratches of solves that have finished (see scratch): a disruption
	// sweep solves thousands of times over the same 2,000 nodes, and building their nodes
	// afresh for each policy of each solve (1.2 MB at 2,000 nodes) was most of what the sweep
	// allocated, which the collector then had to mark for, or, under a memory limit, run
	// for again and again.
	spare []*scratch
	// base holds the universe and pools compiled for the NodePools and DaemonSets of
	// baseKey (see compiled).
	base    *solver
	baseKey compiledKey
}

// compiledKey names a snapshot's NodePools and DaemonSets by the identity of their slices.
type compiledKey struct {
	pools *NodePool
	np    int
	ds    **corev1.Pod
	nds   int
}

func compiledKeyOf(s *Snapshot) compiledKey {
	k := compiledKey{np: len(s.NodePools), nds: len(s.DaemonSets)}
	if k.np > 0 {
		k.pools = &s.NodePools[0]
	}
	if k.nds > 0 {
		k.ds = &s.DaemonSets[0]
	}
	return k
}

// compiled returns a solver holding the universe and pools an earlier solve through the
// memo compiled for the snapshot's NodePools and DaemonSets (the same slices), in the
// memo's resource dimensions, nil when there is none. They depend on nothing else (not on the
// nodes, nor on the pods but for the dimensions their requests need), and are read-only
// apart from pure caches and the pools' remaining limits, which newSolverFrom resets, as it
// does between the policies of one solve: compiling every instance type of every pool
// again was two fifths of each of a disruption sweep's simulations.
func (m *tableMemo) compiled(s *Snapshot) *solver {
	if m.base == nil || m.baseKey != compiledKeyOf(s) {
		return nil
	}
	return m.base
}

// keepCompiled remembers the universe and pools sv compiled (or reused) for the snapshot.
func (m *tableMemo) keepCompiled(s *Snapshot, sv *solver) {
	if k := compiledKeyOf(s); m.base == nil || m.baseKey != k || m.base.u != sv.u {
		m.base = &solver{u: sv.u, pools: sv.pools, fixedOnly: sv.fixedOnly, memo: m}
		m.baseKey = k
	}
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{byTable: map[string]*tableMemo{}} }

func newTableMemo() *tableMemo {
	return &tableMemo{nodes: map[string]*nodeUse{}, pods: map[*corev1.Pod]*podClass{}}
}

// nodeUse is what an existing node's pods take from it.
type nodeUse struct {
	first **corev1.Pod        // &Pods[0], nil when it has none: the pods it was computed from
	n     int                 // len(Pods)
	run   *RunningPod         // &Running[0], nil when it has none
	nrun  int                 // len(Running)
	alloc corev1.ResourceList // the Allocatable it was computed from (kept, so never reused)
	free  vec                 // Allocatable less the requests of its pods that are not terminal
	ports []hostPort
	anti  bool // some pod has required pod anti-affinity terms (see countExisting)
	// labels is the Labels map host was read from (kept, so never reused).
	labels map[string]string
	host   string // the node's hostname label, else its name
}

// podClass is what buildClasses reads from a pod to place.
type podClass struct {
	req vec
	err error
	key string
}

// forTable returns the memo of the table's dimensions.
func (m *Memo) forTable(t *resTable) *tableMemo {
	key := t.signature()
	tm, ok := m.byTable[key]
	if !ok {
		tm = newTableMemo()
		m.byTable[key] = tm
	}
	return tm
}

// signature names the table's dimensions, in order.
func (t *resTable) signature() string {
	if len(t.extended) == 0 {
		return ""
	}
	var b strings.Builder
	for _, n := range t.extended {
		b.WriteString(string(n))
		b.WriteByte(0)
	}
	return b.String()
}

// nodeUse returns what the node's pods leave of it, or nil when it cannot be summed up
// front: a pod whose requests cannot be read fills the node from where it stands in the
// list, and attach limits need every pod's volumes (occupy handles both, pod by pod).
func (s *solver) nodeUse(en *ExistingNode) *nodeUse {
	if en.VolumeLimits != nil {
		return nil
	}
	var first **corev1.Pod
	if len(en.Pods) > 0 {
		first = &en.Pods[0]
	}
	var run *RunningPod
	if len(en.Running) > 0 {
		run = &en.Running[0]
	}
	if u, ok := s.memo.nodes[en.Name]; ok && u.first == first && u.n == len(en.Pods) && u.run == run && u.nrun == len(en.Running) &&
		sameMap(u.alloc, en.Allocatable) && sameMap(u.labels, en.Labels) {
		return u
	}
	u := &nodeUse{first: first, n: len(en.Pods), run: run, nrun: len(en.Running), alloc: en.Allocatable, free: s.u.res.vecOf(en.Allocatable),
		labels: en.Labels, host: hostnameOf(en.Labels, en.Name)}
	unreadable := false
	en.eachPod(func(p RunningPod) {
		if unreadable {
			return
		}
		r, err := s.u.res.podRequests(p.Spec)
		if err != nil {
			unreadable = true
			return
		}
		u.free.sub(&r)
		u.ports = append(u.ports, podHostPorts(p.Spec)...)
		u.anti = u.anti || (p.Spec.Affinity != nil && p.Spec.Affinity.PodAntiAffinity != nil)
	})
	if unreadable {
		return nil
	}
	s.memo.nodes[en.Name] = u
	return u
}

// sameMap reports whether a and b are the same map (not equal contents: the same one).
func sameMap[K comparable, V any, M ~map[K]V](a, b M) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// podClass returns the pod's requests and class key, read once per memo.
func (s *solver) podClass(pod *corev1.Pod, b *strings.Builder) *podClass {
	if pc, ok := s.memo.pods[pod]; ok {
		return pc
	}
	pc := &podClass{}
	pc.req, pc.err = s.u.res.podRequests(&pod.Spec)
	if pc.err != nil {
		pc.key = "\x01err" + string(pod.UID) + pod.Namespace + "/" + pod.Name
	} else {
		pc.key = classKey(pod, &pc.req, b)
	}
	s.memo.pods[pod] = pc
	return pc
}

// scratch is what a solve builds for every existing node, given back through a Memo once
// the solve is done for the next solve to reuse: the nodes, the solver's node list and the
// hostname domains.
type scratch struct {
	nodes []node
	list  []*node
	hosts *domains
}

// takeScratch returns a spare scratch, else a new one.
func (m *tableMemo) takeScratch() *scratch {
	if n := len(m.spare); n > 0 {
		sc := m.spare[n-1]
		m.spare = m.spare[:n-1]
		return sc
	}
	return &scratch{}
}

// existingNodes returns n zeroed nodes, in the scratch's array when it is large enough.
func (sc *scratch) existingNodes(n int) []node {
	if cap(sc.nodes) < n {
		sc.nodes = make([]node, n)
	}
	return sc.nodes[:n]
}

// giveBack returns the solver's scratch to its memo once nothing points into it: the
// solve has finished, and a Plan holds no node (only their names and pod lists, which are
// not in the scratch). It is zeroed, so it keeps none of the solve's pods or maps.
func (s *solver) giveBack() {
	sc := s.scratch
	if sc == nil {
		return
	}
	s.scratch = nil
	clear(sc.nodes[:cap(sc.nodes)])
	clear(s.nodes[:cap(s.nodes)])
	sc.list = s.nodes[:0]
	if d := s.doms[labelHostname]; d != nil {
		clear(d.ids)
		clear(d.names[:cap(d.names)])
		d.names = d.names[:0]
		sc.hosts = d
	}
	s.memo.spare = append(s.memo.spare, sc)
}

// SolveWith is Solve, reading existing nodes' pods through the memo (nil: Solve).
func SolveWith(s *Snapshot, pods []*corev1.Pod, m *Memo) *Plan {
	return solve(s, pods, m)
}
