package pod

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// Name is the controller's name.
const Name = "metrics.pod"

// Deps are what the controller reads and writes.
type Deps struct {
	Client client.Reader
	// Cluster, when set, gives the pods and Nodes a scrape reads (see podStates).
	Cluster    *state.Cluster
	Registerer prometheus.Registerer
	// Clock; the real clock when nil.
	Clock clock.Clock
}

// Controller keeps the pod families current.
type Controller struct {
	kube    client.Reader
	cluster *state.Cluster
	clock   clock.Clock
	metrics *metrics.PodMetrics
	store   *metrics.Store

	mu sync.Mutex
	// pending are the pods seen unbound (for bound duration) or not running (for startup
	// duration), by namespace/name; each duration is observed once.
	unbound, unstarted map[string]bool
	// waiting is when each pod was first seen waiting for capacity (Unschedulable), until it
	// runs: the start of the provisioning_* durations.
	waiting map[string]time.Time
}

var _ reconcile.Reconciler = (*Controller)(nil)

// NewController builds the controller and registers its families.
func NewController(deps Deps) (*Controller, error) {
	m, err := metrics.NewPodMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Controller{kube: deps.Client, cluster: deps.Cluster, clock: deps.Clock, metrics: m, store: metrics.NewStore(),
		unbound: map[string]bool{}, unstarted: map[string]bool{}, waiting: map[string]time.Time{}}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	m.State.SetSource(c.podStates)
	return c, nil
}

// podStates lists every pod the client holds with its node's labels, for
// karpenter_pods_state when it is scraped. The objects are the cache's: read only.
func (c *Controller) podStates(emit func(value float64, labelValues ...string)) {
	pods, nodes, ok := c.podsAndNodes()
	if !ok {
		return
	}
	byName := make(map[string]*corev1.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	unbound := &corev1.Node{}
	values := make([]string, len(metrics.PodStateLabels()))
	var pod corev1.Pod // each pod in turn (PodRef.Into): a scrape keeps none of them
	for _, ref := range pods {
		node := byName[ref.NodeName()]
		if node == nil {
			node = unbound
		}
		ref.Into(&pod)
		stateValues(values, &pod, node)
		emit(1, values...)
	}
}

// podsAndNodes are every pod and Node (state.PodsAndNodes), read only.
func (c *Controller) podsAndNodes() ([]state.PodRef, []*corev1.Node, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods, nodes, err := state.PodsAndNodes(ctx, c.cluster, c.kube)
	return pods, nodes, err == nil
}

// Name is the controller's name.
func (c *Controller) Name() string { return Name }

// Register watches pods.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	if err := builder.ControllerManagedBy(mgr).Named(Name).For(&corev1.Pod{}).Complete(c); err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// Reconcile refreshes one pod's series, or deletes them when the pod is gone.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := req.String()
	pod := &corev1.Pod{}
	if err := c.kube.Get(ctx, req.NamespacedName, pod); err != nil {
		if apierrors.IsNotFound(err) {
			c.forget(key)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("getting pod: %w", err)
	}
	var samples []metrics.Sample
	id := prometheus.Labels{metrics.LabelName: pod.Name, metrics.LabelNamespace: pod.Namespace}
	age := c.clock.Since(pod.CreationTimestamp.Time).Seconds()
	bound, running := pod.Spec.NodeName != "", pod.Status.Phase == corev1.PodRunning
	if !bound {
		samples = append(samples, metrics.Sample{Gauge: c.metrics.UnboundTime, Labels: id, Value: age})
	}
	if !running && pod.Status.Phase == corev1.PodPending {
		samples = append(samples, metrics.Sample{Gauge: c.metrics.UnstartedTime, Labels: id, Value: age})
	}
	if since, ok := c.waitingSince(key, pod); ok {
		waited := c.clock.Since(since).Seconds()
		if !bound {
			samples = append(samples, metrics.Sample{Gauge: c.metrics.ProvisioningUnboundTime, Labels: id, Value: waited})
		}
		if pod.Status.Phase == corev1.PodPending {
			samples = append(samples, metrics.Sample{Gauge: c.metrics.ProvisioningUnstartedTime, Labels: id, Value: waited})
		}
	}
	c.store.Update(key, samples)
	c.observeDurations(key, pod, bound)
	return reconcile.Result{}, nil
}

// waitingSince returns when the pod was first seen waiting for capacity, recording now if it
// waits for the first time.
func (c *Controller) waitingSince(key string, pod *corev1.Pod) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	since, ok := c.waiting[key]
	if !ok && state.IsProvisionable(pod) {
		since, ok = c.clock.Now(), true
		c.waiting[key] = since
	}
	return since, ok
}

// observeDurations observes creation → bound and creation → ready once per pod that was
// seen unbound / not yet ready by this controller (as upstream does: pods found already
// running at start are not counted).
func (c *Controller) observeDurations(key string, pod *corev1.Pod, bound bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	since, waited := c.waiting[key]
	if !bound {
		c.unbound[key] = true
	} else if c.unbound[key] {
		if cond := condition(pod, corev1.PodScheduled); cond != nil && cond.Status == corev1.ConditionTrue {
			c.metrics.BoundDuration.Observe(cond.LastTransitionTime.Sub(pod.CreationTimestamp.Time).Seconds())
			if waited {
				c.metrics.ProvisioningBoundDuration.Observe(nonNegative(cond.LastTransitionTime.Sub(since)))
			}
			delete(c.unbound, key)
		}
	}
	if pod.Status.Phase == corev1.PodPending {
		c.unstarted[key] = true
		return
	}
	if c.unstarted[key] {
		if cond := condition(pod, corev1.PodReady); cond != nil && cond.Status == corev1.ConditionTrue {
			c.metrics.StartupDuration.Observe(cond.LastTransitionTime.Sub(pod.CreationTimestamp.Time).Seconds())
			if waited {
				c.metrics.ProvisioningStartupDuration.Observe(nonNegative(cond.LastTransitionTime.Sub(since)))
			}
			delete(c.unstarted, key)
			delete(c.waiting, key)
		}
	}
}

// nonNegative is d in seconds, at least 0: condition times have second precision.
func nonNegative(d time.Duration) float64 { return max(d.Seconds(), 0) }

func (c *Controller) forget(key string) {
	c.store.Delete(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.unbound, key)
	delete(c.unstarted, key)
	delete(c.waiting, key)
}

// StateLabels are the karpenter_pods_state labels of a pod on node (an empty Node when unbound).
func StateLabels(pod *corev1.Pod, node *corev1.Node) prometheus.Labels {
	names := metrics.PodStateLabels()
	values := make([]string, len(names))
	stateValues(values, pod, node)
	out := make(prometheus.Labels, len(names))
	for i, name := range names {
		out[name] = values[i]
	}
	return out
}

// stateValues writes the karpenter_pods_state label values of a pod on node into dst, in
// metrics.PodStateLabels' order.
func stateValues(dst []string, pod *corev1.Pod, node *corev1.Node) {
	owner := ""
	if len(pod.OwnerReferences) > 0 {
		o := pod.OwnerReferences[0]
		owner = "/apis/" + o.APIVersion + "/namespaces/" + pod.Namespace + "/" + strings.ToLower(o.Kind) + "s/" + o.Name
	}
	dst[0], dst[1], dst[2], dst[3] = pod.Name, pod.Namespace, owner, pod.Spec.NodeName
	dst[4], dst[5], dst[6] = node.Labels[v1.NodePoolLabelKey], node.Labels[v1.LabelTopologyZone], node.Labels[v1.LabelArch]
	dst[7], dst[8], dst[9] = node.Labels[v1.CapacityTypeLabelKey], node.Labels[v1.LabelInstanceType], string(pod.Status.Phase)
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}
