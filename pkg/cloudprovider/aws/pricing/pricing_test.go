package pricing

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeProducts is the in-process Pricing API: two pages of price-list documents.
type fakeProducts struct {
	pages [][]string
	err   error
	calls int
}

func (f *fakeProducts) GetProducts(_ context.Context, in *pricing.GetProductsInput, _ ...func(*pricing.Options)) (*pricing.GetProductsOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	page := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &page)
	}
	out := &pricing.GetProductsOutput{PriceList: f.pages[page]}
	if page+1 < len(f.pages) {
		out.NextToken = aws.String(fmt.Sprint(page + 1))
	}
	return out, nil
}

func doc(name, usd string) string {
	return fmt.Sprintf(`{"product":{"attributes":{"instanceType":%q}},"terms":{"OnDemand":{"X.Y":{"priceDimensions":{"X.Y.Z":{"unit":"Hrs","pricePerUnit":{"USD":%q}}}}}}}`, name, usd)
}

// fakeSpot is the in-process spot price history, which moto does not model realistically.
type fakeSpot struct{ history []ec2types.SpotPrice }

func (f *fakeSpot) DescribeSpotPriceHistory(context.Context, *ec2.DescribeSpotPriceHistoryInput, ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error) {
	return &ec2.DescribeSpotPriceHistoryOutput{SpotPriceHistory: f.history}, nil
}

func TestOnDemandFromPricingAPI(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	api := &fakeProducts{pages: [][]string{{doc("m5.large", "0.0960000000")}, {doc("c7g.large", "0.0725")}}}
	p := New(api, &fakeSpot{}, "us-east-1", clk)
	if v, ok := p.OnDemand("m5.large"); !ok || v != 0.096 {
		t.Fatalf("embedded m5.large = %v %v, want the generated table's 0.096", v, ok)
	}
	api.pages[0][0] = doc("m5.large", "0.5")
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.OnDemand("m5.large"); v != 0.5 {
		t.Errorf("m5.large = %v after refresh, want the API's 0.5", v)
	}
	if v, _ := p.OnDemand("c7g.large"); v != 0.0725 {
		t.Errorf("second page not read: c7g.large = %v", v)
	}
	if p.Stale(time.Hour) {
		t.Error("fresh prices reported stale")
	}
	calls := api.calls
	if err := p.Refresh(context.Background()); err != nil || api.calls != calls {
		t.Errorf("a second refresh within 12h asked the Pricing API again (%d → %d calls): %v", calls, api.calls, err)
	}
	clk.Step(2 * time.Hour)
	if !p.Stale(time.Hour) {
		t.Error("old prices not stale")
	}
	clk.Step(OnDemandRefreshInterval)
	if err := p.Refresh(context.Background()); err != nil || api.calls == calls {
		t.Errorf("the Pricing API was not asked again after 12h: %v", err)
	}
}

func TestPricingAPIDownKeepsFallback(t *testing.T) {
	p := New(&fakeProducts{err: errors.New("no route to pricing")}, &fakeSpot{}, "us-east-1", nil)
	if err := p.Refresh(context.Background()); err == nil {
		t.Error("a failing Pricing API must be reported")
	}
	want, ok := Fallback("us-east-1", "m5.large")
	if got, _ := p.OnDemand("m5.large"); !ok || got != want {
		t.Errorf("m5.large = %v, want the fallback %v", got, want)
	}
	if len(fallbackOnDemand["us-east-1"]) < 1000 {
		t.Errorf("the generated table has %d us-east-1 prices", len(fallbackOnDemand["us-east-1"]))
	}
}

func TestSpotLatestPerZone(t *testing.T) {
	now := time.Now()
	sp := func(zone, price string, age time.Duration) ec2types.SpotPrice {
		return ec2types.SpotPrice{InstanceType: "m5.large", AvailabilityZone: aws.String(zone), SpotPrice: aws.String(price), Timestamp: aws.Time(now.Add(-age))}
	}
	p := New(nil, &fakeSpot{history: []ec2types.SpotPrice{sp("a", "0.05", time.Hour), sp("a", "0.03", time.Minute), sp("b", "0.04", time.Hour)}}, "us-east-1", nil)
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Spot("m5.large", "a"); v != 0.03 {
		t.Errorf("spot in a = %v, want the latest 0.03", v)
	}
	if v, _ := p.Spot("m5.large", "b"); v != 0.04 {
		t.Errorf("spot in b = %v", v)
	}
	if _, ok := p.Spot("m5.large", "c"); ok {
		t.Error("a zone without history has a spot price")
	}
}

func TestParseProductErrors(t *testing.T) {
	if _, _, err := ParseProduct("{"); err == nil {
		t.Error("bad JSON accepted")
	}
	if _, _, err := ParseProduct(doc("m5.large", "abc")); err == nil {
		t.Error("bad price accepted")
	}
}

func TestUnknownRegionFallsBackToUSEast1(t *testing.T) {
	p := New(nil, &fakeSpot{}, "ap-south-2", nil)
	want, _ := Fallback(FallbackRegion, "m5.large")
	if got, ok := p.OnDemand("m5.large"); !ok || got != want {
		t.Errorf("m5.large in a region without embedded prices = %v %v, want us-east-1's %v", got, ok, want)
	}
}
