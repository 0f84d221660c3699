package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption"
)

// Scenarios that kill or pause the controller in the middle of a disruption command, of a
// termination and of its leadership. They plug into TestChaos through its chaosRun.

// auditProxy forwards a replica's requests to the kube-apiserver and records every write
// that reaches it. It can hold the first write that hold matches: held is closed once it
// arrives, and a value on release forwards it (true) or drops it (false), whether or not the
// replica that sent it still waits for the answer.
type auditProxy struct {
	hold    func(*http.Request) bool
	held    chan struct{}
	release chan bool
	// forwarded is closed once a held request has been forwarded or dropped; heldResult says
	// what the API server answered.
	forwarded  chan struct{}
	heldResult string

	proxy     *httputil.ReverseProxy
	transport http.RoundTripper
	target    *url.URL

	mu      sync.Mutex
	holding bool
	writes  []auditedWrite
}

type auditedWrite struct {
	at           time.Time
	method, path string
}

func (a auditedWrite) String() string { return a.method + " " + a.path }

func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete
}

func (a *auditProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isWrite(r.Method) {
		a.mu.Lock()
		a.writes = append(a.writes, auditedWrite{at: time.Now(), method: r.Method, path: r.URL.Path})
		hold := a.hold != nil && !a.holding && a.hold(r)
		if hold {
			a.holding = true
		}
		a.mu.Unlock()
		if hold {
			a.holdAndForward(w, r)
			return
		}
	}
	a.proxy.ServeHTTP(w, r)
}

// holdAndForward keeps the request until release says, then sends it on its own context:
// the replica that sent it may be dead by then, and the API server still carries it out.
func (a *auditProxy) holdAndForward(w http.ResponseWriter, r *http.Request) {
	defer close(a.forwarded)
	body, _ := io.ReadAll(r.Body)
	close(a.held)
	if !<-a.release {
		a.heldResult = "dropped"
		http.Error(w, "dropped by the chaos proxy", http.StatusServiceUnavailable)
		return
	}
	u := *a.target
	u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		a.heldResult = err.Error()
		return
	}
	req.Header = r.Header.Clone()
	resp, err := a.transport.RoundTrip(req)
	if err != nil {
		a.heldResult = err.Error()
		return
	}
	defer resp.Body.Close()
	a.heldResult = r.Method + " " + r.URL.Path + ": " + resp.Status
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// writesSince lists the writes that reached the proxy after t.
func (a *auditProxy) writesSince(t time.Time) []auditedWrite {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []auditedWrite
	for _, w := range a.writes {
		if w.at.After(t) {
			out = append(out, w)
		}
	}
	return out
}

// startAuditProxy serves the proxy on a free loopback port with the admin credentials and
// writes a kubeconfig named after it that points at it; it returns the kubeconfig's path.
func (ch *chaos) startAuditProxy(t *testing.T, name string, a *auditProxy) string {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(ch.run, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	if a.transport, err = rest.TransportFor(cfg); err != nil {
		t.Fatal(err)
	}
	if a.target, err = url.Parse(cfg.Host); err != nil {
		t.Fatal(err)
	}
	a.held, a.release, a.forwarded = make(chan struct{}), make(chan bool, 1), make(chan struct{})
	a.proxy = httputil.NewSingleHostReverseProxy(a.target)
	a.proxy.Transport = a.transport
	a.proxy.FlushInterval = -1 // stream watches
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		select {
		case a.release <- false: // never leave a held request hanging
		default:
		}
		_ = srv.Close()
	})
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: %[1]s, cluster: {server: "http://%[2]s"}}]
users: [{name: %[1]s, user: {}}]
contexts: [{name: %[1]s, context: {cluster: %[1]s, user: %[1]s}}]
current-context: %[1]s
`, name, l.Addr().String())
	path := filepath.Join(ch.run, name+".kubeconfig")
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signalReplica sends sig to a running replica's process.
func (ch *chaos) signalReplica(t *testing.T, name string, sig syscall.Signal) {
	t.Helper()
	ch.mu.Lock()
	p := ch.procs[name]
	ch.mu.Unlock()
	if p == nil {
		t.Fatalf("no replica %s to signal", name)
	}
	if err := p.Process.Signal(sig); err != nil {
		t.Fatalf("signalling replica %s: %v", name, err)
	}
}

// waitExit waits up to timeout for a replica's process to end on its own, and forgets it.
func (ch *chaos) waitExit(name string, timeout time.Duration) bool {
	ch.mu.Lock()
	exited := ch.exited[name]
	ch.mu.Unlock()
	select {
	case <-exited:
		ch.mu.Lock()
		delete(ch.procs, name)
		ch.mu.Unlock()
		return true
	case <-time.After(timeout):
		return false
	}
}

// only leaves exactly the replica name running (killing the others, starting it if needed).
func (ch *chaos) only(t *testing.T, name string) {
	t.Helper()
	if r := ch.running(); len(r) == 1 && r[0] == name {
		return
	}
	ch.killAll(t)
	ch.start(t, name)
}

// settle scales the app to replicas and waits until they all run, so a scenario starts
// from a known cluster whatever ran before it; it returns the world it last saw.
func (ch *chaos) settle(t *testing.T, s *sampler, replicas int) *world {
	t.Helper()
	ch.scale(t, s, replicas)
	var last *world
	ch.waitFor(t, 3*time.Minute, fmt.Sprintf("%d pods running", replicas), func(w *world) bool {
		last = w
		return w.running() == replicas && len(w.pods) == replicas
	})
	return last
}

// killAll SIGKILLs every running replica.
func (ch *chaos) killAll(t *testing.T) {
	t.Helper()
	for _, name := range ch.running() {
		ch.kill(t, name)
	}
}

// awaitLeader waits until the replica's log says it holds the lease, and returns the holder
// identity the lease then names.
func (ch *chaos) awaitLeader(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if ch.leaderReplica() == name {
			if holder := ch.leader(ctx); holder != "" {
				return holder
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s did not acquire the lease within a minute", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logCount counts the lines of a replica's current log that contain s.
func (ch *chaos) logCount(name, s string) int {
	ch.mu.Lock()
	path := ch.logs[name]
	ch.mu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), s)
}

// command is a disruption command as its annotations show it.
type command struct {
	id                       string
	candidates, replacements []*v1.NodeClaim
}

// commands groups the NodeClaims by the disruption command annotated on them.
func (w *world) commands() map[string]*command {
	out := map[string]*command{}
	for i := range w.claims {
		nc := &w.claims[i]
		id := nc.Annotations[disruption.CommandAnnotationKey]
		if id == "" {
			continue
		}
		c := out[id]
		if c == nil {
			c = &command{id: id}
			out[id] = c
		}
		if nc.Annotations[disruption.RoleAnnotationKey] == disruption.RoleReplacement {
			c.replacements = append(c.replacements, nc)
		} else {
			c.candidates = append(c.candidates, nc)
		}
	}
	return out
}

// tainted reports whether the NodeClaim's Node carries karpenter.sh/disrupted.
func (w *world) tainted(nc *v1.NodeClaim) bool {
	for i := range w.nodes {
		if n := &w.nodes[i]; nc.Status.NodeName != "" && n.Name == nc.Status.NodeName {
			return disruption.HasDisruptedTaint(n)
		}
	}
	return false
}

// waitingCommand is a command whose replacements are launched and whose candidates are all
// tainted and not yet deleted: the moment between the command's start and its deletes.
func (w *world) waitingCommand() *command {
	for _, c := range w.commands() {
		if len(c.replacements) == 0 || len(c.candidates) == 0 {
			continue
		}
		ok := true
		for _, nc := range c.candidates {
			ok = ok && nc.DeletionTimestamp == nil && w.tainted(nc)
		}
		for _, nc := range c.replacements {
			ok = ok && nc.DeletionTimestamp == nil
		}
		if ok {
			return c
		}
	}
	return nil
}

// taintedOrphans lists the Nodes tainted karpenter.sh/disrupted that no command holds and
// whose NodeClaim is not being deleted: nothing will ever remove that taint.
func (w *world) taintedOrphans() []string {
	var out []string
	for i := range w.claims {
		nc := &w.claims[i]
		if nc.DeletionTimestamp == nil && nc.Annotations[disruption.CommandAnnotationKey] == "" && w.tainted(nc) {
			out = append(out, "node/"+nc.Status.NodeName)
		}
	}
	return out
}

// observeCommands feeds the sampler's command bookkeeping: the commands each candidate was
// marked with, and a candidate for which another command's replacements still exist (a
// second replacement launched for a node that already had one).
func (s *sampler) observeCommands(w *world) {
	if s.candidateOf == nil {
		s.candidateOf, s.doubled = map[string][]string{}, map[string]bool{}
	}
	cmds := w.commands()
	for id, c := range cmds {
		for _, nc := range c.candidates {
			if !slices.Contains(s.candidateOf[nc.Name], id) {
				s.candidateOf[nc.Name] = append(s.candidateOf[nc.Name], id)
			}
		}
	}
	for id, c := range cmds {
		for _, nc := range c.candidates {
			for _, earlier := range s.candidateOf[nc.Name] {
				if other := cmds[earlier]; earlier != id && other != nil && len(other.replacements) > 0 && len(c.replacements) > 0 {
					s.doubled[nc.Name] = true
				}
			}
		}
	}
}

// disrupting counts the NodeClaims a disruption budget covers: being deleted, or marked as
// a command's candidate; interrupted instances' NodeClaims are not the budget's.
func (w *world) disrupting() int {
	interrupted := map[string]bool{}
	for _, inst := range w.instances {
		if inst.Status.InterruptedAt != nil {
			interrupted[inst.Spec.NodeClaim] = true
		}
	}
	n := 0
	for _, nc := range w.claims {
		if interrupted[nc.Name] {
			continue
		}
		if nc.DeletionTimestamp != nil || nc.Annotations[disruption.RoleAnnotationKey] == disruption.RoleCandidate {
			n++
		}
	}
	return n
}

// markDrifted gives the NodeClaims a NodePool hash that is not their NodePool's: each is
// Drifted and rolled, one disruption command each, within the budget.
func (ch *chaos) markDrifted(t *testing.T, names []string) {
	t.Helper()
	for _, name := range names {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"stale"}}}`, v1.NodePoolHashAnnotationKey)
		ch.kubectl(t, "", "patch", "nodeclaim", name, "--type=merge", "-p", patch)
	}
}

// killScenarios SIGKILLs the controller in a disruption command and in a termination.
func killScenarios(ch *chaos, run chaosRun) {
	run("kill-mid-disruption", "drift 3 NodeClaims holding pods; SIGKILL once a command has launched its replacement and tainted its candidate, before the delete; restart", 20, func(t *testing.T, s *sampler, r *row) time.Time {
		ch.only(t, "a")
		w := ch.settle(t, s, 20)
		// Three NodeClaims (the budget rolls two at a time): each command launches a
		// replacement when the pods do not fit on the other nodes.
		var drifted []string
		for _, nc := range w.claims {
			if len(drifted) < 3 && nc.DeletionTimestamp == nil && nc.Status.NodeName != "" && slices.ContainsFunc(w.pods, func(p corev1.Pod) bool { return p.Spec.NodeName == nc.Status.NodeName }) {
				drifted = append(drifted, nc.Name)
			}
		}
		ch.markDrifted(t, drifted)
		var cmd *command
		ch.waitFor(t, 3*time.Minute, "a command with its replacement launched and its candidates tainted", func(w *world) bool {
			cmd = w.waitingCommand()
			return cmd != nil
		})
		ch.kill(t, "a")
		at := time.Now()
		r.extra = fmt.Sprintf("%d drifted; killed in command %s (%d candidate, %d replacement)", len(drifted), cmd.id, len(cmd.candidates), len(cmd.replacements))
		time.Sleep(2 * time.Second)
		ch.start(t, "a")
		// The roll goes on after the restart: every drifted NodeClaim is replaced, and no
		// command is left.
		gone := map[string]bool{}
		ch.waitFor(t, 10*time.Minute, "every drifted NodeClaim replaced and no command left", func(w *world) bool {
			live := map[string]bool{}
			for _, nc := range w.claims {
				live[nc.Name] = true
			}
			for _, name := range drifted {
				if !live[name] {
					gone[name] = true
				}
			}
			return len(gone) == len(drifted) && len(w.commands()) == 0
		})
		return at
	})
	run("kill-at-instance-delete", "a replica behind a proxy that holds the instance DELETE; SIGKILL while it is held, the DELETE then succeeds after the process died; restart", 20, func(t *testing.T, s *sampler, r *row) time.Time {
		proxy := &auditProxy{hold: func(r *http.Request) bool {
			return r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/siminstances/")
		}}
		kubeconfig := ch.startAuditProxy(t, "hold", proxy)
		ch.settle(t, s, 20)
		ch.killAll(t)
		ch.startWith(t, "h", kubeconfig)
		ch.awaitLeader(t, context.Background(), "h")
		var victim string
		ch.waitFor(t, time.Minute, "a NodeClaim holding pods", func(w *world) bool {
			for _, nc := range w.claims {
				if nc.DeletionTimestamp == nil && nc.Status.NodeName != "" && slices.ContainsFunc(w.pods, func(p corev1.Pod) bool { return p.Spec.NodeName == nc.Status.NodeName }) {
					victim = nc.Name
					return true
				}
			}
			return false
		})
		ch.kubectl(t, "", "delete", "nodeclaim", victim, "--wait=false")
		select {
		case <-proxy.held:
		case <-time.After(3 * time.Minute):
			t.Fatalf("no instance DELETE for %s within 3 minutes", victim)
		}
		ch.kill(t, "h")
		at := time.Now()
		time.Sleep(time.Second)
		proxy.release <- true
		<-proxy.forwarded
		r.extra = fmt.Sprintf("held DELETE answered %s after the kill", proxy.heldResult)
		ch.start(t, "a")
		return at
	})
}

// fenceScenario pauses the leader past its lease and resumes it once the other replica
// leads: the resumed process must not write anything, and must exit.
func fenceScenario(ch *chaos, run chaosRun) {
	run("leader-paused", "2 replicas; SIGSTOP the leader with launches in flight (4 s) until the other takes the lease, then SIGCONT; scale 20 -> 26", 26, func(t *testing.T, s *sampler, r *row) time.Time {
		ctx := context.Background()
		audit := &auditProxy{}
		kubeconfig := ch.startAuditProxy(t, "audit", audit)
		ch.killAll(t)
		ch.startWith(t, "old", kubeconfig)
		holder := ch.awaitLeader(t, ctx, "old")
		ch.start(t, "new")
		ch.patchClass(t, `{"spec":{"launchDelay":"4s"}}`)
		defer ch.patchClass(t, `{"spec":{"launchDelay":null}}`)
		ch.scale(t, s, 26)
		ch.waitFor(t, 2*time.Minute, "a launch in flight", func(w *world) bool {
			for i := range w.claims {
				if hasCondition(&w.claims[i], v1.ConditionTypeLaunched, v1.ConditionReasonLaunching, "Unknown") {
					return true
				}
			}
			return false
		})
		ch.signalReplica(t, "old", syscall.SIGSTOP)
		stopped := time.Now()
		for now := ch.leader(ctx); now == holder || now == ""; now = ch.leader(ctx) {
			if time.Since(stopped) > 2*time.Minute {
				ch.signalReplica(t, "old", syscall.SIGCONT)
				t.Fatal("the other replica did not take the lease within 2 minutes")
			}
			time.Sleep(100 * time.Millisecond)
		}
		takeover := time.Since(stopped)
		// Leave the old leader stopped a little longer: the new one is acting by now.
		time.Sleep(2 * time.Second)
		ch.expectExit("old")
		resumed := time.Now()
		ch.signalReplica(t, "old", syscall.SIGCONT)
		exited := ch.waitExit("old", time.Minute)
		exitAfter := time.Since(resumed)
		writes := audit.writesSince(resumed)
		fenced := ch.logCount("old", "write fenced off")
		r.extra = fmt.Sprintf("lease taken %v after SIGSTOP; old leader exited %v after SIGCONT, %d writes reached the API server after it, %d refused by its fence",
			takeover.Round(100*time.Millisecond), exitAfter.Round(100*time.Millisecond), len(writes), fenced)
		if !exited {
			t.Errorf("the deposed leader still runs a minute after SIGCONT")
			ch.kill(t, "old")
		}
		if len(writes) > 0 {
			t.Errorf("the deposed leader wrote after resuming: %v", writes)
		}
		return stopped
	})
}
