package operator_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/operator"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

func TestOptionsValidate(t *testing.T) {
	good := operator.DefaultOptions()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for name, mutate := range map[string]func(*operator.Options){
		"idle above max": func(o *operator.Options) { o.BatchIdleDuration = time.Minute },
		"zero batch":     func(o *operator.Options) { o.BatchMaxDuration = 0 },
		"bad log level":  func(o *operator.Options) { o.LogLevel = "loud" },
		"unknown cloud":  func(o *operator.Options) { o.CloudProvider = "mars" },
		"lease w/o name": func(o *operator.Options) { o.LeaderElectionID = "" },
		"lease not above renew deadline": func(o *operator.Options) {
			o.LeaderElectionLeaseDuration, o.LeaderElectionRenewDeadline = 20*time.Second, 20*time.Second
		},
		"renew deadline within retry jitter": func(o *operator.Options) {
			o.LeaderElectionRenewDeadline, o.LeaderElectionRetryPeriod = 5*time.Second, 5*time.Second
		},
		"no retry period": func(o *operator.Options) { o.LeaderElectionRetryPeriod = 0 },
	} {
		o := operator.DefaultOptions()
		mutate(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func get(url string) (int, string) {
	resp, err := http.Get(url) //nolint:noctx // test
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOperatorRunsTheMainJob starts the whole operator with leader election on the fake
// cloud: it becomes ready, serves metrics, and a pending pod gets a launched NodeClaim.
func TestOperatorRunsTheMainJob(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	opts := fakeCloudOptions(t)
	runOperator(t, opts, nil)

	test.Eventually(t, 0, func() error {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, body := get("http://" + opts.HealthAddr + path); code != http.StatusOK {
				return fmt.Errorf("%s: %d %s", path, code, body)
			}
		}
		return nil
	})

	createPendingPod(t, "operator", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}, nil)
	test.Eventually(t, 0, func() error {
		var list v1.NodeClaimList
		if err := env.Client.List(ctx, &list); err != nil {
			return err
		}
		if len(list.Items) != 1 || !meta.IsStatusConditionTrue(list.Items[0].Status.Conditions, "Launched") {
			return fmt.Errorf("%d nodeclaims, want 1 launched", len(list.Items))
		}
		return nil
	})
	// The lifecycle controller counts a launch once the API has accepted the status that
	// says so, so the scrape may briefly trail what the list above saw.
	test.Eventually(t, 0, func() error {
		code, body := get("http://" + opts.MetricsAddr + "/metrics")
		for _, want := range []string{
			"karpenter_cloudprovider_duration_seconds", "controller_runtime_reconcile_total", "go_goroutines",
			`karpenter_nodeclaims_created_total{min_values_relaxed="false",nodepool="operator",reason="provisioning"} 1`,
			`karpenter_nodeclaims_launched_total{nodepool="operator"} 1`,
			`karpenter_scheduler_scheduling_duration_seconds_count{controller="provisioner"}`,
		} {
			if code != http.StatusOK || !strings.Contains(body, want) {
				return fmt.Errorf("/metrics (%d) lacks %s", code, want)
			}
		}
		return nil
	})
}

// TestEventsArePostedOnceAndStoppedCleanly: each event the controllers record reaches the
// API in one request, and stopping the operator leaves no event machinery complaining. With
// the broadcaster handed to the manager, its recorder providers started it again while the
// manager stopped, after the operator had shut it ("Unable start event watcher (will not
// retry!)" err="broadcaster already stopped").
func TestEventsArePostedOnceAndStoppedCleanly(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	var klogged bytes.Buffer // client-go reports through klog
	klog.LogToStderr(false)
	klog.SetOutput(&syncWriter{w: &klogged})
	var mu sync.Mutex
	codes := map[int]int{} // status of each event POST
	t.Cleanup(func() {     // registered first, so it runs once the operator has stopped
		klog.Flush()
		klog.SetOutput(os.Stderr)
		klog.LogToStderr(true)
		if strings.Contains(klogged.String(), "broadcaster already stopped") {
			t.Errorf("stopping the operator logged:\n%s", klogged.String())
		}
		mu.Lock()
		defer mu.Unlock()
		if codes[http.StatusCreated] == 0 || len(codes) != 1 {
			t.Errorf("event POSTs by status: %v, want only %d", codes, http.StatusCreated)
		}
	})
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/events") {
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
			return resp, err
		})
	})
	runOperatorOn(t, cfg, fakeCloudOptions(t), nil)
	pod := createPendingPod(t, "events", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}, nil)
	test.Eventually(t, 0, func() error {
		var list corev1.EventList
		if err := env.Client.List(ctx, &list, client.InNamespace("default")); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.UID == pod.UID && e.Reason == "Nominated" {
				return nil
			}
		}
		return fmt.Errorf("no Nominated event on %s among %d events", pod.Name, len(list.Items))
	})
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// fakeCloudOptions are the operator's options for a run on the fake cloud with leader
// election, free metrics and health ports, and short batches.
func fakeCloudOptions(t *testing.T) operator.Options {
	opts := operator.DefaultOptions()
	opts.CloudProvider = operator.CloudProviderFake
	opts.MetricsAddr, opts.HealthAddr = freeAddr(t), freeAddr(t)
	opts.LeaderElectionNamespace = "default"
	opts.BatchIdleDuration, opts.BatchMaxDuration = 100*time.Millisecond, time.Second
	opts.SkipControllerNameValidation = true
	return opts
}

// runOperator builds the operator with opts and runs it until the test ends; then it stops
// it, waits for it to return, runs the extra clean-up (nil for none) and cleanup.
func runOperator(t *testing.T, opts operator.Options, extra func()) *operator.Operator {
	t.Helper()
	return runOperatorOn(t, env.Config, opts, extra)
}

// runOperatorOn is runOperator talking to the API through cfg.
func runOperatorOn(t *testing.T, cfg *rest.Config, opts operator.Options, extra func()) *operator.Operator {
	t.Helper()
	op, err := operator.New(test.Context(t), cfg, opts, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(test.Context(t))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := op.Start(runCtx); err != nil {
			t.Errorf("operator: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		cleanup()
		if extra != nil {
			extra()
		}
	})
	return op
}

// createPendingPod creates a NodePool named name on the fake cloud (with limits, if any) and
// a pod in default asking for requests (and limits), marked unschedulable as kube-scheduler
// would.
func createPendingPod(t *testing.T, name string, requests, limits corev1.ResourceList) *corev1.Pod {
	t.Helper()
	ctx := test.Context(t)
	np := &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.NodePoolSpec{
			Limits: v1.Limits{corev1.ResourceCPU: resource.MustParse("1000")},
			Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
				Requirements: []v1.NodeSelectorRequirementWithMinValues{},
				NodeClassRef: &v1.NodeClassReference{Group: fake.NodeClassGVK.Group, Kind: fake.NodeClassGVK.Kind, Name: "default"},
			}},
		},
	}
	if err := env.Client.Create(ctx, np); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name + "-pod"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app", Resources: corev1.ResourceRequirements{
			Requests: requests, Limits: limits,
		}}}},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	if err := env.Client.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

func cleanup() {
	ctx := context.Background()
	_ = env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace("default"), client.GracePeriodSeconds(0))
	var list v1.NodeClaimList
	if env.Client.List(ctx, &list) == nil {
		for i := range list.Items {
			_ = env.Client.Patch(ctx, &list.Items[i], client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
		}
	}
	_ = env.Client.DeleteAllOf(ctx, &v1.NodeClaim{})
	_ = env.Client.DeleteAllOf(ctx, &v1.NodePool{})
}

// TestOperatorBuildsTheSimProvider: the default provider is wired with its node registrar.
func TestOperatorBuildsTheSimProvider(t *testing.T) {
	test.RequireEnvironment(t, env)
	opts := operator.DefaultOptions()
	opts.MetricsAddr, opts.HealthAddr, opts.LeaderElection = "0", "0", false
	opts.SkipControllerNameValidation = true
	op, err := operator.New(test.Context(t), env.Config, opts, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if op.CloudProvider.Name() != "sim" {
		t.Errorf("cloud provider = %s, want sim", op.CloudProvider.Name())
	}
	var names []string
	for _, c := range op.Controllers {
		names = append(names, c.Name())
	}
	if got := strings.Join(names, ","); got != "providerid.indexes,provisioner,nodeclaim.lifecycle,nodeclaim.termination,nodeclaim.garbagecollection,nodeclaim.expiration,disruption.podevents,disruption.conditions,disruption,nodepool.status,metrics.state,metrics.pod,metrics.status.nodepool,metrics.status.nodeclaim,metrics.node,metrics.nodeclaim,sim.noderegistrar" {
		t.Errorf("controllers = %s", got)
	}
}
