package v1alpha1_test

import (
	"encoding/json"
	"testing"
	"time"

	simv1alpha1 "github.com/gokarpenter/karpenter/pkg/apis/sim/v1alpha1"
)

func TestInstantJSON(t *testing.T) {
	at := time.Date(2026, 12, 1, 18, 26, 10, 734_512_999, time.UTC)
	b, err := json.Marshal(simv1alpha1.NewInstant(at))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2026-12-01T18:26:10.734512Z"` {
		t.Errorf("marshalled %s, want microseconds in UTC", b)
	}
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{`"2026-12-01T18:26:10.734512Z"`, at.Truncate(time.Microsecond)},
		{`"2026-12-01T18:26:10Z"`, at.Truncate(time.Second)}, // written by earlier versions
		{`"2026-12-01T19:26:10.5+01:00"`, at.Truncate(time.Second).Add(500 * time.Millisecond)},
		{`null`, time.Time{}},
	} {
		var got simv1alpha1.Instant
		if err := json.Unmarshal([]byte(tc.in), &got); err != nil {
			t.Errorf("decoding %s: %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("decoding %s = %v, want %v", tc.in, got.Time, tc.want)
		}
	}
	var got simv1alpha1.Instant
	if err := json.Unmarshal([]byte(`"yesterday"`), &got); err == nil {
		t.Error("decoded \"yesterday\" as a time")
	}
	if b, _ := json.Marshal(simv1alpha1.Instant{}); string(b) != "null" {
		t.Errorf("zero time marshalled as %s, want null", b)
	}
}
