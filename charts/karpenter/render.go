package chart

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// files is the chart as Helm packages it. "all:" keeps templates/_helpers.tpl, which embed
// would skip for its leading underscore.
//
//go:embed Chart.yaml values.yaml .helmignore all:templates crds dashboards
var files embed.FS

// Options says how to render the chart.
type Options struct {
	// ReleaseName is the Helm release name; empty means "karpenter".
	ReleaseName string
	// Namespace is the release namespace; empty means "karpenter".
	Namespace string
	// Values override the chart's values.yaml, merged as `helm --values` would.
	Values map[string]any
}

// Manifest is one rendered object, in the YAML Helm would send to the API server.
type Manifest struct {
	// Source is the template (or crds/ file) it came from, e.g. "karpenter/templates/role.yaml".
	Source string
	// YAML is the object.
	YAML string
}

// Load returns the embedded chart.
func Load() (*helmchart.Chart, error) {
	var buffered []*loader.BufferedFile
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(name)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		buffered = append(buffered, &loader.BufferedFile{Name: name, Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking the embedded chart: %w", err)
	}
	ch, err := loader.LoadFiles(buffered)
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	return ch, nil
}

// Render renders every template of the chart with opts, in strict mode (a template reading a
// value that values.yaml does not define fails). It returns the objects in the order Helm
// installs them (by kind), skipping templates that render empty and NOTES.txt.
func Render(opts Options) ([]Manifest, error) {
	ch, err := Load()
	if err != nil {
		return nil, err
	}
	if opts.ReleaseName == "" {
		opts.ReleaseName = "karpenter"
	}
	if opts.Namespace == "" {
		opts.Namespace = "karpenter"
	}
	vals, err := chartutil.ToRenderValues(ch, opts.Values, chartutil.ReleaseOptions{
		Name: opts.ReleaseName, Namespace: opts.Namespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities.Copy())
	if err != nil {
		return nil, fmt.Errorf("merging values: %w", err)
	}
	rendered, err := engine.Engine{Strict: true}.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w", err)
	}
	var out []Manifest
	for _, name := range sortedKeys(rendered) {
		if strings.HasSuffix(name, "NOTES.txt") || path.Ext(name) == ".tpl" {
			continue
		}
		docs := releaseutil.SplitManifests(rendered[name])
		for _, key := range sortedKeys(docs) {
			if doc := strings.TrimSpace(docs[key]); doc != "" {
				out = append(out, Manifest{Source: name, YAML: doc + "\n"})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return kindRank(out[i].YAML) < kindRank(out[j].YAML) })
	return out, nil
}

// CRDs returns the files of the chart's crds/ folder, which Helm installs before the templates.
func CRDs() ([]Manifest, error) {
	ch, err := Load()
	if err != nil {
		return nil, err
	}
	var out []Manifest
	for _, crd := range ch.CRDObjects() {
		out = append(out, Manifest{Source: crd.Filename, YAML: string(crd.File.Data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out, nil
}

// installOrder is the order in which Helm creates kinds (dependencies first); others go last.
var installOrder = []string{
	"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
	"ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "ServiceMonitor",
}

// kindRank is the position of a manifest's kind in installOrder.
func kindRank(doc string) int {
	for _, line := range strings.Split(doc, "\n") {
		if kind, ok := strings.CutPrefix(line, "kind: "); ok {
			for i, k := range installOrder {
				if k == strings.TrimSpace(kind) {
					return i
				}
			}
		}
	}
	return len(installOrder)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
