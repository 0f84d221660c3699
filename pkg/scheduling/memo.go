package scheduling

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/gokarpenter/karpenter/pkg/pods"
)

// Memo remembers what solves read from the pods running on existing nodes: per node, the
// sum of its pods' requests and their host ports. Many solves over one snapshot then read
// each node's pods once: disruption simulates removing one set of candidates after
// another from the same cluster, and reading the requests of every running pod was most of
// each simulation. A Memo changes no result. It knows a node's pods by the identity of
// ExistingNode.Pods (its first element's address and its length), so the caller must not
// modify a pod, or a Pods slice in place, while a Memo that has seen them is in use (a
// disruption pass's are read-only). It is not safe for concurrent solves. Use NewMemo.
type Memo struct {
	// byTable: requests are vectors over a solve's resource dimensions, which depend on the
	// extended resources the pods to place ask for; one map per set of dimensions.
	byTable map[string]map[string]*nodeUse
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{byTable: map[string]map[string]*nodeUse{}} }

// nodeUse is what an existing node's pods take from it.
type nodeUse struct {
	first **corev1.Pod // &Pods[0], nil when it has none: the pods it was computed from
	n     int
	used  vec // the requests of its pods that are not terminal
	ports []hostPort
}

// forTable returns the memo of the table's dimensions.
func (m *Memo) forTable(t *resTable) map[string]*nodeUse {
	key := t.signature()
	uses, ok := m.byTable[key]
	if !ok {
		uses = map[string]*nodeUse{}
		m.byTable[key] = uses
	}
	return uses
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

// nodeUse returns what the node's pods take, or nil when it cannot be summed up front: a
// pod whose requests cannot be read fills the node from where it stands in the list, and
// attach limits need every pod's volumes (occupy handles both, pod by pod).
func (s *solver) nodeUse(en *ExistingNode) *nodeUse {
	if en.VolumeLimits != nil {
		return nil
	}
	var first **corev1.Pod
	if len(en.Pods) > 0 {
		first = &en.Pods[0]
	}
	if u, ok := s.uses[en.Name]; ok && u.first == first && u.n == len(en.Pods) {
		return u
	}
	u := &nodeUse{first: first, n: len(en.Pods)}
	for _, p := range en.Pods {
		if pods.IsTerminal(p) {
			continue
		}
		r, err := s.u.res.podRequests(p)
		if err != nil {
			return nil
		}
		u.used.add(&r)
		u.ports = append(u.ports, podHostPorts(p)...)
	}
	s.uses[en.Name] = u
	return u
}

// SolveWith is Solve, reading existing nodes' pods through the memo (nil: Solve).
func SolveWith(s *Snapshot, pods []*corev1.Pod, m *Memo) *Plan {
	return solve(s, pods, m)
}
