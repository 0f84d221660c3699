package aws

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
)

// Capacity types.
const (
	CapacityTypeOnDemand = catalog.CapacityTypeOnDemand
	CapacityTypeSpot     = catalog.CapacityTypeSpot
)

// Constants of the capacity and overhead rule (../shared/data/CATALOG.md).
const (
	defaultPods           = 110
	defaultEphemeralBytes = 20 << 30
	kubeReservedEphemeral = 1 << 30
	evictionMemoryBytes   = 100 << 20
	evictionNodefsPercent = 10
	mebibyte              = 1 << 20
	spotPriceFraction     = 0.4
)

// TypeInfo is what the provider knows of one instance type, from DescribeInstanceTypes.
type TypeInfo struct {
	Name       string
	VCPU       int64
	MemoryMiB  int64
	Arch       string // amd64 or arm64
	NvidiaGPUs int64
	GPUName    string
	MaxENI     int64
	IPv4PerENI int64
	Hypervisor string
	UsageSpot  bool
	UsageOD    bool
	BareMetal  bool
	// InstanceStorageGB is the total local NVMe/SSD storage (0: none).
	InstanceStorageGB int64
	// LocalNVMe: the instance storage is NVMe.
	LocalNVMe   bool
	Zones       []string
	OnDemandUSD float64
	// The facts of the provider labels (0, "" or nil: unknown, no label).
	CPUManufacturer      string // lower case: intel, amd, aws
	SustainedClockMHz    int64
	NetworkBandwidthMbps int64 // the default network card's baseline
	EBSBandwidthMbps     int64 // the EBS-optimised maximum
	EncryptionInTransit  *bool
	GPUManufacturer      string // of the NVIDIA GPUs counted in NvidiaGPUs
	GPUMemoryMiB         int64  // of one of them
}

// infoFromEC2 reads one DescribeInstanceTypes entry; ok is false for types Karpenter cannot
// use (no vCPU or memory figure, or an architecture other than x86_64/arm64).
func infoFromEC2(it ec2types.InstanceTypeInfo) (TypeInfo, bool) {
	info := TypeInfo{Name: string(it.InstanceType), BareMetal: aws.ToBool(it.BareMetal), Hypervisor: string(it.Hypervisor)}
	if it.VCpuInfo == nil || it.MemoryInfo == nil || aws.ToInt32(it.VCpuInfo.DefaultVCpus) <= 0 || aws.ToInt64(it.MemoryInfo.SizeInMiB) <= 0 {
		return info, false
	}
	info.VCPU = int64(aws.ToInt32(it.VCpuInfo.DefaultVCpus))
	info.MemoryMiB = aws.ToInt64(it.MemoryInfo.SizeInMiB)
	if it.ProcessorInfo != nil {
		for _, a := range it.ProcessorInfo.SupportedArchitectures {
			switch a {
			case ec2types.ArchitectureTypeX8664:
				info.Arch = "amd64"
			case ec2types.ArchitectureTypeArm64:
				info.Arch = "arm64"
			}
			if info.Arch != "" {
				break
			}
		}
	}
	if info.Arch == "" {
		return info, false
	}
	if p := it.ProcessorInfo; p != nil {
		info.CPUManufacturer = strings.ToLower(aws.ToString(p.Manufacturer))
		info.SustainedClockMHz = int64(math.Round(aws.ToFloat64(p.SustainedClockSpeedInGhz) * 1000))
	}
	if it.EbsInfo != nil && it.EbsInfo.EbsOptimizedInfo != nil {
		info.EBSBandwidthMbps = int64(aws.ToInt32(it.EbsInfo.EbsOptimizedInfo.MaximumBandwidthInMbps))
	}
	if it.GpuInfo != nil {
		for _, g := range it.GpuInfo.Gpus {
			if strings.EqualFold(aws.ToString(g.Manufacturer), "nvidia") {
				info.NvidiaGPUs += int64(aws.ToInt32(g.Count))
				info.GPUName = strings.ToLower(aws.ToString(g.Name))
				info.GPUManufacturer = "nvidia"
				if g.MemoryInfo != nil {
					info.GPUMemoryMiB = int64(aws.ToInt32(g.MemoryInfo.SizeInMiB))
				}
			}
		}
	}
	if it.InstanceStorageInfo != nil {
		info.InstanceStorageGB = aws.ToInt64(it.InstanceStorageInfo.TotalSizeInGB)
		info.LocalNVMe = it.InstanceStorageInfo.NvmeSupport != "" && it.InstanceStorageInfo.NvmeSupport != ec2types.EphemeralNvmeSupportUnsupported
	}
	if it.NetworkInfo != nil {
		info.MaxENI = int64(aws.ToInt32(it.NetworkInfo.MaximumNetworkInterfaces))
		// Pods use the ENIs of the default network card only.
		def := aws.ToInt32(it.NetworkInfo.DefaultNetworkCardIndex)
		for _, card := range it.NetworkInfo.NetworkCards {
			if aws.ToInt32(card.NetworkCardIndex) == def && aws.ToInt32(card.MaximumNetworkInterfaces) > 0 {
				info.MaxENI = int64(aws.ToInt32(card.MaximumNetworkInterfaces))
			}
		}
		info.IPv4PerENI = int64(aws.ToInt32(it.NetworkInfo.Ipv4AddressesPerInterface))
		info.EncryptionInTransit = it.NetworkInfo.EncryptionInTransitSupported
		for _, card := range it.NetworkInfo.NetworkCards {
			if aws.ToInt32(card.NetworkCardIndex) == def && card.BaselineBandwidthInGbps != nil {
				info.NetworkBandwidthMbps = int64(math.Round(*card.BaselineBandwidthInGbps * 1000))
			}
		}
	}
	for _, uc := range it.SupportedUsageClasses {
		switch uc {
		case ec2types.UsageClassTypeSpot:
			info.UsageSpot = true
		case ec2types.UsageClassTypeOnDemand:
			info.UsageOD = true
		}
	}
	return info, true
}

// describeTypes reads every instance type and the zones each is offered in.
func describeTypes(ctx context.Context, api EC2API) (map[string]*TypeInfo, error) {
	infos := map[string]*TypeInfo{}
	in := &ec2.DescribeInstanceTypesInput{}
	for {
		out, err := api.DescribeInstanceTypes(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describing instance types: %w", err)
		}
		for _, it := range out.InstanceTypes {
			if info, ok := infoFromEC2(it); ok {
				infos[info.Name] = &info
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	oin := &ec2.DescribeInstanceTypeOfferingsInput{LocationType: ec2types.LocationTypeAvailabilityZone}
	for {
		out, err := api.DescribeInstanceTypeOfferings(ctx, oin)
		if err != nil {
			return nil, fmt.Errorf("describing instance type offerings: %w", err)
		}
		for _, o := range out.InstanceTypeOfferings {
			if info := infos[string(o.InstanceType)]; info != nil {
				info.Zones = append(info.Zones, aws.ToString(o.Location))
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		oin.NextToken = out.NextToken
	}
	for _, info := range infos {
		sort.Strings(info.Zones)
	}
	return infos, nil
}

// ENILimitedPods is the max pods the VPC CNI allows without prefix delegation:
// (ENIs - reserved) × (IPv4 addresses per ENI - 1) + 2; 110 when the figures are unknown.
func ENILimitedPods(maxENI, ipv4PerENI int64, reservedENIs int) int64 {
	if maxENI <= 0 || ipv4PerENI <= 0 {
		return defaultPods
	}
	enis := maxENI - int64(reservedENIs)
	if enis <= 0 {
		return 2
	}
	return enis*(ipv4PerENI-1) + 2
}

// BuildOptions are the settings and class fields that shape capacity and overhead.
type BuildOptions struct {
	VMMemoryOverheadPercent float64
	ReservedENIs            int
	Kubelet                 *awsv1.KubeletConfiguration
	// EphemeralBytes is the root volume size; 0 means 20Gi.
	EphemeralBytes int64
	// InstanceStoreRAID0: the kubelet's storage is the RAID-0 of the instance-store disks
	// (instanceStorePolicy RAID0), so a type with such disks has their size as ephemeral storage.
	InstanceStoreRAID0 bool
	// Region, when set, is the topology.kubernetes.io/region label of every type built.
	Region string
}

// Pods is the max pods of a type under the class's kubelet settings: maxPods when set,
// else ENI-limited; then capped by podsPerCore × vCPUs when set.
func Pods(info TypeInfo, o BuildOptions) int64 {
	return kubeletPods(ENILimitedPods(info.MaxENI, info.IPv4PerENI, o.ReservedENIs), info.VCPU, o.Kubelet)
}

// kubeletPods is the max pods of a type of vcpu cores whose network allows pods, under the
// kubelet settings k (nil: none).
func kubeletPods(pods, vcpu int64, k *awsv1.KubeletConfiguration) int64 {
	if k != nil && k.MaxPods != nil {
		pods = int64(*k.MaxPods)
	}
	if k != nil && k.PodsPerCore != nil && *k.PodsPerCore > 0 {
		pods = min(pods, int64(*k.PodsPerCore)*vcpu)
	}
	return pods
}

// Reshape returns a catalogue type (whose pods figure is already its ENI limit) as a class's
// settings make it: its pods replaced or capped by the kubelet's maxPods and podsPerCore,
// the root volume's size as its ephemeral storage, and its overhead recomputed from those
// (kube-reserved memory grows with pods), the kubelet's reserved resources and eviction
// thresholds. Labels and offerings stay shared with it. Instance-store RAID0 is not applied:
// a catalogue does not say how much local storage a type has.
func Reshape(it *cloudprovider.InstanceType, o BuildOptions) *cloudprovider.InstanceType {
	info := TypeInfo{Name: it.Name, VCPU: it.Capacity.Cpu().Value(), MemoryMiB: it.Capacity.Memory().Value() / mebibyte}
	capacity := it.Capacity.DeepCopy()
	capacity[corev1.ResourcePods] = *resource.NewQuantity(kubeletPods(it.Capacity.Pods().Value(), info.VCPU, o.Kubelet), resource.DecimalSI)
	if o.EphemeralBytes > 0 {
		capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(o.EphemeralBytes, resource.BinarySI)
	}
	c := *it
	c.Capacity, c.Overhead = capacity, Overhead(info, capacity, o)
	return &c
}

// Capacity of a type (CATALOG.md), with the pods the kubelet settings allow.
func Capacity(info TypeInfo, o BuildOptions) corev1.ResourceList {
	eph := o.EphemeralBytes
	if eph <= 0 {
		eph = defaultEphemeralBytes
	}
	if o.InstanceStoreRAID0 && info.InstanceStorageGB > 0 {
		eph = info.InstanceStorageGB * 1000 * 1000 * 1000
	}
	c := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(info.VCPU*1000, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(info.MemoryMiB*mebibyte, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(Pods(info, o), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(eph, resource.BinarySI),
	}
	if info.NvidiaGPUs > 0 {
		c[catalog.ResourceNvidiaGPU] = *resource.NewQuantity(info.NvidiaGPUs, resource.DecimalSI)
	}
	return c
}

// Overhead of a type (CATALOG.md): VM memory overhead, kube-reserved (replaced key by key by
// kubelet.kubeReserved), system-reserved (kubelet.systemReserved) and the eviction threshold
// (the larger of evictionHard and evictionSoft per signal; default memory 100Mi, nodefs 10 %).
func Overhead(info TypeInfo, capacity corev1.ResourceList, o BuildOptions) cloudprovider.Overhead {
	pct := o.VMMemoryOverheadPercent
	vmMiB := int64(math.Ceil(float64(info.MemoryMiB) * pct))
	pods := capacity.Pods().Value()
	kube := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(catalog.KubeReservedMilliCPU(info.VCPU), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity((11*pods+255)*mebibyte, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(kubeReservedEphemeral, resource.BinarySI),
	}
	system := corev1.ResourceList{}
	eviction := corev1.ResourceList{
		corev1.ResourceMemory:           *resource.NewQuantity(evictionMemoryBytes, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(capacity.StorageEphemeral().Value()*evictionNodefsPercent/100, resource.BinarySI),
	}
	if k := o.Kubelet; k != nil {
		overlay(kube, k.KubeReserved)
		overlay(system, k.SystemReserved)
		if len(k.EvictionHard) > 0 || len(k.EvictionSoft) > 0 {
			for signal, res := range map[string]corev1.ResourceName{"memory.available": corev1.ResourceMemory, "nodefs.available": corev1.ResourceEphemeralStorage} {
				hard, okH := threshold(k.EvictionHard[signal], capacity[res])
				soft, okS := threshold(k.EvictionSoft[signal], capacity[res])
				if okH || okS {
					v := max(hard, soft)
					eviction[res] = *resource.NewQuantity(v, resource.BinarySI)
				}
			}
		}
	}
	return cloudprovider.Overhead{
		VM:                corev1.ResourceList{corev1.ResourceMemory: *resource.NewQuantity(vmMiB*mebibyte, resource.BinarySI)},
		KubeReserved:      kube,
		SystemReserved:    system,
		EvictionThreshold: eviction,
	}
}

// overlay sets each cpu/memory/ephemeral-storage quantity of m into l (pid is not a resource).
func overlay(l corev1.ResourceList, m map[string]string) {
	for k, v := range m {
		if k == "pid" {
			continue
		}
		if q, err := resource.ParseQuantity(v); err == nil {
			l[corev1.ResourceName(k)] = q
		}
	}
}

// threshold reads an eviction threshold: a percentage of capacity or a quantity.
func threshold(v string, capacity resource.Quantity) (int64, bool) {
	if v == "" {
		return 0, false
	}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return 0, false
		}
		return int64(math.Ceil(float64(capacity.Value()) * f / 100)), true
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return 0, false
	}
	return q.Value(), true
}

var familyRE = regexp.MustCompile(`^([a-z]+)([0-9]+)`)

// Labels of a type (CATALOG.md).
func Labels(info TypeInfo) map[string]string {
	family, size, _ := strings.Cut(info.Name, ".")
	l := map[string]string{
		corev1.LabelInstanceTypeStable:  info.Name,
		corev1.LabelArchStable:          info.Arch,
		corev1.LabelOSStable:            "linux",
		catalog.LabelInstanceFamily:     family,
		catalog.LabelInstanceSize:       size,
		catalog.LabelInstanceCPU:        strconv.FormatInt(info.VCPU, 10),
		catalog.LabelInstanceMemory:     strconv.FormatInt(info.MemoryMiB, 10),
		catalog.LabelInstanceHypervisor: info.Hypervisor,
	}
	if m := familyRE.FindStringSubmatch(family); m != nil {
		l[catalog.LabelInstanceCategory] = m[1]
		l[catalog.LabelInstanceGeneration] = m[2]
	}
	if info.Hypervisor == "" {
		delete(l, catalog.LabelInstanceHypervisor)
	}
	if info.NvidiaGPUs > 0 {
		l[catalog.LabelInstanceGPUCount] = strconv.FormatInt(info.NvidiaGPUs, 10)
		if info.GPUName != "" {
			l[catalog.LabelInstanceGPUName] = info.GPUName
		}
		if info.GPUManufacturer != "" {
			l[catalog.LabelInstanceGPUManufacturer] = info.GPUManufacturer
		}
		if info.GPUMemoryMiB > 0 {
			l[catalog.LabelInstanceGPUMemory] = strconv.FormatInt(info.GPUMemoryMiB, 10)
		}
	}
	if info.CPUManufacturer != "" {
		l[catalog.LabelInstanceCPUManufacturer] = info.CPUManufacturer
	}
	for key, v := range map[string]int64{
		catalog.LabelInstanceCPUSustainedClockSpeedMhz: info.SustainedClockMHz,
		catalog.LabelInstanceNetworkBandwidth:          info.NetworkBandwidthMbps,
		catalog.LabelInstanceEBSBandwidth:              info.EBSBandwidthMbps,
	} {
		if v > 0 {
			l[key] = strconv.FormatInt(v, 10)
		}
	}
	if info.LocalNVMe && info.InstanceStorageGB > 0 {
		l[catalog.LabelInstanceLocalNVMe] = strconv.FormatInt(info.InstanceStorageGB, 10)
	}
	if info.EncryptionInTransit != nil {
		l[catalog.LabelInstanceEncryptionInTransitSupported] = strconv.FormatBool(*info.EncryptionInTransit)
	}
	l[catalog.LabelInstanceCapabilityFlex] = strconv.FormatBool(strings.HasSuffix(family, "-flex"))
	return l
}

// Prices give the offering prices; ok false means unknown.
type Prices interface {
	OnDemand(instanceType string) (float64, bool)
	Spot(instanceType, zone string) (float64, bool)
}

// Build turns one type into a cloudprovider.InstanceType with offerings in zones (the
// class's subnet zones; nil means every zone of the type). It returns nil for a type
// without an on-demand price or without an offering.
func Build(info TypeInfo, prices Prices, zones map[string]bool, o BuildOptions) *cloudprovider.InstanceType {
	od, ok := prices.OnDemand(info.Name)
	if !ok || od <= 0 {
		return nil
	}
	var offerings []cloudprovider.Offering
	for _, z := range info.Zones {
		if zones != nil && !zones[z] {
			continue
		}
		if info.UsageOD {
			offerings = append(offerings, cloudprovider.Offering{Zone: z, CapacityType: CapacityTypeOnDemand, PricePerHour: od, Available: true})
		}
		if info.UsageSpot {
			sp, ok := prices.Spot(info.Name, z)
			if !ok || sp <= 0 {
				sp = spotPriceFraction * od
			}
			offerings = append(offerings, cloudprovider.Offering{Zone: z, CapacityType: CapacityTypeSpot, PricePerHour: sp, Available: true})
		}
	}
	if len(offerings) == 0 {
		return nil
	}
	capacity := Capacity(info, o)
	labels := Labels(info)
	if o.Region != "" {
		labels[corev1.LabelTopologyRegion] = o.Region
	}
	return &cloudprovider.InstanceType{
		Name: info.Name, Labels: labels, Capacity: capacity,
		Overhead: Overhead(info, capacity, o), Offerings: offerings,
	}
}
