package scheduling

import (
	"cmp"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// policy chooses the instance type a new NodeClaim is sized for.
type policy int

const (
	// policyEfficient sizes a node for the pods still queued: the type whose simulated
	// fill has the highest value (LP dual prices) per dollar.
	policyEfficient policy = iota
	// policyLargest is first-fit-decreasing into the largest type, shrunk at the end.
	policyLargest
	// policyFewest is upstream's first fit: pods by CPU then memory, decreasing, one at a
	// time onto the NodeClaim holding the fewest pods that takes it, sized to the largest
	// type (a NodeClaim moves to another type of its pods' sets when its type no longer
	// holds or admits the next pod) and shrunk at the end. It spreads ordinary pods over
	// the NodeClaims opened for one-per-node pods, it lets one-per-node pods of different
	// workloads share a NodeClaim, and it puts pods of different node selectors on one
	// NodeClaim of a type they all allow. It runs when such pods are present (see
	// fewestWorthIt).
	policyFewest
)

// fewestMaxPods bounds policyFewest, whose every placement scans and sorts the NodeClaims.
const fewestMaxPods = 3000

// solver holds the state of one solve. It is built, run once and thrown away.
type solver struct {
	snap     *Snapshot
	pol      policy
	u        *universe
	pools    []*pool
	nodes    []*node
	existing int              // nodes[:existing] are existing or in-flight nodes
	byName   map[string]*node // the existing and in-flight nodes by name
	// byNodeName: some pod's node affinity matches node names (fieldNodeName), so existing
	// nodes' labels carry theirs.
	byNodeName bool
	classes    []*class
	order      []*class
	groups     []*group
	groupIndex map[string]int
	doms       map[string]*domains
	duals      vec64
	buckets    []*bucket
	zoneDom    []int32 // domain id of each universe zone
	ctDom      []int32 // domain id of each universe capacity type
	minReq     vec
	queued     int64    // pods still to place, over all buckets
	free       []*class // free classes (isFree) in value order, for mixFill
	simRem     []int64  // simulateMix's scratch: pods left per bucket
	targets    map[targetKey]targetMemo
	fewest     []int // policyFewest: NodeClaim indices, in tryFewest's order
	// fixedOnly: the solve has no resource dimension beyond the vectors' fixed array, so
	// no vector has an overflow and fitsFixed is fits (see vec.fits).
	fixedOnly bool
	// memo is what the solve reads from pods, shared by the policies of one Solve and, with
	// a Memo, by every solve of the memo (see Memo).
	memo *tableMemo
	// scratch holds the existing nodes and what is sized by them (see scratch).
	scratch *scratch
}

// targetKey identifies a sizing decision; targetMemo remembers it with the queue length it
// was simulated for (see memoTarget).
type targetKey struct {
	b  *bucket
	cs *compatSet
	zm uint64
	cm uint8
}

type targetMemo struct {
	pos    int
	queued int64
}

// vec64 is a price per unit of each fixed dimension (LP duals). Dimensions in a vector's
// overflow have no price: the value of a request (and every packing heuristic built on it)
// leaves them out, while fits and limits still check them.
type vec64 [numFixed]float64

// Solve plans where every pod goes: existing and in-flight nodes first, then new
// NodeClaims at the lowest price this package can find. It never modifies its inputs.
func Solve(s *Snapshot, pods []*corev1.Pod) *Plan { return solve(s, pods, nil) }

func solve(s *Snapshot, pods []*corev1.Pod, m *Memo) (plan *Plan) {
	defer func() {
		if r := recover(); r != nil {
			plan = failedPlan(pods, fmt.Errorf("planning panicked: %v\n%s", r, debug.Stack()))
		}
	}()
	var best *solver
	var bestUnsched int
	var bestPrice float64
	var shared *solver
	var solvers []*solver
	var tm *tableMemo // the memo of the solve's resource dimensions, with a Memo
	if m != nil {
		t := tableOf(s, pods)
		tm = m.forTable(&t)
	}
	for _, pol := range []policy{policyEfficient, policyLargest, policyFewest} {
		if pol == policyFewest && !shared.fewestWorthIt(len(pods)) {
			continue
		}
		prev := shared
		if prev == nil && tm != nil {
			prev = tm.compiled(s)
		}
		sv := newSolverFrom(s, pol, pods, prev)
		if shared == nil && tm != nil {
			sv.memo = tm
			tm.keepCompiled(s, sv)
		}
		shared = sv
		solvers = append(solvers, sv)
		sv.solve(pods)
		unsched, price := sv.estimate()
		if best == nil || unsched < bestUnsched || (unsched == bestUnsched && price < bestPrice-1e-9) {
			best, bestUnsched, bestPrice = sv, unsched, price
		}
	}
	plan = best.finalize()
	if m != nil {
		// The plan holds no node: the memo's next solve may reuse their scratch.
		for _, sv := range solvers {
			sv.giveBack()
		}
	}
	return plan
}

// failedPlan is the plan of a solve that failed with err: no pod placed, each with the
// reason.
func failedPlan(pods []*corev1.Pod, err error) *Plan {
	reason, _, _ := strings.Cut(err.Error(), "\n")
	plan := &Plan{Err: err, Unschedulable: make([]Unschedulable, len(pods))}
	for i, p := range pods {
		plan.Unschedulable[i] = Unschedulable{Pod: p, Reason: "scheduler error (a bug, please report it): " + reason}
	}
	return plan
}

func newSolver(snap *Snapshot, pol policy, pods []*corev1.Pod) *solver {
	return newSolverFrom(snap, pol, pods, nil)
}

// newSolverFrom builds a solver; when prev (a solver of the same snapshot and pods) is
// given, its compiled universe and pools are reused: they are read-only apart from pure
// caches and the pools' remaining limits, which are reset.
func newSolverFrom(snap *Snapshot, pol policy, pods []*corev1.Pod, prev *solver) *solver {
	s := &solver{snap: snap, pol: pol, groupIndex: map[string]int{}, doms: map[string]*domains{}}
	s.byNodeName = slices.ContainsFunc(pods, usesNodeName)
	if prev != nil {
		s.u = prev.u
		s.memo = prev.memo
		s.fixedOnly = prev.fixedOnly
		for _, z := range s.u.zones {
			s.zoneDom = append(s.zoneDom, s.domainID(labelZone, z))
		}
		for _, c := range s.u.cts {
			s.ctDom = append(s.ctDom, s.domainID(labelCapacityType, c))
		}
		for _, p := range prev.pools {
			cp := *p
			cp.remaining = cp.budget
			s.pools = append(s.pools, &cp)
		}
		return s
	}
	s.u = newUniverse(snap.NodePools)
	s.u.res = tableOf(snap, pods)
	s.fixedOnly = s.u.res.dims() <= numFixed
	pools := make([]*NodePool, len(snap.NodePools))
	for i := range snap.NodePools {
		pools[i] = &snap.NodePools[i]
	}
	slices.SortStableFunc(pools, func(a, b *NodePool) int {
		return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.Name, b.Name))
	})
	for _, z := range s.u.zones {
		s.zoneDom = append(s.zoneDom, s.domainID(labelZone, z))
	}
	for _, c := range s.u.cts {
		s.ctDom = append(s.ctDom, s.domainID(labelCapacityType, c))
	}
	for _, np := range pools {
		p := s.u.compilePool(np, snap.DaemonSets)
		p.idx = len(s.pools)
		s.pools = append(s.pools, p)
	}
	s.memo = newTableMemo()
	return s
}

// tableOf is a solve's resource table: a dimension for every extended resource the pods and
// DaemonSets ask for and every one the NodePools limit, known before instance types are
// compiled (a limit on a resource no type's capacity carries would never bind); "nodes"
// counts one per NodeClaim (see universe.compile).
func tableOf(snap *Snapshot, pods []*corev1.Pod) resTable {
	var limited []corev1.ResourceName
	for i := range snap.NodePools {
		limited = append(limited, sortedNames(snap.NodePools[i].Limits)...)
	}
	var t resTable
	t.intern([][]*corev1.Pod{pods, snap.DaemonSets}, limited)
	return t
}

// solve places the pods; finalize turns the result into a Plan.
func (s *solver) solve(pods []*corev1.Pod) {
	s.buildClasses(pods)
	s.addExistingNodes()
	s.countExisting()
	s.matchClasses()
	s.spreadDomains()
	s.orderClasses()
	queue := s.order
	for pass := 0; pass < 4 && len(queue) > 0; pass++ {
		var retry []*class
		progress := false
		for _, c := range queue {
			before := c.next
			s.placeClass(c)
			progress = progress || c.next > before
			if c.next < len(c.pods) {
				retry = append(retry, c)
			}
		}
		queue = retry
		if !progress {
			break
		}
	}
	if s.pol == policyEfficient {
		s.repack()
		s.crossRepack()
	}
	s.mergeClaims()
	s.rebalanceZones()
	s.settleOntoExisting()
}

// fewestWorthIt reports whether policyFewest may find a cheaper plan than the others: the
// batch is small enough for its quadratic scan, and some class is one-per-node (host
// ports, or a hostname rule) or spread over zones (upstream's order, filling its
// NodeClaims round the zones, packed four spread and two free workloads on four
// c6g.4xlarge and an r6g.medium where the others planned $0.09/h more), or the classes
// ask for more than one set of node requirements (it shares a NodeClaim among them on a
// type they all allow, where the others open one per set), or a pool has limits (its
// NodeClaims grow to any type the limits leave room for, where the others fill the type
// they were sized for).
func (s *solver) fewestWorthIt(pods int) bool {
	if pods > fewestMaxPods {
		return false
	}
	if slices.ContainsFunc(s.pools, (*pool).limitedAny) {
		return true
	}
	first, seen := "", false
	for _, c := range s.classes {
		if len(c.ports) > 0 {
			return true
		}
		for _, v := range c.variants {
			for _, con := range v.topo {
				if g := s.groups[con.group]; g.key == labelHostname || g.key == labelZone && g.kind == kindSpread {
					return true
				}
			}
		}
		if len(c.variants) == 0 {
			continue
		}
		sig := ""
		for _, a := range c.variants[0].alts {
			sig += a.Signature() + "|"
		}
		if !seen {
			first, seen = sig, true
		} else if sig != first {
			return true
		}
	}
	return false
}

// matchClasses records, for each class, the groups its pods count in.
func (s *solver) matchClasses() {
	for _, c := range s.classes {
		for gi, g := range s.groups {
			if g.matchesPod(c.ns, c.labels) {
				c.matched = append(c.matched, gi)
			}
		}
		for _, v := range c.variants {
			for i := range v.topo {
				v.topo[i].self = slices.Contains(c.matched, v.topo[i].group)
			}
		}
	}
}

// orderClasses sorts classes by decreasing value (LP dual prices), largest first, and
// records the smallest request in every dimension for early exits. Each class reserves the
// pods the existing nodes' room is expected to take (wholeOnExisting), which mixFill leaves
// to it.
func (s *solver) orderClasses() {
	left := s.leftByExisting()
	s.duals = s.dualPrices(left)
	for i, c := range s.classes {
		if c.err == nil {
			c.reserved = len(c.pods) - int(left[i])
		}
	}
	for i := range s.minReq.a {
		s.minReq.a[i] = 1 << 62
	}
	for _, c := range s.classes {
		c.size = s.value(&c.req)
		if c.err != nil {
			continue
		}
		s.order = append(s.order, c)
		for d := range c.req.a {
			s.minReq.a[d] = min(s.minReq.a[d], c.req.a[d])
		}
	}
	if s.pol == policyFewest {
		slices.SortStableFunc(s.order, func(a, b *class) int {
			return cmp.Or(cmp.Compare(b.req.a[dimCPU], a.req.a[dimCPU]), cmp.Compare(b.req.a[dimMemory], a.req.a[dimMemory]), cmp.Compare(a.id, b.id))
		})
	} else {
		slices.SortStableFunc(s.order, func(a, b *class) int {
			return cmp.Or(cmpFloat(b.size, a.size), cmp.Compare(a.id, b.id))
		})
	}
	for _, c := range s.order {
		if c.free = s.isFree(c); c.free {
			s.free = append(s.free, c)
		}
	}
	s.buildBuckets()
}

// value is a request's worth at the dual prices.
func (s *solver) value(r *vec) float64 {
	v := 0.0
	for d := range r.a {
		v += s.duals[d] * float64(r.a[d])
	}
	return v
}
