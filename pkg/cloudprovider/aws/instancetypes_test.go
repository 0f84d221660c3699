package aws

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/internal/testdata"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

type catalogueRecord struct {
	Name              string              `json:"name"`
	VCPU              *int64              `json:"vcpu"`
	MemoryMiB         *int64              `json:"memoryMiB"`
	Arch              *string             `json:"arch"`
	GPUs              int64               `json:"gpus"`
	GPUName           string              `json:"gpuName"`
	GPUManufacturer   string              `json:"gpuManufacturer"`
	MaxENI            *int64              `json:"defaultCardMaxENI"`
	IPv4PerENI        *int64              `json:"ipv4PerENI"`
	MaxPodsENILimited *int64              `json:"maxPodsENILimited"`
	Hypervisor        *string             `json:"hypervisor"`
	Usage             []string            `json:"supportedUsageClasses"`
	Zones             map[string][]string `json:"zones"`
	OnDemand          map[string]*float64 `json:"onDemandPriceUSD"`
}

func loadCatalogue(t *testing.T) []catalogueRecord {
	t.Helper()
	path, err := testdata.File("ec2-catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		InstanceTypes []catalogueRecord `json:"instanceTypes"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.InstanceTypes
}

func infoOf(r catalogueRecord) TypeInfo {
	info := TypeInfo{Name: r.Name, VCPU: *r.VCPU, MemoryMiB: *r.MemoryMiB, Arch: *r.Arch, Zones: r.Zones["us-east-1"]}
	if r.GPUManufacturer == "nvidia" {
		info.NvidiaGPUs, info.GPUName = r.GPUs, r.GPUName
	}
	if r.MaxENI != nil && r.IPv4PerENI != nil {
		info.MaxENI, info.IPv4PerENI = *r.MaxENI, *r.IPv4PerENI
	}
	if r.Hypervisor != nil {
		info.Hypervisor = *r.Hypervisor
	}
	for _, u := range r.Usage {
		info.UsageOD = info.UsageOD || u == "on-demand"
		info.UsageSpot = info.UsageSpot || u == "spot"
	}
	return info
}

// TestCapacityMatchesCatalogue builds every catalogue type the way the provider builds a
// DescribeInstanceTypes answer and checks capacity, overhead and allocatable against the
// catalogue package, which implements CATALOG.md's rule; ENI-limited pods computed from the
// ENI figures must equal the catalogue's maxPodsENILimited.
func TestCapacityMatchesCatalogue(t *testing.T) {
	want := map[string]*struct{ capacity, allocatable corev1.ResourceList }{}
	path, _ := testdata.File("ec2-catalog.json")
	its, err := catalog.Load(path, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range its {
		want[it.Name] = &struct{ capacity, allocatable corev1.ResourceList }{it.Capacity, it.Allocatable()}
	}
	checked := 0
	for _, r := range loadCatalogue(t) {
		w := want[r.Name]
		if w == nil || r.MaxENI == nil || r.IPv4PerENI == nil || r.MaxPodsENILimited == nil {
			continue
		}
		info := infoOf(r)
		if got := ENILimitedPods(info.MaxENI, info.IPv4PerENI, 0); got != *r.MaxPodsENILimited {
			t.Errorf("%s: ENI-limited pods %d, catalogue says %d", r.Name, got, *r.MaxPodsENILimited)
			continue
		}
		it := Build(info, fixedPrices{od: 1}, nil, BuildOptions{VMMemoryOverheadPercent: DefaultVMMemoryOverheadPercent})
		if it == nil {
			t.Errorf("%s: not built", r.Name)
			continue
		}
		if !equality.Semantic.DeepEqual(it.Capacity, w.capacity) {
			t.Errorf("%s: capacity %v, want %v", r.Name, it.Capacity, w.capacity)
		}
		if !equality.Semantic.DeepEqual(it.Allocatable(), w.allocatable) {
			t.Errorf("%s: allocatable %v, want %v", r.Name, it.Allocatable(), w.allocatable)
		}
		checked++
	}
	if checked < 500 {
		t.Fatalf("checked only %d catalogue types", checked)
	}
}

type fixedPrices struct{ od, spot float64 }

func (f fixedPrices) OnDemand(string) (float64, bool) { return f.od, f.od > 0 }
func (f fixedPrices) Spot(string, string) (float64, bool) {
	return f.spot, f.spot > 0
}

// TestKubeletChangesCapacity covers the class's kubelet settings.
func TestKubeletChangesCapacity(t *testing.T) {
	m5large := TypeInfo{Name: "m5.large", VCPU: 2, MemoryMiB: 8192, Arch: "amd64", MaxENI: 3, IPv4PerENI: 10, UsageOD: true, Zones: []string{"z"}}
	mi := func(n int64) resource.Quantity { return *resource.NewQuantity(n*mebibyte, resource.BinarySI) }
	cases := []struct {
		name         string
		opts         BuildOptions
		wantPods     int64
		wantAllocMem resource.Quantity
		wantAllocCPU string
	}{
		// 8192 - 615 (7.5 %) - (11*29+255=574) - 100 = 6903
		{name: "defaults", opts: BuildOptions{VMMemoryOverheadPercent: 0.075}, wantPods: 29, wantAllocMem: mi(6903), wantAllocCPU: "1930m"},
		{name: "reserved ENI", opts: BuildOptions{VMMemoryOverheadPercent: 0.075, ReservedENIs: 1}, wantPods: 20, wantAllocMem: mi(6903 + 99), wantAllocCPU: "1930m"},
		{name: "maxPods", opts: BuildOptions{VMMemoryOverheadPercent: 0.075, Kubelet: &awsv1.KubeletConfiguration{MaxPods: ptr.To[int32](110)}}, wantPods: 110, wantAllocMem: mi(6903 - 11*81), wantAllocCPU: "1930m"},
		{name: "podsPerCore caps", opts: BuildOptions{VMMemoryOverheadPercent: 0.075, Kubelet: &awsv1.KubeletConfiguration{PodsPerCore: ptr.To[int32](4)}}, wantPods: 8, wantAllocMem: mi(6903 + 11*21), wantAllocCPU: "1930m"},
		{name: "no VM overhead", opts: BuildOptions{}, wantPods: 29, wantAllocMem: mi(6903 + 615), wantAllocCPU: "1930m"},
		{name: "kube and system reserved", opts: BuildOptions{VMMemoryOverheadPercent: 0.075, Kubelet: &awsv1.KubeletConfiguration{
			KubeReserved: map[string]string{"cpu": "200m", "memory": "1Gi"}, SystemReserved: map[string]string{"cpu": "100m", "pid": "100"}}},
			wantPods: 29, wantAllocMem: mi(8192 - 615 - 1024 - 100), wantAllocCPU: "1700m"},
		{name: "eviction hard percent", opts: BuildOptions{VMMemoryOverheadPercent: 0.075, Kubelet: &awsv1.KubeletConfiguration{
			EvictionHard: map[string]string{"memory.available": "10%"}}},
			wantPods: 29, wantAllocMem: *resource.NewQuantity((8192-615-574)*mebibyte-(8192*mebibyte+9)/10, resource.BinarySI), wantAllocCPU: "1930m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			it := Build(m5large, fixedPrices{od: 0.096}, nil, tc.opts)
			alloc := it.Allocatable()
			if got := it.Capacity.Pods().Value(); got != tc.wantPods {
				t.Errorf("pods = %d, want %d", got, tc.wantPods)
			}
			if got := alloc[corev1.ResourceMemory]; got.Cmp(tc.wantAllocMem) != 0 {
				t.Errorf("allocatable memory = %s, want %s", got.String(), tc.wantAllocMem.String())
			}
			if got := alloc[corev1.ResourceCPU]; got.Cmp(resource.MustParse(tc.wantAllocCPU)) != 0 {
				t.Errorf("allocatable cpu = %s, want %s", got.String(), tc.wantAllocCPU)
			}
		})
	}
}

// TestBuildOfferings checks zones, capacity types and spot prices.
func TestBuildOfferings(t *testing.T) {
	info := TypeInfo{Name: "c5.large", VCPU: 2, MemoryMiB: 4096, Arch: "amd64", UsageOD: true, UsageSpot: true, Zones: []string{"a", "b", "c"}}
	it := Build(info, fixedPrices{od: 0.1, spot: 0.03}, map[string]bool{"a": true, "c": true}, BuildOptions{})
	if len(it.Offerings) != 4 {
		t.Fatalf("offerings = %+v, want on-demand and spot in a and c", it.Offerings)
	}
	for _, o := range it.Offerings {
		if o.Zone == "b" || (o.CapacityType == CapacityTypeSpot && o.PricePerHour != 0.03) || (o.CapacityType == CapacityTypeOnDemand && o.PricePerHour != 0.1) {
			t.Errorf("bad offering %+v", o)
		}
	}
	if Build(info, fixedPrices{}, nil, BuildOptions{}) != nil {
		t.Error("a type without an on-demand price must be skipped")
	}
	noSpot := Build(info, fixedPrices{od: 0.1}, nil, BuildOptions{})
	for _, o := range noSpot.Offerings {
		if o.CapacityType == CapacityTypeSpot && math.Abs(o.PricePerHour-0.04) > 1e-9 {
			t.Errorf("spot without history = %v, want 0.4 × on-demand", o.PricePerHour)
		}
	}
	if l := Labels(info); l[catalog.LabelInstanceCategory] != "c" || l[catalog.LabelInstanceGeneration] != "5" || l[catalog.LabelInstanceFamily] != "c5" || l[catalog.LabelInstanceSize] != "large" {
		t.Errorf("labels = %v", l)
	}
}

// TestBuildRegionLabel: the region of the build options becomes the type's
// topology.kubernetes.io/region label; without one no region label is invented.
func TestBuildRegionLabel(t *testing.T) {
	info := TypeInfo{Name: "c5.large", VCPU: 2, MemoryMiB: 4096, Arch: "amd64", UsageOD: true, Zones: []string{"eu-west-1a"}}
	it := Build(info, fixedPrices{od: 0.1}, nil, BuildOptions{Region: "eu-west-1"})
	if got := it.Labels["topology.kubernetes.io/region"]; got != "eu-west-1" {
		t.Errorf("region label = %q, want eu-west-1", got)
	}
	if _, ok := Build(info, fixedPrices{od: 0.1}, nil, BuildOptions{}).Labels["topology.kubernetes.io/region"]; ok {
		t.Error("a region label without a region")
	}
}

// TestInstanceStoreRAID0: with instanceStorePolicy RAID0 a type with local disks offers their
// size as ephemeral storage; without disks, or without the policy, the root volume's.
func TestInstanceStoreRAID0(t *testing.T) {
	withDisks := TypeInfo{Name: "m6id.large", VCPU: 2, MemoryMiB: 8192, Arch: "amd64", InstanceStorageGB: 118, UsageOD: true, Zones: []string{"z"}}
	noDisks := withDisks
	noDisks.Name, noDisks.InstanceStorageGB = "m6i.large", 0
	eph := func(info TypeInfo, raid bool) int64 {
		it := Build(info, fixedPrices{od: 1}, nil, BuildOptions{InstanceStoreRAID0: raid, EphemeralBytes: 50 << 30})
		return it.Capacity.StorageEphemeral().Value()
	}
	if got := eph(withDisks, true); got != 118e9 {
		t.Errorf("RAID0 with disks: %d, want 118 GB", got)
	}
	if got := eph(withDisks, false); got != 50<<30 {
		t.Errorf("no policy: %d, want the root volume", got)
	}
	if got := eph(noDisks, true); got != 50<<30 {
		t.Errorf("RAID0 without disks: %d, want the root volume", got)
	}
}

// BenchmarkBuildCatalogue builds every catalogue type, what GetInstanceTypes does per call.
func BenchmarkBuildCatalogue(b *testing.B) {
	path, err := testdata.File("ec2-catalog.json")
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var f struct {
		InstanceTypes []catalogueRecord `json:"instanceTypes"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		b.Fatal(err)
	}
	var infos []TypeInfo
	for _, r := range f.InstanceTypes {
		if r.VCPU != nil && r.MemoryMiB != nil && r.Arch != nil && len(r.Zones["us-east-1"]) > 0 {
			infos = append(infos, infoOf(r))
		}
	}
	o := BuildOptions{VMMemoryOverheadPercent: DefaultVMMemoryOverheadPercent}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, info := range infos {
			_ = Build(info, fixedPrices{od: 1, spot: 0.5}, nil, o)
		}
	}
	b.ReportMetric(float64(len(infos)), "types")
}

// TestReshapeCatalogue: a catalogue type reshaped by a class with no settings of its own is
// the type unchanged (the catalogue and the provider compute capacity and overhead alike),
// and a class's kubelet settings replace its pods, its reserved resources and thresholds,
// and the kube-reserved memory that follows the pods.
func TestReshapeCatalogue(t *testing.T) {
	base := BuildOptions{VMMemoryOverheadPercent: DefaultVMMemoryOverheadPercent}
	plain := ClassOptions(&awsv1.EC2NodeClass{Spec: awsv1.EC2NodeClassSpec{AMISelectorTerms: []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}}}}, base)
	for _, it := range catalog.Default() {
		got := Reshape(it, plain)
		if !equality.Semantic.DeepEqual(got.Capacity, it.Capacity) || !equality.Semantic.DeepEqual(got.Overhead, it.Overhead) {
			t.Fatalf("%s reshaped by a plain class:\ncapacity %v\noverhead %+v\nwant %v\n%+v", it.Name, got.Capacity, got.Overhead, it.Capacity, it.Overhead)
		}
	}
	class := &awsv1.EC2NodeClass{Spec: awsv1.EC2NodeClassSpec{
		AMISelectorTerms: []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}},
		Kubelet: &awsv1.KubeletConfiguration{MaxPods: ptr.To[int32](20), PodsPerCore: ptr.To[int32](4),
			SystemReserved: map[string]string{"cpu": "100m"}, EvictionHard: map[string]string{"memory.available": "5%"}},
		BlockDeviceMappings: []*awsv1.BlockDeviceMapping{{RootVolume: true, EBS: &awsv1.BlockDevice{VolumeSize: ptr.To(resource.MustParse("100Gi"))}}},
	}}
	o := ClassOptions(class, base)
	for _, it := range catalog.Default() {
		if it.Name != "m6g.large" && it.Name != "m6g.4xlarge" {
			continue
		}
		got := Reshape(it, o)
		vcpu := it.Capacity.Cpu().Value()
		if want := min(20, 4*vcpu); got.Capacity.Pods().Value() != want {
			t.Errorf("%s: %d pods, want %d (maxPods 20, 4 per core)", it.Name, got.Capacity.Pods().Value(), want)
		}
		if q := got.Capacity[corev1.ResourceEphemeralStorage]; q.Cmp(resource.MustParse("100Gi")) != 0 {
			t.Errorf("%s: ephemeral storage %s, want the root volume's 100Gi", it.Name, q.String())
		}
		pods := got.Capacity.Pods().Value()
		if q := got.Overhead.KubeReserved[corev1.ResourceMemory]; q.Value() != (11*pods+255)<<20 {
			t.Errorf("%s: kube-reserved memory %s for %d pods", it.Name, q.String(), pods)
		}
		if q := got.Overhead.SystemReserved[corev1.ResourceCPU]; q.MilliValue() != 100 {
			t.Errorf("%s: system-reserved cpu %s, want 100m", it.Name, q.String())
		}
		if q := got.Overhead.EvictionThreshold[corev1.ResourceMemory]; q.Value() != int64(math.Ceil(float64(it.Capacity.Memory().Value())*0.05)) {
			t.Errorf("%s: memory eviction threshold %s, want 5 %% of %s", it.Name, q.String(), it.Capacity.Memory().String())
		}
		if &got.Offerings[0] != &it.Offerings[0] {
			t.Errorf("%s: offerings copied, want them shared", it.Name)
		}
	}
}

// TestLabelsFromEC2: the provider labels read from DescribeInstanceTypes (CPU maker and
// clock, network and EBS bandwidth, encryption in transit, local NVMe, GPU maker and memory,
// capability flex) are the catalogue's, which holds upstream's values.
func TestLabelsFromEC2(t *testing.T) {
	path, _ := testdata.File("ec2-catalog.json")
	its, err := catalog.Load(path, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{}
	for _, it := range its {
		want[it.Name] = it.Labels
	}
	card := func(gbps float64) ec2types.NetworkInfo {
		return ec2types.NetworkInfo{DefaultNetworkCardIndex: aws.Int32(0), MaximumNetworkInterfaces: aws.Int32(3), Ipv4AddressesPerInterface: aws.Int32(10),
			NetworkCards: []ec2types.NetworkCardInfo{{NetworkCardIndex: aws.Int32(0), MaximumNetworkInterfaces: aws.Int32(3), BaselineBandwidthInGbps: aws.Float64(gbps)}}}
	}
	for _, tc := range []struct {
		name string
		info ec2types.InstanceTypeInfo
	}{{"c5.large", ec2types.InstanceTypeInfo{
		VCpuInfo: &ec2types.VCpuInfo{DefaultVCpus: aws.Int32(2)}, MemoryInfo: &ec2types.MemoryInfo{SizeInMiB: aws.Int64(4096)},
		ProcessorInfo: &ec2types.ProcessorInfo{SupportedArchitectures: []ec2types.ArchitectureType{ec2types.ArchitectureTypeX8664}, Manufacturer: aws.String("Intel"), SustainedClockSpeedInGhz: aws.Float64(3.4)},
		EbsInfo:       &ec2types.EbsInfo{EbsOptimizedInfo: &ec2types.EbsOptimizedInfo{MaximumBandwidthInMbps: aws.Int32(4750)}},
		NetworkInfo: func() *ec2types.NetworkInfo {
			n := card(0.75)
			n.EncryptionInTransitSupported = aws.Bool(false)
			return &n
		}(),
	}}, {"g4dn.xlarge", ec2types.InstanceTypeInfo{
		VCpuInfo: &ec2types.VCpuInfo{DefaultVCpus: aws.Int32(4)}, MemoryInfo: &ec2types.MemoryInfo{SizeInMiB: aws.Int64(16384)},
		ProcessorInfo: &ec2types.ProcessorInfo{SupportedArchitectures: []ec2types.ArchitectureType{ec2types.ArchitectureTypeX8664}, Manufacturer: aws.String("Intel"), SustainedClockSpeedInGhz: aws.Float64(2.5)},
		EbsInfo:       &ec2types.EbsInfo{EbsOptimizedInfo: &ec2types.EbsOptimizedInfo{MaximumBandwidthInMbps: aws.Int32(3500)}},
		NetworkInfo:   func() *ec2types.NetworkInfo { n := card(5); n.EncryptionInTransitSupported = aws.Bool(true); return &n }(),
		GpuInfo: &ec2types.GpuInfo{Gpus: []ec2types.GpuDeviceInfo{{Manufacturer: aws.String("NVIDIA"), Name: aws.String("T4"), Count: aws.Int32(1),
			MemoryInfo: &ec2types.GpuDeviceMemoryInfo{SizeInMiB: aws.Int32(16384)}}}},
		InstanceStorageInfo: &ec2types.InstanceStorageInfo{TotalSizeInGB: aws.Int64(125), NvmeSupport: ec2types.EphemeralNvmeSupportRequired},
	}}} {
		tc.info.InstanceType = ec2types.InstanceType(tc.name)
		info, ok := infoFromEC2(tc.info)
		if !ok {
			t.Fatalf("%s: not read", tc.name)
		}
		got := Labels(info)
		for _, key := range []string{catalog.LabelInstanceCPUManufacturer, catalog.LabelInstanceCPUSustainedClockSpeedMhz,
			catalog.LabelInstanceNetworkBandwidth, catalog.LabelInstanceEBSBandwidth, catalog.LabelInstanceEncryptionInTransitSupported,
			catalog.LabelInstanceLocalNVMe, catalog.LabelInstanceGPUManufacturer, catalog.LabelInstanceGPUMemory, catalog.LabelInstanceCapabilityFlex} {
			if got[key] != want[tc.name][key] {
				t.Errorf("%s: %s = %q, catalogue %q", tc.name, key, got[key], want[tc.name][key])
			}
		}
	}
}
