package nodesview

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	xterm "golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/test"
)

var (
	env    *test.Environment
	update = flag.Bool("update", false, "rewrite the golden screens in testdata/")
)

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }

// epoch is when the test's clock starts; nodes are shown as created an hour before it.
var epoch = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func createNode(t *testing.T, c client.Client, name, pool, instanceType, capacityType, zone string, unschedulable bool) {
	t.Helper()
	ctx := test.Context(t)
	labels := map[string]string{corev1.LabelHostname: name}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("30")}
	if pool != "" {
		labels[v1.NodePoolLabelKey], labels[v1.LabelInstanceType] = pool, instanceType
		labels[v1.CapacityTypeLabelKey], labels[v1.LabelTopologyZone] = capacityType, zone
		for _, it := range catalog.Default() {
			if it.Name == instanceType {
				alloc = it.Allocatable()
			}
		}
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Unschedulable: unschedulable}}
	if err := c.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Status.Allocatable = alloc
	n.Status.Capacity = alloc
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	if err := c.Status().Update(ctx, n); err != nil {
		t.Fatal(err)
	}
}

func createPod(t *testing.T, c client.Client, name, node, cpu, memory string) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}}}},
	}
	if err := c.Create(test.Context(t), p); err != nil {
		t.Fatal(err)
	}
}

// terminal is a pseudo-terminal whose output is fed to a screen as it arrives.
type terminal struct {
	tty    *os.File
	mu     sync.Mutex
	raw    bytes.Buffer
	screen *screen
	done   chan struct{}
}

func openTerminal(t *testing.T, rows, cols int) *terminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: uint16(rows), Cols: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	term := &terminal{tty: tty, screen: newScreen(rows, cols), done: make(chan struct{})}
	go func() {
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.raw.Write(buf[:n])
			term.screen.write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = tty.Close(); _ = ptmx.Close(); <-term.done })
	return term
}

// waitFor waits until the terminal has received n frames (each ends with clear-below).
func (term *terminal) waitFor(t *testing.T, n int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		term.mu.Lock()
		frames, text := strings.Count(term.raw.String(), clearBelow), term.screen.text()
		term.mu.Unlock()
		if frames >= n {
			return text
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no frame %d within 30s", n)
	return ""
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("screen differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestLiveViewInTerminal runs the view in a pseudo-terminal against a fixture cluster,
// removes a node and adds pods between two ticks of the clock, and compares both screens
// with golden ones: the second frame must replace the first entirely (no line of the removed
// node left behind).
func TestLiveViewInTerminal(t *testing.T) {
	test.RequireEnvironment(t, env)
	c := env.Client
	createNode(t, c, "default-a1b2c", "default", "m5.xlarge", v1.CapacityTypeOnDemand, "us-east-1a", false)
	createNode(t, c, "default-d3e4f", "default", "c6g.large", v1.CapacityTypeSpot, "us-east-1b", false)
	createNode(t, c, "gpu-x9y8z", "gpu", "g5.xlarge", v1.CapacityTypeOnDemand, "us-east-1c", false)
	createNode(t, c, "control-plane", "", "", "", "", true)
	createPod(t, c, "web-1", "default-a1b2c", "1500m", "2Gi")
	createPod(t, c, "web-2", "default-a1b2c", "1", "4Gi")
	createPod(t, c, "api-1", "default-d3e4f", "500m", "1Gi")
	createPod(t, c, "train-1", "gpu-x9y8z", "2", "8Gi")
	createPod(t, c, "waiting-1", "", "4", "8Gi")
	// A NodeClaim launched for it, whose node has not registered yet.
	launching := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "default-q7r8s", Labels: map[string]string{v1.NodePoolLabelKey: "default",
			v1.LabelInstanceType: "c6i.xlarge", v1.CapacityTypeLabelKey: v1.CapacityTypeOnDemand, v1.LabelTopologyZone: "us-east-1a"}},
		Spec: v1.NodeClaimSpec{
			Requirements: []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelInstanceType, Operator: v1.NodeSelectorOpIn, Values: []string{"c6i.xlarge"}}},
			NodeClassRef: &v1.NodeClassReference{Group: "karpenter.test.sh", Kind: "TestNodeClass", Name: "default"},
		},
	}
	if err := c.Create(test.Context(t), launching); err != nil {
		t.Fatal(err)
	}

	tm := openTerminal(t, 12, 132)
	clk := clocktesting.NewFakeClock(epoch)
	prices := NewCatalogPrices(catalog.Default())
	source := func(ctx context.Context) (Frame, error) {
		f, err := Read(ctx, c, prices)
		// The API server stamps creation with the real time; show every node as an hour old.
		for i := range f.Rows {
			f.Rows[i].Created = epoch.Add(-time.Hour)
		}
		return f, err
	}
	ctx, cancel := context.WithCancel(test.Context(t))
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Options{Out: tm.tty, Source: source, Clock: clk, Interval: 2 * time.Second, Frames: 2,
			Width: func() int { w, _, _ := xterm.GetSize(int(tm.tty.Fd())); return w }})
	}()
	golden(t, "frame1.golden", tm.waitFor(t, 1))

	if err := c.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-x9y8z"}}); err != nil {
		t.Fatal(err)
	}
	createPod(t, c, "api-2", "default-d3e4f", "500m", "1Gi")
	for !clk.HasWaiters() {
		time.Sleep(5 * time.Millisecond)
	}
	clk.Step(2 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	second := tm.waitFor(t, 2)
	golden(t, "frame2.golden", second)
	if strings.Contains(second, "gpu-x9y8z") {
		t.Errorf("the removed node is still on screen:\n%s", second)
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if !strings.HasSuffix(tm.raw.String(), showCursor) || !tm.screen.cursorOn {
		t.Error("the cursor is not shown again after the last frame")
	}
}
