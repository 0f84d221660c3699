package operator

import "testing"

func TestParseFeatureGates(t *testing.T) {
	if g, err := ParseFeatureGates("SpotToSpotConsolidation=true"); err != nil || !g.SpotToSpotConsolidation {
		t.Fatalf("got %+v, %v; want the gate on", g, err)
	}
	if g, err := ParseFeatureGates(""); err != nil || g.SpotToSpotConsolidation {
		t.Fatalf("got %+v, %v; want all off", g, err)
	}
	for _, bad := range []string{"SpotToSpotConsolidation", "SpotToSpotConsolidation=yes please", "Unknown=true"} {
		if _, err := ParseFeatureGates(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
