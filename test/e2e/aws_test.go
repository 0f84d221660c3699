package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/mototest"
	"github.com/gokarpenter/karpenter/pkg/test"
)

const (
	awsCluster = "e2e-aws"
	awsRole    = "KarpenterNodeRole-e2e"
	awsQueue   = "karpenter-e2e-interruption"
)

func awsManifests(f *mototest.Fixture) string {
	return fmt.Sprintf(`apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: e2e}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  role: %s
  subnetSelectorTerms: [{tags: {%s: %s}}]
  securityGroupSelectorTerms: [{tags: {%s: %s}}]
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: e2e}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: e2e}
      requirements:
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}
        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}
  limits: {cpu: "100"}
  disruption: {consolidateAfter: Never}
`, awsRole, f.DiscoveryKey, f.DiscoveryValue, f.DiscoveryKey, f.DiscoveryValue)
}

// TestAWS runs the controller with --cloud-provider aws against moto_server and a local
// control plane: the EC2NodeClass goes Ready, a pending pod leads to one CreateFleet whose
// overrides are the cheapest compatible offerings, the pod runs on the launched instance, a
// spot interruption message deletes the NodeClaim and a replacement takes the pod, and no
// instance is left running at the end.
func TestAWS(t *testing.T) {
	start := time.Now()
	c := startCluster(t)
	moto := mototest.Run(t)
	proxy := newRecordingProxy(t, moto.Endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	mc := moto.Clients()
	// The alias's SSM paths name the cluster's Kubernetes minor version.
	var version struct {
		Server struct{ Major, Minor string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(c.kubectl(t, "", "version", "-o", "json")), &version); err != nil {
		t.Fatal(err)
	}
	k8s := version.Server.Major + "." + strings.TrimSuffix(version.Server.Minor, "+")
	f, err := mototest.NewFixture(ctx, mc, awsCluster, k8s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(awsRole), AssumeRolePolicyDocument: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	q, err := mc.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awsQueue)})
	if err != nil {
		t.Fatal(err)
	}

	bin := buildKarpenter(t, c.root)
	_, metricsURL := c.startAWSController(t, bin,
		[]string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION=" + mototest.Region, "INTERRUPTION_QUEUE=" + awsQueue, "AWS_EC2_METADATA_DISABLED=true"},
		"--cluster-name="+awsCluster, "--aws-endpoint-url="+proxy.server.URL, "--isolated-vpc")

	kube := c.kubeClient(t)
	player := &kubeletPlayer{ec2: mc.EC2, kube: kube, groups: []string{f.SecurityGroup}, fixed: map[string]bool{}}
	pctx, stopPlayer := context.WithCancel(ctx)
	playerDone := make(chan struct{})
	go func() { defer close(playerDone); player.run(pctx, t) }()
	defer func() { stopPlayer(); <-playerDone }()

	c.kubectl(t, awsManifests(f), "apply", "-f", "-")
	eventually(t, 2*time.Minute, "EC2NodeClass Ready", func() (bool, string) {
		out, _ := c.tryKubectl("", "get", "ec2nodeclass", "e2e", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.instanceProfile}`)
		return strings.HasPrefix(out, "True "), out
	})
	// The alias resolved through SSM to the fixture's image of each architecture.
	amis := c.kubectl(t, "", "get", "ec2nodeclass", "e2e", "-o", `jsonpath={range .status.amis[*]}{.id} {.requirements[0].values[0]}{"\n"}{end}`)
	if !strings.Contains(amis, f.ImageAMD64+" amd64") || !strings.Contains(amis, f.ImageARM64+" arm64") {
		t.Errorf("status.amis from al2023@latest:\n%s\nwant %s (amd64) and %s (arm64)", amis, f.ImageAMD64, f.ImageARM64)
	}
	t.Logf("EC2NodeClass Ready after %v", time.Since(start).Round(100*time.Millisecond))

	// A pending pod → one NodeClaim, one CreateFleet of the cheapest compatible offerings.
	c.kubectl(t, deploymentYAML("aws", 1, "1", "1Gi"), "apply", "-f", "-")
	var node string
	eventually(t, 3*time.Minute, "the pod Running on a launched node", func() (bool, string) {
		out, _ := c.tryKubectl("", "get", "pods", "-l", "app=aws", "-o", "jsonpath={range .items[*]}{.status.phase} {.spec.nodeName}{\"\\n\"}{end}")
		line := strings.TrimSpace(out)
		if strings.HasPrefix(line, "Running i-") && !strings.Contains(line, "\n") {
			node = strings.TrimPrefix(line, "Running ")
			return true, out
		}
		return false, out
	})
	t.Logf("pod Running on %s after %v", node, time.Since(start).Round(100*time.Millisecond))
	fleets := proxy.Fleets()
	if len(fleets) != 1 {
		t.Fatalf("%d CreateFleet calls for one pending pod, want 1", len(fleets))
	}
	claims := &v1.NodeClaimList{}
	if err := kube.List(ctx, claims); err != nil || len(claims.Items) != 1 {
		t.Fatalf("NodeClaims: %v %d", err, len(claims.Items))
	}
	first := claims.Items[0]
	checkOverrides(t, ctx, moto, proxy.server.URL, kube, &first, fleets[0])
	if first.Labels[v1.CapacityTypeLabelKey] != "spot" || !strings.HasSuffix(first.Status.ProviderID, "/"+node) {
		t.Errorf("NodeClaim %s: labels %v providerID %s, want a spot instance %s", first.Name, first.Labels, first.Status.ProviderID, node)
	}

	// A spot interruption warning for the instance → the NodeClaim is deleted and replaced.
	msg := fmt.Sprintf(`{"version":"0","id":"e2e","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","account":"123456789012","time":%q,"region":"us-east-1","resources":[],"detail":{"instance-id":%q,"instance-action":"terminate"}}`,
		time.Now().UTC().Format(time.RFC3339), node)
	interrupted := time.Now()
	if _, err := mc.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(msg)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "the interrupted NodeClaim gone and the pod Running on a replacement", func() (bool, string) {
		out, _ := c.tryKubectl("", "get", "pods", "-l", "app=aws", "-o", "jsonpath={range .items[*]}{.status.phase} {.spec.nodeName}{\"\\n\"}{end}")
		gone := kube.Get(ctx, client.ObjectKeyFromObject(&first), &v1.NodeClaim{}) != nil
		line := strings.TrimSpace(out)
		return gone && strings.HasPrefix(line, "Running i-") && !strings.Contains(line, node), fmt.Sprintf("old NodeClaim gone=%v; pods: %s", gone, out)
	})
	t.Logf("replacement Running %v after the interruption message", time.Since(interrupted).Round(100*time.Millisecond))
	// The message was counted and deleted, under upstream's metric names.
	eventually(t, 30*time.Second, "the interruption metrics", func() (bool, string) {
		got := strings.Join(scrape(t, metricsURL, "karpenter_interruption_"), "\n")
		return strings.Contains(got, `karpenter_interruption_received_messages_total{message_type="spot_interrupted"} 1`) &&
			strings.Contains(got, "karpenter_interruption_deleted_messages_total 1") &&
			strings.Contains(got, "karpenter_interruption_message_queue_duration_seconds_count 1"), got
	})
	// The interrupted offering is unavailable for 3 minutes: the replacement is elsewhere.
	if err := kube.List(ctx, claims); err != nil || len(claims.Items) != 1 {
		t.Fatalf("NodeClaims after the interruption: %v %d", err, len(claims.Items))
	}
	repl := claims.Items[0]
	was := first.Labels[v1.LabelInstanceType] + "/" + first.Labels[v1.LabelTopologyZone]
	now := repl.Labels[v1.LabelInstanceType] + "/" + repl.Labels[v1.LabelTopologyZone]
	if now == was || repl.Labels[v1.CapacityTypeLabelKey] != "spot" {
		t.Errorf("replacement %s launched as %s %s; the interrupted spot offering %s should be unavailable", repl.Name, now, repl.Labels[v1.CapacityTypeLabelKey], was)
	}
	if fleets := proxy.Fleets(); len(fleets) != 2 || slices.Contains(fleetOverrides(fleets[1]), was) {
		t.Errorf("%d CreateFleet calls; the replacement's overrides must leave out %s", len(fleets), was)
	}
	if state := instanceState(t, ctx, mc, node); state != "terminated" && state != "shutting-down" {
		t.Errorf("interrupted instance %s is %s, want terminated", node, state)
	}

	// A pool out of capacity: the next launch's first override answers
	// InsufficientInstanceCapacity; the controller marks it unavailable and launches on the
	// rest at once (a second CreateFleet without it), and the new pod runs.
	fleetsBefore := len(proxy.Fleets())
	proxy.FailNextFleet()
	c.kubectl(t, "", "scale", "deployment", "aws", "--replicas=2") // 1 CPU each: no room on the first node
	eventually(t, 3*time.Minute, "both pods Running", func() (bool, string) {
		out, _ := c.tryKubectl("", "get", "pods", "-l", "app=aws", "-o", "jsonpath={range .items[*]}{.status.phase} {.spec.nodeName}{\"\\n\"}{end}")
		return strings.Count(out, "Running i-") == 2, out
	})
	failed := proxy.Failed()
	fleets = proxy.Fleets()[fleetsBefore:]
	if failed == "" || len(fleets) != 2 {
		t.Fatalf("capacity error fired for %q, %d CreateFleet calls after it was armed; want it fired and one retry", failed, len(fleets))
	}
	if slices.Contains(fleetOverrides(fleets[1]), failed) {
		t.Errorf("the retry still offers %s, which had no capacity", failed)
	}
	if err := kube.List(ctx, claims); err != nil || len(claims.Items) != 2 {
		t.Fatalf("NodeClaims: %v %d", err, len(claims.Items))
	}
	for _, nc := range claims.Items {
		if got := nc.Labels[v1.LabelInstanceType] + "/" + nc.Labels[v1.LabelTopologyZone]; nc.Name != repl.Name && got == failed {
			t.Errorf("NodeClaim %s launched on %s, which had no capacity", nc.Name, got)
		}
	}
	t.Logf("capacity error on %s: relaunched on the rest", failed)

	// Tear down: no instance left running, the class's launch templates and profile gone.
	c.kubectl(t, "", "delete", "deployment", "aws")
	c.kubectl(t, "", "delete", "nodepool", "e2e")
	c.kubectl(t, "", "delete", "nodeclaims", "--all", "--wait=false")
	eventually(t, 2*time.Minute, "no NodeClaim and no running instance", func() (bool, string) {
		running := runningInstances(t, ctx, mc)
		n := c.count(t, "nodeclaims")
		return n == 0 && len(running) == 0, fmt.Sprintf("%d NodeClaims, running %v", n, running)
	})
	c.kubectl(t, "", "delete", "ec2nodeclass", "e2e", "--timeout=90s")
	lts, err := mc.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil || len(lts.LaunchTemplates) != 0 {
		t.Errorf("launch templates left after the class was deleted: %v %d", err, len(lts.LaunchTemplates))
	}
	t.Logf("TestAWS took %v", time.Since(start).Round(100*time.Millisecond))
}

// checkOverrides compares the CreateFleet overrides with the cheapest offerings an in-test
// provider (same moto, same class, same settings) computes for the NodeClaim.
func checkOverrides(t *testing.T, ctx context.Context, moto *mototest.Server, proxyURL string, kube client.Client, nc *v1.NodeClaim, form map[string][]string) {
	t.Helper()
	if got := first(form, "Type"); got != "instant" {
		t.Errorf("fleet type %q, want instant", got)
	}
	if got := first(form, "TargetCapacitySpecification.DefaultTargetCapacityType"); got != "spot" {
		t.Errorf("default capacity type %q, want spot", got)
	}
	if got := first(form, "SpotOptions.AllocationStrategy"); got != "price-capacity-optimized" {
		t.Errorf("spot allocation strategy %q", got)
	}
	got := fleetOverrides(form)
	if len(got) == 0 || len(got) > awsprovider.MaxOverrides {
		t.Fatalf("%d overrides", len(got))
	}
	class := &awsv1.EC2NodeClass{}
	if err := kube.Get(ctx, client.ObjectKey{Name: "e2e"}, class); err != nil {
		t.Fatal(err)
	}
	// The in-test provider reads spot prices through the proxy, as the controller does.
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String(proxyURL)
	mc := moto.Clients()
	mc.EC2 = ec2.NewFromConfig(cfg)
	scheme, _ := test.NewScheme()
	fk := fake.NewClientBuilder().WithScheme(scheme).WithObjects(class).WithStatusSubresource(class).Build()
	p, err := awsprovider.New(awsprovider.Deps{
		Options: awsprovider.Options{ClusterName: awsCluster, VMMemoryOverheadPercent: awsprovider.DefaultVMMemoryOverheadPercent, IsolatedVPC: true},
		Kube:    fk, Clients: &awsprovider.Clients{EC2: mc.EC2, SSM: mc.SSM, IAM: mc.IAM, SQS: mc.SQS, Region: mototest.Region},
	})
	if err != nil {
		t.Fatal(err)
	}
	its, err := p.GetInstanceTypes(ctx, &v1.NodePool{Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{NodeClassRef: nc.Spec.NodeClassRef}}}})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, cand := range cloudprovider.Candidates(its, nc) {
		if cand.Offering.CapacityType == "spot" && cand.Offering.Available && len(want) < len(got) {
			want = append(want, cand.InstanceType.Name+"/"+cand.Offering.Zone)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("CreateFleet overrides (by priority):\n%v\nwant the cheapest compatible offerings:\n%v", got, want)
	}
	// Independently of the provider's code: the test's own spot prices never go down along
	// the overrides, and the first is the cheapest of the types the NodeClaim allows.
	prev := 0.0
	for i, o := range got {
		typ, zone, _ := strings.Cut(o, "/")
		price, _ := spotPrice(typ, zone)
		if price < prev {
			t.Errorf("override %d (%s) costs %.5f, less than the one before (%.5f)", i, o, price, prev)
		}
		prev = price
	}
	firstType, firstZone, _ := strings.Cut(got[0], "/")
	cheapest, _ := spotPrice(firstType, firstZone)
	for _, typ := range requirementValues(nc, v1.LabelInstanceType) {
		for _, zone := range mototest.Zones {
			if p, ok := spotPrice(typ, zone); ok && p < cheapest-1e-9 && offeredIn(its, typ, zone) {
				t.Errorf("%s/%s at %.5f is cheaper than the first override %s at %.5f", typ, zone, p, got[0], cheapest)
			}
		}
	}
	t.Logf("CreateFleet: %d overrides, cheapest %s at $%.5f/h spot, NodeClaim lists %d instance types", len(got), got[0], cheapest, len(requirementValues(nc, v1.LabelInstanceType)))
}

// offeredIn reports whether the type has a spot offering in the zone.
func offeredIn(its []*cloudprovider.InstanceType, typ, zone string) bool {
	for _, it := range its {
		if it.Name != typ {
			continue
		}
		for _, o := range it.Offerings {
			if o.Zone == zone && o.CapacityType == "spot" {
				return true
			}
		}
	}
	return false
}

func first(form map[string][]string, key string) string {
	if v := form[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func requirementValues(nc *v1.NodeClaim, key string) []string {
	for _, r := range nc.Spec.Requirements {
		if r.Key == key {
			return r.Values
		}
	}
	return nil
}

func instanceState(t *testing.T, ctx context.Context, mc mototest.Clients, id string) string {
	out, err := mc.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) == 0 {
		t.Logf("describing %s: %v", id, err)
		return ""
	}
	return string(out.Reservations[0].Instances[0].State.Name)
}

func runningInstances(t *testing.T, ctx context.Context, mc mototest.Clients) []string {
	out, err := mc.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}})
	if err != nil {
		t.Logf("describing instances: %v", err)
		return []string{"?"}
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
	}
	return ids
}
