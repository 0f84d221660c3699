package fence_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/fake"
	"github.com/gokarpenter/karpenter/pkg/operator/fence"
)

// memLock is a lease in memory: one record, whoever wrote it last.
type memLock struct {
	id     string
	rec    resourcelock.LeaderElectionRecord
	failed bool // the next write fails
}

func (m *memLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	r := m.rec
	return &r, nil, nil
}

func (m *memLock) write(rec resourcelock.LeaderElectionRecord) error {
	if m.failed {
		m.failed = false
		return errors.New("etcdserver: request timed out")
	}
	m.rec = rec
	return nil
}
func (m *memLock) Create(_ context.Context, rec resourcelock.LeaderElectionRecord) error {
	return m.write(rec)
}
func (m *memLock) Update(_ context.Context, rec resourcelock.LeaderElectionRecord) error {
	return m.write(rec)
}
func (m *memLock) RecordEvent(string) {}
func (m *memLock) Identity() string   { return m.id }
func (m *memLock) Describe() string   { return "default/lease" }

func TestFenceFollowsTheLease(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := fence.New(clk, 10*time.Second)
	inner := &memLock{id: "me"}
	lock := f.Lock(inner)
	if err := f.Allow(); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("before any lease write: %v, want ErrNotLeader", err)
	}
	// Acquiring opens the fence.
	if err := lock.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Allow(); err != nil {
		t.Fatalf("after acquiring: %v", err)
	}
	// Renewals keep it open; the window counts from the last one.
	clk.Step(8 * time.Second)
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	clk.Step(9 * time.Second)
	if err := f.Allow(); err != nil {
		t.Fatalf("9 s after a renewal: %v", err)
	}
	// A failed renewal does not reopen anything: the window runs out (a paused process
	// resumes here).
	inner.failed = true
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err == nil {
		t.Fatal("the failing write succeeded")
	}
	clk.Step(time.Second)
	if err := f.Allow(); !errors.Is(err, fence.ErrNotLeader) || !strings.Contains(err.Error(), "10s ago") {
		t.Fatalf("a renew window after the last renewal: %v, want ErrNotLeader saying 10s ago", err)
	}
	// Renewing again reopens it; reading a lease another replica took closes it at once.
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Allow(); err != nil {
		t.Fatalf("after renewing: %v", err)
	}
	inner.rec.HolderIdentity = "other"
	if _, _, err := lock.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Allow(); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("after reading another holder: %v, want ErrNotLeader", err)
	}
	// Releasing (a write naming no holder) closes it too.
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: ""}); err != nil {
		t.Fatal(err)
	}
	if err := f.Allow(); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("after releasing: %v, want ErrNotLeader", err)
	}
	if f.Refused() != 4 {
		t.Errorf("refused %d, want 4", f.Refused())
	}
}

// TestTransportRefusesWritesOnly: a fenced client still reads; its writes never reach the
// server.
func TestTransportRefusesWritesOnly(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method)
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()
	clk := clocktesting.NewFakeClock(time.Now())
	f := fence.New(clk, 10*time.Second)
	c := &http.Client{Transport: f.Wrap(http.DefaultTransport)}
	do := func(method string) error {
		req, err := http.NewRequest(method, srv.URL+"/api/v1/nodes", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		err := do(m)
		if m == http.MethodGet && err != nil {
			t.Errorf("GET while fenced: %v", err)
		}
		if m != http.MethodGet && !errors.Is(err, fence.ErrNotLeader) {
			t.Errorf("%s while fenced: %v, want ErrNotLeader", m, err)
		}
	}
	if strings.Join(seen, ",") != "GET" {
		t.Fatalf("the server saw %v while fenced, want only the GET", seen)
	}
	lock := f.Lock(&memLock{id: "me"})
	if err := lock.Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	if err := do(http.MethodPost); err != nil {
		t.Fatalf("POST while leading: %v", err)
	}
	clk.Step(11 * time.Second)
	if err := do(http.MethodPatch); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("PATCH past the window: %v, want ErrNotLeader", err)
	}
	if strings.Join(seen, ",") != "GET,POST" {
		t.Fatalf("the server saw %v, want GET,POST", seen)
	}
}

// TestCloudProviderFencesCreateAndDelete: no instance is launched or terminated by a replica
// that does not lead.
func TestCloudProviderFencesCreateAndDelete(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Now())
	f := fence.New(clk, 10*time.Second)
	inner := fake.New(fake.Options{})
	cp := f.CloudProvider(inner)
	nc := &v1.NodeClaim{}
	nc.Name, nc.UID = "a", "uid-a"
	if _, err := cp.Create(ctx, nc); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("Create while fenced: %v, want ErrNotLeader", err)
	}
	if err := cp.Delete(ctx, nc); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("Delete while fenced: %v, want ErrNotLeader", err)
	}
	if list, err := cp.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List while fenced: %d instances, %v; want none and no error", len(list), err)
	}
	if calls := inner.Calls(fake.MethodCreate, fake.MethodDelete); len(calls) != 0 {
		t.Fatalf("the provider saw %d creates and deletes while fenced", len(calls))
	}
	if err := f.Lock(&memLock{id: "me"}).Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Create(ctx, nc); err != nil {
		t.Fatalf("Create while leading: %v", err)
	}
	if calls := inner.Calls(fake.MethodCreate); len(calls) != 1 {
		t.Fatalf("the provider saw %d creates while leading, want 1", len(calls))
	}
}

// TestReleaseAfterLossIsRefused: a replica that lost the lease while paused reads it on the
// way out (client-go's release) and then asks to release it; the lock must not blank the new
// holder's record. A release of a lease it still holds goes through.
func TestReleaseAfterLossIsRefused(t *testing.T) {
	ctx := context.Background()
	f := fence.New(clocktesting.NewFakeClock(time.Now()), 10*time.Second)
	inner := &memLock{id: "me"}
	lock := f.Lock(inner)
	if err := lock.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	// Paused; another replica takes the lease.
	inner.rec = resourcelock.LeaderElectionRecord{HolderIdentity: "other", LeaseDurationSeconds: 15}
	if _, _, err := lock.Get(ctx); err != nil {
		t.Fatal(err)
	}
	err := lock.Update(ctx, resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1})
	if !errors.Is(err, fence.ErrReleaseAfterLoss) {
		t.Fatalf("releasing a lease another holds: %v, want ErrReleaseAfterLoss", err)
	}
	if inner.rec.HolderIdentity != "other" {
		t.Fatalf("the release blanked the new holder's lease: holder %q", inner.rec.HolderIdentity)
	}
	if err := f.Allow(); !errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("writes after the lost lease: %v, want ErrNotLeader", err)
	}

	// Leading again (the other's lease expired and this replica took it): its own release
	// after a read that shows it holding the lease is written.
	inner.rec = resourcelock.LeaderElectionRecord{HolderIdentity: "me"}
	if _, _, err := lock.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1}); err != nil {
		t.Fatalf("releasing its own lease: %v", err)
	}
	if inner.rec.HolderIdentity != "" {
		t.Fatalf("the release was not written: holder %q", inner.rec.HolderIdentity)
	}
}
