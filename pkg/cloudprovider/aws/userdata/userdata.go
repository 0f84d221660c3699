package userdata

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
)

// Options are what a node needs to join.
type Options struct {
	ClusterName string
	// Endpoint is the API server URL.
	Endpoint string
	// CABundle is the base64 cluster CA.
	CABundle string
	// ClusterCIDR is the service CIDR nodeadm wants; optional.
	ClusterCIDR string
	// MaxPods the kubelet allows (the value Karpenter assumed for allocatable).
	MaxPods int32
	// Labels and Taints the node registers with.
	Labels map[string]string
	Taints []corev1.Taint
	// Kubelet is the class's kubelet configuration; may be nil.
	Kubelet *awsv1.KubeletConfiguration
	// Custom is the class's spec.userData; may be empty.
	Custom string
	// InstanceStorePolicy is the class's spec.instanceStorePolicy ("RAID0" or empty).
	InstanceStorePolicy string
}

// ErrUnsupportedFamily is returned for AMI families without a user-data format here.
var ErrUnsupportedFamily = errors.New("unsupported AMI family")

// For writes the user data of the family (awsv1.AMIFamily* values). Custom returns the
// user's data unchanged.
func For(family string, o Options) (string, error) {
	switch family {
	case awsv1.AMIFamilyAL2023:
		return AL2023(o)
	case awsv1.AMIFamilyBottlerocket:
		return Bottlerocket(o)
	case awsv1.AMIFamilyCustom:
		return o.Custom, nil
	}
	return "", fmt.Errorf("writing user data for %q: %w", family, ErrUnsupportedFamily)
}

// Boundary separates the parts of the AL2023 MIME document.
const Boundary = "//"

// NodeConfigContentType is the MIME type nodeadm reads its configuration from.
const NodeConfigContentType = "application/node.eks.aws"

// nodeConfig is nodeadm's node.eks.aws/v1alpha1 NodeConfig, the fields Karpenter sets.
type nodeConfig struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Spec       nodeConfigSpec `json:"spec"`
}

type nodeConfigSpec struct {
	Instance *struct {
		LocalStorage struct {
			Strategy string `json:"strategy"`
		} `json:"localStorage"`
	} `json:"instance,omitempty"`
	Cluster struct {
		Name                 string `json:"name"`
		APIServerEndpoint    string `json:"apiServerEndpoint"`
		CertificateAuthority string `json:"certificateAuthority"`
		CIDR                 string `json:"cidr,omitempty"`
	} `json:"cluster"`
	Kubelet struct {
		Config map[string]any `json:"config,omitempty"`
		Flags  []string       `json:"flags,omitempty"`
	} `json:"kubelet"`
}

// AL2023 writes the MIME document: the user's parts, then Karpenter's NodeConfig.
func AL2023(o Options) (string, error) {
	var nc nodeConfig
	nc.APIVersion, nc.Kind = "node.eks.aws/v1alpha1", "NodeConfig"
	nc.Spec.Cluster.Name = o.ClusterName
	nc.Spec.Cluster.APIServerEndpoint = o.Endpoint
	nc.Spec.Cluster.CertificateAuthority = o.CABundle
	nc.Spec.Cluster.CIDR = o.ClusterCIDR
	nc.Spec.Kubelet.Config = kubeletConfig(o)
	if o.InstanceStorePolicy != "" {
		nc.Spec.Instance = &struct {
			LocalStorage struct {
				Strategy string `json:"strategy"`
			} `json:"localStorage"`
		}{}
		nc.Spec.Instance.LocalStorage.Strategy = o.InstanceStorePolicy
	}
	if labels := labelFlag(o.Labels); labels != "" {
		nc.Spec.Kubelet.Flags = append(nc.Spec.Kubelet.Flags, "--node-labels="+labels)
	}
	if taints := taintFlag(o.Taints); taints != "" {
		nc.Spec.Kubelet.Flags = append(nc.Spec.Kubelet.Flags, "--register-with-taints="+taints)
	}
	body, err := yaml.Marshal(nc)
	if err != nil {
		return "", fmt.Errorf("writing NodeConfig: %w", err)
	}
	parts, err := userParts(o.Custom)
	if err != nil {
		return "", err
	}
	parts = append(parts, part{contentType: NodeConfigContentType, body: body})

	var buf bytes.Buffer
	buf.WriteString("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"" + Boundary + "\"\n\n")
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(Boundary); err != nil {
		return "", fmt.Errorf("writing MIME document: %w", err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", p.contentType)
		pw, err := w.CreatePart(h)
		if err != nil {
			return "", fmt.Errorf("writing MIME part: %w", err)
		}
		if _, err := pw.Write(p.body); err != nil {
			return "", fmt.Errorf("writing MIME part: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("writing MIME document: %w", err)
	}
	return buf.String(), nil
}

type part struct {
	contentType string
	body        []byte
}

// userParts splits the user's data into MIME parts: the parts of a MIME multipart
// document, a NodeConfig YAML as a node.eks.aws part, anything else as a shell script.
func userParts(custom string) ([]part, error) {
	if strings.TrimSpace(custom) == "" {
		return nil, nil
	}
	if boundary, ok := mimeBoundary(custom); ok {
		_, body, _ := strings.Cut(strings.ReplaceAll(custom, "\r\n", "\n"), "\n\n")
		r := multipart.NewReader(strings.NewReader(body), boundary)
		var parts []part
		for {
			p, err := r.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("reading spec.userData as MIME: %w", err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				return nil, fmt.Errorf("reading spec.userData as MIME: %w", err)
			}
			ct := p.Header.Get("Content-Type")
			if ct == "" {
				ct = "text/x-shellscript"
			}
			parts = append(parts, part{contentType: ct, body: b})
		}
		return parts, nil
	}
	if strings.Contains(custom, "kind: NodeConfig") {
		return []part{{contentType: NodeConfigContentType, body: []byte(custom)}}, nil
	}
	return []part{{contentType: `text/x-shellscript; charset="us-ascii"`, body: []byte(custom)}}, nil
}

// mimeBoundary returns the boundary of a multipart document's header.
func mimeBoundary(s string) (string, bool) {
	header, _, found := strings.Cut(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n")
	if !found {
		return "", false
	}
	for _, line := range strings.Split(header, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "Content-Type") {
			continue
		}
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(value))
		if err == nil && strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
			return params["boundary"], true
		}
	}
	return "", false
}

// kubeletConfig is the kubelet configuration nodeadm merges.
func kubeletConfig(o Options) map[string]any {
	cfg := map[string]any{}
	if o.MaxPods > 0 {
		cfg["maxPods"] = o.MaxPods
	}
	k := o.Kubelet
	if k == nil {
		return cfg
	}
	if len(k.ClusterDNS) > 0 {
		cfg["clusterDNS"] = k.ClusterDNS
	}
	if k.PodsPerCore != nil {
		cfg["podsPerCore"] = *k.PodsPerCore
	}
	for key, m := range map[string]map[string]string{
		"systemReserved": k.SystemReserved, "kubeReserved": k.KubeReserved,
		"evictionHard": k.EvictionHard, "evictionSoft": k.EvictionSoft,
	} {
		if len(m) > 0 {
			cfg[key] = m
		}
	}
	if len(k.EvictionSoftGracePeriod) > 0 {
		g := map[string]string{}
		for s, d := range k.EvictionSoftGracePeriod {
			g[s] = d.Duration.String()
		}
		cfg["evictionSoftGracePeriod"] = g
	}
	if k.EvictionMaxPodGracePeriod != nil {
		cfg["evictionMaxPodGracePeriod"] = *k.EvictionMaxPodGracePeriod
	}
	if k.ImageGCHighThresholdPercent != nil {
		cfg["imageGCHighThresholdPercent"] = *k.ImageGCHighThresholdPercent
	}
	if k.ImageGCLowThresholdPercent != nil {
		cfg["imageGCLowThresholdPercent"] = *k.ImageGCLowThresholdPercent
	}
	if k.CPUCFSQuota != nil {
		cfg["cpuCFSQuota"] = *k.CPUCFSQuota
	}
	return cfg
}

func labelFlag(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+labels[k])
	}
	return strings.Join(out, ",")
}

func taintFlag(taints []corev1.Taint) string {
	out := make([]string, 0, len(taints))
	for _, t := range taints {
		out = append(out, taintString(t))
	}
	return strings.Join(out, ",")
}

func taintString(t corev1.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}

// Bottlerocket writes the TOML settings: the user's, with the join settings set over them.
func Bottlerocket(o Options) (string, error) {
	doc := map[string]any{}
	if strings.TrimSpace(o.Custom) != "" {
		if _, err := toml.Decode(o.Custom, &doc); err != nil {
			return "", fmt.Errorf("reading spec.userData as Bottlerocket TOML: %w", err)
		}
	}
	settings := table(doc, "settings")
	k8s := table(settings, "kubernetes")
	k8s["cluster-name"] = o.ClusterName
	k8s["api-server"] = o.Endpoint
	k8s["cluster-certificate"] = o.CABundle
	if o.MaxPods > 0 {
		k8s["max-pods"] = int64(o.MaxPods)
	}
	if len(o.Labels) > 0 {
		labels := table(k8s, "node-labels")
		for k, v := range o.Labels {
			labels[k] = v
		}
	}
	if len(o.Taints) > 0 {
		taints := table(k8s, "node-taints")
		for _, t := range o.Taints {
			v := t.Value + ":" + string(t.Effect)
			if t.Value == "" {
				v = ":" + string(t.Effect)
			}
			list, _ := taints[t.Key].([]any)
			taints[t.Key] = append(list, v)
		}
	}
	if k := o.Kubelet; k != nil {
		if len(k.ClusterDNS) > 0 {
			k8s["cluster-dns-ip"] = k.ClusterDNS[0]
		}
		if len(k.SystemReserved) > 0 {
			setStrings(table(k8s, "system-reserved"), k.SystemReserved)
		}
		if len(k.KubeReserved) > 0 {
			setStrings(table(k8s, "kube-reserved"), k.KubeReserved)
		}
		if len(k.EvictionHard) > 0 {
			setStrings(table(k8s, "eviction-hard"), k.EvictionHard)
		}
		if k.ImageGCHighThresholdPercent != nil {
			k8s["image-gc-high-threshold-percent"] = int64(*k.ImageGCHighThresholdPercent)
		}
		if k.ImageGCLowThresholdPercent != nil {
			k8s["image-gc-low-threshold-percent"] = int64(*k.ImageGCLowThresholdPercent)
		}
		if k.CPUCFSQuota != nil {
			k8s["cpu-cfs-quota-enforced"] = *k.CPUCFSQuota
		}
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(doc); err != nil {
		return "", fmt.Errorf("writing Bottlerocket TOML: %w", err)
	}
	return buf.String(), nil
}

// table returns parent[key] as a table, creating it (or replacing a non-table value).
func table(parent map[string]any, key string) map[string]any {
	if t, ok := parent[key].(map[string]any); ok {
		return t
	}
	t := map[string]any{}
	parent[key] = t
	return t
}

func setStrings(t map[string]any, m map[string]string) {
	for k, v := range m {
		t[k] = v
	}
}
