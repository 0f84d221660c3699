package v1_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	"github.com/gokarpenter/karpenter/pkg/test"
)

// base is the spec of a minimal valid class; cases replace or append lines.
const (
	subnets = "subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]"
	groups  = "securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]"
	alias   = "amiSelectorTerms: [{alias: al2023@latest}]"
	role    = "role: KarpenterNodeRole-demo"
)

func class(lines ...string) string {
	return fmt.Sprintf("apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {generateName: nc-}\nspec:\n  %s\n", strings.Join(lines, "\n  "))
}

func valid(extra ...string) string {
	return class(append([]string{subnets, groups, alias, role}, extra...)...)
}

type manifestCase struct {
	name     string
	manifest string
	wantErr  []string // substrings: the field path and the rule; empty means accepted
}

func manifestCases() []manifestCase {
	return []manifestCase{
		// ---- accepted
		{name: "minimal alias and role", manifest: valid()},
		{name: "instance profile instead of role", manifest: class(subnets, groups, alias, "instanceProfile: KarpenterNodeInstanceProfile")},
		{name: "subnet by id", manifest: class("subnetSelectorTerms: [{id: subnet-0123abcd}]", groups, alias, role)},
		{name: "subnet wildcard tag", manifest: class("subnetSelectorTerms: [{tags: {Name: '*'}}, {id: subnet-1}]", groups, alias, role)},
		{name: "security group by name", manifest: class(subnets, "securityGroupSelectorTerms: [{name: eks-cluster-sg}]", alias, role)},
		{name: "ami by id with family", manifest: class(subnets, groups, "amiSelectorTerms: [{id: ami-0123}]", "amiFamily: AL2023", role)},
		{name: "ami by name and owner", manifest: class(subnets, groups, "amiSelectorTerms: [{name: 'my-ami-*', owner: self}]", "amiFamily: Custom", role)},
		{name: "ami by ssm parameter", manifest: class(subnets, groups, "amiSelectorTerms: [{ssmParameter: /my/ami}]", "amiFamily: Bottlerocket", role)},
		{name: "bottlerocket pinned alias", manifest: class(subnets, groups, "amiSelectorTerms: [{alias: bottlerocket@v1.10.0}]", role)},
		{name: "alias with matching family", manifest: valid("amiFamily: AL2023")},
		{name: "alias with Custom family", manifest: valid("amiFamily: Custom")},
		{name: "user tags", manifest: valid("tags: {team: payments, Name: custom}")},
		{name: "kubelet settings", manifest: valid("kubelet: {maxPods: 58, podsPerCore: 10, systemReserved: {cpu: 100m, memory: 100Mi}, kubeReserved: {cpu: 200m}, evictionHard: {memory.available: 5%}, evictionSoft: {memory.available: 10%}, evictionSoftGracePeriod: {memory.available: 1m}, imageGCHighThresholdPercent: 85, imageGCLowThresholdPercent: 80, clusterDNS: [10.0.0.10]}")},
		{name: "one root volume", manifest: valid("blockDeviceMappings: [{deviceName: /dev/xvda, rootVolume: true, ebs: {volumeSize: 100Gi, volumeType: gp3, encrypted: true}}, {deviceName: /dev/xvdb, ebs: {volumeSize: 1Ti}}]")},
		{name: "metadata options", manifest: valid("metadataOptions: {httpTokens: optional, httpPutResponseHopLimit: 2}")},
		{name: "instance store RAID0", manifest: valid("instanceStorePolicy: RAID0", "detailedMonitoring: true", "associatePublicIPAddress: false")},

		// ---- rejected
		{name: "role and instance profile", manifest: valid("instanceProfile: x"),
			wantErr: []string{"spec", "must specify exactly one of ['role', 'instanceProfile']"}},
		{name: "neither role nor instance profile", manifest: class(subnets, groups, alias),
			wantErr: []string{"spec", "must specify exactly one of ['role', 'instanceProfile']"}},
		{name: "empty role", manifest: class(subnets, groups, alias, "role: ''"),
			wantErr: []string{"spec.role", "role cannot be empty"}},
		{name: "no subnet terms", manifest: class("subnetSelectorTerms: []", groups, alias, role),
			wantErr: []string{"spec.subnetSelectorTerms", "subnetSelectorTerms cannot be empty"}},
		{name: "empty subnet term", manifest: class("subnetSelectorTerms: [{}]", groups, alias, role),
			wantErr: []string{"spec.subnetSelectorTerms", "expected at least one, got none, ['tags', 'id']"}},
		{name: "subnet id with tags", manifest: class("subnetSelectorTerms: [{id: subnet-1, tags: {a: b}}]", groups, alias, role),
			wantErr: []string{"spec.subnetSelectorTerms", "'id' is mutually exclusive"}},
		{name: "subnet id pattern", manifest: class("subnetSelectorTerms: [{id: sn-1}]", groups, alias, role),
			wantErr: []string{"spec.subnetSelectorTerms[0].id", "should match"}},
		{name: "empty subnet tag value", manifest: class("subnetSelectorTerms: [{tags: {a: ''}}]", groups, alias, role),
			wantErr: []string{"spec.subnetSelectorTerms[0].tags", "empty tag keys or values aren't supported"}},
		{name: "no security group terms", manifest: class(subnets, "securityGroupSelectorTerms: []", alias, role),
			wantErr: []string{"spec.securityGroupSelectorTerms", "securityGroupSelectorTerms cannot be empty"}},
		{name: "security group name with id", manifest: class(subnets, "securityGroupSelectorTerms: [{name: a, id: sg-1}]", alias, role),
			wantErr: []string{"spec.securityGroupSelectorTerms", "mutually exclusive"}},
		{name: "no ami terms", manifest: class(subnets, groups, "amiSelectorTerms: []", role),
			wantErr: []string{"spec.amiSelectorTerms", "should have at least 1 items"}},
		{name: "alias with another term", manifest: class(subnets, groups, "amiSelectorTerms: [{alias: al2023@latest}, {id: ami-1}]", role),
			wantErr: []string{"spec.amiSelectorTerms", "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms"}},
		{name: "alias with tags in one term", manifest: class(subnets, groups, "amiSelectorTerms: [{alias: al2023@latest, tags: {a: b}}]", role),
			wantErr: []string{"spec.amiSelectorTerms", "'alias' is mutually exclusive, cannot be set with a combination of other fields"}},
		{name: "malformed alias", manifest: class(subnets, groups, "amiSelectorTerms: [{alias: al2023}]", role),
			wantErr: []string{"spec.amiSelectorTerms[0].alias", "must match the format 'family@version'"}},
		{name: "unknown alias family", manifest: class(subnets, groups, "amiSelectorTerms: [{alias: ubuntu@latest}]", role),
			wantErr: []string{"spec.amiSelectorTerms[0].alias", "family is not supported"}},
		{name: "pinned windows alias", manifest: class(subnets, groups, "amiSelectorTerms: [{alias: windows2022@v1}]", role),
			wantErr: []string{"spec.amiSelectorTerms[0].alias", "windows families may only specify version 'latest'"}},
		{name: "ami id without family", manifest: class(subnets, groups, "amiSelectorTerms: [{id: ami-1}]", role),
			wantErr: []string{"spec", "must specify amiFamily if amiSelectorTerms does not contain an alias"}},
		{name: "family disagrees with alias", manifest: valid("amiFamily: Bottlerocket"),
			wantErr: []string{"spec", "amiFamily must be 'AL2023' or 'Custom' when using an AL2023 alias"}},
		{name: "unknown family", manifest: valid("amiFamily: Ubuntu"),
			wantErr: []string{"spec.amiFamily", "Unsupported value"}},
		{name: "cluster tag", manifest: valid("tags: {kubernetes.io/cluster/demo: owned}"),
			wantErr: []string{"spec.tags", "tag contains a restricted tag matching kubernetes.io/cluster/"}},
		{name: "nodepool tag", manifest: valid("tags: {karpenter.sh/nodepool: x}"),
			wantErr: []string{"spec.tags", "tag contains a restricted tag matching karpenter.sh/nodepool"}},
		{name: "nodeclaim tag", manifest: valid("tags: {karpenter.sh/nodeclaim: x}"),
			wantErr: []string{"spec.tags", "tag contains a restricted tag matching karpenter.sh/nodeclaim"}},
		{name: "ec2nodeclass tag", manifest: valid("tags: {karpenter.k8s.aws/ec2nodeclass: x}"),
			wantErr: []string{"spec.tags", "tag contains a restricted tag matching karpenter.k8s.aws/ec2nodeclass"}},
		{name: "eks cluster name tag", manifest: valid("tags: {eks:eks-cluster-name: x}"),
			wantErr: []string{"spec.tags", "tag contains a restricted tag matching eks:eks-cluster-name"}},
		{name: "negative maxPods", manifest: valid("kubelet: {maxPods: -1}"),
			wantErr: []string{"spec.kubelet.maxPods", "greater than or equal to 0"}},
		{name: "unknown systemReserved key", manifest: valid("kubelet: {systemReserved: {gpu: '1'}}"),
			wantErr: []string{"spec.kubelet.systemReserved", "valid keys for systemReserved are"}},
		{name: "negative kubeReserved", manifest: valid("kubelet: {kubeReserved: {cpu: '-1'}}"),
			wantErr: []string{"spec.kubelet.kubeReserved", "kubeReserved value cannot be a negative resource quantity"}},
		{name: "unknown eviction signal", manifest: valid("kubelet: {evictionHard: {disk.available: 5%}}"),
			wantErr: []string{"spec.kubelet.evictionHard", "valid keys for evictionHard are"}},
		{name: "soft eviction without grace", manifest: valid("kubelet: {evictionSoft: {memory.available: 5%}, evictionSoftGracePeriod: {nodefs.available: 1m}}"),
			wantErr: []string{"spec.kubelet", "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod"}},
		{name: "image GC thresholds inverted", manifest: valid("kubelet: {imageGCHighThresholdPercent: 50, imageGCLowThresholdPercent: 60}"),
			wantErr: []string{"spec.kubelet", "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent"}},
		{name: "two root volumes", manifest: valid("blockDeviceMappings: [{rootVolume: true, ebs: {volumeSize: 20Gi}}, {rootVolume: true, ebs: {volumeSize: 20Gi}}]"),
			wantErr: []string{"spec.blockDeviceMappings", "must have only one blockDeviceMappings with rootVolume"}},
		{name: "volume without size or snapshot", manifest: valid("blockDeviceMappings: [{ebs: {volumeType: gp3}}]"),
			wantErr: []string{"spec.blockDeviceMappings[0].ebs", "snapshotID or volumeSize must be defined"}},
		{name: "bad volume type", manifest: valid("blockDeviceMappings: [{ebs: {volumeSize: 20Gi, volumeType: gp9}}]"),
			wantErr: []string{"spec.blockDeviceMappings[0].ebs.volumeType", "Unsupported value"}},
		{name: "hop limit 65", manifest: valid("metadataOptions: {httpPutResponseHopLimit: 65}"),
			wantErr: []string{"spec.metadataOptions.httpPutResponseHopLimit", "less than or equal to 64"}},
		{name: "bad http tokens", manifest: valid("metadataOptions: {httpTokens: sometimes}"),
			wantErr: []string{"spec.metadataOptions.httpTokens", "Unsupported value"}},
		{name: "bad instance store policy", manifest: valid("instanceStorePolicy: RAID1"),
			wantErr: []string{"spec.instanceStorePolicy", "Unsupported value"}},
	}
}

// TestManifests applies each manifest to a real API server: valid ones must be accepted,
// invalid ones rejected with an error naming the field and the broken rule.
func TestManifests(t *testing.T) {
	test.RequireEnvironment(t, env)
	for _, tc := range manifestCases() {
		t.Run(tc.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.manifest), &obj.Object); err != nil {
				t.Fatalf("test manifest is not YAML: %v\n%s", err, tc.manifest)
			}
			err := env.Client.Create(test.Context(t), obj)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("valid manifest rejected: %v\n%s", err, tc.manifest)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid manifest accepted:\n%s", tc.manifest)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestDefaults checks the metadata options default to IMDSv2 required with hop limit 1.
func TestDefaults(t *testing.T) {
	test.RequireEnvironment(t, env)
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(valid()), &obj.Object); err != nil {
		t.Fatal(err)
	}
	ctx := test.Context(t)
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	got := &awsv1.EC2NodeClass{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
		t.Fatal(err)
	}
	mo := got.Spec.MetadataOptions
	if mo == nil || deref(mo.HTTPTokens) != "required" || mo.HTTPPutResponseHopLimit == nil || *mo.HTTPPutResponseHopLimit != 1 ||
		deref(mo.HTTPEndpoint) != "enabled" || deref(mo.HTTPProtocolIPv6) != "disabled" {
		t.Errorf("metadataOptions defaults = %+v", mo)
	}
}

// TestRoleImmutable checks role cannot change and role cannot become instanceProfile.
func TestRoleImmutable(t *testing.T) {
	test.RequireEnvironment(t, env)
	ctx := test.Context(t)
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(valid()), &obj.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	nc := &awsv1.EC2NodeClass{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), nc); err != nil {
		t.Fatal(err)
	}
	changed := nc.DeepCopy()
	changed.Spec.Role = "other"
	if err := env.Client.Update(ctx, changed); err == nil || !strings.Contains(err.Error(), "immutable field changed") {
		t.Errorf("changing role: %v, want immutable field changed", err)
	}
	switched := nc.DeepCopy()
	switched.Spec.Role = ""
	p := "profile"
	switched.Spec.InstanceProfile = &p
	if err := env.Client.Update(ctx, switched); err == nil || !strings.Contains(err.Error(), "changing from 'instanceProfile' to 'role' is not supported") {
		t.Errorf("switching role to instanceProfile: %v", err)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
