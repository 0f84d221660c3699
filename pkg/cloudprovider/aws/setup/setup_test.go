package setup

import (
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
)

// TestSetupFillsFromTheConnection: the endpoint, CA bundle and Kubernetes version nodes join
// with default to the controller's own connection; the interruption poller comes only with a
// queue.
func TestSetupFillsFromTheConnection(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"major":"1","minor":"33+","gitVersion":"v1.33.2-eks"}`))
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kube := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).Build()
	clients := &awsprovider.Clients{EC2: struct{ awsprovider.EC2API }{}, SQS: struct{ awsprovider.SQSAPI }{}, Region: "us-east-1"}
	for _, tc := range []struct {
		queue string
		want  []string
	}{{"", []string{"ec2nodeclass"}}, {"q", []string{"ec2nodeclass", "interruption"}}} {
		opts := awsprovider.DefaultOptions()
		opts.ClusterName, opts.InterruptionQueue = "c", tc.queue
		p, ctrls, err := New(t.Context(), awsprovider.SetupDeps{
			Options: opts, Config: &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}},
			Direct: kube, Cached: kube, Clients: clients,
		})
		if err != nil {
			t.Fatal(err)
		}
		o := p.Options()
		if o.ClusterEndpoint != srv.URL || o.ClusterCABundle != base64.StdEncoding.EncodeToString(ca) || o.KubernetesVersion != "1.33" {
			t.Errorf("options filled from the connection: %+v", o)
		}
		var names []string
		for _, c := range ctrls {
			names = append(names, c.Name())
		}
		if len(names) != len(tc.want) || names[0] != tc.want[0] || (len(names) == 2 && names[1] != tc.want[1]) {
			t.Errorf("queue %q: controllers %v, want %v", tc.queue, names, tc.want)
		}
	}
	// Settings given explicitly win over the connection.
	opts := awsprovider.DefaultOptions()
	opts.ClusterName, opts.ClusterEndpoint, opts.KubernetesVersion = "c", "https://given", "1.30"
	p, _, err := New(t.Context(), awsprovider.SetupDeps{Options: opts, Config: &rest.Config{Host: srv.URL}, Direct: kube, Cached: kube, Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	if p.Options().ClusterEndpoint != "https://given" || p.Options().KubernetesVersion != "1.30" {
		t.Errorf("explicit settings overridden: %+v", p.Options())
	}
}
