package aws

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/internal/testdata"
)

// TestAliasParameters checks the SSM paths against ../shared/data/ami-ssm-paths.json.
func TestAliasParameters(t *testing.T) {
	path, err := testdata.File("ami-ssm-paths.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var facts struct {
		AL2023 struct {
			Latest  string `json:"latest"`
			Example string `json:"example"`
		} `json:"al2023"`
		Bottlerocket struct {
			Example string `json:"example"`
		} `json:"bottlerocket"`
	}
	if err := json.Unmarshal(b, &facts); err != nil {
		t.Fatal(err)
	}
	paths := func(family, version string) []string {
		qs, err := AliasParameters(family, version, "1.33")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, q := range qs {
			out = append(out, q.path)
		}
		return out
	}
	contains := func(list []string, want string) bool {
		for _, p := range list {
			if p == want {
				return true
			}
		}
		return false
	}
	if al := paths("al2023", "latest"); !contains(al, facts.AL2023.Example) {
		t.Errorf("al2023@latest paths %v lack the shared example %s", al, facts.AL2023.Example)
	}
	if br := paths("bottlerocket", "latest"); !contains(br, facts.Bottlerocket.Example) {
		t.Errorf("bottlerocket@latest paths %v lack the shared example %s", br, facts.Bottlerocket.Example)
	}
	if pinned := paths("al2023", "v20240625"); !contains(pinned, "/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/standard/amazon-eks-node-al2023-x86_64-standard-1.33-v20240625/image_id") {
		t.Errorf("pinned al2023 paths %v", pinned)
	}
	if br := paths("bottlerocket", "v1.10.0"); !contains(br, "/aws/service/bottlerocket/aws-k8s-1.33/x86_64/1.10.0/image_id") || !contains(br, "/aws/service/bottlerocket/aws-k8s-1.33-nvidia/arm64/1.10.0/image_id") {
		t.Errorf("pinned bottlerocket paths %v (the v is stripped)", br)
	}
	if _, err := AliasParameters("windows2022", "latest", "1.33"); err == nil || !strings.Contains(err.Error(), "windows2022") {
		t.Errorf("windows alias: %v", err)
	}
	if _, err := AliasParameters("al2023", "latest", ""); err == nil {
		t.Error("an alias without a Kubernetes version resolved")
	}
	// The GPU variants require a GPU, the standard ones its absence.
	qs, _ := AliasParameters("al2023", "latest", "1.33")
	for _, q := range qs {
		gpu := strings.Contains(q.path, "/nvidia/")
		if op := string(q.requirements[1].Operator); (gpu && op != "Exists") || (!gpu && op != "DoesNotExist") {
			t.Errorf("%s: GPU requirement %s", q.path, op)
		}
	}
}

// imagesOnly answers DescribeImages from a fixed list (by owner/name filter it returns all).
type imagesOnly struct {
	EC2API
	images []ec2types.Image
}

func (f imagesOnly) DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	return &ec2.DescribeImagesOutput{Images: f.images}, nil
}

// TestNewestNonDeprecatedPerArch: per architecture the newest image that is not deprecated
// wins; a deprecated one is used only when nothing else is left.
func TestNewestNonDeprecatedPerArch(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	img := func(id, arch, created, deprecated string) ec2types.Image {
		i := ec2types.Image{ImageId: aws.String(id), Architecture: ec2types.ArchitectureValues(arch), CreationDate: aws.String(created)}
		if deprecated != "" {
			i.DeprecationTime = aws.String(deprecated)
		}
		return i
	}
	api := imagesOnly{images: []ec2types.Image{
		img("ami-old", "x86_64", "2026-01-01T00:00:00.000Z", ""),
		img("ami-new", "x86_64", "2026-03-01T00:00:00.000Z", ""),
		img("ami-newest-deprecated", "x86_64", "2026-04-01T00:00:00.000Z", "2026-05-01T00:00:00Z"),
		img("ami-arm-deprecated", "arm64", "2026-02-01T00:00:00.000Z", "2026-05-01T00:00:00Z"),
		img("ami-future-deprecation", "x86_64", "2026-02-15T00:00:00.000Z", "2027-01-01T00:00:00Z"),
	}}
	class := &awsv1.EC2NodeClass{Spec: awsv1.EC2NodeClassSpec{AMISelectorTerms: []awsv1.AMISelectorTerm{{Name: "eks-*", Owner: "self"}}}}
	amis, err := ResolveAMIs(context.Background(), api, nil, class, "1.33", now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range amis {
		got[a.Requirements[0].Values[0]] = a.ID
		if a.ID == "ami-arm-deprecated" && !a.Deprecated {
			t.Error("a deprecated image is not marked deprecated")
		}
	}
	if got["amd64"] != "ami-new" || got["arm64"] != "ami-arm-deprecated" || len(amis) != 2 {
		t.Errorf("AMIs = %+v, want ami-new for amd64 and the deprecated arm64 one as the last resort", amis)
	}
}
