package main

import (
	"io"
	"strings"
	"testing"
)

// TestAWSSettings: the aws group is parsed with the core settings (flag beats environment),
// validated only with --cloud-provider aws, and a missing cluster name is named.
func TestAWSSettings(t *testing.T) {
	env := map[string]string{"CLUSTER_NAME": "from-env", "INTERRUPTION_QUEUE": "q", "RESERVED_ENIS": "1"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	opts, err := parseControllerOptions([]string{"--cloud-provider=aws", "--cluster-name=from-flag"}, lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.AWS.ClusterName != "from-flag" || opts.AWS.InterruptionQueue != "q" || opts.AWS.ReservedENIs != 1 {
		t.Errorf("aws settings = %+v", opts.AWS)
	}
	none := func(string) (string, bool) { return "", false }
	if _, err := parseControllerOptions([]string{"--cloud-provider=aws"}, none, io.Discard); err == nil || !strings.Contains(err.Error(), "CLUSTER_NAME") {
		t.Errorf("aws without a cluster name: %v, want an error naming CLUSTER_NAME", err)
	}
	if _, err := parseControllerOptions([]string{"--cloud-provider=sim"}, none, io.Discard); err != nil {
		t.Errorf("sim needs no aws settings: %v", err)
	}
}
