package catalog

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// A small catalogue in the ec2-catalog.json format, with fields the rule ignores left in.
const sample = `{"description": "test", "instanceTypes": [
 {"name": "m5.large", "family": "m5", "category": "m", "generation": 5, "size": "large",
  "vcpu": 2, "memoryMiB": 8192, "arch": "amd64", "gpus": 0, "maxPodsENILimited": 29,
  "hypervisor": "nitro", "supportedUsageClasses": ["on-demand", "spot"], "burstable": false,
  "zones": {"us-east-1": ["us-east-1a", "us-east-1b"], "us-west-2": ["us-west-2a"]},
  "onDemandPriceUSD": {"us-east-1": 0.096, "us-west-2": null},
  "spotPriceUSD": {"us-east-1": {"us-east-1b": 0.031}}},
 {"name": "g4dn.xlarge", "family": "g4dn", "category": "g", "generation": 4, "size": "xlarge",
  "vcpu": 4, "memoryMiB": 16384, "arch": "amd64", "gpus": 1, "gpuName": "t4",
  "gpuManufacturer": "nvidia", "gpuMemoryMiB": 16384, "maxPodsENILimited": 29, "hypervisor": "nitro",
  "cpuManufacturer": "intel", "cpuSustainedClockMHz": 2500, "networkBandwidthMbps": 5000,
  "ebsBandwidthMbps": 3500, "encryptionInTransit": true, "capabilityFlex": false, "localNVMeGB": 125,
  "supportedUsageClasses": ["on-demand", "spot"], "zones": {"us-east-1": ["us-east-1a"]},
  "onDemandPriceUSD": {"us-east-1": 0.526}},
 {"name": "g4ad.xlarge", "family": "g4ad", "category": "g", "generation": 4, "size": "xlarge",
  "vcpu": 4, "memoryMiB": 16384, "arch": "amd64", "gpus": 1, "gpuName": "radeon-pro-v520",
  "gpuManufacturer": "amd", "maxPodsENILimited": 8, "hypervisor": "nitro",
  "supportedUsageClasses": ["on-demand"], "zones": {"us-east-1": ["us-east-1a"]},
  "onDemandPriceUSD": {"us-east-1": 0.379}},
 {"name": "x9.metal", "family": "x9", "category": null, "generation": null, "size": "metal",
  "vcpu": 5, "memoryMiB": 1000, "arch": "arm64", "gpus": 0, "maxPodsENILimited": null,
  "hypervisor": "", "supportedUsageClasses": ["capacity-block", "spot"],
  "zones": {"us-east-1": ["us-east-1c"]}, "onDemandPriceUSD": {"us-east-1": 1.0}},
 {"name": "novcpu.large", "family": "novcpu", "size": "large", "vcpu": null, "memoryMiB": 8192,
  "arch": "amd64", "gpus": 0, "supportedUsageClasses": ["on-demand"],
  "zones": {"us-east-1": ["us-east-1a"]}, "onDemandPriceUSD": {"us-east-1": 0.1}},
 {"name": "nomem.large", "family": "nomem", "size": "large", "vcpu": 2, "memoryMiB": null,
  "arch": "amd64", "gpus": 0, "supportedUsageClasses": ["on-demand"],
  "zones": {"us-east-1": ["us-east-1a"]}, "onDemandPriceUSD": {"us-east-1": 0.1}},
 {"name": "noprice.large", "family": "noprice", "size": "large", "vcpu": 2, "memoryMiB": 8192,
  "arch": "amd64", "gpus": 0, "supportedUsageClasses": ["on-demand"],
  "zones": {"us-east-1": ["us-east-1a"]}, "onDemandPriceUSD": {"us-west-2": 0.1}},
 {"name": "nozones.large", "family": "nozones", "size": "large", "vcpu": 2, "memoryMiB": 8192,
  "arch": "amd64", "gpus": 0, "supportedUsageClasses": null, "zones": null,
  "onDemandPriceUSD": {"us-east-1": 0.1}}
]}`

func parseSample(t *testing.T, region string) map[string]*cloudprovider.InstanceType {
	t.Helper()
	its, err := Parse(strings.NewReader(sample), region)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	byName := map[string]*cloudprovider.InstanceType{}
	for _, it := range its {
		byName[it.Name] = it
	}
	return byName
}

func q(s string) resource.Quantity { return resource.MustParse(s) }

func TestAllocatableFollowsTheRule(t *testing.T) {
	types := parseSample(t, "")
	for _, tc := range []struct {
		name string
		want corev1.ResourceList
	}{{
		// cpu 2000m − (60m first core + 10m second) = 1930m.
		// memory 8192Mi − VM ceil(8192×0.075 = 614.4) = 615Mi − kube (11×29+255 = 574Mi)
		//   − eviction 100Mi = 6903Mi (Karpenter's published AL2023 figure).
		// ephemeral 20Gi − 1Gi − 10 % of 20Gi = 17Gi.
		name: "m5.large",
		want: corev1.ResourceList{"cpu": q("1930m"), "memory": q("6903Mi"), "pods": q("29"),
			"ephemeral-storage": q("17Gi")},
	}, {
		// cpu 4000m − (60 + 10 + 5 + 5) = 3920m.
		// memory 16384 − ceil(1228.8) = 1229 − 574 − 100 = 14481Mi.
		name: "g4dn.xlarge",
		want: corev1.ResourceList{"cpu": q("3920m"), "memory": q("14481Mi"), "pods": q("29"),
			"ephemeral-storage": q("17Gi"), "nvidia.com/gpu": q("1")},
	}, {
		// AMD GPUs are no nvidia.com/gpu. memory 16384 − 1229 − (11×8+255 = 343) − 100 = 14712Mi.
		name: "g4ad.xlarge",
		want: corev1.ResourceList{"cpu": q("3920m"), "memory": q("14712Mi"), "pods": q("8"),
			"ephemeral-storage": q("17Gi")},
	}, {
		// 5 cores: 60 + 10 + 10 + 2.5 truncated to 2 = 82m reserved → 4918m.
		// pods null → 110; memory 1000 − ceil(75) = 75 − (11×110+255 = 1465) − 100 < 0 → 0.
		name: "x9.metal",
		want: corev1.ResourceList{"cpu": q("4918m"), "memory": q("0"), "pods": q("110"),
			"ephemeral-storage": q("17Gi")},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			it := types[tc.name]
			if it == nil {
				t.Fatalf("%s missing", tc.name)
			}
			got := it.Allocatable()
			if len(got) != len(tc.want) {
				t.Errorf("allocatable has %d resources %v, want %d", len(got), got, len(tc.want))
			}
			for name, want := range tc.want {
				if g := got[name]; g.Cmp(want) != 0 {
					t.Errorf("allocatable %s = %s, want %s", name, g.String(), want.String())
				}
			}
		})
	}
}

func TestKubeReservedMilliCPU(t *testing.T) {
	for vcpu, want := range map[int64]int64{
		1: 60, 2: 70, 3: 75, 4: 80, 5: 82, 6: 85, 8: 90, 16: 110, 48: 190, 96: 310, 192: 550,
	} {
		if got := KubeReservedMilliCPU(vcpu); got != want {
			t.Errorf("KubeReservedMilliCPU(%d) = %d, want %d", vcpu, got, want)
		}
	}
}

func TestLabels(t *testing.T) {
	types := parseSample(t, "")
	want := map[string]map[string]string{
		"g4dn.xlarge": {
			"node.kubernetes.io/instance-type": "g4dn.xlarge", "kubernetes.io/arch": "amd64",
			"kubernetes.io/os": "linux", LabelInstanceFamily: "g4dn", LabelInstanceCategory: "g",
			LabelInstanceGeneration: "4", LabelInstanceSize: "xlarge", LabelInstanceCPU: "4",
			LabelInstanceMemory: "16384", LabelInstanceGPUCount: "1", LabelInstanceGPUName: "t4",
			LabelInstanceHypervisor: "nitro", "topology.kubernetes.io/region": DefaultRegion,
			LabelInstanceGPUManufacturer: "nvidia", LabelInstanceGPUMemory: "16384",
			LabelInstanceCPUManufacturer: "intel", LabelInstanceCPUSustainedClockSpeedMhz: "2500",
			LabelInstanceNetworkBandwidth: "5000", LabelInstanceEBSBandwidth: "3500",
			LabelInstanceEncryptionInTransitSupported: "true", LabelInstanceCapabilityFlex: "false",
			LabelInstanceLocalNVMe: "125",
		},
		// Null category and generation leave their labels out; "" hypervisor is kept.
		"x9.metal": {
			"node.kubernetes.io/instance-type": "x9.metal", "kubernetes.io/arch": "arm64",
			"kubernetes.io/os": "linux", LabelInstanceFamily: "x9", LabelInstanceSize: "metal",
			LabelInstanceCPU: "5", LabelInstanceMemory: "1000", LabelInstanceHypervisor: "",
			"topology.kubernetes.io/region": DefaultRegion,
		},
	}
	for name, labels := range want {
		got := types[name].Labels
		if len(got) != len(labels) {
			t.Errorf("%s: %d labels %v, want %d %v", name, len(got), got, len(labels), labels)
		}
		for k, v := range labels {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: label %s = %q (present %v), want %q", name, k, g, ok, v)
			}
		}
	}
	if _, ok := types["m5.large"].Labels[LabelInstanceGPUCount]; ok {
		t.Errorf("m5.large has a GPU count label")
	}
}

// TestRegionLabel: every type carries the region its offerings are in, from a file (the
// region asked for) and in the built-in catalogue.
func TestRegionLabel(t *testing.T) {
	for _, it := range parseSample(t, "us-east-1") {
		if got := it.Labels["topology.kubernetes.io/region"]; got != "us-east-1" {
			t.Errorf("%s: region label %q, want us-east-1", it.Name, got)
		}
	}
	for _, it := range Default() {
		if got := it.Labels["topology.kubernetes.io/region"]; got != DefaultRegion {
			t.Errorf("default %s: region label %q, want %s", it.Name, got, DefaultRegion)
		}
	}
}

func TestOfferings(t *testing.T) {
	types := parseSample(t, "us-east-1")
	off := func(zone, ct string, price float64) cloudprovider.Offering {
		return cloudprovider.Offering{Zone: zone, CapacityType: ct, PricePerHour: price, Available: true}
	}
	want := map[string][]cloudprovider.Offering{
		// Spot in 1a falls back to 0.4 × 0.096; 1b has a spot price in the file.
		"m5.large": {off("us-east-1a", "on-demand", 0.096), off("us-east-1a", "spot", 0.4*0.096),
			off("us-east-1b", "on-demand", 0.096), off("us-east-1b", "spot", 0.031)},
		"g4ad.xlarge": {off("us-east-1a", "on-demand", 0.379)},
		// capacity-block is not a capacity type; only spot is offered.
		"x9.metal": {off("us-east-1c", "spot", 0.4)},
	}
	for name, offerings := range want {
		got := types[name].Offerings
		if len(got) != len(offerings) {
			t.Fatalf("%s: offerings %v, want %v", name, got, offerings)
		}
		for i := range got {
			g, w := got[i], offerings[i]
			if g.Zone != w.Zone || g.CapacityType != w.CapacityType || !g.Available ||
				math.Abs(g.PricePerHour-w.PricePerHour) > 1e-12 {
				t.Errorf("%s: offering %d = %+v, want %+v", name, i, got[i], offerings[i])
			}
		}
	}
}

func TestSkipRules(t *testing.T) {
	types := parseSample(t, "")
	for _, name := range []string{"novcpu.large", "nomem.large", "noprice.large", "nozones.large"} {
		if types[name] != nil {
			t.Errorf("%s was not skipped", name)
		}
	}
	if len(types) != 4 {
		t.Errorf("kept %d types, want 4", len(types))
	}
	// In us-west-2 only m5.large has zones, and it has no price there: nothing is left.
	its, err := Parse(strings.NewReader(sample), "us-west-2")
	if err != nil || len(its) != 0 {
		t.Errorf("us-west-2: got %d types, err %v; want none", len(its), err)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	for _, tc := range []struct {
		name, content, wantText string
		is                      func(error) bool
	}{
		{"truncated.json", `{"instanceTypes": [`, "decoding catalogue", nil},
		{"syntax.json", `{"instanceTypes": [}`, "decoding catalogue", func(err error) bool { return errors.As(err, &syntax) }},
		{"type.json", `{"instanceTypes": [{"name": "a", "vcpu": "two"}]}`, "vcpu", func(err error) bool { return errors.As(err, &typeErr) }},
		{"empty.json", `{}`, "no instanceTypes", func(err error) bool { return errors.Is(err, ErrNoInstanceTypes) }},
		{"dup.json", `{"instanceTypes": [{"name": "a"}, {"name": "a"}]}`, "instance type a: listed twice", nil},
		{"neg.json", `{"instanceTypes": [{"name": "a", "vcpu": 2, "memoryMiB": 4, "arch": "amd64", "onDemandPriceUSD": {"us-east-1": -1}}]}`, "instance type a: on-demand price -1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(tc.name, tc.content)
			_, err := Load(path, "")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not name the file and %q", err, tc.wantText)
			}
			if tc.is != nil && !tc.is(err) {
				t.Errorf("error %q does not wrap the cause", err)
			}
		})
	}
	_, err := Load(filepath.Join(dir, "missing.json"), "")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}
