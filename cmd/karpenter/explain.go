package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/catalog"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/sim"
	"github.com/gokarpenter/karpenter/pkg/explain"
	"github.com/gokarpenter/karpenter/pkg/operator"
)

const explainUsage = `Usage: karpenter explain [flags] pod [NAMESPACE/]NAME | node NAME | nodeclaim NAME | nodepool NAME

Reads the cluster (kubeconfig as kubectl finds it: --kubeconfig, $KUBECONFIG, ~/.kube/config)
and says why:
  pod        per NodePool the first rule that blocks it, where it is nominated, what would be
             launched for it now
  node       whether it is a disruption candidate, the first rule that keeps it, its price
  nodeclaim  against the cheapest type its pods fit
  nodepool   usage against limits, disruptions its budgets allow now, conditions

Flags:
`

// runExplain is `karpenter explain`.
func runExplain(args []string, stdout, stderr io.Writer) int {
	if err := explainCmd(args, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "karpenter explain: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// clusterFlags are how the read-only subcommands (explain, nodes) reach a cluster and price
// its instance types.
type clusterFlags struct {
	kubeconfig, context, catalogPath, region string
}

func (f *clusterFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context (default: the current context)")
	fs.StringVar(&f.catalogPath, "instance-types", "", "instance-type catalogue in the ec2-catalog.json format (default: the built-in catalogue)")
	fs.StringVar(&f.region, "region", catalog.DefaultRegion, "region whose offerings and prices the catalogue gives")
}

// connect builds a client and the instance-type source from the flags.
func (f *clusterFlags) connect() (client.Client, explain.InstanceTypeSource, error) {
	cfg, _, err := kubectlConfig(f.kubeconfig, f.context)
	if err != nil {
		return nil, nil, err
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1.AddToScheme, simv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, fmt.Errorf("building client: %w", err)
	}
	var its []*cloudprovider.InstanceType
	if f.catalogPath == "" {
		if f.region != catalog.DefaultRegion {
			return nil, nil, usageError{fmt.Errorf("--region %s: the built-in catalogue only has %s; pass --instance-types", f.region, catalog.DefaultRegion)}
		}
		its = catalog.Default()
	} else if its, err = catalog.Load(f.catalogPath, f.region); err != nil {
		return nil, nil, usageError{fmt.Errorf("loading --instance-types: %w", err)}
	}
	simp, err := sim.New(sim.Options{Client: c, InstanceTypes: its})
	if err != nil {
		return nil, nil, fmt.Errorf("building the simulated cloud's catalogue: %w", err)
	}
	return c, instanceTypes{sim: simp, catalogue: its}, nil
}

// kubectlConfig loads the kubeconfig the way kubectl does, and the context's namespace.
func kubectlConfig(path, context string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig's namespace: %w", err)
	}
	return cfg, ns, nil
}

// instanceTypes asks the simulated cloud for NodePools of its node class (it narrows the
// catalogue by the SimNodeClass), and hands every other NodePool the catalogue: explain
// does not call a real cloud's API, so prices and shapes come from the catalogue.
type instanceTypes struct {
	sim       *sim.Provider
	catalogue []*cloudprovider.InstanceType
}

func (s instanceTypes) GetInstanceTypes(ctx context.Context, np *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
	if ref := np.Spec.Template.Spec.NodeClassRef; ref != nil && ref.Group == simv1alpha1.Group {
		return s.sim.GetInstanceTypes(ctx, np)
	}
	return s.catalogue, nil
}

func explainCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clusterFlags
	cf.add(fs)
	output := fs.String("o", "table", "output format: table or json")
	namespaceFlag := fs.String("n", "", "namespace of a pod named without one (default: the kubeconfig context's)")
	// The controller's gates decide some rules (spot-to-spot consolidation): explain takes
	// the same flag, and $FEATURE_GATES as the controller does.
	gates := operator.DefaultFeatureGates()
	if env := os.Getenv("FEATURE_GATES"); env != "" {
		if err := gates.Set(env); err != nil {
			return usageError{fmt.Errorf("$FEATURE_GATES: %w", err)}
		}
	}
	fs.Var(&gates, "feature-gates", "the controller's feature gates, e.g. SpotToSpotConsolidation=true (default: $FEATURE_GATES, then upstream's)")
	fs.Usage = func() {
		fmt.Fprint(stderr, explainUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *output != "table" && *output != "json" {
		return usageError{fmt.Errorf("-o %q: want table or json", *output)}
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return usageError{errors.New("want a kind and a name, e.g. pod default/web-1")}
	}
	kind, name := strings.ToLower(fs.Arg(0)), fs.Arg(1)
	var namespace string
	switch kind {
	case "pod", "pods", "po":
		kind = "pod"
		if ns, n, ok := strings.Cut(name, "/"); ok {
			namespace, name = ns, n
		}
	case "node", "nodes", "no":
		kind = "node"
	case "nodeclaim", "nodeclaims":
		kind = "nodeclaim"
	case "nodepool", "nodepools":
		kind = "nodepool"
	default:
		return usageError{fmt.Errorf("kind %q: want pod, node, nodeclaim or nodepool", fs.Arg(0))}
	}

	c, its, err := cf.connect()
	if err != nil {
		return err
	}
	if kind == "pod" && namespace == "" {
		if namespace = *namespaceFlag; namespace == "" {
			if _, namespace, err = kubectlConfig(cf.kubeconfig, cf.context); err != nil {
				return err
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	w, err := explain.Read(ctx, c, its)
	if err != nil {
		return fmt.Errorf("reading the cluster: %w", err)
	}
	w.SpotToSpotConsolidation = gates.SpotToSpotConsolidation
	now := time.Now()
	var report any
	switch kind {
	case "pod":
		report, err = explain.Pod(w, namespace, name, now)
	case "node", "nodeclaim":
		report, err = explain.Node(w, explain.ControllerEligibility{}, kind, name, now)
	case "nodepool":
		report, err = explain.NodePool(w, name, now)
	}
	if err != nil {
		return err
	}
	if *output == "json" {
		return explain.WriteJSON(stdout, report)
	}
	return explain.WriteTable(stdout, report)
}
