package test_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/test"
)

func TestPollReturnsLastErrorOnTimeout(t *testing.T) {
	calls := 0
	err := test.Poll(60*time.Millisecond, func() error { calls++; return errors.New("not yet") })
	if err == nil || err.Error() != "not yet" || calls < 2 {
		t.Fatalf("Poll = %v after %d calls, want the condition's error after several calls", err, calls)
	}
	calls = 0
	test.Eventually(t, time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("Eventually stopped after %d calls, want 3", calls)
	}
}

func TestRecorderReadsReasons(t *testing.T) {
	r := test.NewRecorder()
	r.Event(&corev1.Pod{}, corev1.EventTypeWarning, "Blocked", "pdb refused pod a")
	r.Event(&corev1.Pod{}, corev1.EventTypeNormal, "Evicted", "pod b")
	if got := r.Reasons(); len(got) != 2 || got[0] != "Blocked" || got[1] != "Evicted" {
		t.Fatalf("Reasons = %v", got)
	}
	if !r.Has("Blocked", "pod a") || r.Has("Blocked", "pod b") || r.Has("Missing", "") {
		t.Fatalf("Has answers wrongly over %v", r.All())
	}
	r.Reset()
	if len(r.All()) != 0 {
		t.Fatalf("Reset kept %v", r.All())
	}
}

func TestMetricValueSumsMatchingSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "karpenter_test_total", Help: "h"}, []string{"nodepool", "reason"})
	reg.MustRegister(cv)
	cv.WithLabelValues("a", "x").Add(2)
	cv.WithLabelValues("a", "y").Add(3)
	cv.WithLabelValues("b", "x").Add(5)
	for _, tc := range []struct {
		labels []string
		want   float64
	}{{nil, 10}, {[]string{"nodepool", "a"}, 5}, {[]string{"nodepool", "a", "reason", "y"}, 3}, {[]string{"nodepool", "c"}, 0}} {
		got, err := test.MetricValue(reg, "karpenter_test_total", tc.labels...)
		if err != nil || got != tc.want {
			t.Errorf("MetricValue(%v) = %v, %v; want %v", tc.labels, got, err, tc.want)
		}
	}
	if _, err := test.MetricValue(reg, "karpenter_test_total", "odd"); err == nil {
		t.Error("odd label list accepted")
	}
}

func TestInstanceTypeBuilder(t *testing.T) {
	it := test.InstanceType("gpu", "4", "16Gi", test.WithResource("example.com/gpu", "1"),
		test.WithOfferings(test.Offering("zone-b", v1.CapacityTypeSpot, 0.3)), test.WithPrice(0.5))
	gpu := it.Capacity["example.com/gpu"]
	if it.Labels[v1.LabelInstanceType] != "gpu" || it.Capacity.Cpu().String() != "4" || gpu.String() != "1" {
		t.Fatalf("built %+v", it)
	}
	if len(it.Offerings) != 1 || it.Offerings[0].Zone != "zone-b" || it.Offerings[0].PricePerHour != 0.5 || !it.Offerings[0].Available {
		t.Fatalf("offerings %+v", it.Offerings)
	}
}

func TestNameIsAUniqueDNSLabel(t *testing.T) {
	a, b := test.Name(t), test.Name(t)
	if a == b || len(a) > 63 || a != "testnameisauniquednslabel-"+a[len("testnameisauniquednslabel-"):] {
		t.Fatalf("names %q, %q", a, b)
	}
}

func TestFreePortsBelowTheEphemeralRange(t *testing.T) {
	for _, n := range []int{1, 3} {
		base, err := test.FreePorts(n)
		if err != nil {
			t.Fatal(err)
		}
		if base < 20000 || base+n > 32000 {
			t.Fatalf("FreePorts(%d) = %d, outside 20000-32000 (the kernel's ephemeral range starts at 32768)", n, base)
		}
		for i := range n {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				t.Fatalf("FreePorts(%d) = %d, but port %d is not free: %v", n, base, base+i, err)
			}
			_ = l.Close()
		}
	}
}
