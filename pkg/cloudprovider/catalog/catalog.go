package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// DefaultRegion is the region used when none is given.
const DefaultRegion = "us-east-1"

// Provider labels a node of an EC2 instance type carries (single-valued per type).
const (
	LabelInstanceFamily     = "karpenter.k8s.aws/instance-family"
	LabelInstanceCategory   = "karpenter.k8s.aws/instance-category"
	LabelInstanceGeneration = "karpenter.k8s.aws/instance-generation"
	LabelInstanceSize       = "karpenter.k8s.aws/instance-size"
	LabelInstanceCPU        = "karpenter.k8s.aws/instance-cpu"
	LabelInstanceMemory     = "karpenter.k8s.aws/instance-memory"
	LabelInstanceGPUCount   = "karpenter.k8s.aws/instance-gpu-count"
	LabelInstanceGPUName    = "karpenter.k8s.aws/instance-gpu-name"
	LabelInstanceHypervisor = "karpenter.k8s.aws/instance-hypervisor"

	LabelInstanceCPUManufacturer              = "karpenter.k8s.aws/instance-cpu-manufacturer"
	LabelInstanceCPUSustainedClockSpeedMhz    = "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz"
	LabelInstanceNetworkBandwidth             = "karpenter.k8s.aws/instance-network-bandwidth"
	LabelInstanceEBSBandwidth                 = "karpenter.k8s.aws/instance-ebs-bandwidth"
	LabelInstanceEncryptionInTransitSupported = "karpenter.k8s.aws/instance-encryption-in-transit-supported"
	LabelInstanceCapabilityFlex               = "karpenter.k8s.aws/instance-capability-flex"
	LabelInstanceLocalNVMe                    = "karpenter.k8s.aws/instance-local-nvme"
	LabelInstanceGPUManufacturer              = "karpenter.k8s.aws/instance-gpu-manufacturer"
	LabelInstanceGPUMemory                    = "karpenter.k8s.aws/instance-gpu-memory"
	LabelInstanceAcceleratorName              = "karpenter.k8s.aws/instance-accelerator-name"
	LabelInstanceAcceleratorManufacturer      = "karpenter.k8s.aws/instance-accelerator-manufacturer"
	LabelInstanceAcceleratorCount             = "karpenter.k8s.aws/instance-accelerator-count"
)

// LabelDomain is the domain of the provider labels above (cloudprovider.IsInstanceTypeLabel).
const LabelDomain = cloudprovider.InstanceTypeLabelDomain

// ResourceNvidiaGPU is the extended resource NVIDIA GPUs are requested as.
const ResourceNvidiaGPU corev1.ResourceName = "nvidia.com/gpu"

// Capacity types an offering can have (the karpenter.sh/capacity-type values this package
// produces). Other usage classes in a file, such as capacity-block, are ignored.
const (
	CapacityTypeOnDemand = "on-demand"
	CapacityTypeSpot     = "spot"
)

// Constants of the rule in CATALOG.md.
const (
	defaultPods             = 110
	spotPriceFraction       = 0.4
	ephemeralStorageBytes   = 20 << 30
	kubeReservedEphemeral   = 1 << 30
	evictionMemoryBytes     = 100 << 20
	evictionNodefsPercent   = 10
	vmMemoryOverheadPerMill = 75 // 7.5 %
	mebibyte                = 1 << 20
)

// ErrNoInstanceTypes is returned when a catalogue holds no instanceTypes list at all.
var ErrNoInstanceTypes = errors.New("no instanceTypes list")

// file is the top level of an ec2-catalog.json file; only the fields the rule needs.
type file struct {
	InstanceTypes *[]record `json:"instanceTypes"`
}

// record is one instance type of an ec2-catalog.json file. Pointer fields may be null.
type record struct {
	Name                  string                        `json:"name"`
	Family                string                        `json:"family"`
	Category              *string                       `json:"category"`
	Generation            *int                          `json:"generation"`
	Size                  string                        `json:"size"`
	VCPU                  *int64                        `json:"vcpu"`
	MemoryMiB             *int64                        `json:"memoryMiB"`
	Arch                  *string                       `json:"arch"`
	GPUs                  int64                         `json:"gpus"`
	GPUName               string                        `json:"gpuName"`
	GPUManufacturer       string                        `json:"gpuManufacturer"`
	MaxPodsENILimited     *int64                        `json:"maxPodsENILimited"`
	Hypervisor            *string                       `json:"hypervisor"`
	CPUManufacturer       *string                       `json:"cpuManufacturer"`
	CPUSustainedClockMHz  *int64                        `json:"cpuSustainedClockMHz"`
	NetworkBandwidthMbps  *int64                        `json:"networkBandwidthMbps"`
	EBSBandwidthMbps      *int64                        `json:"ebsBandwidthMbps"`
	EncryptionInTransit   *bool                         `json:"encryptionInTransit"`
	CapabilityFlex        *bool                         `json:"capabilityFlex"`
	LocalNVMeGB           *int64                        `json:"localNVMeGB"`
	GPUMemoryMiB          int64                         `json:"gpuMemoryMiB"`
	Accelerators          int64                         `json:"accelerators"`
	AcceleratorName       string                        `json:"acceleratorName"`
	AcceleratorMaker      string                        `json:"acceleratorManufacturer"`
	SupportedUsageClasses []string                      `json:"supportedUsageClasses"`
	Zones                 map[string][]string           `json:"zones"`
	OnDemandPriceUSD      map[string]*float64           `json:"onDemandPriceUSD"`
	SpotPriceUSD          map[string]map[string]float64 `json:"spotPriceUSD"`
}

// Load reads an ec2-catalog.json file and returns its instance types in region (DefaultRegion
// when empty), sorted by name. See Parse for the rule.
func Load(path, region string) ([]*cloudprovider.InstanceType, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading catalogue: %w", err)
	}
	defer func() { _ = f.Close() }()
	its, err := Parse(f, region)
	if err != nil {
		return nil, fmt.Errorf("reading catalogue %s: %w", path, err)
	}
	return its, nil
}

// Parse reads the ec2-catalog.json format from r and applies the catalogue rule for region
// (DefaultRegion when empty). Types without vcpu, memory, arch or an on-demand price in the
// region are skipped, and so are types with no zone or no on-demand/spot usage class in the
// region, since they have no offering to launch. The result is sorted by name.
func Parse(r io.Reader, region string) ([]*cloudprovider.InstanceType, error) {
	if region == "" {
		region = DefaultRegion
	}
	var f file
	if err := json.NewDecoder(r).Decode(&f); err != nil {
		return nil, fmt.Errorf("decoding catalogue: %w", err)
	}
	if f.InstanceTypes == nil {
		return nil, fmt.Errorf("decoding catalogue: %w", ErrNoInstanceTypes)
	}
	return build(*f.InstanceTypes, region)
}

// build applies the rule to every record, skipping the ones the rule skips.
func build(records []record, region string) ([]*cloudprovider.InstanceType, error) {
	seen := make(map[string]bool, len(records))
	its := make([]*cloudprovider.InstanceType, 0, len(records))
	for i := range records {
		rec := &records[i]
		if rec.Name == "" {
			return nil, fmt.Errorf("checking instance type %d: no name", i)
		}
		if seen[rec.Name] {
			return nil, fmt.Errorf("checking instance type %s: listed twice", rec.Name)
		}
		seen[rec.Name] = true
		it, err := rec.instanceType(region)
		if err != nil {
			return nil, fmt.Errorf("checking instance type %s: %w", rec.Name, err)
		}
		if it != nil {
			its = append(its, it)
		}
	}
	sort.Slice(its, func(i, j int) bool { return its[i].Name < its[j].Name })
	return its, nil
}

// instanceType applies the rule to one record. It returns nil (and no error) for a record
// the rule skips.
func (rec *record) instanceType(region string) (*cloudprovider.InstanceType, error) {
	price := rec.OnDemandPriceUSD[region]
	if rec.VCPU == nil || rec.MemoryMiB == nil || rec.Arch == nil || price == nil {
		return nil, nil
	}
	switch {
	case *rec.VCPU <= 0:
		return nil, fmt.Errorf("vcpu %d is not positive", *rec.VCPU)
	case *rec.MemoryMiB <= 0:
		return nil, fmt.Errorf("memoryMiB %d is not positive", *rec.MemoryMiB)
	case *price < 0 || math.IsNaN(*price):
		return nil, fmt.Errorf("on-demand price %v in %s is negative", *price, region)
	case rec.MaxPodsENILimited != nil && *rec.MaxPodsENILimited <= 0:
		return nil, fmt.Errorf("maxPodsENILimited %d is not positive", *rec.MaxPodsENILimited)
	}
	offerings := rec.offerings(region, *price)
	if len(offerings) == 0 {
		return nil, nil
	}
	pods := int64(defaultPods)
	if rec.MaxPodsENILimited != nil {
		pods = *rec.MaxPodsENILimited
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(*rec.VCPU*1000, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(*rec.MemoryMiB*mebibyte, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(pods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(ephemeralStorageBytes, resource.BinarySI),
	}
	if rec.GPUs > 0 && rec.GPUManufacturer == "nvidia" {
		capacity[ResourceNvidiaGPU] = *resource.NewQuantity(rec.GPUs, resource.DecimalSI)
	}
	labels := rec.labels()
	labels[corev1.LabelTopologyRegion] = region
	return &cloudprovider.InstanceType{
		Name:      rec.Name,
		Labels:    labels,
		Capacity:  capacity,
		Overhead:  overhead(*rec.VCPU, *rec.MemoryMiB, pods),
		Offerings: offerings,
	}, nil
}

// offerings lists zone × capacity type, zones in file order, on-demand before spot.
func (rec *record) offerings(region string, onDemand float64) []cloudprovider.Offering {
	var capacityTypes []string
	for _, ct := range []string{CapacityTypeOnDemand, CapacityTypeSpot} {
		for _, uc := range rec.SupportedUsageClasses {
			if uc == ct {
				capacityTypes = append(capacityTypes, ct)
				break
			}
		}
	}
	var offerings []cloudprovider.Offering
	for _, zone := range rec.Zones[region] {
		for _, ct := range capacityTypes {
			price := onDemand
			if ct == CapacityTypeSpot {
				spot, ok := rec.SpotPriceUSD[region][zone]
				if !ok {
					spot = spotPriceFraction * onDemand
				}
				price = spot
			}
			offerings = append(offerings, cloudprovider.Offering{
				Zone: zone, CapacityType: ct, PricePerHour: price, Available: true,
			})
		}
	}
	return offerings
}

// labels are the single-valued labels of the type; zone and capacity type vary per offering.
func (rec *record) labels() map[string]string {
	labels := map[string]string{
		corev1.LabelInstanceTypeStable: rec.Name,
		corev1.LabelArchStable:         *rec.Arch,
		corev1.LabelOSStable:           "linux",
		LabelInstanceFamily:            rec.Family,
		LabelInstanceSize:              rec.Size,
		LabelInstanceCPU:               strconv.FormatInt(*rec.VCPU, 10),
		LabelInstanceMemory:            strconv.FormatInt(*rec.MemoryMiB, 10),
	}
	if rec.Category != nil {
		labels[LabelInstanceCategory] = *rec.Category
	}
	if rec.Generation != nil {
		labels[LabelInstanceGeneration] = strconv.Itoa(*rec.Generation)
	}
	if rec.Hypervisor != nil {
		labels[LabelInstanceHypervisor] = *rec.Hypervisor
	}
	if rec.GPUs > 0 {
		labels[LabelInstanceGPUCount] = strconv.FormatInt(rec.GPUs, 10)
		if rec.GPUName != "" {
			labels[LabelInstanceGPUName] = rec.GPUName
		}
		if rec.GPUManufacturer != "" {
			labels[LabelInstanceGPUManufacturer] = rec.GPUManufacturer
		}
		if rec.GPUMemoryMiB > 0 {
			labels[LabelInstanceGPUMemory] = strconv.FormatInt(rec.GPUMemoryMiB, 10)
		}
	}
	if rec.Accelerators > 0 {
		labels[LabelInstanceAcceleratorCount] = strconv.FormatInt(rec.Accelerators, 10)
		if rec.AcceleratorName != "" {
			labels[LabelInstanceAcceleratorName] = rec.AcceleratorName
		}
		if rec.AcceleratorMaker != "" {
			labels[LabelInstanceAcceleratorManufacturer] = rec.AcceleratorMaker
		}
	}
	if rec.CPUManufacturer != nil && *rec.CPUManufacturer != "" {
		labels[LabelInstanceCPUManufacturer] = *rec.CPUManufacturer
	}
	for key, v := range map[string]*int64{
		LabelInstanceCPUSustainedClockSpeedMhz: rec.CPUSustainedClockMHz,
		LabelInstanceNetworkBandwidth:          rec.NetworkBandwidthMbps,
		LabelInstanceEBSBandwidth:              rec.EBSBandwidthMbps,
		LabelInstanceLocalNVMe:                 rec.LocalNVMeGB,
	} {
		if v != nil && *v > 0 {
			labels[key] = strconv.FormatInt(*v, 10)
		}
	}
	for key, v := range map[string]*bool{
		LabelInstanceEncryptionInTransitSupported: rec.EncryptionInTransit,
		LabelInstanceCapabilityFlex:               rec.CapabilityFlex,
	} {
		if v != nil {
			labels[key] = strconv.FormatBool(*v)
		}
	}
	return labels
}

// overhead is what a node of the shape keeps away from pods, as Karpenter computes it for AWS.
func overhead(vcpu, memoryMiB, pods int64) cloudprovider.Overhead {
	vmMiB := (memoryMiB*vmMemoryOverheadPerMill + 999) / 1000 // 7.5 %, rounded up
	return cloudprovider.Overhead{
		VM: corev1.ResourceList{
			corev1.ResourceMemory: *resource.NewQuantity(vmMiB*mebibyte, resource.BinarySI),
		},
		KubeReserved: corev1.ResourceList{
			corev1.ResourceCPU:              *resource.NewMilliQuantity(KubeReservedMilliCPU(vcpu), resource.DecimalSI),
			corev1.ResourceMemory:           *resource.NewQuantity((11*pods+255)*mebibyte, resource.BinarySI),
			corev1.ResourceEphemeralStorage: *resource.NewQuantity(kubeReservedEphemeral, resource.BinarySI),
		},
		SystemReserved: corev1.ResourceList{},
		EvictionThreshold: corev1.ResourceList{
			corev1.ResourceMemory:           *resource.NewQuantity(evictionMemoryBytes, resource.BinarySI),
			corev1.ResourceEphemeralStorage: *resource.NewQuantity(ephemeralStorageBytes*evictionNodefsPercent/100, resource.BinarySI),
		},
	}
}

// KubeReservedMilliCPU is the kubelet's CPU reservation for a machine with vcpu cores: 6 % of
// the first core, 1 % of the second, 0.5 % of the third and fourth, 0.25 % of every core
// above four. Each band is truncated to whole millicores on its own, as Karpenter does.
func KubeReservedMilliCPU(vcpu int64) int64 {
	milli := vcpu * 1000
	bands := []struct{ start, end, perTenThousand int64 }{
		{0, 1000, 600},
		{1000, 2000, 100},
		{2000, 4000, 50},
		{4000, math.MaxInt64, 25},
	}
	var reserved int64
	for _, b := range bands {
		if milli <= b.start {
			break
		}
		width := min(milli, b.end) - b.start
		reserved += width * b.perTenThousand / 10000
	}
	return reserved
}
