package aws_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/mototest"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/conformance"
)

func nodeClaim(name, class string, reqs ...v1.NodeSelectorRequirementWithMinValues) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.NodePoolLabelKey: "default"}},
		Spec: v1.NodeClaimSpec{
			Requirements: reqs,
			NodeClassRef: &v1.NodeClassReference{Group: awsv1.Group, Kind: awsv1.KindEC2NodeClass, Name: class},
		},
	}
}

func terminate(t *testing.T, p *awsprovider.Provider, nc *v1.NodeClaim) {
	t.Cleanup(func() {
		if err := p.Delete(context.WithoutCancel(t.Context()), nc); cloudprovider.IgnoreNodeClaimNotFoundError(err) != nil {
			t.Errorf("terminating %s: %v", nc.Status.ProviderID, err)
		}
	})
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) cloudprovider.CloudProvider {
		return newSetup(t, "conformance", setupOptions{}).provider
	}, conformance.Options{
		NodeClassRef: &v1.NodeClassReference{Group: awsv1.Group, Kind: awsv1.KindEC2NodeClass, Name: "conformance"},
		MakeUnavailable: func(t *testing.T, p cloudprovider.CloudProvider, instanceType, zone, capacityType string) {
			p.(*awsprovider.Provider).Unavailable().MarkUnavailable(instanceType, zone, capacityType)
		},
	})
}

// TestResolveStatus resolves the class's selectors against moto.
func TestResolveStatus(t *testing.T) {
	s := newSetup(t, "resolve", setupOptions{})
	_, f := env(t)
	st := s.class.Status
	if len(st.Subnets) != 3 || len(st.SecurityGroups) != 1 || st.SecurityGroups[0].ID != f.SecurityGroup {
		t.Errorf("subnets %+v, groups %+v", st.Subnets, st.SecurityGroups)
	}
	zones := map[string]bool{}
	for _, sn := range st.Subnets {
		zones[sn.Zone] = f.Subnets[sn.Zone] == sn.ID
	}
	if len(zones) != 3 || !zones["us-east-1a"] || !zones["us-east-1b"] || !zones["us-east-1c"] {
		t.Errorf("subnet zones = %v", zones)
	}
	ids := map[string]string{}
	for _, a := range st.AMIs {
		ids[a.Requirements[0].Values[0]] = a.ID
	}
	if ids["amd64"] != f.ImageAMD64 || ids["arm64"] != f.ImageARM64 {
		t.Errorf("AMIs = %+v, want %s (amd64) and %s (arm64) from the SSM alias", st.AMIs, f.ImageAMD64, f.ImageARM64)
	}
	if !s.class.IsReady() {
		t.Errorf("class not Ready: %+v", st.Conditions)
	}
	prof, err := moto.Clients().IAM.GetInstanceProfile(t.Context(), &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(st.InstanceProfile)})
	if err != nil || len(prof.InstanceProfile.Roles) != 1 || aws.ToString(prof.InstanceProfile.Roles[0].RoleName) != roleName {
		t.Fatalf("instance profile %q: %v %+v", st.InstanceProfile, err, prof)
	}
	// A selector that matches nothing makes the class not Ready, naming the condition.
	bad := newClass("nothing")
	bad.Spec.SubnetSelectorTerms = []awsv1.SubnetSelectorTerm{{Tags: map[string]string{"no": "such"}}}
	if err := s.provider.ResolveStatus(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	if bad.IsReady() || !strings.Contains(conditionMessage(bad, awsv1.ConditionTypeReady), awsv1.ConditionTypeSubnetsReady) {
		t.Errorf("class with no subnet: %+v", bad.Status.Conditions)
	}
	if err := awsprovider.DeleteInstanceProfile(t.Context(), moto.Clients().IAM, cluster, mototest.Region, bad); err != nil {
		t.Fatal(err)
	}
}

func conditionMessage(c *awsv1.EC2NodeClass, t string) string {
	for _, cond := range c.Status.Conditions {
		if cond.Type == t {
			return cond.Message
		}
	}
	return ""
}

// TestCreateFleet launches one NodeClaim and checks the CreateFleet request and the instance.
func TestCreateFleet(t *testing.T) {
	s := newSetup(t, "fleet", setupOptions{})
	ctx := t.Context()
	nc := nodeClaim("fleet-1", "fleet", conformance.In(v1.LabelArch, "amd64"))
	launched, err := s.provider.Create(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	terminate(t, s.provider, launched)
	fleets := s.ec2.Fleets()
	if len(fleets) != 1 {
		t.Fatalf("%d CreateFleet calls, want 1", len(fleets))
	}
	in := fleets[0]
	if in.Type != ec2types.FleetTypeInstant || aws.ToInt32(in.TargetCapacitySpecification.TotalTargetCapacity) != 1 ||
		in.TargetCapacitySpecification.DefaultTargetCapacityType != ec2types.DefaultTargetCapacityTypeSpot ||
		in.SpotOptions.AllocationStrategy != ec2types.SpotAllocationStrategyPriceCapacityOptimized {
		t.Errorf("fleet request = %+v", in)
	}
	// Overrides: at most 60, cheapest first, all amd64 spot offerings with a subnet.
	its, err := s.provider.GetInstanceTypes(ctx, &v1.NodePool{Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{NodeClassRef: nc.Spec.NodeClassRef}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := cloudprovider.Candidates(its, nc)
	want = slices.DeleteFunc(want, func(c cloudprovider.Candidate) bool { return c.Offering.CapacityType != awsprovider.CapacityTypeSpot })
	got := make([]string, awsprovider.MaxOverrides)
	n := 0
	for _, cfg := range in.LaunchTemplateConfigs {
		if !strings.HasPrefix(aws.ToString(cfg.LaunchTemplateSpecification.LaunchTemplateName), awsprovider.LaunchTemplatePrefix) {
			t.Errorf("template %s", aws.ToString(cfg.LaunchTemplateSpecification.LaunchTemplateName))
		}
		for _, o := range cfg.Overrides { // grouped by template; Priority is the price order
			got[int(aws.ToFloat64(o.Priority))] = string(o.InstanceType) + "/" + aws.ToString(o.AvailabilityZone)
			n++
		}
	}
	if n != awsprovider.MaxOverrides {
		t.Fatalf("%d overrides, want %d", n, awsprovider.MaxOverrides)
	}
	for i := range got {
		if w := want[i].InstanceType.Name + "/" + want[i].Offering.Zone; got[i] != w {
			t.Fatalf("override %d = %s, want %s (cheapest first)", i, got[i], w)
		}
	}
	// The instance: tags, spot, the first override's type, the provider ID.
	id, _ := awsprovider.InstanceIDFromProviderID(launched.Status.ProviderID)
	out, err := moto.Clients().EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	inst := out.Reservations[0].Instances[0]
	tags := map[string]string{}
	for _, tg := range inst.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	for k, v := range map[string]string{"karpenter.sh/nodepool": "default", "karpenter.sh/nodeclaim": "fleet-1", "karpenter.k8s.aws/ec2nodeclass": "fleet",
		"kubernetes.io/cluster/" + cluster: "owned", "Name": "fleet-1", "team": "test"} {
		if tags[k] != v {
			t.Errorf("instance tag %s = %q, want %q (tags %v)", k, tags[k], v, tags)
		}
	}
	if launched.Labels[v1.CapacityTypeLabelKey] != "spot" || launched.Labels[v1.LabelInstanceType] != want[0].InstanceType.Name ||
		launched.Status.ProviderID != "aws:///"+launched.Labels[v1.LabelTopologyZone]+"/"+id {
		t.Errorf("launched labels %v providerID %s, want spot %s", launched.Labels, launched.Status.ProviderID, want[0].InstanceType.Name)
	}
	// The launch template holds the AL2023 user data that joins the cluster.
	lts, err := moto.Clients().EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: in.LaunchTemplateConfigs[0].LaunchTemplateSpecification.LaunchTemplateName})
	if err != nil || len(lts.LaunchTemplateVersions) == 0 {
		t.Fatalf("launch template: %v", err)
	}
	data := lts.LaunchTemplateVersions[0].LaunchTemplateData
	ud, _ := base64.StdEncoding.DecodeString(aws.ToString(data.UserData))
	if !strings.Contains(string(ud), "kind: NodeConfig") || !strings.Contains(string(ud), "apiServerEndpoint: https://api.test") || !strings.Contains(string(ud), "karpenter.sh/nodepool=default") {
		t.Errorf("user data:\n%s", ud)
	}
	if data.MetadataOptions != nil && data.MetadataOptions.HttpTokens != "" && data.MetadataOptions.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired {
		t.Errorf("metadata options %+v", data.MetadataOptions)
	}
	// Deleting the class's launch templates leaves none.
	deleted, err := s.provider.DeleteLaunchTemplates(ctx, "fleet")
	if err != nil || deleted == 0 {
		t.Fatalf("deleted %d templates: %v", deleted, err)
	}
	left, _ := moto.Clients().EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:karpenter.k8s.aws/ec2nodeclass"), Values: []string{"fleet"}}}})
	if len(left.LaunchTemplates) != 0 {
		t.Errorf("%d launch templates left", len(left.LaunchTemplates))
	}
}

// capacityFaults answers CreateFleet with capacity errors for the listed instance types,
// the way EC2 does, and passes the other requests to moto with those overrides removed.
type capacityFaults struct {
	awsprovider.EC2API
	code  string
	types map[string]bool
	calls int
}

func (f *capacityFaults) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	f.calls++
	first := in.LaunchTemplateConfigs[0].Overrides[0]
	if f.types[string(first.InstanceType)] {
		return &ec2.CreateFleetOutput{Errors: []ec2types.CreateFleetError{{
			ErrorCode: aws.String(f.code), ErrorMessage: aws.String("no capacity"),
			LaunchTemplateAndOverrides: &ec2types.LaunchTemplateAndOverridesResponse{Overrides: &ec2types.FleetLaunchTemplateOverrides{
				InstanceType: first.InstanceType, AvailabilityZone: first.AvailabilityZone, SubnetId: first.SubnetId,
			}},
		}}}, nil
	}
	return f.EC2API.CreateFleet(ctx, in, opts...)
}

// TestCapacityErrors: the cheapest offering answers InsufficientInstanceCapacity; it is
// marked unavailable for 3 minutes and the NodeClaim launches on the next one.
func TestCapacityErrors(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	var faults *capacityFaults
	s := newSetup(t, "ice", setupOptions{clock: clk, wrap: func(api awsprovider.EC2API) awsprovider.EC2API {
		faults = &capacityFaults{EC2API: api, code: "InsufficientInstanceCapacity", types: map[string]bool{}}
		return faults
	}})
	ctx := t.Context()
	nc := nodeClaim("ice-1", "ice", conformance.In(v1.LabelArch, "amd64"), conformance.In(v1.CapacityTypeLabelKey, "on-demand"), conformance.In(v1.LabelTopologyZone, "us-east-1a"))
	its, _ := s.provider.GetInstanceTypes(ctx, nil)
	cands := cloudprovider.Candidates(its, nc)
	cheapest := cands[0]
	faults.types[cheapest.InstanceType.Name] = true
	launched, err := s.provider.Create(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	terminate(t, s.provider, launched)
	if launched.Labels[v1.LabelInstanceType] == cheapest.InstanceType.Name || faults.calls != 2 {
		t.Errorf("launched %s after %d calls; want another type after 2", launched.Labels[v1.LabelInstanceType], faults.calls)
	}
	if !s.provider.Unavailable().IsUnavailable(cheapest.InstanceType.Name, "us-east-1a", "on-demand") {
		t.Error("the failed offering is not unavailable")
	}
	clk.Step(3*time.Minute + time.Second)
	if s.provider.Unavailable().IsUnavailable(cheapest.InstanceType.Name, "us-east-1a", "on-demand") {
		t.Error("the offering is still unavailable after 3 minutes")
	}
	// Every compatible offering failing ends in an InsufficientCapacityError.
	only := nodeClaim("ice-2", "ice", conformance.In(v1.LabelInstanceType, cheapest.InstanceType.Name), conformance.In(v1.CapacityTypeLabelKey, "on-demand"), conformance.In(v1.LabelTopologyZone, "us-east-1a"))
	if _, err := s.provider.Create(ctx, only); !cloudprovider.IsInsufficientCapacityError(err) {
		t.Errorf("Create with only a failing offering: %v, want InsufficientCapacityError", err)
	}
}

// throttled fails CreateFleet with RequestLimitExceeded n times.
type throttled struct {
	awsprovider.EC2API
	n, calls int
}

func (f *throttled) CreateFleet(ctx context.Context, in *ec2.CreateFleetInput, opts ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	f.calls++
	if f.calls <= f.n {
		return nil, &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "slow down"}
	}
	return f.EC2API.CreateFleet(ctx, in, opts...)
}

func TestThrottlingRetried(t *testing.T) {
	var th *throttled
	s := newSetup(t, "throttle", setupOptions{wrap: func(api awsprovider.EC2API) awsprovider.EC2API {
		th = &throttled{EC2API: api, n: 2}
		return th
	}})
	launched, err := s.provider.Create(t.Context(), nodeClaim("throttle-1", "throttle"))
	if err != nil {
		t.Fatal(err)
	}
	terminate(t, s.provider, launched)
	if th.calls != 3 {
		t.Errorf("%d CreateFleet calls, want 3 (two throttled)", th.calls)
	}
}

// TestDrift launches, then changes what the class resolves to.
func TestDrift(t *testing.T) {
	s := newSetup(t, "drift", setupOptions{})
	ctx := t.Context()
	launched, err := s.provider.Create(ctx, nodeClaim("drift-1", "drift", conformance.In(v1.LabelArch, "amd64")))
	if err != nil {
		t.Fatal(err)
	}
	terminate(t, s.provider, launched)
	if r, err := s.provider.IsDrifted(ctx, launched); err != nil || r != "" {
		t.Fatalf("fresh instance drifted: %q %v", r, err)
	}
	cases := []struct {
		name   string
		change func(c *awsv1.EC2NodeClass)
		want   cloudprovider.DriftReason
	}{
		{"image", func(c *awsv1.EC2NodeClass) { c.Status.AMIs[0].ID, c.Status.AMIs[1].ID = "ami-new", "ami-new2" }, awsprovider.DriftAMI},
		{"subnet", func(c *awsv1.EC2NodeClass) {
			c.Status.Subnets = c.Status.Subnets[:0:0]
			c.Status.Subnets = append(c.Status.Subnets, awsv1.Subnet{ID: "subnet-new", Zone: "us-east-1a"})
		}, awsprovider.DriftSubnet},
		{"security group", func(c *awsv1.EC2NodeClass) { c.Status.SecurityGroups = []awsv1.SecurityGroup{{ID: "sg-new"}} }, awsprovider.DriftSecurityGroup},
		{"hash", func(c *awsv1.EC2NodeClass) { c.Annotations[awsv1.AnnotationNodeClassHash] = "changed" }, awsprovider.DriftNodeClassHash},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &awsv1.EC2NodeClass{}
			if err := s.kube.Get(ctx, client.ObjectKeyFromObject(s.class), c); err != nil {
				t.Fatal(err)
			}
			original := c.DeepCopy()
			save := func(c *awsv1.EC2NodeClass) {
				status := *c.Status.DeepCopy()
				if err := s.kube.Update(ctx, c); err != nil {
					t.Fatal(err)
				}
				c.Status = status
				if err := s.kube.Status().Update(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			tc.change(c)
			save(c)
			t.Cleanup(func() {
				original.ResourceVersion = c.ResourceVersion
				save(original)
			})
			if r, err := s.provider.IsDrifted(ctx, launched); err != nil || r != tc.want {
				t.Errorf("IsDrifted = %q, %v; want %q", r, err, tc.want)
			}
		})
	}
}

// TestListFindsTaggedInstances is what garbage collection relies on: List returns the
// cluster's Karpenter instances by tag, so an instance no NodeClaim owns is found.
func TestListFindsTaggedInstances(t *testing.T) {
	s := newSetup(t, "list", setupOptions{})
	ctx := t.Context()
	_, f := env(t)
	nc := nodeClaim("list-1", "list")
	nc.UID = "uid-list-1"
	launched, err := s.provider.Create(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	terminate(t, s.provider, launched)
	// An instance of another cluster, and one without Karpenter's tags, are not listed.
	other, err := moto.Clients().EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.ImageAMD64), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: aws.String(f.Subnets["us-east-1a"]), InstanceType: ec2types.InstanceTypeT3Micro,
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String("karpenter.sh/nodepool"), Value: aws.String("x")}, {Key: aws.String("kubernetes.io/cluster/other"), Value: aws.String("owned")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = moto.Clients().EC2.TerminateInstances(context.WithoutCancel(ctx), &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(other.Instances[0].InstanceId)}})
	})
	all, err := s.provider.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, nc := range all {
		ids = append(ids, nc.Status.ProviderID)
		if nc.Status.ProviderID == launched.Status.ProviderID && (nc.Name != "list-1" || nc.Labels[v1.NodePoolLabelKey] != "default") {
			t.Errorf("listed NodeClaim %s labels %v", nc.Name, nc.Labels)
		}
	}
	if !slices.Contains(ids, launched.Status.ProviderID) || len(ids) != 1 {
		t.Errorf("List = %v, want only %s", ids, launched.Status.ProviderID)
	}
	if all[0].UID != "uid-list-1" {
		t.Errorf("listed UID %q, want the launching NodeClaim's", all[0].UID)
	}
	// A class that does not exist is not ready; nothing is launched.
	if _, err := s.provider.Create(ctx, nodeClaim("no-class", "missing")); !cloudprovider.IsNodeClassNotReadyError(err) {
		t.Errorf("Create with a missing class: %v, want NodeClassNotReadyError", err)
	}
}

// TestBottlerocket resolves a bottlerocket@latest alias through SSM and launches with TOML
// user data that joins the cluster and keeps the user's settings, on the family's volumes.
func TestBottlerocket(t *testing.T) {
	s := newSetup(t, "bottlerocket", setupOptions{})
	ctx := t.Context()
	_, f := env(t)
	class := s.class.DeepCopy()
	class.Spec.AMISelectorTerms = []awsv1.AMISelectorTerm{{Alias: "bottlerocket@latest"}}
	class.Spec.UserData = aws.String("[settings.host-containers.admin]\nenabled = true\n")
	if err := s.provider.ResolveStatus(ctx, class); err != nil {
		t.Fatal(err)
	}
	if class.AMIFamily() != awsv1.AMIFamilyBottlerocket || len(class.Status.AMIs) != 2 || class.Status.AMIs[0].ID != f.ImageAMD64 && class.Status.AMIs[0].ID != f.ImageARM64 {
		t.Fatalf("bottlerocket images = %+v", class.Status.AMIs)
	}
	status := class.Status
	if err := s.kube.Update(ctx, class); err != nil {
		t.Fatal(err)
	}
	class.Status = status
	if err := s.kube.Status().Update(ctx, class); err != nil {
		t.Fatal(err)
	}
	launched, err := s.provider.Create(ctx, nodeClaim("br-1", "bottlerocket", conformance.In(v1.LabelArch, "arm64")))
	if err != nil {
		t.Fatal(err)
	}
	terminate(t, s.provider, launched)
	if launched.Status.ImageID != f.ImageARM64 {
		t.Errorf("arm64 NodeClaim booted %s, want the arm64 image %s", launched.Status.ImageID, f.ImageARM64)
	}
	fleets := s.ec2.Fleets()
	name := fleets[len(fleets)-1].LaunchTemplateConfigs[0].LaunchTemplateSpecification.LaunchTemplateName
	lts, err := moto.Clients().EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: name})
	if err != nil || len(lts.LaunchTemplateVersions) == 0 {
		t.Fatalf("launch template %s: %v", aws.ToString(name), err)
	}
	data := lts.LaunchTemplateVersions[0].LaunchTemplateData
	ud, _ := base64.StdEncoding.DecodeString(aws.ToString(data.UserData))
	for _, want := range []string{`cluster-name = "` + cluster + `"`, `api-server = "https://api.test"`, "[settings.host-containers.admin]", "max-pods = "} {
		if !strings.Contains(string(ud), want) {
			t.Errorf("Bottlerocket user data lacks %q:\n%s", want, ud)
		}
	}
	if len(data.BlockDeviceMappings) != 2 {
		t.Errorf("Bottlerocket volumes = %+v, want an OS and a data volume", data.BlockDeviceMappings)
	}
}

// TestInstanceProfileGiven: spec.instanceProfile is used as it is when it exists, and a
// missing one makes InstanceProfileReady False.
func TestInstanceProfileGiven(t *testing.T) {
	s := newSetup(t, "given-profile", setupOptions{})
	ctx := t.Context()
	iamc := moto.Clients().IAM
	if _, err := iamc.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("existing-profile")}); err != nil {
		t.Fatal(err)
	}
	class := newClass("given-profile")
	class.Spec.Role = ""
	class.Spec.InstanceProfile = aws.String("existing-profile")
	if err := s.provider.ResolveStatus(ctx, class); err != nil || class.Status.InstanceProfile != "existing-profile" || !class.IsReady() {
		t.Errorf("existing profile: %v, status %q, conditions %+v", err, class.Status.InstanceProfile, class.Status.Conditions)
	}
	class.Spec.InstanceProfile = aws.String("no-such-profile")
	_ = s.provider.ResolveStatus(ctx, class)
	if class.IsReady() || conditionMessage(class, awsv1.ConditionTypeInstanceProfileReady) == "" {
		t.Errorf("missing profile: conditions %+v", class.Status.Conditions)
	}
}

// TestInstanceTypesCache: repeated calls reuse the built types, yet each answer has its own
// availability flags and an earlier answer is never changed behind the caller's back.
func TestInstanceTypesCache(t *testing.T) {
	s := newSetup(t, "cache", setupOptions{})
	ctx := t.Context()
	first, err := s.provider.GetInstanceTypes(ctx, nil)
	if err != nil || len(first) < 100 {
		t.Fatalf("%d types: %v", len(first), err)
	}
	it, off := first[0], first[0].Offerings[0]
	s.provider.Unavailable().MarkUnavailable(it.Name, off.Zone, off.CapacityType)
	second, err := s.provider.GetInstanceTypes(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first[0].Offerings[0].Available {
		t.Error("marking an offering unavailable changed an earlier answer")
	}
	if second[0].Name != it.Name || second[0].Offerings[0].Available {
		t.Errorf("the second answer does not show %s/%s/%s unavailable", it.Name, off.Zone, off.CapacityType)
	}
}

// TestThrottlingBackoffOnTheClock: throttled CreateFleet calls wait 1s, then 2s, on the
// injected clock before trying again.
func TestThrottlingBackoffOnTheClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	var th *throttled
	s := newSetup(t, "backoff", setupOptions{clock: clk, backoff: time.Second, wrap: func(api awsprovider.EC2API) awsprovider.EC2API {
		th = &throttled{EC2API: api, n: 2}
		return th
	}})
	done := make(chan error, 1)
	var launched *v1.NodeClaim
	go func() {
		var err error
		launched, err = s.provider.Create(t.Context(), nodeClaim("backoff-1", "backoff"))
		done <- err
	}()
	waitForWaiter := func() {
		// Before it throttles, Create makes several moto calls (image, subnets, security
		// groups, launch template): at load 30-40 they took over 30 s.
		deadline := time.Now().Add(3 * time.Minute)
		for !clk.HasWaiters() {
			if time.Now().After(deadline) {
				t.Fatal("Create never waited on the clock")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitForWaiter()
	clk.Step(999 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if th.calls != 1 {
		t.Fatalf("%d calls before the first second passed, want 1", th.calls)
	}
	clk.Step(time.Millisecond)
	waitForWaiter() // the second wait, of 2s
	clk.Step(time.Second)
	time.Sleep(100 * time.Millisecond)
	if th.calls != 2 {
		t.Fatalf("%d calls one second into the 2s wait, want 2", th.calls)
	}
	clk.Step(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	terminate(t, s.provider, launched)
	if th.calls != 3 {
		t.Errorf("%d CreateFleet calls, want 3", th.calls)
	}
}
