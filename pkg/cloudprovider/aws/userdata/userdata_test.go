package userdata

import (
	"io"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
)

func base() Options {
	dns := &awsv1.KubeletConfiguration{ClusterDNS: []string{"10.100.0.10"}, SystemReserved: map[string]string{"memory": "100Mi"}}
	return Options{
		ClusterName: "demo", Endpoint: "https://api.demo", CABundle: "Q0E=", MaxPods: 29,
		Labels:  map[string]string{"karpenter.sh/nodepool": "default", "team": "a"},
		Taints:  []corev1.Taint{{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		Kubelet: dns,
	}
}

// parts decodes an AL2023 MIME document into content types and bodies.
func parts(t *testing.T, doc string) (types []string, bodies []string) {
	t.Helper()
	if !strings.HasPrefix(doc, "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"//\"\n\n") {
		t.Fatalf("MIME header missing:\n%s", doc)
	}
	_, body, _ := strings.Cut(doc, "\n\n")
	r := multipart.NewReader(strings.NewReader(body), Boundary)
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading part: %v\n%s", err, doc)
		}
		b, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, string(b))
	}
	return types, bodies
}

func TestAL2023(t *testing.T) {
	cases := []struct {
		name      string
		custom    string
		wantTypes []string
		wantFirst string
	}{
		{name: "no user data", wantTypes: []string{NodeConfigContentType}},
		{name: "shell script", custom: "#!/bin/bash\necho hi\n", wantTypes: []string{`text/x-shellscript; charset="us-ascii"`, NodeConfigContentType}, wantFirst: "echo hi"},
		{name: "user NodeConfig", custom: "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n      shutdownGracePeriod: 30s\n",
			wantTypes: []string{NodeConfigContentType, NodeConfigContentType}, wantFirst: "shutdownGracePeriod"},
		{name: "user MIME", custom: "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\n\n--BOUNDARY\nContent-Type: text/x-shellscript\n\necho one\n--BOUNDARY\nContent-Type: text/cloud-config\n\npackages: [jq]\n--BOUNDARY--\n",
			wantTypes: []string{"text/x-shellscript", "text/cloud-config", NodeConfigContentType}, wantFirst: "echo one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			o.Custom = tc.custom
			doc, err := AL2023(o)
			if err != nil {
				t.Fatal(err)
			}
			types, bodies := parts(t, doc)
			if strings.Join(types, "|") != strings.Join(tc.wantTypes, "|") {
				t.Fatalf("part types = %q, want %q", types, tc.wantTypes)
			}
			if tc.wantFirst != "" && !strings.Contains(bodies[0], tc.wantFirst) {
				t.Errorf("first part %q lacks %q", bodies[0], tc.wantFirst)
			}
			var nc nodeConfig
			if err := yaml.UnmarshalStrict([]byte(bodies[len(bodies)-1]), &nc); err != nil {
				t.Fatalf("Karpenter's part is not a NodeConfig: %v", err)
			}
			if nc.Kind != "NodeConfig" || nc.Spec.Cluster.Name != "demo" || nc.Spec.Cluster.APIServerEndpoint != "https://api.demo" || nc.Spec.Cluster.CertificateAuthority != "Q0E=" {
				t.Errorf("cluster = %+v", nc.Spec.Cluster)
			}
			if nc.Spec.Kubelet.Config["maxPods"] != float64(29) {
				t.Errorf("maxPods = %v", nc.Spec.Kubelet.Config["maxPods"])
			}
			flags := strings.Join(nc.Spec.Kubelet.Flags, " ")
			if !strings.Contains(flags, "--node-labels=karpenter.sh/nodepool=default,team=a") || !strings.Contains(flags, "--register-with-taints=gpu=true:NoSchedule") {
				t.Errorf("flags = %q", flags)
			}
		})
	}
}

func TestBottlerocket(t *testing.T) {
	o := base()
	o.Custom = "[settings.kubernetes]\ncluster-name = \"wrong\"\nallowed-unsafe-sysctls = [\"net.core.somaxconn\"]\n[settings.host-containers.admin]\nenabled = true\n"
	doc, err := Bottlerocket(o)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Settings struct {
			Kubernetes struct {
				ClusterName    string              `toml:"cluster-name"`
				APIServer      string              `toml:"api-server"`
				Certificate    string              `toml:"cluster-certificate"`
				MaxPods        int                 `toml:"max-pods"`
				DNS            string              `toml:"cluster-dns-ip"`
				Labels         map[string]string   `toml:"node-labels"`
				Taints         map[string][]string `toml:"node-taints"`
				Sysctls        []string            `toml:"allowed-unsafe-sysctls"`
				SystemReserved map[string]string   `toml:"system-reserved"`
			} `toml:"kubernetes"`
			HostContainers map[string]map[string]bool `toml:"host-containers"`
		} `toml:"settings"`
	}
	if _, err := toml.Decode(doc, &got); err != nil {
		t.Fatalf("output is not TOML: %v\n%s", err, doc)
	}
	k := got.Settings.Kubernetes
	if k.ClusterName != "demo" || k.APIServer != "https://api.demo" || k.Certificate != "Q0E=" || k.MaxPods != 29 || k.DNS != "10.100.0.10" {
		t.Errorf("join settings = %+v", k)
	}
	if k.Labels["team"] != "a" || len(k.Taints["gpu"]) != 1 || k.Taints["gpu"][0] != "true:NoSchedule" || k.SystemReserved["memory"] != "100Mi" {
		t.Errorf("labels/taints/reserved = %v %v %v", k.Labels, k.Taints, k.SystemReserved)
	}
	if len(k.Sysctls) != 1 || !got.Settings.HostContainers["admin"]["enabled"] {
		t.Errorf("the user's settings were lost:\n%s", doc)
	}
	if _, err := Bottlerocket(Options{Custom: "not = = toml"}); err == nil || !strings.Contains(err.Error(), "spec.userData") {
		t.Errorf("bad TOML: %v, want an error naming spec.userData", err)
	}
}

func TestForUnsupported(t *testing.T) {
	if _, err := For(awsv1.AMIFamilyWindows2022, base()); err == nil {
		t.Error("Windows user data should be unsupported")
	}
	if got, _ := For(awsv1.AMIFamilyCustom, Options{Custom: "x"}); got != "x" {
		t.Errorf("Custom = %q, want the user's data unchanged", got)
	}
}

func TestAL2023InstanceStore(t *testing.T) {
	o := base()
	o.InstanceStorePolicy = "RAID0"
	doc, err := AL2023(o)
	if err != nil {
		t.Fatal(err)
	}
	_, bodies := parts(t, doc)
	var nc nodeConfig
	if err := yaml.UnmarshalStrict([]byte(bodies[len(bodies)-1]), &nc); err != nil {
		t.Fatal(err)
	}
	if nc.Spec.Instance == nil || nc.Spec.Instance.LocalStorage.Strategy != "RAID0" {
		t.Errorf("NodeConfig lacks spec.instance.localStorage.strategy RAID0:\n%s", bodies[len(bodies)-1])
	}
	plain, _ := AL2023(base())
	if strings.Contains(plain, "localStorage") {
		t.Error("localStorage set without the policy")
	}
}
