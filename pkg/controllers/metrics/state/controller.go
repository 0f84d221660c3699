package state

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	cpmetrics "github.com/gokarpenter/karpenter/pkg/cloudprovider/metrics"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/pods"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// Name is the controller's name.
const Name = "metrics.state"

// DefaultInterval is how often the gauges are refreshed.
const DefaultInterval = 5 * time.Second

// Deps are what the controller reads and writes.
type Deps struct {
	// Client reads Nodes, Pods and NodePools (the manager's cache).
	Client        client.Reader
	Cluster       *state.Cluster
	CloudProvider cloudprovider.CloudProvider
	Registerer    prometheus.Registerer
	// Clock; the real clock when nil.
	Clock clock.Clock
	// Interval between passes; DefaultInterval when 0.
	Interval time.Duration
}

// Controller refreshes the cluster-wide gauges.
type Controller struct {
	kube     client.Reader
	cluster  *state.Cluster
	cloud    cloudprovider.CloudProvider
	clock    clock.Clock
	interval time.Duration

	nodes        *metrics.NodeMetrics
	pools        *metrics.NodePoolMetrics
	clusterState *metrics.ClusterStateMetrics
	types        *metrics.InstanceTypeMetrics
	store        *metrics.Store
	unsyncedAt   time.Time
	// typeSamples are the instance type samples last built, for the types whose print
	// typesPrint is (see instanceTypeSamples).
	typeSamples []metrics.Sample
	typesPrint  uint64
	typesSeed   maphash.Seed

	// memo are the node families of the last scrape, computed at memoAt from the state at
	// memoGen.
	memoMu  sync.Mutex
	memo    map[*metrics.ComputedGauge][]series
	memoAt  time.Time
	memoGen uint64
	// memoBuilt counts how often the node families were computed (for tests).
	memoBuilt int
}

// NewController builds the controller and registers its gauges.
func NewController(deps Deps) (*Controller, error) {
	c := &Controller{kube: deps.Client, cluster: deps.Cluster, cloud: deps.CloudProvider, clock: deps.Clock,
		interval: deps.Interval, store: metrics.NewStore(), typesSeed: maphash.MakeSeed()}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	if c.interval <= 0 {
		c.interval = DefaultInterval
	}
	var err error
	if c.nodes, err = metrics.NewNodeMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	if c.pools, err = metrics.NewNodePoolMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	if c.clusterState, err = metrics.NewClusterStateMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	if c.types, err = metrics.NewInstanceTypeMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	for _, g := range c.nodes.All() {
		g.SetSource(c.nodeSource(g))
	}
	return c, nil
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register runs a pass every interval while the manager runs (on the leader).
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	if err := mgr.Add(manager.RunnableFunc(c.run)); err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

func (c *Controller) run(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName(Name)
	for {
		if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "refreshing metrics")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(c.interval):
		}
	}
}

// Reconcile refreshes every gauge once.
func (c *Controller) Reconcile(ctx context.Context) error {
	ctx = cpmetrics.WithController(ctx, Name)
	c.refreshClusterState()
	pools := &v1.NodePoolList{}
	if err := c.kube.List(ctx, pools); err != nil {
		return fmt.Errorf("listing nodepools: %w", err)
	}
	byKey := map[string][]metrics.Sample{}
	for i := range pools.Items {
		byKey["nodepool/"+pools.Items[i].Name] = c.poolSamples(&pools.Items[i])
	}
	types, err := c.instanceTypeSamples(ctx, pools.Items)
	if err != nil {
		return err
	}
	byKey["instancetypes"] = types
	c.store.ReplaceAll(byKey)
	return nil
}

func (c *Controller) refreshClusterState() {
	if c.cluster == nil {
		return
	}
	c.clusterState.NodeCount.Set(float64(len(c.cluster.Nodes())))
	now := c.clock.Now()
	if c.cluster.Synced() {
		c.clusterState.Synced.Set(1)
		c.unsyncedAt = time.Time{}
		c.clusterState.UnsyncedTime.Set(0)
		return
	}
	c.clusterState.Synced.Set(0)
	if c.unsyncedAt.IsZero() {
		c.unsyncedAt = now
	}
	c.clusterState.UnsyncedTime.Set(now.Sub(c.unsyncedAt).Seconds())
}

// nodeMemoTTL: the node families are computed once for the families of one scrape.
const nodeMemoTTL = time.Second

// nodeMemoMaxAge: while the cluster state's placement generation stays the same (no pod
// or Node changed but for heartbeats, health and a running pod's status, none of which the
// node families read), the node families of the last scrape are reused for up to this
// long. Computing them walks every pod and Node: at 10,000 pods most of a scrape, and with
// the health generation instead, 2,000 nodes flapping Ready rebuilt them at every scrape.
const nodeMemoMaxAge = time.Minute

// series is one computed series: its label values (values, then resource when set) and
// value, or, when since is set, the seconds since then at the scrape. A node's series share
// its values: one slice per series was ~9 MiB held between scrapes at 2,000 nodes.
type series struct {
	values   []string
	resource string
	value    float64
	since    time.Time
}

// nodeSource is the source of one node family: the families computed together, from the
// cache, at most once per nodeMemoTTL or per placement generation of the cluster state.
func (c *Controller) nodeSource(family *metrics.ComputedGauge) metrics.GaugeSource {
	return func(emit func(float64, ...string)) {
		all, now := c.nodeSeries()
		var buf []string
		for _, s := range all[family] {
			v := s.value
			if !s.since.IsZero() {
				v = now.Sub(s.since).Seconds()
			}
			labels := s.values
			if s.resource != "" {
				buf = append(append(buf[:0], s.values...), s.resource) // emit keeps nothing
				labels = buf
			}
			emit(v, labels...)
		}
	}
}

// nodeSeries are the node families' series, computed from the cache's Nodes and pods (read
// only) unless computed less than nodeMemoTTL ago, or from the same placement generation
// of the cluster state less than nodeMemoMaxAge ago; and the time of the scrape.
func (c *Controller) nodeSeries() (map[*metrics.ComputedGauge][]series, time.Time) {
	c.memoMu.Lock()
	defer c.memoMu.Unlock()
	now := c.clock.Now()
	var generation uint64
	if c.cluster != nil {
		generation = c.cluster.PlacementGeneration() // read before the lists: a change after moves it on
	}
	if age := now.Sub(c.memoAt); c.memo != nil && age >= 0 &&
		(age < nodeMemoTTL || c.cluster != nil && generation == c.memoGen && age < nodeMemoMaxAge) {
		return c.memo, now
	}
	nodes, pods, ok := c.nodesAndPods()
	if !ok {
		return nil, now
	}
	c.memo, c.memoAt, c.memoGen = c.nodeSamples(nodes, pods, now), now, generation
	c.memoBuilt++
	return c.memo, now
}

// nodesAndPods are every Node and pod (state.PodsAndNodes), read only.
func (c *Controller) nodesAndPods() ([]*corev1.Node, []state.PodRef, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods, nodes, err := state.PodsAndNodes(ctx, c.cluster, c.kube)
	return nodes, pods, err == nil
}

// nodeSamples are the per-node resource gauges and lifetimes, and cluster utilization. It
// reads the pods one at a time into one Pod (PodRef.Into), building none.
func (c *Controller) nodeSamples(nodes []*corev1.Node, pods []state.PodRef, now time.Time) map[*metrics.ComputedGauge][]series {
	podsByNode := map[string][]state.PodRef{}
	for _, p := range pods {
		if p.NodeName() != "" {
			podsByNode[p.NodeName()] = append(podsByNode[p.NodeName()], p)
		}
	}
	out := map[*metrics.ComputedGauge][]series{}
	names := metrics.NodeLabels()
	allocatable, requested := corev1.ResourceList{}, corev1.ResourceList{}
	resources := podResourcesMemo()
	var pod corev1.Pod // each pod in turn (PodRef.Into): the samples keep none of them
	for _, n := range nodes {
		var podReq, podLim, dsReq, dsLim corev1.ResourceList = corev1.ResourceList{}, corev1.ResourceList{}, corev1.ResourceList{}, corev1.ResourceList{}
		for _, ref := range podsByNode[n.Name] {
			ref.Into(&pod)
			p := &pod
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			req, lim := resources(p)
			add(podReq, req)
			add(podLim, lim)
			if owner := metav1ControllerKind(p); owner == "DaemonSet" {
				add(dsReq, req)
				add(dsLim, lim)
			}
		}
		overhead := corev1.ResourceList{}
		for name, capQ := range n.Status.Capacity {
			q := capQ.DeepCopy()
			if a, ok := n.Status.Allocatable[name]; ok {
				q.Sub(a)
			}
			overhead[name] = q
		}
		labels := NodeLabels(n)
		values := make([]string, len(names))
		for k, name := range names {
			values[k] = labels[name]
		}
		for _, g := range []struct {
			gauge *metrics.ComputedGauge
			list  corev1.ResourceList
		}{
			{c.nodes.Allocatable, n.Status.Allocatable}, {c.nodes.TotalPodRequests, podReq}, {c.nodes.TotalPodLimits, podLim},
			{c.nodes.TotalDaemonRequests, dsReq}, {c.nodes.TotalDaemonLimits, dsLim}, {c.nodes.SystemOverhead, overhead},
		} {
			for name, q := range g.list {
				out[g.gauge] = append(out[g.gauge], series{values: values, resource: ResourceType(name), value: Value(name, q)})
			}
		}
		out[c.nodes.CurrentLifetime] = append(out[c.nodes.CurrentLifetime], series{values: values, since: n.CreationTimestamp.Time})
		add(allocatable, n.Status.Allocatable)
		add(requested, podReq)
	}
	for name, a := range allocatable {
		if a.IsZero() {
			continue
		}
		r := requested[name]
		out[c.nodes.ClusterUtilization] = append(out[c.nodes.ClusterUtilization],
			series{resource: ResourceType(name), value: 100 * r.AsApproximateFloat64() / a.AsApproximateFloat64()})
	}
	return out
}

func (c *Controller) poolSamples(np *v1.NodePool) []metrics.Sample {
	var out []metrics.Sample
	for _, g := range []struct {
		gauge *prometheus.GaugeVec
		list  corev1.ResourceList
	}{{c.pools.Usage, np.Status.Resources}, {c.pools.Limit, corev1.ResourceList(np.Spec.Limits)}} {
		for name, q := range g.list {
			out = append(out, metrics.Sample{Gauge: g.gauge, Value: Value(name, q),
				Labels: prometheus.Labels{metrics.LabelNodePool: np.Name, metrics.LabelResourceType: ResourceType(name)}})
		}
	}
	return out
}

// instanceTypeSamples describe the instance types the NodePools may launch.
func (c *Controller) instanceTypeSamples(ctx context.Context, pools []v1.NodePool) ([]metrics.Sample, error) {
	if c.cloud == nil {
		return nil, nil
	}
	byPool := make([][]*cloudprovider.InstanceType, len(pools))
	for i := range pools {
		its, err := c.cloud.GetInstanceTypes(ctx, &pools[i])
		if err != nil {
			return nil, fmt.Errorf("getting the instance types of nodepool %s: %w", pools[i].Name, err)
		}
		byPool[i] = its
	}
	// The catalogue rarely changes between passes (every 5 s): building its thousands of
	// offering series again, to find them the same, was the largest allocation of a quiet
	// controller after the informers'.
	fp := typesPrint(c.typesSeed, byPool)
	if c.typeSamples != nil && fp == c.typesPrint {
		return c.typeSamples, nil
	}
	seen := map[string]bool{}
	var out []metrics.Sample
	for _, its := range byPool {
		for _, it := range its {
			if seen[it.Name] {
				continue
			}
			seen[it.Name] = true
			l := prometheus.Labels{metrics.LabelInstanceType: it.Name}
			cpu, mem := it.Capacity[corev1.ResourceCPU], it.Capacity[corev1.ResourceMemory]
			out = append(out,
				metrics.Sample{Gauge: c.types.CPUCores, Labels: l, Value: cpu.AsApproximateFloat64()},
				metrics.Sample{Gauge: c.types.MemoryBytes, Labels: l, Value: mem.AsApproximateFloat64()})
			for _, o := range it.Offerings {
				ol := prometheus.Labels{metrics.LabelInstanceType: it.Name, metrics.LabelCapacityType: o.CapacityType, metrics.LabelZone: o.Zone}
				out = append(out,
					metrics.Sample{Gauge: c.types.OfferingAvailable, Labels: ol, Value: boolValue(o.Available)},
					metrics.Sample{Gauge: c.types.OfferingPriceEstimate, Labels: ol, Value: o.PricePerHour})
			}
		}
	}
	c.typeSamples, c.typesPrint = out, fp
	return out, nil
}

// typesPrint is a hash of what the instance type samples are made of: each pool's types in
// order, with their CPU and memory and their offerings' zones, capacity types,
// availability and prices.
func typesPrint(seed maphash.Seed, byPool [][]*cloudprovider.InstanceType) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var buf [8]byte
	num := func(v uint64) { _, _ = h.Write(binary.LittleEndian.AppendUint64(buf[:0], v)) }
	str := func(v string) {
		num(uint64(len(v)))
		_, _ = h.WriteString(v)
	}
	for _, its := range byPool {
		num(uint64(len(its)))
		for _, it := range its {
			str(it.Name)
			cpu, mem := it.Capacity[corev1.ResourceCPU], it.Capacity[corev1.ResourceMemory]
			num(math.Float64bits(cpu.AsApproximateFloat64()))
			num(math.Float64bits(mem.AsApproximateFloat64()))
			num(uint64(len(it.Offerings)))
			for _, o := range it.Offerings {
				str(o.Zone)
				str(o.CapacityType)
				num(math.Float64bits(boolValue(o.Available)))
				num(math.Float64bits(o.PricePerHour))
			}
		}
	}
	return h.Sum64()
}

// NodeLabels are the metric labels of a node (see metrics.NodeLabels).
func NodeLabels(n *corev1.Node) prometheus.Labels {
	return prometheus.Labels{
		metrics.LabelArch:         n.Labels[v1.LabelArch],
		metrics.LabelCapacityType: n.Labels[v1.CapacityTypeLabelKey],
		metrics.LabelInstanceType: n.Labels[v1.LabelInstanceType],
		metrics.LabelNodePool:     n.Labels[v1.NodePoolLabelKey],
		metrics.LabelOS:           n.Labels[v1.LabelOS],
		metrics.LabelRegion:       n.Labels[v1.LabelTopologyRegion],
		metrics.LabelWindowsBuild: n.Labels[v1.LabelWindowsBuild],
		metrics.LabelZone:         n.Labels[v1.LabelTopologyZone],
		metrics.LabelNodeName:     n.Name,
		metrics.LabelPhase:        string(n.Status.Phase),
		metrics.LabelManaged:      strconv.FormatBool(n.Labels[v1.NodePoolLabelKey] != ""),
	}
}

// ResourceType is a resource name as upstream labels it: lower case, "-" as "_".
func ResourceType(name corev1.ResourceName) string {
	return strings.ReplaceAll(strings.ToLower(string(name)), "-", "_")
}

// Value is a quantity as upstream exports it: CPU in cores, everything else in units.
func Value(name corev1.ResourceName, q resource.Quantity) float64 {
	if name == corev1.ResourceCPU {
		return float64(q.MilliValue()) / 1000
	}
	return float64(q.Value())
}

// PodResources returns a pod's effective requests and limits. Requests are what
// kube-scheduler counts (pods.Requests: sidecars, limits standing in for requests, pod-level
// requests, overhead), without its pod slot; limits are the larger of the sum of its
// containers and its largest init container, plus its overhead.
func PodResources(p *corev1.Pod) (requests, limits corev1.ResourceList) {
	requests, limits = pods.Requests(p), corev1.ResourceList{}
	delete(requests, corev1.ResourcePods)
	for _, ctr := range p.Spec.Containers {
		add(limits, ctr.Resources.Limits)
	}
	for _, ctr := range p.Spec.InitContainers {
		maxInto(limits, ctr.Resources.Limits)
	}
	add(limits, p.Spec.Overhead)
	return requests, limits
}

// containersKey identifies a pod's containers by their backing arrays: the cache transform
// (state.Compactor) gives the pods of one template one shared, read-only slice of each.
type containersKey struct {
	containers, initContainers *corev1.Container
	n, nInit                   int
}

// podResourcesMemo returns PodResources, remembered per containersKey for the pods that set
// no overhead and no pod-level resources (the containers then decide it alone). A scrape
// of 2,000 nodes computed it for each of 20,000 pods, a few maps each, where their
// templates are a few dozen: BenchmarkNodeSamples, 2.5x faster and 4x less garbage.
func podResourcesMemo() func(*corev1.Pod) (corev1.ResourceList, corev1.ResourceList) {
	type result struct{ requests, limits corev1.ResourceList }
	memo := map[containersKey]result{}
	first := func(cs []corev1.Container) *corev1.Container {
		if len(cs) == 0 {
			return nil
		}
		return &cs[0]
	}
	return func(p *corev1.Pod) (corev1.ResourceList, corev1.ResourceList) {
		if len(p.Spec.Overhead) > 0 || p.Spec.Resources != nil {
			return PodResources(p)
		}
		key := containersKey{first(p.Spec.Containers), first(p.Spec.InitContainers), len(p.Spec.Containers), len(p.Spec.InitContainers)}
		if r, ok := memo[key]; ok {
			return r.requests, r.limits
		}
		req, lim := PodResources(p)
		memo[key] = result{req, lim}
		return req, lim
	}
}

func add(into, from corev1.ResourceList) {
	for name, q := range from {
		sum := into[name]
		sum.Add(q)
		into[name] = sum
	}
}

func maxInto(into, from corev1.ResourceList) {
	for name, q := range from {
		if cur, ok := into[name]; !ok || q.Cmp(cur) > 0 {
			into[name] = q.DeepCopy()
		}
	}
}

func clone(l prometheus.Labels) prometheus.Labels {
	out := make(prometheus.Labels, len(l)+1)
	for k, v := range l {
		out[k] = v
	}
	return out
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func metav1ControllerKind(p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return o.Kind
		}
	}
	return ""
}
