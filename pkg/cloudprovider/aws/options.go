package aws

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/middleware"
)

// Environment variables the settings default from (upstream's names).
const (
	EnvClusterName             = "CLUSTER_NAME"
	EnvClusterEndpoint         = "CLUSTER_ENDPOINT"
	EnvClusterCABundle         = "CLUSTER_CA_BUNDLE"
	EnvInterruptionQueue       = "INTERRUPTION_QUEUE"
	EnvVMMemoryOverheadPercent = "VM_MEMORY_OVERHEAD_PERCENT"
	EnvReservedENIs            = "RESERVED_ENIS"
	EnvIsolatedVPC             = "ISOLATED_VPC"
	EnvAWSEndpoint             = "AWS_ENDPOINT_URL"
	EnvAWSRegion               = "AWS_REGION"
)

// DefaultVMMemoryOverheadPercent is upstream's default share of memory lost to the hypervisor.
const DefaultVMMemoryOverheadPercent = 0.075

// Options are the AWS provider's settings. Each is a flag whose default comes from the
// environment variable upstream Karpenter reads.
type Options struct {
	// ClusterName tags instances (kubernetes.io/cluster/<name>=owned) and joins nodes. Required.
	ClusterName string
	// ClusterEndpoint is the API server URL nodes join; empty means the controller's own.
	ClusterEndpoint string
	// ClusterCABundle is the base64 CA bundle nodes trust; empty means the controller's own.
	ClusterCABundle string
	// InterruptionQueue is the SQS queue name of the interruption events; empty turns the
	// interruption controller off.
	InterruptionQueue string
	// VMMemoryOverheadPercent of memory is subtracted as hypervisor overhead (0.075 = 7.5 %).
	VMMemoryOverheadPercent float64
	// ReservedENIs are kept out of the ENI-limited max pods computation.
	ReservedENIs int
	// IsolatedVPC skips the Pricing API and uses the embedded prices.
	IsolatedVPC bool
	// Region; empty means the SDK's chain (AWS_REGION, profile, IMDS).
	Region string
	// Endpoint overrides every service endpoint (moto_server in tests); empty means AWS.
	Endpoint string
	// KubernetesVersion (major.minor) picks the SSM paths of image aliases; the operator
	// fills it from the API server when empty.
	KubernetesVersion string
}

// DefaultOptions are upstream's defaults; ApplyEnv then reads the environment.
func DefaultOptions() Options {
	return Options{VMMemoryOverheadPercent: DefaultVMMemoryOverheadPercent}
}

// ApplyEnv sets the options from the environment variables that are set (upstream's
// names); an error names the variable.
func (o *Options) ApplyEnv(lookup func(string) (string, bool)) error {
	var errs []error
	str := func(env string, dst *string) {
		if v, ok := lookup(env); ok {
			*dst = v
		}
	}
	str(EnvClusterName, &o.ClusterName)
	str(EnvClusterEndpoint, &o.ClusterEndpoint)
	str(EnvClusterCABundle, &o.ClusterCABundle)
	str(EnvInterruptionQueue, &o.InterruptionQueue)
	str(EnvAWSRegion, &o.Region)
	str(EnvAWSEndpoint, &o.Endpoint)
	if v, ok := lookup(EnvVMMemoryOverheadPercent); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvVMMemoryOverheadPercent, v, err))
		}
		o.VMMemoryOverheadPercent = f
	}
	if v, ok := lookup(EnvReservedENIs); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvReservedENIs, v, err))
		}
		o.ReservedENIs = n
	}
	if v, ok := lookup(EnvIsolatedVPC); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvIsolatedVPC, v, err))
		}
		o.IsolatedVPC = b
	}
	return errors.Join(errs...)
}

// AddFlags binds the options to flags, with the current values (the environment) as defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.ClusterName, "cluster-name", o.ClusterName, "aws: cluster name, tags instances and joins nodes ($"+EnvClusterName+")")
	fs.StringVar(&o.ClusterEndpoint, "cluster-endpoint", o.ClusterEndpoint, "aws: API server URL nodes join ($"+EnvClusterEndpoint+"; default the controller's)")
	fs.StringVar(&o.ClusterCABundle, "cluster-ca-bundle", o.ClusterCABundle, "aws: base64 CA bundle nodes trust ($"+EnvClusterCABundle+"; default the controller's)")
	fs.StringVar(&o.InterruptionQueue, "interruption-queue", o.InterruptionQueue, "aws: SQS queue of interruption events; empty disables it ($"+EnvInterruptionQueue+")")
	fs.Float64Var(&o.VMMemoryOverheadPercent, "vm-memory-overhead-percent", o.VMMemoryOverheadPercent, "aws: share of memory lost to the hypervisor ($"+EnvVMMemoryOverheadPercent+")")
	fs.IntVar(&o.ReservedENIs, "reserved-enis", o.ReservedENIs, "aws: ENIs kept out of the max pods computation ($"+EnvReservedENIs+")")
	fs.BoolVar(&o.IsolatedVPC, "isolated-vpc", o.IsolatedVPC, "aws: skip the Pricing API and use the embedded prices ($"+EnvIsolatedVPC+")")
	fs.StringVar(&o.Region, "aws-region", o.Region, "aws: region ($"+EnvAWSRegion+"; default the SDK's chain)")
	fs.StringVar(&o.Endpoint, "aws-endpoint-url", o.Endpoint, "aws: endpoint of every AWS service, for emulators ($"+EnvAWSEndpoint+")")
}

// Validate reports every setting that cannot work, naming the flag.
func (o Options) Validate() error {
	var errs []error
	if o.ClusterName == "" {
		errs = append(errs, fmt.Errorf("--cluster-name ($%s) is required for the aws provider", EnvClusterName))
	}
	if o.VMMemoryOverheadPercent < 0 || o.VMMemoryOverheadPercent >= 1 {
		errs = append(errs, fmt.Errorf("--vm-memory-overhead-percent %v must be in [0, 1)", o.VMMemoryOverheadPercent))
	}
	if o.ReservedENIs < 0 {
		errs = append(errs, fmt.Errorf("--reserved-enis %d must not be negative", o.ReservedENIs))
	}
	return errors.Join(errs...)
}

// Clients are the SDK clients behind the provider's interfaces.
type Clients struct {
	EC2     EC2API
	SSM     SSMAPI
	IAM     IAMAPI
	SQS     SQSAPI
	Pricing PricingAPI
	Region  string
}

// PricingAPI lists on-demand prices; *pricing.Client satisfies it.
type PricingAPI interface {
	GetProducts(context.Context, *pricing.GetProductsInput, ...func(*pricing.Options)) (*pricing.GetProductsOutput, error)
}

// NewClients loads the SDK configuration (region and credentials from the usual chain) and
// builds the clients, every one pointed at Endpoint when set. Throttled calls are retried by
// the SDK's standard retryer with exponential backoff. apiOptions are added to every
// client's middleware stack (the operator's lease fence).
func NewClients(ctx context.Context, o Options, apiOptions ...func(*middleware.Stack) error) (*Clients, error) {
	loaders := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 8 })
		}),
	}
	if o.Region != "" {
		loaders = append(loaders, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("loading AWS configuration: no region (set --aws-region or AWS_REGION)")
	}
	// Added after loading: the credential chain's own clients (STS) stay as loaded.
	cfg.APIOptions = append(cfg.APIOptions, apiOptions...)
	var endpoint *string
	if o.Endpoint != "" {
		endpoint = aws.String(o.Endpoint)
	}
	pricingRegion := "us-east-1" // the Pricing API lives in a few regions only
	return &Clients{
		EC2: ec2.NewFromConfig(cfg, func(co *ec2.Options) { co.BaseEndpoint = endpoint }),
		SSM: ssm.NewFromConfig(cfg, func(co *ssm.Options) { co.BaseEndpoint = endpoint }),
		IAM: iam.NewFromConfig(cfg, func(co *iam.Options) { co.BaseEndpoint = endpoint }),
		SQS: sqs.NewFromConfig(cfg, func(co *sqs.Options) { co.BaseEndpoint = endpoint }),
		Pricing: pricing.NewFromConfig(cfg, func(co *pricing.Options) {
			co.BaseEndpoint = endpoint
			co.Region = pricingRegion
		}),
		Region: cfg.Region,
	}, nil
}
