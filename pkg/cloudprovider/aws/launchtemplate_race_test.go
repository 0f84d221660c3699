package aws

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

// raceEC2 plays EC2 after a concurrent Ensure won the race: the template is not there when
// described, and creating it answers AlreadyExists.
type raceEC2 struct {
	EC2API
	creates int
}

func (r *raceEC2) DescribeLaunchTemplates(context.Context, *ec2.DescribeLaunchTemplatesInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error) {
	return &ec2.DescribeLaunchTemplatesOutput{}, nil
}

func (r *raceEC2) CreateLaunchTemplate(context.Context, *ec2.CreateLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error) {
	r.creates++
	return nil, &smithy.GenericAPIError{Code: "InvalidLaunchTemplateName.AlreadyExistsException", Message: "already exists"}
}

// TestEnsureTakesAConcurrentlyCreatedTemplate: templates are named by their content's hash,
// so AlreadyExists on create means a concurrent caller made the same template: success.
func TestEnsureTakesAConcurrentlyCreatedTemplate(t *testing.T) {
	api := &raceEC2{}
	l := &launchTemplates{api: api, known: map[string]bool{}}
	spec := LaunchTemplateSpec{ClusterName: "c", NodeClassName: "default", ImageID: "ami-1"}
	name, err := l.Ensure(context.Background(), spec)
	if err != nil {
		t.Fatalf("Ensure = %v, want the template created by the other caller", err)
	}
	if name != spec.Name() || api.creates != 1 {
		t.Fatalf("name %q creates %d, want %q and 1", name, api.creates, spec.Name())
	}
	if _, err := l.Ensure(context.Background(), spec); err != nil || api.creates != 1 {
		t.Fatalf("second Ensure: err %v creates %d, want it remembered", err, api.creates)
	}
}
