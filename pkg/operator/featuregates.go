package operator

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// FeatureGates are upstream's feature gates, by upstream's names.
type FeatureGates struct {
	NodeRepair              bool
	ReservedCapacity        bool
	SpotToSpotConsolidation bool
	NodeOverlay             bool
	StaticCapacity          bool
	CapacityBuffer          bool
}

// DefaultFeatureGates are upstream's defaults: ReservedCapacity on, the rest off.
func DefaultFeatureGates() FeatureGates { return FeatureGates{ReservedCapacity: true} }

func (g *FeatureGates) gates() map[string]*bool {
	return map[string]*bool{
		"NodeRepair": &g.NodeRepair, "ReservedCapacity": &g.ReservedCapacity,
		"SpotToSpotConsolidation": &g.SpotToSpotConsolidation, "NodeOverlay": &g.NodeOverlay,
		"StaticCapacity": &g.StaticCapacity, "CapacityBuffer": &g.CapacityBuffer,
	}
}

func knownGates() string {
	names := make([]string, 0, 6)
	for name := range (&FeatureGates{}).gates() {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// String renders every gate as Name=bool, sorted by name.
func (g *FeatureGates) String() string {
	var parts []string
	for name, v := range g.gates() {
		parts = append(parts, name+"="+strconv.FormatBool(*v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Set applies "Name=bool,..." over the current gates. An unknown gate or a value that is not
// true or false is an error; gates not named keep their value.
func (g *FeatureGates) Set(s string) error {
	next := *g
	gates := next.gates()
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("%q is not Name=true or Name=false", part)
		}
		name = strings.TrimSpace(name)
		p, known := gates[name]
		if !known {
			return fmt.Errorf("unknown feature gate %q (known: %s)", name, knownGates())
		}
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("feature gate %s: %q is not true or false", name, val)
		}
		*p = b
	}
	*g = next
	return nil
}
