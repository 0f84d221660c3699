package interruption_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/interruption"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) {
	s, err := mototest.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		os.Exit(1)
	}
	moto = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

func nodeClaim(name, instanceID, capacityType string) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			v1.NodePoolLabelKey: "default", v1.LabelInstanceType: "m5.large", v1.LabelTopologyZone: "us-east-1a", v1.CapacityTypeLabelKey: capacityType,
		}},
		Spec:   v1.NodeClaimSpec{NodeClassRef: &v1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"}},
		Status: v1.NodeClaimStatus{ProviderID: "aws:///us-east-1a/" + instanceID},
	}
}

func event(detailType, detail string) string {
	return fmt.Sprintf(`{"version":"0","id":"x","source":"aws.ec2","detail-type":%q,"time":%q,"detail":%s}`, detailType, time.Now().Add(-2*time.Second).UTC().Format(time.RFC3339), detail)
}

// TestQueue sends one message of each kind to a moto SQS queue and checks what the
// controller did with the NodeClaims, the offerings, the queue and the metrics.
func TestQueue(t *testing.T) {
	ctx := t.Context()
	c := moto.Clients()
	queue := "karpenter-interruption"
	q, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queue)})
	if err != nil {
		t.Fatal(err)
	}
	s := runtime.NewScheme()
	if err := v1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	claims := []client.Object{
		nodeClaim("spot", "i-spot", "spot"), nodeClaim("stopping", "i-stop", "on-demand"),
		nodeClaim("rebalance", "i-rebal", "spot"), nodeClaim("health", "i-health", "on-demand"), nodeClaim("bystander", "i-other", "on-demand"),
	}
	kube := fake.NewClientBuilder().WithScheme(s).WithObjects(claims...).Build()
	unavailable := awsprovider.NewUnavailableOfferings(clock.RealClock{}, 0)
	reg := prometheus.NewRegistry()
	rec := record.NewFakeRecorder(100)
	ctrl, err := interruption.NewController(interruption.Deps{SQS: c.SQS, Queue: queue, Client: kube, Unavailable: unavailable, Recorder: rec, Registerer: reg, WaitTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		event("EC2 Spot Instance Interruption Warning", `{"instance-id":"i-spot","instance-action":"terminate"}`),
		event("EC2 Instance State-change Notification", `{"instance-id":"i-stop","state":"stopping"}`),
		event("EC2 Instance Rebalance Recommendation", `{"instance-id":"i-rebal"}`),
		`{"version":"0","source":"aws.health","detail-type":"AWS Health Event","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"i-health"}]}}`,
		"this is not an event",
		event("EC2 Instance State-change Notification", `{"instance-id":"i-other","state":"running"}`),
	}
	for _, b := range bodies {
		if _, err := c.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(deletedCounter(t, reg)) < float64(len(bodies)) && time.Now().Before(deadline) {
		if err := ctrl.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	gone := map[string]bool{}
	for _, o := range claims {
		err := kube.Get(ctx, client.ObjectKeyFromObject(o), &v1.NodeClaim{})
		gone[o.GetName()] = err != nil
	}
	for name, want := range map[string]bool{"spot": true, "stopping": true, "health": true, "rebalance": false, "bystander": false} {
		if gone[name] != want {
			t.Errorf("NodeClaim %s deleted = %v, want %v", name, gone[name], want)
		}
	}
	if !unavailable.IsUnavailable("m5.large", "us-east-1a", "spot") {
		t.Error("the interrupted spot offering is not unavailable")
	}
	if unavailable.IsUnavailable("m5.large", "us-east-1a", "on-demand") {
		t.Error("a stopped on-demand instance marked its offering unavailable")
	}
	left, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0})
	if err != nil || len(left.Messages) != 0 {
		t.Errorf("messages left on the queue: %d %v", len(left.Messages), err)
	}
	got, err := testutil.GatherAndCount(reg, "karpenter_interruption_received_messages_total")
	if err != nil || got < 5 {
		t.Errorf("received series = %d, %v", got, err)
	}
	text := ""
	for len(rec.Events) > 0 {
		text += <-rec.Events + "\n"
	}
	if !strings.Contains(text, "RebalanceRecommendation") || !strings.Contains(text, "SpotInterrupted") {
		t.Errorf("events:\n%s", text)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "karpenter_interruption_received_messages_total" {
			for _, m := range mf.Metric {
				if m.Label[0].GetValue() == "unparseable" && m.Counter.GetValue() != 1 {
					t.Errorf("unparseable count = %v", m.Counter.GetValue())
				}
			}
		}
		if mf.GetName() == "karpenter_interruption_message_queue_duration_seconds" && mf.Metric[0].Histogram.GetSampleCount() < 4 {
			t.Errorf("queue duration samples = %d", mf.Metric[0].Histogram.GetSampleCount())
		}
	}
}

func deletedCounter(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	m, err := metricsFor(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
