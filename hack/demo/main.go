package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// tier is one Deployment of the shop; the sale's replicas are split by share.
type tier struct {
	name        string
	cpu, memory string
	peakShare   float64
}

// shop is a storefront, a checkout API, a cart cache and a search service of different sizes.
func shop() []tier {
	return []tier{
		{"storefront", "250m", "512Mi", 0.5},
		{"checkout", "500m", "1Gi", 0.25},
		{"cart", "1", "2Gi", 0.15},
		{"search", "2", "4Gi", 0.10},
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the local cluster")
	namespace := flag.String("namespace", "flash-sale", "namespace of the shop")
	peak := flag.Int("peak", 300, "pods at the peak of the sale")
	after := flag.Int("after", 20, "pods after the sale")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long per phase")
	roll := flag.Bool("roll", false, "after the sale, change the SimNodeClass image and watch every node roll")
	settle := flag.Duration("settle", 90*time.Second, "a phase ends once every pod runs and the node count has not changed for this long (longer than the NodePool's consolidateAfter)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *kubeconfig, *namespace, *peak, *after, *timeout, *settle, *roll); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, kubeconfig, ns string, peak, after int, timeout, settle time.Duration, roll bool) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %q: %w", kubeconfig, err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building scheme: %w", err)
	}
	if err := v1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building scheme: %w", err)
	}
	if err := simv1alpha1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building scheme: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("building client: %w", err)
	}
	d := &demo{c: c, ns: ns, out: out, prices: priceTable(), start: time.Now(), settle: settle}
	if err := d.setUp(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "flash sale: %d pods at the peak, %d after, in namespace %s\n", peak, after, ns)
	if err := d.phase(ctx, "sale opens", peak, timeout); err != nil {
		return err
	}
	peakState, peakRunning := d.last, d.allRunning
	if err := d.phase(ctx, "sale ends", after, timeout); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nsummary: at the peak %d/%d pods Running (all of them %s after the scale-up) on %d nodes at $%.4f/h; "+
		"after the sale %d pods on %d nodes at $%.4f/h; highest cost seen $%.4f/h\n",
		peakState.running, peak, peakRunning.Round(time.Second), peakState.nodes, peakState.cost,
		d.last.running, d.last.nodes, d.last.cost, d.maxCost)
	b, err := d.lowerBound(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "after the sale: $%.4f/h; lower bounds for the pods left: $%.4f/h with whole nodes (%.1f%% above it), $%.4f/h by the LP (%.1f%% above it); "+
		"a fresh plan for them costs $%.4f/h (%.1f%% above the whole-node bound)\n",
		d.last.cost, b.integer, 100*(d.last.cost/b.integer-1), b.lp, 100*(d.last.cost/b.lp-1), b.fresh, 100*(b.fresh/b.integer-1))
	fmt.Fprintf(out, "PodDisruptionBudget %s (maxUnavailable 1): sampled %d times once all pods ran, at most %d %s pods unavailable at once\n",
		pdbTier, d.pdbSamples, d.maxUnavailable, pdbTier)
	if d.maxUnavailable > 1 {
		return fmt.Errorf("the %s PodDisruptionBudget was violated: %d pods unavailable at once", pdbTier, d.maxUnavailable)
	}
	if roll {
		return d.roll(ctx, timeout)
	}
	return nil
}

type demo struct {
	c       client.Client
	ns      string
	out     io.Writer
	prices  map[string]float64 // "type/capacity-type" -> $/h
	start   time.Time
	settle  time.Duration
	last    snapshot
	maxCost float64
	// allRunning is how long after the last phase began every pod first ran.
	allRunning time.Duration
	// pdbSamples and maxEvicting record the PodDisruptionBudget samples.
	pdbSamples, maxUnavailable, pdbWant int
}

type snapshot struct {
	pending, running, nodes int
	byType                  map[string]int
	cost                    float64
	at                      time.Duration
}

func (d *demo) setUp(ctx context.Context) error {
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.ns}}
	if err := d.c.Create(ctx, nsObj); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace: %w", err)
	}
	if err := d.createPDB(ctx); err != nil {
		return err
	}
	for _, t := range shop() {
		dep := deployment(d.ns, t)
		if err := d.c.Create(ctx, dep); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating deployment %s: %w", t.name, err)
		}
	}
	return nil
}

func deployment(ns string, t tier) *appsv1.Deployment {
	labels := map[string]string{"app": t.name, "demo": "flash-sale"}
	zero := int32(0)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: t.name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64(0)),
					Containers: []corev1.Container{{
						Name: "app", Image: "shop.invalid/" + t.name + ":1",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse(t.cpu),
							corev1.ResourceMemory: resource.MustParse(t.memory),
						}},
					}},
				},
			},
		},
	}
}

// phase scales the shop to total pods and reports every two seconds until every pod runs and
// the node count has been stable for a while.
func (d *demo) phase(ctx context.Context, name string, total int, timeout time.Duration) error {
	fmt.Fprintf(d.out, "\n== %s: scaling to %d pods\n", name, total)
	assigned := 0
	tiers := shop()
	for i, t := range tiers {
		n := int(float64(total) * t.peakShare)
		if i == len(tiers)-1 {
			n = total - assigned
		}
		assigned += n
		if t.name == pdbTier {
			d.pdbWant = n
		}
		if err := d.scale(ctx, t.name, int32(n)); err != nil {
			return err
		}
	}
	began := time.Now()
	deadline := began.Add(timeout)
	stableSince := began
	prevNodes := -1
	d.allRunning = 0
	for {
		s, err := d.observe(ctx)
		if err != nil {
			return err
		}
		d.last = s
		d.maxCost = max(d.maxCost, s.cost)
		if err := d.samplePDB(ctx); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "[%6s] pending %3d  running %3d/%d  nodes %2d  $%.4f/h  %s\n",
			s.at.Round(time.Second), s.pending, s.running, total, s.nodes, s.cost, formatTypes(s.byType))
		if s.nodes != prevNodes {
			stableSince = time.Now()
			prevNodes = s.nodes
		}
		if s.running == total && s.pending == 0 {
			if d.allRunning == 0 {
				d.allRunning = time.Since(began)
			}
			if time.Since(stableSince) > d.settle {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not settled within %s (%d/%d pods running)", name, timeout, s.running, total)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func (d *demo) scale(ctx context.Context, name string, replicas int32) error {
	dep := &appsv1.Deployment{}
	if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.ns, Name: name}, dep); err != nil {
		return fmt.Errorf("getting deployment %s: %w", name, err)
	}
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Replicas = &replicas
	if err := d.c.Patch(ctx, dep, patch); err != nil {
		return fmt.Errorf("scaling %s to %d: %w", name, replicas, err)
	}
	return nil
}

func (d *demo) observe(ctx context.Context) (snapshot, error) {
	s := snapshot{byType: map[string]int{}, at: time.Since(d.start)}
	pods := &corev1.PodList{}
	if err := d.c.List(ctx, pods, client.InNamespace(d.ns), client.MatchingLabels{"demo": "flash-sale"}); err != nil {
		return s, fmt.Errorf("listing pods: %w", err)
	}
	for _, p := range pods.Items {
		switch {
		case p.DeletionTimestamp != nil:
		case p.Status.Phase == corev1.PodRunning:
			s.running++
		case p.Spec.NodeName == "":
			s.pending++
		}
	}
	claims := &v1.NodeClaimList{}
	if err := d.c.List(ctx, claims); err != nil {
		return s, fmt.Errorf("listing nodeclaims: %w", err)
	}
	for _, nc := range claims.Items {
		it, ct := nc.Labels[v1.LabelInstanceType], nc.Labels[v1.CapacityTypeLabelKey]
		if it == "" || nc.DeletionTimestamp != nil {
			continue
		}
		s.nodes++
		s.byType[it+" "+ct]++
		s.cost += d.prices[it+"/"+ct]
	}
	return s, nil
}

func formatTypes(byType map[string]int) string {
	keys := make([]string, 0, len(byType))
	for k := range byType {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d×%s", byType[k], k)
	}
	return strings.Join(parts, ", ")
}

// priceTable is the cheapest price of each instance type and capacity type in the built-in
// catalogue the simulated cloud uses.
func priceTable() map[string]float64 {
	prices := map[string]float64{}
	for _, it := range catalog.Default() {
		for _, o := range it.Offerings {
			key := it.Name + "/" + o.CapacityType
			if p, ok := prices[key]; !ok || o.PricePerHour < p {
				prices[key] = o.PricePerHour
			}
		}
	}
	return prices
}
