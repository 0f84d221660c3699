package aws

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

// TestOptionsEnvironmentThenFlags: upstream's environment variables are the defaults, flags
// override them, and Validate names the flag of each bad setting.
func TestOptionsEnvironmentThenFlags(t *testing.T) {
	t.Setenv(EnvClusterName, "from-env")
	t.Setenv(EnvClusterEndpoint, "https://env")
	t.Setenv(EnvInterruptionQueue, "env-queue")
	t.Setenv(EnvVMMemoryOverheadPercent, "0.1")
	t.Setenv(EnvReservedENIs, "2")
	t.Setenv(EnvIsolatedVPC, "true")
	t.Setenv(EnvAWSRegion, "eu-west-1")
	t.Setenv(EnvAWSEndpoint, "http://127.0.0.1:5000")
	o := DefaultOptions()
	if err := o.ApplyEnv(os.LookupEnv); err != nil {
		t.Fatal(err)
	}
	if o.ClusterName != "from-env" || o.ClusterEndpoint != "https://env" || o.InterruptionQueue != "env-queue" || o.VMMemoryOverheadPercent != 0.1 ||
		o.ReservedENIs != 2 || !o.IsolatedVPC || o.Region != "eu-west-1" || o.Endpoint != "http://127.0.0.1:5000" {
		t.Fatalf("from the environment: %+v", o)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--cluster-name=flag", "--interruption-queue=flag-q", "--reserved-enis=0", "--vm-memory-overhead-percent=0.05"}); err != nil {
		t.Fatal(err)
	}
	if o.ClusterName != "flag" || o.InterruptionQueue != "flag-q" || o.ReservedENIs != 0 || o.VMMemoryOverheadPercent != 0.05 || o.ClusterEndpoint != "https://env" {
		t.Errorf("flags over the environment: %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
	t.Setenv(EnvReservedENIs, "two")
	other := DefaultOptions()
	if err := other.ApplyEnv(os.LookupEnv); err == nil || !strings.Contains(err.Error(), EnvReservedENIs) {
		t.Errorf("a bad RESERVED_ENIS: %v, want an error naming it", err)
	}
	bad := Options{VMMemoryOverheadPercent: 1.5, ReservedENIs: -1}
	err := bad.Validate()
	for _, want := range []string{"--cluster-name", "--vm-memory-overhead-percent", "--reserved-enis"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}

func TestProviderIDRoundTrip(t *testing.T) {
	id, err := InstanceIDFromProviderID(ProviderID("us-east-1a", "i-0abc"))
	if err != nil || id != "i-0abc" {
		t.Errorf("round trip = %q %v", id, err)
	}
	for _, bad := range []string{"", "sim:///x/i-1", "aws:///us-east-1a", "aws:///us-east-1a/vol-1"} {
		if _, err := InstanceIDFromProviderID(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestLaunchTemplateHash: equal specs share a name, any launch-relevant change makes a new one.
func TestLaunchTemplateHash(t *testing.T) {
	base := LaunchTemplateSpec{ClusterName: "c", NodeClassName: "n", ImageID: "ami-1", UserData: "ud", SecurityGroupIDs: []string{"sg-1"}, InstanceProfile: "p",
		BlockDeviceMappings: DefaultBlockDeviceMappings("AL2023"), Tags: map[string]string{"a": "1", "b": "2"}}
	same := base
	same.Tags = map[string]string{"b": "2", "a": "1"}
	if base.Name() != same.Name() || !strings.HasPrefix(base.Name(), LaunchTemplatePrefix) {
		t.Errorf("equal specs: %s vs %s", base.Name(), same.Name())
	}
	changes := map[string]func(*LaunchTemplateSpec){
		"image":     func(s *LaunchTemplateSpec) { s.ImageID = "ami-2" },
		"user data": func(s *LaunchTemplateSpec) { s.UserData = "other" },
		"groups":    func(s *LaunchTemplateSpec) { s.SecurityGroupIDs = []string{"sg-2"} },
		"profile":   func(s *LaunchTemplateSpec) { s.InstanceProfile = "q" },
		"tags":      func(s *LaunchTemplateSpec) { s.Tags = map[string]string{"a": "2"} },
		"monitor":   func(s *LaunchTemplateSpec) { s.DetailedMonitoring = true },
		"volumes":   func(s *LaunchTemplateSpec) { s.BlockDeviceMappings = DefaultBlockDeviceMappings("Bottlerocket") },
	}
	for name, change := range changes {
		s := base
		change(&s)
		if s.Name() == base.Name() {
			t.Errorf("changing %s kept the template name", name)
		}
	}
}
