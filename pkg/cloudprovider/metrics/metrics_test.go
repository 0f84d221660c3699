package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/metrics"
)

func TestDecoratorRecordsDurationsAndErrorsByType(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	inner := fake.New(fake.Options{})
	cp, err := metrics.Decorate(inner, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := metrics.WithController(context.Background(), "nodeclaim.lifecycle")
	inner.FailNext(fake.MethodCreate,
		cloudprovider.NewInsufficientCapacityError(errors.New("no spot")),
		fmt.Errorf("launching: %w", cloudprovider.NewCreateError(errors.New("quota"), "Quota", "quota")),
		errors.New("network"))
	for range 3 {
		if _, err := cp.Create(ctx, &v1.NodeClaim{}); err == nil {
			t.Fatal("injected Create error was not returned")
		}
	}
	launched, err := cp.Create(ctx, &v1.NodeClaim{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Delete(ctx, launched); err != nil {
		t.Fatal(err)
	}
	if err := cp.Delete(context.Background(), launched); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := cp.Get(ctx, launched.Status.ProviderID); !cloudprovider.IsNodeClaimNotFoundError(err) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := cp.List(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.GetInstanceTypes(ctx, nil); err != nil {
		t.Fatal(err)
	}
	inner.FailNext(fake.MethodIsDrifted, cloudprovider.NewNodeClassNotReadyError(errors.New("class gone")))
	if _, err := cp.IsDrifted(ctx, launched); !cloudprovider.IsNodeClassNotReadyError(err) {
		t.Fatalf("IsDrifted: %v", err)
	}
	if cp.Name() != "fake" || len(cp.GetSupportedNodeClasses()) != 1 || cp.Unwrap() != inner {
		t.Fatal("Name, GetSupportedNodeClasses or Unwrap do not delegate")
	}

	const lc = "nodeclaim.lifecycle"
	wantErrors := `
# HELP karpenter_cloudprovider_errors_total Total cloud provider method calls that returned an error, by controller, method, provider and error type.
# TYPE karpenter_cloudprovider_errors_total counter
karpenter_cloudprovider_errors_total{controller="",error="NodeClaimNotFoundError",method="Delete",provider="fake"} 1
karpenter_cloudprovider_errors_total{controller="` + lc + `",error="CreateError",method="Create",provider="fake"} 1
karpenter_cloudprovider_errors_total{controller="` + lc + `",error="InsufficientCapacityError",method="Create",provider="fake"} 1
karpenter_cloudprovider_errors_total{controller="` + lc + `",error="NodeClaimNotFoundError",method="Get",provider="fake"} 1
karpenter_cloudprovider_errors_total{controller="` + lc + `",error="NodeClassNotReadyError",method="IsDrifted",provider="fake"} 1
karpenter_cloudprovider_errors_total{controller="` + lc + `",error="UnknownError",method="Create",provider="fake"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantErrors), "karpenter_cloudprovider_errors_total"); err != nil {
		t.Error(err)
	}
	// One duration sample per call, whatever its outcome.
	wantCounts := map[[2]string]uint64{
		{lc, "Create"}: 4, {lc, "Delete"}: 1, {"", "Delete"}: 1, {lc, "Get"}: 1,
		{lc, "List"}: 1, {lc, "GetInstanceTypes"}: 1, {lc, "IsDrifted"}: 1,
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[[2]string]uint64{}
	for _, f := range families {
		if f.GetName() != "karpenter_cloudprovider_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] != "fake" {
				t.Errorf("provider label %q", labels["provider"])
			}
			got[[2]string{labels["controller"], labels["method"]}] = m.GetHistogram().GetSampleCount()
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantCounts) {
		t.Errorf("duration sample counts = %v, want %v", got, wantCounts)
	}
}

func TestDecoratingTwiceSharesCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := metrics.Decorate(fake.New(fake.Options{Name: "a"}), reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := metrics.Decorate(fake.New(fake.Options{Name: "b"}), reg)
	if err != nil {
		t.Fatalf("second decorator on the same registry: %v", err)
	}
	ctx := context.Background()
	_, _ = a.List(ctx)
	_, _ = b.List(ctx)
	if n := testutil.CollectAndCount(prometheus.Collector(mustMetrics(t, reg).Duration)); n != 2 {
		t.Fatalf("duration series = %d, want 2 (one per provider)", n)
	}
}

func TestRegistrationConflictIsAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	clash := prometheus.NewCounter(prometheus.CounterOpts{Name: "karpenter_cloudprovider_errors_total", Help: "x"})
	reg.MustRegister(clash)
	if _, err := metrics.Decorate(fake.New(fake.Options{}), reg); err == nil {
		t.Fatal("a clashing collector was not reported")
	}
}

func mustMetrics(t *testing.T, reg prometheus.Registerer) *metrics.Metrics {
	t.Helper()
	m, err := metrics.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
