package catalog

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// DefaultZones are the zones of the built-in catalogue, all in DefaultRegion.
func DefaultZones() []string { return []string{"us-east-1a", "us-east-1b", "us-east-1c"} }

// Default is the built-in catalogue: 164 real EC2 shapes (general purpose, compute and memory
// optimised on Intel and Graviton, burstable, NVIDIA GPU) with their us-east-1 Linux on-demand
// prices, offered on-demand and spot in DefaultZones, built through the same rule as Load.
// Every call returns fresh values the caller may change.
func Default() []*cloudprovider.InstanceType {
	its, err := build(defaultRecords(), DefaultRegion)
	if err != nil {
		// The table is a compile-time constant; a test proves it builds.
		panic(fmt.Sprintf("building the default catalogue: %v", err))
	}
	return its
}

// family is one row of the hand-curated table. Unless a size lists its own numbers, a size's
// vCPUs follow from its name (medium 1, large 2, xlarge 4, Nxlarge 4N), memory is
// gibPerVCPU × vCPUs, and the price is pricePerVCPU × vCPUs (EC2 prices sizes linearly
// within these families).
type family struct {
	name         string
	arch         string
	hypervisor   string
	gibPerVCPU   int64
	pricePerVCPU float64
	gpuName      string
	sizes        []size
}

// size is one size of a family. Zero fields follow the family's rules, maxPods podsOfVCPU.
type size struct {
	name      string
	maxPods   int64
	vcpu      int64
	memoryMiB int64
	price     float64
	gpus      int64
}

// ladder lists sizes whose numbers all follow from their names.
func ladder(names ...string) []size {
	sizes := make([]size, 0, len(names))
	for _, n := range names {
		sizes = append(sizes, size{name: n})
	}
	return sizes
}

// podsOfVCPU is the ENI-limited pod count, maxENI × (IPv4 per ENI − 1) + 2, of the nitro
// sizes of the general purpose, compute and memory families in the table.
func podsOfVCPU(vcpu int64) int64 {
	switch {
	case vcpu <= 1:
		return 8 // 2 ENIs × 4 addresses
	case vcpu == 2:
		return 29 // 3 × 10
	case vcpu <= 8:
		return 58 // 4 × 15
	case vcpu <= 48:
		return 234 // 8 × 30
	default:
		return 737 // 15 × 50
	}
}

// with returns a copy of sizes where the non-zero fields of each exception replace those of
// the size of the same name: AWS rounds a few prices, and a few ENI limits differ.
func with(sizes []size, exceptions ...size) []size {
	out := append([]size(nil), sizes...)
	for _, e := range exceptions {
		for i := range out {
			if out[i].name != e.name {
				continue
			}
			if e.maxPods != 0 {
				out[i].maxPods = e.maxPods
			}
			if e.price != 0 {
				out[i].price = e.price
			}
		}
	}
	return out
}

// burstable lists a T family: nano to 2xlarge, priced per half GiB of memory from nano.
func burstable(nanoPrice float64) []size {
	gib := []struct {
		name    string
		vcpu    int64
		halfGiB int64
		pods    int64
	}{
		{"nano", 2, 1, 4}, {"micro", 2, 2, 4}, {"small", 2, 4, 11}, {"medium", 2, 8, 17},
		{"large", 2, 16, 35}, {"xlarge", 4, 32, 58}, {"2xlarge", 8, 64, 58},
	}
	sizes := make([]size, 0, len(gib))
	for _, g := range gib {
		sizes = append(sizes, size{name: g.name, maxPods: g.pods, vcpu: g.vcpu,
			memoryMiB: g.halfGiB * 512, price: nanoPrice * float64(g.halfGiB)})
	}
	return sizes
}

// defaultFamilies is the hand-curated table (us-east-1 Linux on-demand, USD per hour).
func defaultFamilies() []family {
	intel5 := ladder("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
	intel6 := append(ladder("32xlarge"), intel5...)
	intel7 := append(ladder("48xlarge"), intel5...)
	c5 := ladder("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge")
	graviton := ladder("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
	return []family{
		// General purpose: 4 GiB per vCPU.
		{"m5", "amd64", "nitro", 4, 0.048, "", intel5},
		{"m6i", "amd64", "nitro", 4, 0.048, "", intel6},
		{"m7i", "amd64", "nitro", 4, 0.0504, "", intel7},
		{"m6g", "arm64", "nitro", 4, 0.0385, "", graviton},
		{"m7g", "arm64", "nitro", 4, 0.0408, "", graviton},
		// Compute optimised: 2 GiB per vCPU.
		{"c5", "amd64", "nitro", 2, 0.0425, "", c5},
		{"c6i", "amd64", "nitro", 2, 0.0425, "", intel6},
		{"c7i", "amd64", "nitro", 2, 0.044625, "", intel7},
		{"c6g", "arm64", "nitro", 2, 0.034, "", graviton},
		{"c7g", "arm64", "nitro", 2, 0.03625, "", with(graviton, size{name: "medium", price: 0.0363})},
		// Memory optimised: 8 GiB per vCPU.
		{"r5", "amd64", "nitro", 8, 0.063, "", intel5},
		{"r6i", "amd64", "nitro", 8, 0.063, "", intel6},
		{"r7i", "amd64", "nitro", 8, 0.06615, "", intel7},
		{"r6g", "arm64", "nitro", 8, 0.0504, "", graviton},
		{"r7g", "arm64", "nitro", 8, 0.05355, "", with(graviton, size{name: "medium", price: 0.0536})},
		// Burstable.
		{"t3", "amd64", "nitro", 0, 0, "", burstable(0.0052)},
		{"t3a", "amd64", "nitro", 0, 0, "", with(burstable(0.0047), size{name: "small", maxPods: 8})},
		{"t4g", "arm64", "nitro", 0, 0, "", burstable(0.0042)},
		// NVIDIA GPU.
		{"g4dn", "amd64", "nitro", 0, 0, "t4", []size{
			{"xlarge", 29, 4, 16384, 0.526, 1}, {"2xlarge", 29, 8, 32768, 0.752, 1},
			{"4xlarge", 29, 16, 65536, 1.204, 1}, {"8xlarge", 58, 32, 131072, 2.176, 1},
			{"12xlarge", 234, 48, 196608, 3.912, 4}, {"16xlarge", 58, 64, 262144, 4.352, 1},
		}},
		{"g5", "amd64", "nitro", 0, 0, "a10g", []size{
			{"xlarge", 58, 4, 16384, 1.006, 1}, {"2xlarge", 58, 8, 32768, 1.212, 1},
			{"4xlarge", 234, 16, 65536, 1.624, 1}, {"8xlarge", 234, 32, 131072, 2.448, 1},
			{"12xlarge", 737, 48, 196608, 5.672, 4}, {"16xlarge", 234, 64, 262144, 4.096, 1},
			{"24xlarge", 737, 96, 393216, 8.144, 4}, {"48xlarge", 345, 192, 786432, 16.288, 8},
		}},
		{"p3", "amd64", "xen", 0, 0, "v100", []size{
			{"2xlarge", 58, 8, 62464, 3.06, 1}, {"8xlarge", 234, 32, 249856, 12.24, 4},
			{"16xlarge", 234, 64, 499712, 24.48, 8},
		}},
	}
}

// defaultRecords expands the table into catalogue records, so Default and Load share the rule.
func defaultRecords() []record {
	var records []record
	for _, f := range defaultFamilies() {
		category, generation := splitFamily(f.name)
		for _, s := range f.sizes {
			vcpu := s.vcpu
			if vcpu == 0 {
				vcpu = vcpusOfSize(s.name)
			}
			memoryMiB := s.memoryMiB
			if memoryMiB == 0 {
				memoryMiB = vcpu * f.gibPerVCPU * 1024
			}
			maxPods := s.maxPods
			if maxPods == 0 {
				maxPods = podsOfVCPU(vcpu)
			}
			price := s.price
			if price == 0 {
				price = f.pricePerVCPU * float64(vcpu)
			}
			price = math.Round(price*1e6) / 1e6
			rec := record{
				Name:                  f.name + "." + s.name,
				Family:                f.name,
				Category:              &category,
				Generation:            &generation,
				Size:                  s.name,
				VCPU:                  &vcpu,
				MemoryMiB:             &memoryMiB,
				Arch:                  &f.arch,
				MaxPodsENILimited:     &maxPods,
				Hypervisor:            &f.hypervisor,
				SupportedUsageClasses: []string{CapacityTypeOnDemand, CapacityTypeSpot},
				Zones:                 map[string][]string{DefaultRegion: DefaultZones()},
				OnDemandPriceUSD:      map[string]*float64{DefaultRegion: &price},
			}
			if s.gpus > 0 {
				rec.GPUs, rec.GPUName, rec.GPUManufacturer, rec.GPUMemoryMiB = s.gpus, f.gpuName, "nvidia", gpuMemoryMiB[f.gpuName]
			}
			rec.CPUManufacturer = new(cpuManufacturer(f.name))
			rec.CapabilityFlex = new(false)
			records = append(records, rec)
		}
	}
	return records
}

// defaultOmits are the provider labels the built-in catalogue leaves out: a NodePool or pod
// requiring one finds no type there (pass a full catalogue with --instance-types).
var defaultOmits = map[string]struct{}{
	LabelInstanceCPUSustainedClockSpeedMhz: {}, LabelInstanceNetworkBandwidth: {}, LabelInstanceEBSBandwidth: {},
	LabelInstanceEncryptionInTransitSupported: {}, LabelInstanceLocalNVMe: {},
}

// gpuMemoryMiB is the memory of one GPU of each model the table lists.
var gpuMemoryMiB = map[string]int64{"t4": 16384, "a10g": 22888, "v100": 16384}

// cpuManufacturer of the table's families: Graviton ("g" after the generation, but not the
// g-category GPU families), AMD ("a", and g5's EPYC), else Intel.
func cpuManufacturer(family string) string {
	_, generation := splitFamily(family)
	suffix := family[strings.IndexAny(family, "0123456789")+len(strconv.Itoa(generation)):]
	switch {
	case family == "g5" || strings.HasPrefix(suffix, "a"):
		return "amd"
	case strings.HasPrefix(suffix, "g"):
		return "aws"
	}
	return "intel"
}

// splitFamily parses "m7gd" into category "m" and generation 7.
func splitFamily(name string) (string, int) {
	i := strings.IndexAny(name, "0123456789")
	if i < 0 {
		return name, 0
	}
	j := i
	for j < len(name) && name[j] >= '0' && name[j] <= '9' {
		j++
	}
	generation, _ := strconv.Atoi(name[i:j])
	return name[:i], generation
}

// vcpusOfSize is the vCPU count of a size name in the nitro families of the table.
func vcpusOfSize(name string) int64 {
	switch name {
	case "medium":
		return 1
	case "large":
		return 2
	case "xlarge":
		return 4
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(name, "xlarge"), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("size %q of the default catalogue has no vCPU count", name))
	}
	return 4 * n
}
