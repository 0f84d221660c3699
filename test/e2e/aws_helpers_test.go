package e2e

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/mototest"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/pricing"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// recordingProxy sits between the controller and moto_server and keeps the form of every
// CreateFleet request, so the test sees exactly what the controller asked EC2 for. It reads
// SSM's /aws/service/ parameters from where the fixture put them (mototest.SSMPrefix). It also
// stands in for EC2's spot price history, which moto answers with one flat price for every
// type: each (type, zone) gets a deterministic price between 25 % and 75 % of the type's
// on-demand price (spotPrice), so "cheapest" means something.
type recordingProxy struct {
	server *httptest.Server
	mu     sync.Mutex
	fleets []url.Values
	// failNext answers the next CreateFleet itself with InsufficientInstanceCapacity for its
	// first override, as EC2 does when a pool is out of capacity; failed records which.
	failNext bool
	failed   string
}

// FailNextFleet arms a capacity error for the next CreateFleet.
func (rp *recordingProxy) FailNextFleet() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.failNext = true
}

// Failed is the type/zone the armed capacity error named, once it fired.
func (rp *recordingProxy) Failed() string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.failed
}

// capacityError is EC2's CreateFleet answer when the first override has no capacity.
func capacityError(form url.Values) (string, []byte) {
	first := fleetOverrides(form)[0]
	typ, zone, _ := strings.Cut(first, "/")
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<CreateFleetResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>e2e</requestId><fleetId>fleet-e2e</fleetId><errorSet><item><errorCode>InsufficientInstanceCapacity</errorCode><errorMessage>We currently do not have sufficient %s capacity in the Availability Zone you requested (%s).</errorMessage><launchTemplateAndOverrides><overrides><instanceType>%s</instanceType><availabilityZone>%s</availabilityZone></overrides></launchTemplateAndOverrides><lifecycle>spot</lifecycle></item></errorSet><fleetInstanceSet/></CreateFleetResponse>`, typ, zone, typ, zone)
	return first, []byte(body)
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := &recordingProxy{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Header.Get(spotHeader) == "" {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		body = spotItem.ReplaceAllFunc(body, func(item []byte) []byte {
			m := spotItem.FindSubmatch(item)
			price, ok := spotPrice(string(m[3]), string(m[2]))
			if !ok {
				return item
			}
			return []byte(fmt.Sprintf("%s<spotPrice>%.5f</spotPrice>", m[1], price))
		})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	rp.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_ = r.Body.Close()
		r.Header.Del(spotHeader)
		if r.Header.Get("X-Amz-Target") == "AmazonSSM.GetParameter" {
			// moto refuses parameters under /aws/: the fixture keeps EKS's under /moto/aws/.
			body = bytes.Replace(body, []byte(`"Name":"/aws/`), []byte(`"Name":"`+mototest.SSMPrefix+`/aws/`), 1)
		}
		if form, err := url.ParseQuery(string(body)); err == nil {
			switch form.Get("Action") {
			case "CreateFleet":
				rp.mu.Lock()
				rp.fleets = append(rp.fleets, form)
				fail := rp.failNext
				rp.failNext = false
				if fail {
					var answer []byte
					rp.failed, answer = capacityError(form)
					rp.mu.Unlock()
					w.Header().Set("Content-Type", "text/xml")
					_, _ = w.Write(answer)
					return
				}
				rp.mu.Unlock()
			case "DescribeSpotPriceHistory":
				r.Header.Set(spotHeader, "1")
				r.Header.Del("Accept-Encoding")
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(rp.server.Close)
	return rp
}

const spotHeader = "X-E2e-Spot-History"

// spotItem matches one item of moto's DescribeSpotPriceHistory answer up to its price.
var spotItem = regexp.MustCompile(`(?s)(<item><availabilityZone>([^<]+)</availabilityZone><instanceType>([^<]+)</instanceType>.*?)<spotPrice>[^<]*</spotPrice>`)

// spotPrice is the test's spot price of a type in a zone: 25-75 % of its on-demand price,
// varying by type and zone.
func spotPrice(instanceType, zone string) (float64, bool) {
	od, ok := pricing.Fallback(mototest.Region, instanceType)
	if !ok {
		return 0, false
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(instanceType + "/" + zone))
	return math.Round(od*(0.25+0.5*float64(h.Sum32()%1000)/1000)*1e5) / 1e5, true // as written: 5 decimals
}

func (rp *recordingProxy) Fleets() []url.Values {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]url.Values(nil), rp.fleets...)
}

// fleetOverrides returns a CreateFleet form's overrides as type/zone, in priority order.
func fleetOverrides(form url.Values) []string {
	byPriority := map[string]string{}
	for key, vals := range form {
		if !strings.HasSuffix(key, ".InstanceType") || !strings.Contains(key, ".Overrides.") {
			continue
		}
		prefix := strings.TrimSuffix(key, ".InstanceType")
		byPriority[form.Get(prefix+".Priority")] = vals[0] + "/" + form.Get(prefix+".AvailabilityZone")
	}
	out := make([]string, len(byPriority))
	for p, v := range byPriority {
		var i int
		fmt.Sscan(p, &i)
		if i < len(out) {
			out[i] = v
		}
	}
	return out
}

// startAWSController runs `karpenter controller --cloud-provider aws` with extra arguments
// and returns it with the URL of its /metrics.
func (c *cluster) startAWSController(t *testing.T, bin string, env []string, args ...string) (*controller, string) {
	t.Helper()
	ctl := &controller{log: filepath.Join(c.run, "karpenter.log"), health: freePort(t)}
	metricsPort := freePort(t)
	logFile, err := os.Create(ctl.log)
	if err != nil {
		t.Fatal(err)
	}
	ctl.cmd = exec.Command(bin, append([]string{"controller", "--cloud-provider=aws", "--leader-elect=false",
		"--kubeconfig", filepath.Join(c.run, "admin.kubeconfig"),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ctl.health),
		"--batch-idle-duration=1s", "--batch-max-duration=10s"}, args...)...)
	ctl.cmd.Env = append(os.Environ(), env...)
	ctl.cmd.Stdout, ctl.cmd.Stderr = logFile, logFile
	if err := ctl.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ctl.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = ctl.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = ctl.cmd.Process.Kill()
			<-done
		}
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(ctl.log)
			lines := strings.Split(string(b), "\n")
			t.Logf("controller log (last 60 lines):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	return ctl, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
}

// scrape returns the lines of /metrics that start with prefix.
func scrape(t *testing.T, url, prefix string) []string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Logf("scraping %s: %v", url, err)
		return nil
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// kubeClient is a client of the test cluster.
func (c *cluster) kubeClient(t *testing.T) client.Client {
	t.Helper()
	ctrllog.SetLogger(logr.Discard())
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(c.run, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := test.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	kc, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// kubeletPlayer plays the kubelet of the moto instances Karpenter launches: for each
// running instance tagged with a NodeClaim it registers a KWOK Node (providerID
// aws:///<zone>/<id>, the NodeClaim's labels and capacity); when the instance is gone it
// deletes the Node. It also gives new instances their security group, which moto's
// CreateFleet leaves out.
type kubeletPlayer struct {
	ec2    *ec2.Client
	kube   client.Client
	groups []string
	fixed  map[string]bool
}

func (k *kubeletPlayer) run(ctx context.Context, t *testing.T) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := k.sync(ctx); err != nil && ctx.Err() == nil {
			t.Logf("kubelet player: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (k *kubeletPlayer) sync(ctx context.Context) error {
	out, err := k.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{"karpenter.sh/nodeclaim"}}}})
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			id := aws.ToString(inst.InstanceId)
			if inst.State == nil || inst.State.Name != ec2types.InstanceStateNameRunning {
				continue
			}
			live[id] = true
			if !k.fixed[id] {
				if _, err := k.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: inst.InstanceId, Groups: k.groups}); err != nil {
					return err
				}
				k.fixed[id] = true
			}
			if err := k.register(ctx, inst); err != nil {
				return err
			}
		}
	}
	nodes := &corev1.NodeList{}
	if err := k.kube.List(ctx, nodes); err != nil {
		return err
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		id, err := awsprovider.InstanceIDFromProviderID(n.Spec.ProviderID)
		if err != nil || live[id] {
			continue
		}
		if err := k.kube.Delete(ctx, n); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

func (k *kubeletPlayer) register(ctx context.Context, inst ec2types.Instance) error {
	id := aws.ToString(inst.InstanceId)
	if err := k.kube.Get(ctx, client.ObjectKey{Name: id}, &corev1.Node{}); err == nil {
		return nil
	}
	name := ""
	for _, tg := range inst.Tags {
		if aws.ToString(tg.Key) == "karpenter.sh/nodeclaim" {
			name = aws.ToString(tg.Value)
		}
	}
	nc := &v1.NodeClaim{}
	if err := k.kube.Get(ctx, client.ObjectKey{Name: name}, nc); err != nil || nc.Status.ProviderID == "" {
		return client.IgnoreNotFound(err) // not launched as far as the cluster knows yet
	}
	labels := map[string]string{}
	for k, v := range nc.Labels {
		labels[k] = v
	}
	labels[v1.LabelHostname] = id
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: id, Labels: labels, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Spec:       corev1.NodeSpec{ProviderID: awsprovider.ProviderID(aws.ToString(inst.Placement.AvailabilityZone), id), Taints: append(nc.Spec.Taints, nc.Spec.StartupTaints...)},
		Status: corev1.NodeStatus{
			Capacity: nc.Status.Capacity, Allocatable: nc.Status.Allocatable, Phase: corev1.NodeRunning,
			NodeInfo: corev1.NodeSystemInfo{Architecture: labels[v1.LabelArch], OperatingSystem: "linux"},
		},
	}
	if err := k.kube.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
