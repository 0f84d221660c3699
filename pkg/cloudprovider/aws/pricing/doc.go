// Package pricing knows what EC2 instances cost: on-demand Linux prices from the Pricing API
// (GetProducts), spot prices from DescribeSpotPriceHistory, and, when the Pricing API cannot
// be reached, an embedded table generated from the public catalogue facts by `go generate`
// (gen/, output zz_generated_prices.go; never edited by hand).
package pricing

//go:generate go run ./gen -out zz_generated_prices.go
