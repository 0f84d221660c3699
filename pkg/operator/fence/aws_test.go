package fence_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/mototest"
	"github.com/gokarpenter/karpenter/pkg/operator/fence"
)

// TestAWSWritesFollowTheFence: SDK clients carrying the fence's API option (against
// moto_server) read while the fence is closed, but create no launch template, instance
// profile or tag and delete no SQS message until this replica holds the lease, and stop
// again once the renewal window has run out. What the fenced calls would have written is
// checked through unfenced clients.
func TestAWSWritesFollowTheFence(t *testing.T) {
	moto := mototest.Run(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := fence.New(clk, 10*time.Second)
	lock := f.Lock(&memLock{id: "me"})
	cfg := moto.Config()
	cfg.APIOptions = append(cfg.APIOptions, f.AWSAPIOption())
	fencedEC2, fencedIAM, fencedSQS := ec2.NewFromConfig(cfg), iam.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	direct := moto.Clients()

	queue, err := direct.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("interruptions")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: queue.QueueUrl, MessageBody: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	msgs, err := direct.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 0})
	if err != nil || len(msgs.Messages) != 1 {
		t.Fatalf("receiving the test message: %v (%d messages)", err, len(msgs.Messages))
	}
	receipt := msgs.Messages[0].ReceiptHandle

	createTemplate := func(name string) error {
		_, err := fencedEC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
			LaunchTemplateName: aws.String(name),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-12c6146b")},
		})
		return err
	}
	createProfile := func(name string) error {
		_, err := fencedIAM.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(name)})
		return err
	}
	deleteMessage := func() error {
		_, err := fencedSQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: receipt})
		return err
	}
	templates := func() map[string]string { // name -> ID, read without the fence
		out, err := direct.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, lt := range out.LaunchTemplates {
			m[aws.ToString(lt.LaunchTemplateName)] = aws.ToString(lt.LaunchTemplateId)
		}
		return m
	}
	fenced := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, fence.ErrNotLeader) {
			t.Errorf("%s: %v, want ErrNotLeader", what, err)
		}
	}

	// Closed: reads pass, writes never reach the cloud.
	if _, err := fencedEC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{}); err != nil {
		t.Fatalf("a read while fenced: %v", err)
	}
	if _, err := fencedIAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("none")}); errors.Is(err, fence.ErrNotLeader) {
		t.Fatalf("a read while fenced was refused: %v", err)
	}
	fenced("CreateLaunchTemplate before the lease", createTemplate("before"))
	fenced("CreateInstanceProfile before the lease", createProfile("before"))
	fenced("DeleteMessage before the lease", deleteMessage())
	_, err = fencedSQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl})
	fenced("ReceiveMessage before the lease", err)
	if _, ok := templates()["before"]; ok {
		t.Error("a fenced CreateLaunchTemplate created the template")
	}
	if _, err := direct.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("before")}); err == nil {
		t.Error("a fenced CreateInstanceProfile created the profile")
	}

	// Leading: writes go through.
	if err := lock.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	if err := createTemplate("leading"); err != nil {
		t.Fatalf("CreateLaunchTemplate while leading: %v", err)
	}
	if err := createProfile("leading"); err != nil {
		t.Fatalf("CreateInstanceProfile while leading: %v", err)
	}
	if err := deleteMessage(); err != nil {
		t.Fatalf("DeleteMessage while leading: %v", err)
	}
	id, ok := templates()["leading"]
	if !ok {
		t.Fatal("the template created while leading is not there")
	}

	// The renewal window ran out (a paused leader resuming): tagging and deleting are refused.
	clk.Step(11 * time.Second)
	_, err = fencedEC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	fenced("CreateTags after the window", err)
	_, err = fencedEC2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(id)})
	fenced("DeleteLaunchTemplate after the window", err)
	if _, ok := templates()["leading"]; !ok {
		t.Error("a fenced DeleteLaunchTemplate deleted the template")
	}
	if _, err := fencedEC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{}); err != nil {
		t.Errorf("a read after the window: %v", err)
	}
}
