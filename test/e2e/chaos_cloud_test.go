package e2e

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
)

// The cloud's faults, injected through the SimNodeClass's fault fields (insufficientCapacity,
// lateLaunch, failRegistration) that the running controller reads on every launch.

// chaosRun runs one scenario of TestChaos: its body injects the faults and returns when
// they were injected; the invariants are then checked and a row added to the table.
type chaosRun func(name, faults string, replicas int, body func(t *testing.T, s *sampler, r *row) time.Time)

// chaosScenarioSelected reports whether CHAOS_SCENARIO (comma separated names; empty: all)
// selects the scenario.
func chaosScenarioSelected(name string) bool {
	only := os.Getenv("CHAOS_SCENARIO")
	if only == "" {
		return true
	}
	for _, n := range strings.Split(only, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// iceZone is the zone the ice storm's third wave exhausts entirely.
const iceZone = "us-east-1c"

// icePreferringDeployment is the ice storm's third wave: two pods (with the app's label, so
// the invariants count them) that prefer iceZone and never share a node with an app pod, so
// they need nodes of their own.
const icePreferringDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: chaos-ice, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: chaos, wave: ice}}
  template:
    metadata: {labels: {app: chaos, wave: ice}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: app, image: app.invalid/chaos-ice:1, resources: {requests: {cpu: 500m, memory: 256Mi}}}]
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              preference: {matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [` + iceZone + `]}]}
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {labelSelector: {matchLabels: {app: chaos}}, topologyKey: kubernetes.io/hostname}
`

// cloudFaultScenarios runs ice-storm, late-success-launch and registration-never-happens.
// Each grows the app from what the scenarios before it left, so any of them can run alone.
func cloudFaultScenarios(t *testing.T, ch *chaos, run chaosRun, full bool) {
	base := func(name string) int {
		if !chaosScenarioSelected(name) {
			return 0
		}
		w, err := ch.read(context.Background(), chaosApp)
		if err != nil {
			t.Fatalf("reading the cluster: %v", err)
		}
		return len(w.pods)
	}

	n := base("ice-storm")
	run("ice-storm", "spot and c* in 2 zones exhausted, +6 pods; then every c* exhausted, +10 pods; then every pool of us-east-1c too, +2 pods preferring it", n+16, func(t *testing.T, s *sampler, r *row) time.Time {
		before := ch.instanceNames(t)
		wave1 := []simv1alpha1.SimOfferingSelector{{CapacityType: "spot"}, {InstanceType: "c*", Zone: "us-east-1a"}, {InstanceType: "c*", Zone: "us-east-1b"}}
		wave2 := append(wave1, simv1alpha1.SimOfferingSelector{InstanceType: "c*"})
		at := time.Now()
		ch.setInsufficientCapacity(t, wave1)
		ch.scale(t, s, n+6)
		ch.waitFor(t, 2*time.Minute, "the first wave running", func(w *world) bool { return w.running() >= n+6 })
		second := time.Now()
		ch.setInsufficientCapacity(t, wave2)
		ch.scale(t, s, n+16) // more than the spare room the first wave's nodes leave
		ch.waitFor(t, 3*time.Minute, "the second wave running", func(w *world) bool { return w.running() >= n+16 })
		// Wave 3: every pool of us-east-1c runs out too, and two pods arrive that prefer that
		// zone and may share a node with no app pod. The scheduler plans their NodeClaims in
		// us-east-1c, whose offerings the controller has not seen fail yet; every one answers
		// insufficient capacity, so the NodeClaims are deleted and the pods planned again with
		// the preference relaxed, on a pool that works. (They carry the app's label for the
		// invariants, and leave with their Deployment at the end.)
		wave3 := append(wave2, simv1alpha1.SimOfferingSelector{Zone: iceZone})
		third := time.Now()
		ch.setInsufficientCapacity(t, wave3)
		ch.kubectl(t, icePreferringDeployment, "apply", "-f", "-")
		ch.waitFor(t, 3*time.Minute, "the pods preferring "+iceZone+" running", func(w *world) bool {
			running := 0
			for _, p := range w.pods {
				if p.Labels["wave"] == "ice" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					running++
				}
			}
			return running == 2
		})
		var launched, late, replanned int
		for _, inst := range ch.instances(t) {
			if before[inst.Name] {
				continue
			}
			launched++
			pool := fmt.Sprintf("%s/%s/%s", inst.Spec.InstanceType, inst.Spec.Zone, inst.Spec.CapacityType)
			if selects(wave1, inst) {
				t.Errorf("instance %s launched on %s, exhausted throughout", inst.Name, pool)
			}
			// Launches that read the class after the second patch (times are whole seconds).
			if inst.Spec.LaunchTime.After(second.Add(2 * time.Second)) {
				late++
				if selects(wave2, inst) {
					t.Errorf("instance %s launched on %s after it was exhausted", inst.Name, pool)
				}
			}
			if inst.Spec.LaunchTime.After(third.Add(2*time.Second)) && selects(wave3, inst) {
				t.Errorf("instance %s launched on %s after it was exhausted", inst.Name, pool)
			}
		}
		if launched == 0 {
			t.Error("nothing launched during the storm: the scenario tested nothing")
		}
		// The pods preferring the exhausted zone run elsewhere, after at least one of their
		// NodeClaims was deleted for insufficient capacity.
		w, err := ch.read(context.Background(), chaosApp)
		if err != nil {
			t.Fatal(err)
		}
		zoneOf := map[string]string{}
		for _, n := range w.nodes {
			zoneOf[n.Name] = n.Labels[corev1.LabelTopologyZone]
		}
		for _, p := range w.pods {
			if p.Labels["wave"] == "ice" {
				if z := zoneOf[p.Spec.NodeName]; z == iceZone || z == "" {
					t.Errorf("pod %s runs on %s in zone %q, exhausted", p.Name, p.Spec.NodeName, z)
				}
			}
		}
		ice := ch.events(t, "InsufficientCapacityError")
		for _, e := range ice {
			if !e.LastTimestamp.Time.Before(third.Truncate(time.Second)) { // whole seconds
				replanned++
			}
		}
		if replanned == 0 {
			t.Errorf("no NodeClaim deleted for insufficient capacity once every pool of %s was exhausted: ICE deletion and re-planning went untested", iceZone)
		}
		r.extra = fmt.Sprintf("%d launched around the storm (%d after it grew), %d NodeClaims deleted for insufficient capacity (%d whose every offering in %s failed, their pods re-planned elsewhere)",
			launched, late, len(ice), replanned, iceZone)
		ch.setInsufficientCapacity(t, nil)
		ch.kubectl(t, "", "delete", "deployment", "chaos-ice", "--wait=false")
		return at
	})

	n = base("late-success-launch")
	run("late-success-launch", "every launch times out, its instance appears 6 s later (ambiguous creates), +6 pods", n+6, func(t *testing.T, s *sampler, r *row) time.Time {
		before := ch.instanceNames(t)
		seen := ch.watchAdoption(t)
		timeoutsBefore := len(ch.eventsMatching(t, "LaunchFailed", "timed out"))
		ch.patchClass(t, `{"spec":{"lateLaunch":"6s"}}`)
		at := time.Now()
		ch.scale(t, s, n+6)
		if full {
			// A restart while launches are pending: the new leader must adopt them too.
			ch.waitFor(t, time.Minute, "a launch timed out", func(*world) bool {
				return len(ch.eventsMatching(t, "LaunchFailed", "timed out")) > timeoutsBefore
			})
			for _, name := range ch.running() {
				ch.kill(t, name)
			}
			ch.start(t, "a")
		}
		ch.waitFor(t, 3*time.Minute, "every pod running", func(w *world) bool { return w.running() >= n+6 })
		ch.patchClass(t, `{"spec":{"lateLaunch":null}}`)
		instances, adopted, perClaim := seen.stop(ch)
		var launched, unadopted, doubled int
		for name, uid := range instances {
			if before[name] {
				continue
			}
			launched++
			if !adopted[name] {
				unadopted++
				t.Errorf("instance %s (nodeclaim UID %s) appeared but no NodeClaim ever recorded it", name, uid)
			}
		}
		for uid, insts := range perClaim {
			if len(insts) > 1 {
				doubled++
				t.Errorf("nodeclaim UID %s has %d instances: %v", uid, len(insts), insts)
			}
		}
		timeouts := len(ch.eventsMatching(t, "LaunchFailed", "timed out")) - timeoutsBefore
		if launched == 0 || timeouts < launched {
			t.Errorf("%d launches, %d timed out: every launch should have timed out first", launched, timeouts)
		}
		r.extra = fmt.Sprintf("%d ambiguous creates, %d instances, %d not adopted, %d NodeClaims with two", timeouts, launched, unadopted, doubled)
		if full {
			r.extra += "; SIGKILL while pending"
		}
		return at
	})

	n = base("registration-never-happens")
	run("registration-never-happens", "REGISTRATION_TTL=20s; instances never register a Node, +4 pods", n+4, func(t *testing.T, s *sampler, r *row) time.Time {
		// Graceful restarts release the lease at once: the fault here is the cloud's.
		for _, name := range ch.running() {
			ch.stop(t, name)
		}
		ch.startEnv(t, "a", "REGISTRATION_TTL=20s")
		ch.patchClass(t, `{"spec":{"failRegistration":true}}`)
		at := time.Now()
		ch.scale(t, s, n+4)
		broken := map[string]string{} // nodeclaim name -> instance
		ch.waitFor(t, 2*time.Minute, "an instance that will never register", func(w *world) bool {
			for _, inst := range w.instances {
				if inst.Spec.FailRegistration {
					broken[inst.Spec.NodeClaim] = inst.Name
				}
			}
			return len(broken) > 0
		})
		// Let the batch close, then let replacements register.
		time.Sleep(6 * time.Second)
		ch.waitFor(t, 10*time.Second, "the broken instances", func(w *world) bool {
			for _, inst := range w.instances {
				if inst.Spec.FailRegistration {
					broken[inst.Spec.NodeClaim] = inst.Name
				}
			}
			return true
		})
		ch.patchClass(t, `{"spec":{"failRegistration":null}}`)
		ch.waitFor(t, 2*time.Minute, "the unregistered NodeClaims and their instances gone", func(w *world) bool {
			for _, nc := range w.claims {
				if _, ok := broken[nc.Name]; ok {
					return false
				}
			}
			for _, inst := range w.instances {
				if inst.Spec.FailRegistration {
					return false
				}
			}
			return true
		})
		timedOut := map[string]bool{}
		for _, e := range ch.events(t, "RegistrationTimeout") {
			timedOut[e.InvolvedObject.Name] = true
		}
		for nc := range broken {
			if !timedOut[nc] {
				t.Errorf("nodeclaim %s went without a RegistrationTimeout event", nc)
			}
		}
		ch.waitFor(t, 2*time.Minute, "every pod running on a replacement", func(w *world) bool { return w.running() >= n+4 })
		r.extra = fmt.Sprintf("%d NodeClaims timed out after 20 s, instances terminated, replaced", len(broken))
		// Back to the default TTL for the scenarios after.
		for _, name := range ch.running() {
			ch.stop(t, name)
		}
		ch.start(t, "a")
		return at
	})
}

// stop interrupts a replica and waits for it to exit: it releases the lease on the way, so
// the next replica leads within seconds.
func (ch *chaos) stop(t *testing.T, name string) {
	t.Helper()
	ch.mu.Lock()
	p, exited := ch.procs[name], ch.exited[name]
	delete(ch.procs, name)
	ch.mu.Unlock()
	if p == nil {
		t.Fatalf("no replica %s to stop", name)
	}
	if !interruptAndWait(p, exited, 20*time.Second) {
		t.Logf("replica %s did not stop within 20s; killed it", name)
	}
}

// startEnv starts a replica with extra environment variables (settings).
func (ch *chaos) startEnv(t *testing.T, name string, env ...string) {
	t.Helper()
	type saved struct {
		value string
		ok    bool
	}
	old := map[string]saved{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		prev, ok := os.LookupEnv(k)
		old[k] = saved{prev, ok}
		os.Setenv(k, v)
	}
	defer func() {
		for k, s := range old {
			if s.ok {
				os.Setenv(k, s.value)
			} else {
				os.Unsetenv(k)
			}
		}
	}()
	ch.start(t, name) // the process copies the environment when it starts
}

func (ch *chaos) setInsufficientCapacity(t *testing.T, sels []simv1alpha1.SimOfferingSelector) {
	t.Helper()
	if len(sels) == 0 {
		ch.patchClass(t, `{"spec":{"insufficientCapacity":null}}`)
		return
	}
	var items []string
	for _, s := range sels {
		items = append(items, fmt.Sprintf(`{"instanceType":%q,"zone":%q,"capacityType":%q}`, s.InstanceType, s.Zone, s.CapacityType))
	}
	ch.patchClass(t, `{"spec":{"insufficientCapacity":[`+strings.Join(items, ",")+`]}}`)
}

// selects mirrors the sim's matching: each field a glob, empty matching anything.
func selects(sels []simv1alpha1.SimOfferingSelector, inst simv1alpha1.SimInstance) bool {
	match := func(p, v string) bool {
		ok, err := path.Match(p, v)
		return p == "" || (err == nil && ok)
	}
	for _, s := range sels {
		if match(s.InstanceType, inst.Spec.InstanceType) && match(s.Zone, inst.Spec.Zone) && match(s.CapacityType, inst.Spec.CapacityType) {
			return true
		}
	}
	return false
}

func (ch *chaos) instances(t *testing.T) []simv1alpha1.SimInstance {
	t.Helper()
	var list simv1alpha1.SimInstanceList
	if err := ch.kube.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func (ch *chaos) instanceNames(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, inst := range ch.instances(t) {
		out[inst.Name] = true
	}
	return out
}

// events lists the events with this reason (NodeClaims are cluster-scoped: their events are
// in the default namespace).
func (ch *chaos) events(t *testing.T, reason string) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	if err := ch.kube.List(context.Background(), &list, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// eventsMatching counts occurrences (an event's count) of events with the reason whose
// message contains text.
func (ch *chaos) eventsMatching(t *testing.T, reason, text string) []string {
	t.Helper()
	var out []string
	for _, e := range ch.events(t, reason) {
		if strings.Contains(e.Message, text) {
			n := max(int(e.Count), 1)
			for range n {
				out = append(out, e.InvolvedObject.Name)
			}
		}
	}
	return out
}

// adoption samples instances and NodeClaims every 200 ms: which instances appeared, for
// which NodeClaim UID, and which a NodeClaim recorded as its own.
type adoption struct {
	mu        sync.Mutex
	instances map[string]string          // instance name -> nodeclaim UID
	adopted   map[string]bool            // instance name -> some NodeClaim recorded it
	perClaim  map[string]map[string]bool // nodeclaim UID -> instance names
	done      chan struct{}
	wg        sync.WaitGroup
}

func (ch *chaos) watchAdoption(t *testing.T) *adoption {
	a := &adoption{instances: map[string]string{}, adopted: map[string]bool{}, perClaim: map[string]map[string]bool{}, done: make(chan struct{})}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ch.poll(context.Background(), a.done, func() time.Duration { return 200 * time.Millisecond }, a.observe)
	}()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			close(a.done)
		}
		a.wg.Wait()
	})
	return a
}

func (a *adoption) observe(w *world) {
	a.mu.Lock()
	defer a.mu.Unlock()
	recorded := map[string]bool{}
	for _, nc := range w.claims {
		recorded[nc.Status.ProviderID] = true
	}
	for _, inst := range w.instances {
		a.instances[inst.Name] = inst.Spec.NodeClaimUID
		if a.perClaim[inst.Spec.NodeClaimUID] == nil {
			a.perClaim[inst.Spec.NodeClaimUID] = map[string]bool{}
		}
		a.perClaim[inst.Spec.NodeClaimUID][inst.Name] = true
		if recorded["sim:///"+inst.Spec.Zone+"/"+inst.Name] {
			a.adopted[inst.Name] = true
		}
	}
}

// stop ends the sampling after one last sample and returns what it saw.
func (a *adoption) stop(ch *chaos) (instances map[string]string, adopted map[string]bool, perClaim map[string][]string) {
	select {
	case <-a.done:
	default:
		close(a.done)
	}
	a.wg.Wait()
	if w, err := ch.read(context.Background(), chaosApp); err == nil {
		a.observe(w)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	perClaim = map[string][]string{}
	for uid, insts := range a.perClaim {
		for name := range insts {
			perClaim[uid] = append(perClaim[uid], name)
		}
	}
	return a.instances, a.adopted, perClaim
}
