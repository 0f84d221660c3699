package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/predicates"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// watcher follows Pods, Nodes and NodeClaims through informers (one watch each, not a
// list of 20,000 pods per poll) and stamps when each pod was first seen bound and each
// NodeClaim first seen, for the burst's latencies.
type watcher struct {
	kube  client.Client // writes, at a high client rate
	cache cache.Cache

	mu        sync.Mutex
	boundAt   map[types.NamespacedName]time.Time
	claimAt   map[string]time.Time
	updates   map[string]int // kind -> update events seen, for the quiet window
	nodeStats map[string]int // Node updates: "heartbeat" (predicates.HeartbeatOnly), "health" (predicates.HealthOnly), "other"
}

func newWatcher(t *testing.T, c *cluster) *watcher {
	t.Helper()
	cfg, scheme, kube := c.adminClient(t, func(cfg *rest.Config) { cfg.QPS, cfg.Burst, cfg.Timeout = 2000, 4000, 30*time.Second })
	ctrllog.SetLogger(logr.Discard()) // the informers' watch-closed lines are noise here
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultTransform: state.StripForCache})
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{kube: kube, cache: informers, boundAt: map[types.NamespacedName]time.Time{}, claimAt: map[string]time.Time{},
		updates: map[string]int{}, nodeStats: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, obj := range []client.Object{&corev1.Pod{}, &corev1.Node{}, &v1.NodeClaim{}} {
		inf, err := informers.GetInformer(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { w.observe(nil, o) },
			UpdateFunc: w.observe,
		}); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("test informers did not sync")
	}
	return w
}

func (w *watcher) observe(old, obj any) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch o := obj.(type) {
	case *corev1.Pod:
		key := types.NamespacedName{Namespace: o.Namespace, Name: o.Name}
		if _, ok := w.boundAt[key]; !ok && o.Spec.NodeName != "" {
			w.boundAt[key] = now
		}
		if old != nil {
			w.updates["Pod"]++
		}
	case *corev1.Node:
		if old != nil {
			w.updates["Node"]++
			prev, _ := old.(*corev1.Node)
			switch {
			case prev != nil && predicates.HeartbeatOnly(prev, o):
				w.nodeStats["heartbeat"]++
			case prev != nil && predicates.HealthOnly(prev, o):
				w.nodeStats["health"]++
			default:
				w.nodeStats["other"]++
			}
		}
	case *v1.NodeClaim:
		if _, ok := w.claimAt[o.Name]; !ok {
			w.claimAt[o.Name] = now
		}
		if old != nil {
			w.updates["NodeClaim"]++
		}
	}
}

// resetUpdates zeroes the update counters and returns what they held.
func (w *watcher) resetUpdates() (map[string]int, map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u, n := w.updates, w.nodeStats
	w.updates, w.nodeStats = map[string]int{}, map[string]int{}
	return u, n
}

// census is one count of what the informers hold.
type census struct {
	pods, bound, running, claims, claimsReady, claimsDeleting, nodes, nodesReady int
}

func (s census) String() string {
	return fmt.Sprintf("%d pods (%d bound, %d running), %d NodeClaims (%d initialized, %d deleting), %d nodes (%d ready)",
		s.pods, s.bound, s.running, s.claims, s.claimsReady, s.claimsDeleting, s.nodes, s.nodesReady)
}

func (w *watcher) count(ctx context.Context, t *testing.T, namespace, pool string) census {
	t.Helper()
	var s census
	pods := &corev1.PodList{}
	if err := w.cache.List(ctx, pods, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		s.pods++
		if p.Spec.NodeName != "" {
			s.bound++
		}
		if p.Status.Phase == corev1.PodRunning {
			s.running++
		}
	}
	claims := &v1.NodeClaimList{}
	if err := w.cache.List(ctx, claims, client.MatchingLabels{v1.NodePoolLabelKey: pool}, client.UnsafeDisableDeepCopy); err != nil {
		t.Fatal(err)
	}
	for i := range claims.Items {
		nc := &claims.Items[i]
		s.claims++
		if nc.DeletionTimestamp != nil {
			s.claimsDeleting++
		}
		for _, c := range nc.Status.Conditions {
			if c.Type == v1.ConditionTypeInitialized && c.Status == metav1.ConditionTrue {
				s.claimsReady++
			}
		}
	}
	nodes := &corev1.NodeList{}
	if err := w.cache.List(ctx, nodes, client.MatchingLabels{v1.NodePoolLabelKey: pool}, client.UnsafeDisableDeepCopy); err != nil {
		t.Fatal(err)
	}
	for i := range nodes.Items {
		s.nodes++
		for _, c := range nodes.Items[i].Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				s.nodesReady++
			}
		}
	}
	return s
}

// createPods creates pods with 32 writers and returns when the last create returned.
func (w *watcher) createPods(ctx context.Context, t *testing.T, pods []*corev1.Pod) time.Time {
	t.Helper()
	work := make(chan *corev1.Pod)
	errs := make(chan error, len(pods))
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				var err error
				for attempt := 0; attempt < 5; attempt++ {
					if err = w.kube.Create(ctx, p); err == nil {
						break
					}
					time.Sleep(time.Second)
				}
				if err != nil {
					errs <- fmt.Errorf("creating pod %s: %w", p.Name, err)
				}
			}
		}()
	}
	for _, p := range pods {
		work <- p
	}
	close(work)
	wg.Wait()
	last := time.Now()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return last
}

// process reads a running process's resident memory and CPU time from /proc.
type process struct{ pid int }

// rssMiB is VmRSS, the resident memory now.
func (p process) rssMiB() (float64, error) { return p.status("VmRSS") }

// status reads one memory figure of /proc/<pid>/status (VmRSS, RssAnon, RssFile), in MiB.
func (p process) status(field string) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.pid)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// cpu is utime+stime, the CPU time the process has used.
func (p process) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after its closing parenthesis.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", p.pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %v %v", p.pid, err1, err2)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// metric reads one unlabelled gauge from a Prometheus text endpoint (0 when absent).
func metric(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}

// fetch saves url's body to path.
func fetch(url, path string) error { return fetchWithin(url, path, 2*time.Minute) }

// fetchWithin saves what GET url answers within timeout to path.
func fetchWithin(url, path string, timeout time.Duration) error {
	resp, err := (&http.Client{Timeout: timeout}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
