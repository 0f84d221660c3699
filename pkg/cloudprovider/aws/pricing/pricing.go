package pricing

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"
	"k8s.io/utils/clock"
)

// ProductsAPI is the part of the Pricing API the provider uses.
type ProductsAPI interface {
	GetProducts(context.Context, *pricing.GetProductsInput, ...func(*pricing.Options)) (*pricing.GetProductsOutput, error)
}

// SpotPriceAPI is the part of EC2 the provider uses.
type SpotPriceAPI interface {
	DescribeSpotPriceHistory(context.Context, *ec2.DescribeSpotPriceHistoryInput, ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error)
}

// Provider holds the current prices. Safe for concurrent use.
type Provider struct {
	products ProductsAPI // nil: embedded prices only (isolated VPC)
	spotAPI  SpotPriceAPI
	region   string
	clock    clock.Clock

	mu       sync.RWMutex
	onDemand map[string]float64
	spot     map[string]map[string]float64 // instance type → zone → price
	odAt     time.Time
	spotAt   time.Time
}

// New starts from the embedded on-demand prices of region. products may be nil.
func New(products ProductsAPI, spotAPI SpotPriceAPI, region string, clk clock.Clock) *Provider {
	if clk == nil {
		clk = clock.RealClock{}
	}
	od := map[string]float64{}
	table, ok := fallbackOnDemand[region]
	if !ok { // the public facts cover few regions: us-east-1's prices rank types the same way
		table = fallbackOnDemand[FallbackRegion]
	}
	for k, v := range table {
		od[k] = v
	}
	return &Provider{products: products, spotAPI: spotAPI, region: region, clock: clk, onDemand: od, spot: map[string]map[string]float64{}}
}

// FallbackRegion's embedded prices stand in for a region the table lacks, until the Pricing
// API answers.
const FallbackRegion = "us-east-1"

// Fallback returns the embedded on-demand price of an instance type in a region.
func Fallback(region, instanceType string) (float64, bool) {
	p, ok := fallbackOnDemand[region][instanceType]
	return p, ok
}

// OnDemand is the on-demand price of the type.
func (p *Provider) OnDemand(instanceType string) (float64, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, ok := p.onDemand[instanceType]
	return v, ok
}

// Spot is the latest spot price of the type in the zone.
func (p *Provider) Spot(instanceType, zone string) (float64, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, ok := p.spot[instanceType][zone]
	return v, ok
}

// Stale reports whether the prices are older than maxAge (or never fetched).
func (p *Provider) Stale(maxAge time.Duration) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := p.clock.Now()
	return now.Sub(p.spotAt) > maxAge || (p.products != nil && now.Sub(p.odAt) > maxAge)
}

// OnDemandRefreshInterval is how often Refresh asks the Pricing API again: on-demand prices
// change rarely and the price list is large.
const OnDemandRefreshInterval = 12 * time.Hour

// Refresh fetches spot prices, and on-demand ones (unless isolated) when they are older
// than OnDemandRefreshInterval. A failure keeps the previous prices (at worst the embedded
// table) and is returned.
func (p *Provider) Refresh(ctx context.Context) error {
	var errs []error
	p.mu.RLock()
	odDue := p.clock.Since(p.odAt) > OnDemandRefreshInterval
	p.mu.RUnlock()
	if p.products != nil && odDue {
		if err := p.UpdateOnDemand(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.UpdateSpot(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("refreshing prices: %v", errs)
	}
	return nil
}

// UpdateOnDemand reads every shared-tenancy Linux on-demand price of the region.
func (p *Provider) UpdateOnDemand(ctx context.Context) error {
	in := &pricing.GetProductsInput{
		ServiceCode: aws.String("AmazonEC2"),
		Filters: []pricingtypes.Filter{
			{Field: aws.String("regionCode"), Type: pricingtypes.FilterTypeTermMatch, Value: aws.String(p.region)},
			{Field: aws.String("tenancy"), Type: pricingtypes.FilterTypeTermMatch, Value: aws.String("Shared")},
			{Field: aws.String("operatingSystem"), Type: pricingtypes.FilterTypeTermMatch, Value: aws.String("Linux")},
			{Field: aws.String("preInstalledSw"), Type: pricingtypes.FilterTypeTermMatch, Value: aws.String("NA")},
			{Field: aws.String("capacitystatus"), Type: pricingtypes.FilterTypeTermMatch, Value: aws.String("Used")},
		},
	}
	prices := map[string]float64{}
	for {
		out, err := p.products.GetProducts(ctx, in)
		if err != nil {
			return fmt.Errorf("getting on-demand prices: %w", err)
		}
		for _, doc := range out.PriceList {
			name, price, err := ParseProduct(doc)
			if err != nil {
				return fmt.Errorf("getting on-demand prices: %w", err)
			}
			if name != "" && price > 0 {
				prices[name] = price
			}
		}
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if len(prices) == 0 {
		return fmt.Errorf("getting on-demand prices: the Pricing API returned none for %s", p.region)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range prices {
		p.onDemand[k] = v
	}
	p.odAt = p.clock.Now()
	return nil
}

// product is the part of a Pricing API price-list document the provider reads.
type product struct {
	Product struct {
		Attributes struct {
			InstanceType string `json:"instanceType"`
		} `json:"attributes"`
	} `json:"product"`
	Terms struct {
		OnDemand map[string]struct {
			PriceDimensions map[string]struct {
				PricePerUnit map[string]string `json:"pricePerUnit"`
			} `json:"priceDimensions"`
		} `json:"OnDemand"`
	} `json:"terms"`
}

// ParseProduct reads the instance type and hourly USD price of one price-list document.
func ParseProduct(doc string) (string, float64, error) {
	var pr product
	if err := json.Unmarshal([]byte(doc), &pr); err != nil {
		return "", 0, fmt.Errorf("decoding price list document: %w", err)
	}
	for _, term := range pr.Terms.OnDemand {
		for _, dim := range term.PriceDimensions {
			usd, ok := dim.PricePerUnit["USD"]
			if !ok {
				continue
			}
			v, err := strconv.ParseFloat(usd, 64)
			if err != nil {
				return "", 0, fmt.Errorf("parsing price %q of %s: %w", usd, pr.Product.Attributes.InstanceType, err)
			}
			return pr.Product.Attributes.InstanceType, v, nil
		}
	}
	return pr.Product.Attributes.InstanceType, 0, nil
}

// UpdateSpot reads the latest Linux spot price of every type and zone.
func (p *Provider) UpdateSpot(ctx context.Context) error {
	in := &ec2.DescribeSpotPriceHistoryInput{
		ProductDescriptions: []string{"Linux/UNIX", "Linux/UNIX (Amazon VPC)"},
		StartTime:           aws.Time(p.clock.Now()),
	}
	type seen struct {
		price float64
		at    time.Time
	}
	latest := map[string]map[string]seen{}
	for {
		out, err := p.spotAPI.DescribeSpotPriceHistory(ctx, in)
		if err != nil {
			return fmt.Errorf("describing spot price history: %w", err)
		}
		for _, sp := range out.SpotPriceHistory {
			name, zone := string(sp.InstanceType), aws.ToString(sp.AvailabilityZone)
			v, err := strconv.ParseFloat(aws.ToString(sp.SpotPrice), 64)
			if err != nil || name == "" || zone == "" || v <= 0 {
				continue
			}
			at := aws.ToTime(sp.Timestamp)
			if latest[name] == nil {
				latest[name] = map[string]seen{}
			}
			if old, ok := latest[name][zone]; !ok || at.After(old.at) {
				latest[name][zone] = seen{v, at}
			}
		}
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, zones := range latest {
		if p.spot[name] == nil {
			p.spot[name] = map[string]float64{}
		}
		for zone, s := range zones {
			p.spot[name][zone] = s.price
		}
	}
	p.spotAt = p.clock.Now()
	return nil
}
