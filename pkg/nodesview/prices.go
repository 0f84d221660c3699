package nodesview

import "github.com/gokarpenter/karpenter/pkg/cloudprovider"

// CatalogPrices prices offerings from an instance-type catalogue.
type CatalogPrices map[[3]string]float64

var _ Pricer = CatalogPrices(nil)

// NewCatalogPrices indexes the catalogue's offerings.
func NewCatalogPrices(its []*cloudprovider.InstanceType) CatalogPrices {
	p := CatalogPrices{}
	for _, it := range its {
		for _, o := range it.Offerings {
			p[[3]string{it.Name, o.Zone, o.CapacityType}] = o.PricePerHour
		}
	}
	return p
}

// Price implements Pricer.
func (p CatalogPrices) Price(instanceType, zone, capacityType string) (float64, bool) {
	v, ok := p[[3]string{instanceType, zone, capacityType}]
	return v, ok
}
