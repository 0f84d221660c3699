package aws_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/mototest"
)

const (
	cluster    = "moto-test"
	k8sVersion = "1.33"
	roleName   = "KarpenterNodeRole-moto"
)

// moto is one moto_server for the package, started by TestMain.
var moto *mototest.Server

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
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

var (
	envOnce sync.Once
	envErr  error
	fixture *mototest.Fixture
)

// env builds the fixture on the package's moto_server once.
func env(t *testing.T) (*mototest.Server, *mototest.Fixture) {
	t.Helper()
	envOnce.Do(func() {
		ctx := context.Background()
		c := moto.Clients()
		fixture, envErr = mototest.NewFixture(ctx, c, cluster, k8sVersion)
		if envErr != nil {
			return
		}
		_, envErr = c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(roleName), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	})
	if envErr != nil {
		t.Fatalf("moto environment: %v", envErr)
	}
	return moto, fixture
}

func newScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := awsv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// newClass is a class selecting the fixture's subnets and group by tag, AL2023 by alias.
func newClass(name string) *awsv1.EC2NodeClass {
	tags := map[string]string{"karpenter.sh/discovery": cluster}
	return &awsv1.EC2NodeClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: awsv1.EC2NodeClassSpec{
			SubnetSelectorTerms:        []awsv1.SubnetSelectorTerm{{Tags: tags}},
			SecurityGroupSelectorTerms: []awsv1.SecurityGroupSelectorTerm{{Tags: tags}},
			AMISelectorTerms:           []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}},
			Role:                       roleName,
			Tags:                       map[string]string{"team": "test"},
		},
	}
}

type setup struct {
	provider *awsprovider.Provider
	kube     client.Client
	class    *awsv1.EC2NodeClass
	ec2      *recordingEC2
}

type setupOptions struct {
	clock clock.Clock
	wrap  func(awsprovider.EC2API) awsprovider.EC2API
}

// newSetup builds a provider on moto and a class resolved through ResolveStatus, stored in
// a fake Kubernetes client.
func newSetup(t *testing.T, className string, so setupOptions) *setup {
	t.Helper()
	srv, _ := env(t)
	c := srv.Clients()
	rec := &recordingEC2{EC2API: c.EC2, sgFix: mototest.FleetSecurityGroups{Inner: c.EC2, Groups: []string{fixture.SecurityGroup}}}
	var api awsprovider.EC2API = rec
	if so.wrap != nil {
		api = so.wrap(rec)
	}
	kube := fake.NewClientBuilder().WithScheme(newScheme(t)).WithStatusSubresource(&awsv1.EC2NodeClass{}).Build()
	opts := awsprovider.Options{ClusterName: cluster, ClusterEndpoint: "https://api.test", ClusterCABundle: "Q0E=", VMMemoryOverheadPercent: 0.075, KubernetesVersion: k8sVersion}
	p, err := awsprovider.New(awsprovider.Deps{
		Options: opts, Kube: kube, Clock: so.clock, LaunchBackoff: 1,
		Clients: &awsprovider.Clients{EC2: api, SSM: mototest.RewriteSSM{Inner: c.SSM}, IAM: c.IAM, SQS: c.SQS, Region: mototest.Region},
	})
	if err != nil {
		t.Fatal(err)
	}
	class := newClass(className)
	class.Annotations = map[string]string{awsv1.AnnotationNodeClassHash: awsprovider.NodeClassHash(class)}
	ctx := mototest.Context(t)
	if err := p.ResolveStatus(ctx, class); err != nil {
		t.Fatalf("resolving class: %v", err)
	}
	if err := kube.Create(ctx, class.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	stored := &awsv1.EC2NodeClass{}
	if err := kube.Get(ctx, client.ObjectKeyFromObject(class), stored); err != nil {
		t.Fatal(err)
	}
	stored.Status = class.Status
	if err := kube.Status().Update(ctx, stored); err != nil {
		t.Fatal(err)
	}
	return &setup{provider: p, kube: kube, class: stored, ec2: rec}
}

// recordingEC2 records CreateFleet inputs; its fleets get their security groups as on EC2.
type recordingEC2 struct {
	awsprovider.EC2API
	sgFix  mototest.FleetSecurityGroups
	mu     sync.Mutex
	fleets []*ec2.CreateFleetInput
}

func (r *recordingEC2) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	r.mu.Lock()
	r.fleets = append(r.fleets, in)
	r.mu.Unlock()
	return r.sgFix.CreateFleet(ctx, in, opts...)
}

func (r *recordingEC2) Fleets() []*ec2.CreateFleetInput {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*ec2.CreateFleetInput(nil), r.fleets...)
}
