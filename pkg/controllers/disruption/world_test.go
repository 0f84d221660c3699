package disruption

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// world is an in-memory cluster for the property tests and benchmarks: the real cluster
// state and engine, without an API server (pods and PodDisruptionBudgets are handed to the
// pass directly).
type world struct {
	ctrl  *Controller
	now   time.Time
	pods  []*corev1.Pod
	pdbs  []*policyv1.PodDisruptionBudget
	price float64 // $/h of every node
	seq   int     // names replacement nodes
	// kubeScheduler, when set, places the pods a command moves as kube-scheduler would
	// (kubePlace, ties broken with it) rather than where the planner would.
	kubeScheduler *rand.Rand
	// pendingLaunches counts the nodes launched for moved pods kube-scheduler found no room for.
	pendingLaunches int
}

// worldOptions shape a random cluster.
type worldOptions struct {
	nodes int
	// fill is the fraction of each node's CPU the pods request, on average.
	fill float64
	// doNotDisrupt and protected are the fractions of pods carrying do-not-disrupt and
	// covered by a PodDisruptionBudget allowing no disruption.
	doNotDisrupt, protected float64
	budget                  string
	spot                    float64 // fraction of spot nodes
}

// shapes are the instance types the random clusters run on: general purpose, compute and
// memory families, large to 12xlarge.
func shapes(its []*cloudprovider.InstanceType) []*cloudprovider.InstanceType {
	var out []*cloudprovider.InstanceType
	for _, it := range its {
		n := it.Name
		if (strings.HasPrefix(n, "m5.") || strings.HasPrefix(n, "c5.") || strings.HasPrefix(n, "r5.")) && !strings.HasSuffix(n, "metal") {
			out = append(out, it)
		}
	}
	return out
}

func newWorld(tb testing.TB, seed uint64, o worldOptions) *world {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	its := catalog.Default()
	cloud := fake.New(fake.Options{InstanceTypes: its})
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(now)
	cluster := state.NewCluster(state.Options{Clock: clk})
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default", UID: "pool"}}
	pool.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
		{Key: "karpenter.k8s.aws/instance-family", Operator: v1.NodeSelectorOpIn, Values: []string{"m5", "c5", "r5"}},
		{Key: v1.CapacityTypeLabelKey, Operator: v1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand, v1.CapacityTypeSpot}},
	}
	pool.Spec.Disruption = v1.Disruption{ConsolidationPolicy: v1.ConsolidationPolicyWhenEmptyOrUnderutilized,
		ConsolidateAfter: v1.MustParseNillableDuration("0s"), Budgets: []v1.Budget{{Nodes: o.budget}}}
	cluster.UpdateNodePool(pool)
	c, err := NewController(Deps{Cluster: cluster, CloudProvider: cloud, Clock: clk,
		Options: Options{MultiNodeTimeBudget: 2 * time.Second, SingleNodeTimeBudget: 2 * time.Second}})
	if err != nil {
		tb.Fatal(err)
	}
	w := &world{ctrl: c, now: now}
	types_ := shapes(its)
	zones := catalog.DefaultZones()
	protectedApp := "ledger"
	w.pdbs = append(w.pdbs, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: protectedApp},
		Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": protectedApp}}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0}})
	apps := []struct {
		name      string
		cpu, mem  int64 // milli, MiB
		exclusive bool
	}{{"web", 250, 512, false}, {"api", 500, 1024, false}, {"cache", 1000, 4096, false}, {"batch", 2000, 2048, false}, {"search", 1500, 6144, false}}
	podN := 0
	for i := range o.nodes {
		it := types_[rng.IntN(len(types_))]
		ct := v1.CapacityTypeOnDemand
		if rng.Float64() < o.spot {
			ct = v1.CapacityTypeSpot
		}
		zone := zones[rng.IntN(len(zones))]
		var price float64
		for _, of := range it.Offerings {
			if of.Zone == zone && of.CapacityType == ct {
				price = of.PricePerHour
			}
		}
		w.price += price
		name := fmt.Sprintf("node-%05d", i)
		labels := map[string]string{v1.NodePoolLabelKey: pool.Name, v1.CapacityTypeLabelKey: ct, v1.LabelTopologyZone: zone,
			corev1.LabelHostname: name}
		for k, v := range it.Labels {
			labels[k] = v
		}
		nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: labels,
			CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))}}
		nc.Spec.ExpireAfter = v1.MustParseNillableDuration("720h")
		nc.Status.ProviderID = "fake://" + name
		nc.Status.NodeName = name
		nc.Status.Allocatable = it.Allocatable()
		nc.Status.Capacity = it.Capacity
		nc.Status.Conditions = []metav1.Condition{{Type: v1.ConditionTypeInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}
		cluster.UpdateNodeClaim(nc)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{ProviderID: nc.Status.ProviderID},
			Status: corev1.NodeStatus{Allocatable: it.Allocatable(), Capacity: it.Capacity,
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		cluster.UpdateNode(node)
		alloc := it.Allocatable()
		cpuLeft := int64(float64(alloc.Cpu().MilliValue()) * o.fill * (0.5 + rng.Float64()))
		memLeft := alloc.Memory().Value() / (1 << 20)
		for misses := 0; cpuLeft > 0 && misses < 8; {
			a := apps[rng.IntN(len(apps))]
			if a.cpu > cpuLeft || a.mem > memLeft {
				misses++
				continue
			}
			cpuLeft -= a.cpu
			memLeft -= a.mem
			app := a.name
			if rng.Float64() < o.protected {
				app = protectedApp
			}
			yes := true
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("%s-%06d", app, podN), UID: types.UID(fmt.Sprintf("pod-%d", podN)),
				Labels:          map[string]string{"app": app},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app, UID: "rs", Controller: &yes}}},
				Spec: corev1.PodSpec{NodeName: name, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: *resource.NewMilliQuantity(a.cpu, resource.DecimalSI), corev1.ResourceMemory: *resource.NewQuantity(a.mem<<20, resource.BinarySI)}}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}}
			if rng.Float64() < o.doNotDisrupt {
				pod.Annotations = map[string]string{v1.DoNotDisruptAnnotationKey: "true"}
			}
			podN++
			cluster.UpdatePod(pod)
			w.pods = append(w.pods, pod)
		}
	}
	return w
}

// decide runs one pass's decision, as Reconcile does, without executing it.
func (w *world) decide(ctx context.Context) (*pass, *Command, Method) {
	p := w.ctrl.newPass(ctx, w.now, w.pods, w.pdbs)
	w.ctrl.hold(p)
	p.buildCandidates()
	for _, m := range w.ctrl.opts.Methods {
		cmd, err := m.Compute(ctx, p)
		if err != nil {
			panic(err)
		}
		if cmd != nil {
			return p, cmd, m
		}
	}
	return p, nil, nil
}

// lowerBound is the LP lower bound of the price of a cluster running every pod.
func (w *world) lowerBound(p *pass) float64 {
	unbound := make([]*corev1.Pod, 0, len(w.pods))
	for _, pod := range w.pods {
		unbound = append(unbound, p.unbound(pod))
	}
	return scheduling.LowerBound(&scheduling.Snapshot{NodePools: p.schedPools, DaemonSets: p.snap().DaemonSets}, unbound)
}

// holds checks the replacement's cheapest type really holds the moved pods with the rest of
// the cluster: the candidates removed, the replacement added as a node of its cheapest
// type; every moved pod must land on an existing node.
func holds(p *pass, cmd *Command) string {
	gone := map[string]bool{}
	var movers []*corev1.Pod
	for _, c := range cmd.Candidates {
		gone[c.Node.Name] = true
		for _, pod := range c.Pods() {
			movers = append(movers, p.unbound(pod))
		}
	}
	snap := *p.snap()
	snap.Nodes = slices.DeleteFunc(slices.Clone(p.snap().Nodes), func(n scheduling.ExistingNode) bool { return gone[n.Name] })
	for i, r := range cmd.Replacements {
		it := r.InstanceTypes[0]
		labels := map[string]string{v1.NodePoolLabelKey: r.NodePool, corev1.LabelHostname: fmt.Sprintf("replacement-%d", i),
			v1.LabelTopologyZone: r.Cheapest.Zone, v1.CapacityTypeLabelKey: r.Cheapest.CapacityType}
		for k, v := range it.Labels {
			labels[k] = v
		}
		snap.Nodes = append(snap.Nodes, scheduling.ExistingNode{Name: labels[corev1.LabelHostname], Labels: labels, Allocatable: it.Allocatable(), NodePool: r.NodePool})
	}
	plan := scheduling.Solve(&snap, movers)
	if len(plan.Unschedulable) > 0 {
		return fmt.Sprintf("%d moved pods fit nowhere, e.g. %s", len(plan.Unschedulable), plan.Unschedulable[0].Reason)
	}
	if len(plan.NewNodeClaims) > 0 {
		return fmt.Sprintf("%d moved pods need %d new nodes", len(movers), len(plan.NewNodeClaims))
	}
	return ""
}
