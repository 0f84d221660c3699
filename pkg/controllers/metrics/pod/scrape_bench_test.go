package pod

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/metrics"
	"github.com/gokarpenter/karpenter/pkg/test"
)

func scaleLists(nodes, podsPerNode int) *test.ListReader {
	r := &test.ListReader{}
	yes := true
	for i := range nodes {
		name := fmt.Sprintf("node-%05d", i)
		r.Nodes = append(r.Nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			v1.NodePoolLabelKey: "scale", v1.LabelTopologyZone: "us-west-2a", v1.LabelArch: "amd64",
			v1.CapacityTypeLabelKey: "on-demand", v1.LabelInstanceType: "m5.large"}}})
		for j := range podsPerNode {
			r.Pods = append(r.Pods, corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "scale", Name: fmt.Sprintf("scale-%05d-%02d", i, j),
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "scale", UID: "rs", Controller: &yes}}},
				Spec:   corev1.PodSpec{NodeName: name},
				Status: corev1.PodStatus{Phase: corev1.PodRunning},
			})
		}
	}
	return r
}

// BenchmarkScrapePods is one /metrics scrape of the pod families at 1,000 nodes and 10,000
// running pods: "gathered" gathers and encodes every family (promhttp's way, and ours
// before metrics.Registry); "served" is metrics.Registry's handler, which writes the
// computed families as their sources list them.
func BenchmarkScrapePods(b *testing.B) {
	r := scaleLists(1000, 10)
	b.Run("gathered", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		if _, err := NewController(Deps{Client: r, Registerer: reg}); err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			families, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, f := range families {
				if err := enc.Encode(f); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(buf.Len())/(1<<20), "MiB/scrape")
	})
	b.Run("served", func(b *testing.B) {
		reg := metrics.NewRegistry()
		if _, err := NewController(Deps{Client: r, Registerer: reg}); err != nil {
			b.Fatal(err)
		}
		h := reg.Handler(nil, func(err error) { b.Fatal(err) })
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		var rec *httptest.ResponseRecorder
		b.ReportAllocs()
		for b.Loop() {
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, req)
		}
		if n := strings.Count(rec.Body.String(), "karpenter_pods_state{"); n != 10000 {
			b.Fatalf("a scrape gave %d karpenter_pods_state series, want 10,000", n)
		}
		b.ReportMetric(float64(rec.Body.Len())/(1<<20), "MiB/scrape")
	})
}
