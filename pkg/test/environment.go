package test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gokarpenter/karpenter/config/crd"
	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// Environment is a real etcd and kube-apiserver with the project's CRDs installed.
type Environment struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	env    *envtest.Environment
}

// NewScheme returns a fresh scheme with the Kubernetes built-in types, CRDs, karpenter.sh/v1
// the simulated cloud's karpenter.sim.sh/v1alpha1 and the AWS provider's karpenter.k8s.aws/v1.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1.AddToScheme, simv1alpha1.AddToScheme, awsv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}

// ErrNoAssets means etcd or kube-apiserver has not been built yet.
var ErrNoAssets = errors.New("etcd and kube-apiserver not found: run `make controlplane` (or set KUBEBUILDER_ASSETS)")

// AssetsDir is where envtest finds etcd and kube-apiserver: $KUBEBUILDER_ASSETS, else the
// repository's bin/ folder that hack/controlplane/cp.sh builds into.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin")
	}
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("looking in %s: %w", dir, ErrNoAssets)
		}
	}
	return dir, nil
}

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start launches etcd and kube-apiserver and installs the CRDs. Stop it when done.
func Start() (*Environment, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	crds, err := crd.CRDs()
	if err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDs:                  crds,
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		// envtest's 20 s default fails the whole package on a loaded 2-core machine
		// (several clusters at once), where kube-apiserver can take a minute to be ready.
		env.ControlPlaneStartTimeout = 2 * time.Minute
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("building client: %w", err)
	}
	return &Environment{Config: cfg, Client: c, Scheme: scheme, env: env}, nil
}

// Stop shuts the API server and etcd down.
func (e *Environment) Stop() error {
	if e == nil || e.env == nil {
		return nil
	}
	if err := e.env.Stop(); err != nil {
		return fmt.Errorf("stopping envtest: %w", err)
	}
	return nil
}

// Main runs a package's tests around one shared Environment, stored in *env. With -short the
// environment is not started and *env stays nil; tests that need it call RequireEnvironment.
func Main(m *testing.M, env **Environment) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	start := time.Now()
	e, err := Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "test environment: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "test environment ready in %v\n", time.Since(start).Round(time.Millisecond))
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "test environment: %v\n", err)
	}
	return code
}

// RequireEnvironment skips the test in -short mode, when no API server was started.
func RequireEnvironment(t testing.TB, env *Environment) {
	t.Helper()
	if env == nil {
		t.Skip("needs the API server; runs without -short")
	}
}

// Context returns a context that ends with the test or after a minute.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
