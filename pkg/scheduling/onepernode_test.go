package scheduling

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// Mixes of one-per-node pods (host ports, hostname anti-affinity, hostname spread with
// maxSkew 1) and ordinary pods. Upstream's first fit puts the ordinary pods on every
// NodeClaim already opened, those of the one-per-node pods included; the solver must cost no
// more than that on the same input.

func antiHostnameApp(p *corev1.Pod) {
	p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": p.Labels["app"]}}}}}}
}

func hostPort80(p *corev1.Pod) {
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 80}}
}

func spreadHostname(p *corev1.Pod) {
	p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
		WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": p.Labels["app"]}}}}
}

// soloMix is n pods: about 15 % one-per-node (mut) pods of soloCPU/soloMem in apps of 30,
// the rest ordinary pods drawn from cpus × mems.
func soloMix(n int, seed uint64, mut func(*corev1.Pod), soloCPU, soloMem string, cpus, mems []string) []*corev1.Pod {
	r := rand.New(rand.NewPCG(seed, 7))
	solo := max(1, n*15/100)
	if n == 1 {
		solo = 1
	}
	var pods []*corev1.Pod
	for i := range solo {
		p := mkPod(fmt.Sprintf("solo-%d", i), soloCPU, soloMem, map[string]string{"app": fmt.Sprintf("solo-%d", i/30)})
		mut(p)
		pods = append(pods, p)
	}
	for i := 0; len(pods) < n; i++ {
		pods = append(pods, mkPod(fmt.Sprintf("plain-%d", i), pick(r, cpus), pick(r, mems), map[string]string{"app": fmt.Sprintf("plain-%d", i%20)}))
	}
	return pods
}

var (
	smallCPU = []string{"100m", "250m", "500m"}
	smallMem = []string{"128Mi", "256Mi", "512Mi", "1Gi"}
)

// antiPods: hostname anti-affinity pods of 1 CPU / 1Gi among small ordinary pods.
func antiPods(n int, seed uint64) []*corev1.Pod {
	return soloMix(n, seed, antiHostnameApp, "1", "1Gi", smallCPU, smallMem)
}

// hostPortPods: a DaemonSet-like web tier on host port 80 (500m / 512Mi) among batch pods of
// 1-2 CPU and 2-4 GiB.
func hostPortPods(n int, seed uint64) []*corev1.Pod {
	return soloMix(n, seed, hostPort80, "500m", "512Mi", []string{"1", "2"}, []string{"2Gi", "4Gi"})
}

// spreadPods: hostname spread (maxSkew 1) pods of 2 CPU / 4Gi among small ordinary pods.
func spreadPods(n int, seed uint64) []*corev1.Pod {
	return soloMix(n, seed, spreadHostname, "2", "4Gi", smallCPU, smallMem)
}

// refType is an instance type as the reference sees it, in one NodePool.
type refType struct {
	cpu, mem, pods int64
	price          float64
	labels         map[string]string
	zones          map[string]bool // where it has an available offering of the pool's capacity types
	capCPU, capMem int64           // its capacity, which the pool's limits count
}

// refSelects reports whether a pod's node selector, zone aside (claims carry the zone), admits
// a type's labels.
func refSelects(p *corev1.Pod, ty refType) bool {
	for k, v := range p.Spec.NodeSelector {
		if k != corev1.LabelTopologyZone && ty.labels[k] != v {
			return false
		}
	}
	return true
}

// refClaim is one NodeClaim of the reference: its pods' requests and the types still open.
type refClaim struct {
	cpu, mem, pods int64
	claimed        []*corev1.Pod
	ports          map[int32]bool
	types          []refType
	zone           string // the zone a pod's node selector narrowed the claim to, or ""
	pool           int    // the reference pool (weight order) it was opened in
}

// upstreamFFD prices an upstream-like plan: pods sorted by CPU then memory, decreasing; each
// pod goes to the first NodeClaim (fewest pods first when fewestFirst, upstream's order;
// else in creation order) whose open types still fit it and match its node selector, whose
// zone (set by the first pod that selects one) it may use, and whose pods it does not
// conflict with (hostname anti-affinity, host ports, hostname spread of maxSkew 1 as at
// most one matching pod per node, since a new node is always an empty domain); else a new
// NodeClaim opens with every type that fits. A pod with a zone spread constraint (maxSkew,
// DoNotSchedule, pods of its app) pins its NodeClaim to a zone, as upstream's topology
// does: of the zones the NodeClaim still allows, those where one more matching pod keeps
// the skew over the least-used zone within maxSkew, the least used of them (ties: the first
// by name; upstream breaks them in map order). Each NodeClaim costs its cheapest remaining
// type (offered in its zone, once pinned). It shares no code with the solver.
func upstreamFFD(t testing.TB, np NodePool, pods []*corev1.Pod, fewestFirst bool) float64 {
	return upstreamFFDPools(t, []NodePool{np}, pods, fewestFirst)
}

// upstreamFFDPools is upstreamFFD over several NodePools, as upstream opens NodeClaims: a
// pod no open NodeClaim takes opens one in the first pool, by weight, with a type that fits
// it within what is left of the pool's CPU and memory limits; the NodeClaim then takes the
// most of each resource among its types off what is left (upstream's subtractMax), and
// pods joining it later are not checked against the limits. A pool's types are priced by
// the offerings of its capacity-type requirement (on-demand when it has none).
func upstreamFFDPools(t testing.TB, nps []NodePool, pods []*corev1.Pod, fewestFirst bool) float64 {
	t.Helper()
	return upstreamFFDDaemons(t, nps, nil, pods, fewestFirst)
}

// upstreamFFDDaemons is upstreamFFDPools with DaemonSets: as upstream does, every NodeClaim
// of a pool reserves the requests of each DaemonSet whose node selector the pool's
// requirements allow (per pool, not per type: a DaemonSet of arm64 nodes counts on the
// amd64 types of a pool allowing both).
func upstreamFFDDaemons(t testing.TB, nps []NodePool, daemons []*corev1.Pod, pods []*corev1.Pod, fewestFirst bool) float64 {
	t.Helper()
	nps = slices.Clone(nps)
	slices.SortStableFunc(nps, func(a, b NodePool) int { return cmp.Compare(b.Weight, a.Weight) })
	poolTypes := make([][]refType, len(nps))
	type left struct {
		cpu, mem       int64 // what the pool's limits leave
		limCPU, limMem bool  // whether it limits them
	}
	lefts := make([]left, len(nps))
	zoneSet := map[string]bool{}
	for pi, np := range nps {
		capacityTypes := []string{"on-demand"}
		for _, r := range np.Requirements {
			if r.Key == labelCapacityType {
				capacityTypes = r.Values
			}
		}
		if q, ok := np.Limits[corev1.ResourceCPU]; ok {
			lefts[pi].cpu, lefts[pi].limCPU = q.MilliValue(), true
		}
		if q, ok := np.Limits[corev1.ResourceMemory]; ok {
			lefts[pi].mem, lefts[pi].limMem = q.Value(), true
		}
		var dsCPU, dsMem, dsPods int64
		for _, ds := range daemons {
			if refPoolAllows(np.Requirements, ds.Spec.NodeSelector) {
				req := ds.Spec.Containers[0].Resources.Requests
				dsCPU, dsMem, dsPods = dsCPU+req.Cpu().MilliValue(), dsMem+req.Memory().Value(), dsPods+1
			}
		}
		for _, it := range np.InstanceTypes {
			if !refAdmits(np.Requirements, it) {
				continue
			}
			price := math.Inf(1)
			zones := map[string]bool{}
			for _, o := range it.Offerings {
				if slices.Contains(capacityTypes, o.CapacityType) && o.Available {
					price = min(price, o.PricePerHour)
					zones[o.Zone], zoneSet[o.Zone] = true, true
				}
			}
			a := it.Allocatable()
			if math.IsInf(price, 1) {
				continue
			}
			poolTypes[pi] = append(poolTypes[pi], refType{a.Cpu().MilliValue() - dsCPU, a.Memory().Value() - dsMem, a.Pods().Value() - dsPods, price, it.Labels, zones,
				it.Capacity.Cpu().MilliValue(), it.Capacity.Memory().Value()})
		}
	}
	withinLimits := func(pi int, ty refType) bool {
		l := lefts[pi]
		return (!l.limCPU || ty.capCPU <= l.cpu) && (!l.limMem || ty.capMem <= l.mem)
	}
	allZones := slices.Sorted(maps.Keys(zoneSet))
	spread := map[string]map[string]int{} // app -> zone -> matching pods pinned there
	sorted := slices.Clone(pods)
	slices.SortStableFunc(sorted, func(a, b *corev1.Pod) int {
		ra, rb := a.Spec.Containers[0].Resources.Requests, b.Spec.Containers[0].Resources.Requests
		return cmp.Or(rb.Cpu().Cmp(*ra.Cpu()), rb.Memory().Cmp(*ra.Memory()))
	})
	var claims []*refClaim
	for _, p := range sorted {
		req := p.Spec.Containers[0].Resources.Requests
		cpu, mem := req.Cpu().MilliValue(), req.Memory().Value()
		if fewestFirst {
			slices.SortStableFunc(claims, func(a, b *refClaim) int { return cmp.Compare(len(a.claimed), len(b.claimed)) })
		}
		tsc := refZoneSpread(p)
		// zoneFor is the zone p pins a NodeClaim allowing zone ("" for any) to, "" when p
		// pins none, and false when p may not go there.
		zoneFor := func(zone string) (string, bool) {
			if z := p.Spec.NodeSelector[corev1.LabelTopologyZone]; z != "" {
				if zone != "" && z != zone {
					return "", false
				}
				zone = z
			}
			if tsc == nil {
				return zone, true
			}
			counts := spread[p.Labels["app"]]
			least := math.MaxInt
			for _, z := range allZones {
				least = min(least, counts[z])
			}
			best, ok := "", false
			for _, z := range allZones {
				if (zone == "" || z == zone) && counts[z]+1-least <= int(tsc.MaxSkew) && (!ok || counts[z] < counts[best]) {
					best, ok = z, true
				}
			}
			return best, ok
		}
		fits := func(ty refType, cpu, mem, pods int64, zone string) bool {
			return cpu <= ty.cpu && mem <= ty.mem && pods <= ty.pods && refSelects(p, ty) && (zone == "" || ty.zones[zone])
		}
		pin := func(c *refClaim, zone string) {
			refAdd(c, p)
			c.zone = zone
			if tsc != nil {
				if spread[p.Labels["app"]] == nil {
					spread[p.Labels["app"]] = map[string]int{}
				}
				spread[p.Labels["app"]][zone]++
			}
		}
		placed := false
		for _, c := range claims {
			if refConflicts(c, p) {
				continue
			}
			zone, ok := zoneFor(c.zone)
			if !ok {
				continue
			}
			var left []refType
			for _, ty := range c.types {
				if fits(ty, c.cpu+cpu, c.mem+mem, c.pods+1, zone) {
					left = append(left, ty)
				}
			}
			if len(left) == 0 {
				continue
			}
			c.types, c.cpu, c.mem, c.pods = left, c.cpu+cpu, c.mem+mem, c.pods+1
			pin(c, zone)
			placed = true
			break
		}
		if placed {
			continue
		}
		zone, ok := zoneFor("")
		if !ok {
			t.Fatalf("reference: pod %s has no zone", p.Name)
		}
		c := &refClaim{ports: map[int32]bool{}}
		var mostCPU, mostMem int64
		for pi := range nps {
			for _, ty := range poolTypes[pi] {
				if fits(ty, cpu, mem, 1, zone) && withinLimits(pi, ty) {
					c.types = append(c.types, ty)
				}
			}
			if len(c.types) > 0 {
				c.pool = pi
				break
			}
		}
		if len(c.types) == 0 {
			t.Fatalf("reference: pod %s fits no type", p.Name)
		}
		l := &lefts[c.pool]
		for _, ty := range c.types {
			mostCPU, mostMem = max(mostCPU, ty.capCPU), max(mostMem, ty.capMem)
		}
		l.cpu, l.mem = l.cpu-mostCPU, l.mem-mostMem
		c.cpu, c.mem, c.pods = cpu, mem, 1
		pin(c, zone)
		claims = append(claims, c)
	}
	total := 0.0
	for _, c := range claims {
		best := math.Inf(1)
		for _, ty := range c.types {
			best = min(best, ty.price)
		}
		total += best
	}
	return total
}

// refPoolAllows reports whether a pool's In requirements allow every label a node selector
// asks for (keys it does not constrain allow anything).
func refPoolAllows(reqs []Requirement, selector map[string]string) bool {
	for k, v := range selector {
		for _, r := range reqs {
			if r.Key == k && r.Operator == "In" && !slices.Contains(r.Values, v) {
				return false
			}
		}
	}
	return true
}

// refZoneSpread is the pod's zone spread constraint (DoNotSchedule), if it has one.
func refZoneSpread(p *corev1.Pod) *corev1.TopologySpreadConstraint {
	for i, tsc := range p.Spec.TopologySpreadConstraints {
		if tsc.TopologyKey == corev1.LabelTopologyZone && tsc.WhenUnsatisfiable == corev1.DoNotSchedule {
			return &p.Spec.TopologySpreadConstraints[i]
		}
	}
	return nil
}

func refAdd(c *refClaim, p *corev1.Pod) {
	c.claimed = append(c.claimed, p)
	for _, ctr := range p.Spec.Containers {
		for _, port := range ctr.Ports {
			if port.HostPort > 0 {
				c.ports[port.HostPort] = true
			}
		}
	}
}

// refConflicts: host ports in use, a hostname anti-affinity term either way, or a hostname
// spread constraint already met by a pod on the claim.
func refConflicts(c *refClaim, p *corev1.Pod) bool {
	for _, ctr := range p.Spec.Containers {
		for _, port := range ctr.Ports {
			if port.HostPort > 0 && c.ports[port.HostPort] {
				return true
			}
		}
	}
	matches := func(sel *metav1.LabelSelector, labels map[string]string) bool {
		for k, v := range sel.MatchLabels {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	for _, q := range c.claimed {
		for _, pair := range [][2]*corev1.Pod{{p, q}, {q, p}} {
			a, other := pair[0], pair[1]
			if a.Spec.Affinity != nil && a.Spec.Affinity.PodAntiAffinity != nil {
				for _, term := range a.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
					if term.TopologyKey == corev1.LabelHostname && matches(term.LabelSelector, other.Labels) {
						return true
					}
				}
			}
		}
		for _, tsc := range p.Spec.TopologySpreadConstraints {
			if tsc.TopologyKey == corev1.LabelHostname && tsc.MaxSkew == 1 && matches(tsc.LabelSelector, q.Labels) {
				return true
			}
		}
	}
	return false
}

// refAdmits checks the benchmark pool's requirements (In, Gt) against a type's labels.
func refAdmits(reqs []Requirement, it *cloudprovider.InstanceType) bool {
	for _, r := range reqs {
		if r.Key == labelCapacityType {
			continue // checked on the offerings
		}
		v, ok := it.Labels[r.Key]
		switch r.Operator {
		case "In":
			if !ok || !slices.Contains(r.Values, v) {
				return false
			}
		case "Gt":
			n, err := strconv.Atoi(v)
			bound, _ := strconv.Atoi(r.Values[0])
			if !ok || err != nil || n <= bound {
				return false
			}
		default:
			panic("reference: operator " + r.Operator)
		}
	}
	return true
}

var soloWorkloads = []workload{{"anti", antiPods}, {"hostport", hostPortPods}, {"hostspread", spreadPods}}

// TestOnePerNodeNeverWorseThanUpstream: on every one-per-node mix and size the plan places
// every pod and costs no more than the upstream-like reference (both claim orders).
func TestOnePerNodeNeverWorseThanUpstream(t *testing.T) {
	its := catalogTypes(t)
	np := benchPool(its)
	snap := &Snapshot{NodePools: []NodePool{np}}
	sizes := []int{1, 30, 100, 230, 1000, 5000}
	if testing.Short() {
		sizes = []int{30, 230}
	}
	for _, w := range soloWorkloads {
		for _, n := range sizes {
			for _, seed := range []uint64{42, 7} {
				t.Run(fmt.Sprintf("%s/%d/seed%d", w.name, n, seed), func(t *testing.T) {
					pods := w.gen(n, seed)
					plan := Solve(snap, pods)
					if len(plan.Unschedulable) > 0 {
						t.Fatalf("%d unschedulable: %s", len(plan.Unschedulable), plan.Unschedulable[0].Reason)
					}
					if err := checkPlan(snap, pods, plan); err != nil {
						t.Fatalf("invalid plan: %v", err)
					}
					ref := min(upstreamFFD(t, np, pods, true), upstreamFFD(t, np, pods, false))
					t.Logf("plan %.4f $/h, upstream-like %.4f, ratio %.4f, %d NodeClaims", plan.Price, ref, plan.Price/ref, len(plan.NewNodeClaims))
					if plan.Price > ref+1e-9 {
						t.Errorf("plan costs %.4f $/h, more than the upstream-like first fit's %.4f", plan.Price, ref)
					}
				})
			}
		}
	}
}

// TestOnePerNodeRandomMixes draws mixes of one-per-node pods (any of the three kinds, in
// workloads of 5-44 pods, of one random shape) and ordinary pods of random shapes, and
// checks every plan is valid and costs no more than the upstream-like first fit.
func TestOnePerNodeRandomMixes(t *testing.T) {
	its := catalogTypes(t)
	np := benchPool(its)
	snap := &Snapshot{NodePools: []NodePool{np}}
	cpus := []string{"100m", "250m", "500m", "1", "2", "4", "8"}
	mems := []string{"128Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi", "16Gi"}
	muts := []func(*corev1.Pod){antiHostnameApp, hostPort80, spreadHostname}
	cases := 60
	if testing.Short() {
		cases = 10
	}
	worst := 0.0
	for i := range cases {
		r := rand.New(rand.NewPCG(uint64(i), 99))
		n := 10 + r.IntN(400)
		solo := r.IntN(n/2 + 1)
		mut := muts[r.IntN(len(muts))]
		soloCPU, soloMem := pick(r, cpus), pick(r, mems)
		perApp := 5 + r.IntN(40)
		var pods []*corev1.Pod
		for j := range solo {
			p := mkPod(fmt.Sprintf("solo-%d", j), soloCPU, soloMem, map[string]string{"app": fmt.Sprintf("solo-%d", j/perApp)})
			mut(p)
			pods = append(pods, p)
		}
		oc, om := cpus[:2+r.IntN(5)], mems[:2+r.IntN(5)]
		for j := 0; len(pods) < n; j++ {
			pods = append(pods, mkPod(fmt.Sprintf("plain-%d", j), pick(r, oc), pick(r, om), map[string]string{"app": fmt.Sprintf("plain-%d", j%7)}))
		}
		plan := Solve(snap, pods)
		if len(plan.Unschedulable) > 0 {
			t.Fatalf("case %d: %d unschedulable: %s", i, len(plan.Unschedulable), plan.Unschedulable[0].Reason)
		}
		if err := checkPlan(snap, pods, plan); err != nil {
			t.Fatalf("case %d: invalid plan: %v", i, err)
		}
		ref := min(upstreamFFD(t, np, pods, true), upstreamFFD(t, np, pods, false))
		worst = max(worst, plan.Price/ref)
		if plan.Price > ref+1e-9 {
			t.Errorf("case %d (%d pods, %d one-per-node of %s/%s in apps of %d): plan %.4f $/h > upstream-like %.4f",
				i, n, solo, soloCPU, soloMem, perApp, plan.Price, ref)
		}
	}
	t.Logf("worst plan / upstream-like over %d mixes: %.4f", cases, worst)
}

// TestOrdinaryPodsFillOnePerNodeClaims: 12 pods with hostname anti-affinity force 12
// NodeClaims; 24 ordinary pods of half their size fit in their spare room (a "small" type
// holds 2 CPU), so the plan is exactly 12 small NodeClaims of 3 pods each.
func TestOrdinaryPodsFillOnePerNodeClaims(t *testing.T) {
	snap := &Snapshot{NodePools: []NodePool{odPool("default")}}
	pods := append(podN(12, "solo", "1", "1Gi", antiHostnameApp), podN(24, "plain", "500m", "512Mi", nil)...)
	plan := Solve(snap, pods)
	if err := checkPlan(snap, pods, plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Unschedulable) > 0 || len(plan.NewNodeClaims) != 12 {
		t.Fatalf("%d NodeClaims, %d unschedulable; want 12 and 0", len(plan.NewNodeClaims), len(plan.Unschedulable))
	}
	for _, nc := range plan.NewNodeClaims {
		if nc.Cheapest.InstanceType != "small" || len(nc.Pods) != 3 {
			t.Errorf("NodeClaim %s with %d pods, want small with 3", nc.Cheapest.InstanceType, len(nc.Pods))
		}
	}
}
