package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// faultProxy sits between a karpenter replica and the kube-apiserver and answers some
// requests itself: every throttleEvery-th request with 429 Too Many Requests (Retry-After:
// 1), every conflictEvery-th write with 409 Conflict, as a loaded or contended API server
// would. Watches pass through untouched.
type faultProxy struct {
	throttleEvery, conflictEvery int64
	requests, writes             atomic.Int64
	throttled, conflicted        atomic.Int64
	proxy                        *httputil.ReverseProxy
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("watch") != "true" {
		if n := f.requests.Add(1); f.throttleEvery > 0 && n%f.throttleEvery == 0 {
			f.throttled.Add(1)
			writeStatus(w, http.StatusTooManyRequests, "TooManyRequests", "injected by the chaos proxy", map[string]string{"Retry-After": "1"})
			return
		}
		if r.Method == http.MethodPatch || r.Method == http.MethodPut {
			if n := f.writes.Add(1); f.conflictEvery > 0 && n%f.conflictEvery == 0 {
				f.conflicted.Add(1)
				writeStatus(w, http.StatusConflict, "Conflict", "the object has been modified (injected by the chaos proxy)", nil)
				return
			}
		}
	}
	f.proxy.ServeHTTP(w, r)
}

func writeStatus(w http.ResponseWriter, code int, reason, message string, headers map[string]string) {
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, message, reason, code)
}

// startFaultProxy serves the proxy on a free loopback port, forwarding with the admin
// credentials, and writes a kubeconfig that points at it; it returns the kubeconfig's path.
func (ch *chaos) startFaultProxy(t *testing.T, f *faultProxy) string {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(ch.run, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	f.proxy = httputil.NewSingleHostReverseProxy(target)
	f.proxy.Transport = transport
	f.proxy.FlushInterval = -1 // stream watches
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: "http://%s"}}]
users: [{name: proxy, user: {}}]
contexts: [{name: proxy, context: {cluster: proxy, user: proxy}}]
current-context: proxy
`, l.Addr().String())
	path := filepath.Join(ch.run, "proxy.kubeconfig")
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (f *faultProxy) String() string {
	return strings.TrimSpace(fmt.Sprintf("%d requests, %d answered 429, %d writes answered 409",
		f.requests.Load(), f.throttled.Load(), f.conflicted.Load()))
}
