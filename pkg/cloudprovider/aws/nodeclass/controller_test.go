package nodeclass_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// TestLifecycle: a class becomes Ready with its resolved status, conditions, hash and
// finalizer; a NodeClaim launched with it creates a launch template; deleting the class
// waits for the NodeClaim, then deletes the launch templates and the instance profile.
func TestLifecycle(t *testing.T) {
	p, kube, f := start(t)
	ctx := t.Context()
	nc := class("lifecycle")
	if err := kube.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	got := &awsv1.EC2NodeClass{}
	test.EventuallyTrue(t, 45*time.Second, "the class to be Ready", func() bool {
		return kube.Get(ctx, client.ObjectKeyFromObject(nc), got) == nil && got.IsReady()
	})
	for _, cond := range []string{awsv1.ConditionTypeSubnetsReady, awsv1.ConditionTypeSecurityGroupsReady, awsv1.ConditionTypeAMIsReady, awsv1.ConditionTypeInstanceProfileReady, awsv1.ConditionTypeValidationSucceeded} {
		if !meta.IsStatusConditionTrue(got.Status.Conditions, cond) {
			t.Errorf("condition %s not True: %+v", cond, got.Status.Conditions)
		}
	}
	if len(got.Status.Subnets) != 3 || got.Status.SecurityGroups[0].ID != f.SecurityGroup || len(got.Status.AMIs) != 2 || got.Status.InstanceProfile == "" {
		t.Errorf("status = %+v", got.Status)
	}
	if !slices.Contains(got.Finalizers, awsv1.TerminationFinalizer) || got.Annotations[awsv1.AnnotationNodeClassHash] != awsprovider.NodeClassHash(got) {
		t.Errorf("finalizers %v annotations %v", got.Finalizers, got.Annotations)
	}
	profile := got.Status.InstanceProfile

	// A NodeClaim launched with the class.
	claim := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "lifecycle-claim", Labels: map[string]string{v1.NodePoolLabelKey: "default"}},
		Spec:       v1.NodeClaimSpec{Requirements: []v1.NodeSelectorRequirementWithMinValues{}, NodeClassRef: &v1.NodeClassReference{Group: awsv1.Group, Kind: awsv1.KindEC2NodeClass, Name: "lifecycle"}},
	}
	launched, err := p.Create(ctx, claim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cloudprovider.IgnoreNodeClaimNotFoundError(p.Delete(ctx, launched)) })
	if err := kube.Create(ctx, claim); err != nil {
		t.Fatal(err)
	}
	if launchTemplates(t, "lifecycle") == 0 {
		t.Fatal("no launch template after a launch")
	}

	// A spec change updates the hash.
	before := got.Annotations[awsv1.AnnotationNodeClassHash]
	// The controller writes the class too (status, hash): retry on a conflict with it.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(nc), got); err != nil {
			return err
		}
		got.Spec.Tags = map[string]string{"team": "b"}
		return kube.Update(ctx, got)
	}); err != nil {
		t.Fatal(err)
	}
	test.EventuallyTrue(t, 45*time.Second, "the hash to change", func() bool {
		return kube.Get(ctx, client.ObjectKeyFromObject(nc), got) == nil && got.Annotations[awsv1.AnnotationNodeClassHash] != before
	})

	// Deleting waits for the NodeClaim.
	if err := kube.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	test.EventuallyTrue(t, 45*time.Second, "the deletion timestamp", func() bool {
		return kube.Get(ctx, client.ObjectKeyFromObject(nc), got) == nil && !got.DeletionTimestamp.IsZero()
	})
	if launchTemplates(t, "lifecycle") == 0 {
		t.Fatal("launch templates deleted while a NodeClaim still uses the class")
	}
	if err := kube.Delete(ctx, claim); err != nil {
		t.Fatal(err)
	}
	test.EventuallyTrue(t, 45*time.Second, "the class to be gone", func() bool {
		return kube.Get(ctx, client.ObjectKeyFromObject(nc), got) != nil
	})
	if n := launchTemplates(t, "lifecycle"); n != 0 {
		t.Errorf("%d launch templates left", n)
	}
	if _, err := moto.Clients().IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(profile)}); err == nil {
		t.Errorf("instance profile %s left", profile)
	}
}

// TestNotReady: a class whose selectors match nothing is not Ready, and says why.
func TestNotReady(t *testing.T) {
	_, kube, _ := start(t)
	ctx := t.Context()
	nc := class("not-ready")
	nc.Spec.SecurityGroupSelectorTerms = []awsv1.SecurityGroupSelectorTerm{{Tags: map[string]string{"no": "such"}}}
	if err := kube.Create(ctx, nc); err != nil {
		t.Fatal(err)
	}
	got := &awsv1.EC2NodeClass{}
	test.EventuallyTrue(t, 45*time.Second, "the Ready condition", func() bool {
		return kube.Get(ctx, client.ObjectKeyFromObject(nc), got) == nil && meta.FindStatusCondition(got.Status.Conditions, awsv1.ConditionTypeReady) != nil
	})
	ready := meta.FindStatusCondition(got.Status.Conditions, awsv1.ConditionTypeReady)
	sg := meta.FindStatusCondition(got.Status.Conditions, awsv1.ConditionTypeSecurityGroupsReady)
	if ready.Status != metav1.ConditionFalse || sg == nil || sg.Status != metav1.ConditionFalse || sg.Reason != "SecurityGroupsNotFound" {
		t.Errorf("conditions = %+v", got.Status.Conditions)
	}
	if err := kube.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	test.EventuallyTrue(t, 45*time.Second, "the class to be gone", func() bool { return kube.Get(ctx, client.ObjectKeyFromObject(nc), got) != nil })
}
