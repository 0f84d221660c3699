package nodeclass_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/mototest"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/nodeclass"
	"github.com/gokarpenter/karpenter/pkg/test"
)

const (
	cluster = "nodeclass-test"
	role    = "KarpenterNodeRole-nodeclass"
)

var (
	env  *test.Environment
	moto *mototest.Server
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	s, err := mototest.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		os.Exit(1)
	}
	moto = s
	code := test.Main(m, &env)
	s.Stop()
	os.Exit(code)
}

// start runs the controller in a manager on the envtest API server and returns the
// provider it resolves with.
func start(t *testing.T) (*awsprovider.Provider, client.Client, *mototest.Fixture) {
	t.Helper()
	test.RequireEnvironment(t, env)
	ctx := mototest.Context(t)
	if err := moto.Reset(); err != nil {
		t.Fatal(err)
	}
	c := moto.Clients()
	f, err := mototest.NewFixture(ctx, c, cluster, "1.33")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	p, err := awsprovider.New(awsprovider.Deps{
		Options: awsprovider.Options{ClusterName: cluster, KubernetesVersion: "1.33", VMMemoryOverheadPercent: 0.075},
		Kube:    env.Client,
		Clients: &awsprovider.Clients{EC2: sgFixed{EC2API: c.EC2, fix: mototest.FleetSecurityGroups{Inner: c.EC2, Groups: []string{f.SecurityGroup}}}, SSM: mototest.RewriteSSM{Inner: c.SSM}, IAM: c.IAM, SQS: c.SQS, Region: mototest.Region},
	})
	if err != nil {
		t.Fatal(err)
	}
	skip := true
	mgr, err := manager.New(env.Config, manager.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Controller: config.Controller{SkipNameValidation: &skip}})
	if err != nil {
		t.Fatal(err)
	}
	if err := nodeclass.NewController(nodeclass.Deps{Client: mgr.GetClient(), Resolver: p}).Register(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(mctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, env.Client, f
}

func class(name string) *awsv1.EC2NodeClass {
	tags := map[string]string{"karpenter.sh/discovery": cluster}
	return &awsv1.EC2NodeClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: awsv1.EC2NodeClassSpec{
			SubnetSelectorTerms:        []awsv1.SubnetSelectorTerm{{Tags: tags}},
			SecurityGroupSelectorTerms: []awsv1.SecurityGroupSelectorTerm{{Tags: tags}},
			AMISelectorTerms:           []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}},
			Role:                       role,
		},
	}
}

func launchTemplates(t *testing.T, className string) int {
	out, err := moto.Clients().EC2.DescribeLaunchTemplates(t.Context(), &ec2.DescribeLaunchTemplatesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:" + awsv1.LabelNodeClass), Values: []string{className}}}})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.LaunchTemplates)
}

// sgFixed gives fleets their security groups, as EC2 does and moto does not.
type sgFixed struct {
	awsprovider.EC2API
	fix mototest.FleetSecurityGroups
}

func (s sgFixed) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	return s.fix.CreateFleet(ctx, in, opts...)
}
