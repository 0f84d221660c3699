package v1

import (
	"encoding/json"
	"testing"
	"time"
)

func TestNillableDurationJSON(t *testing.T) {
	for _, tc := range []struct {
		in      string
		never   bool
		want    time.Duration
		out     string
		wantErr bool
	}{
		{in: `"Never"`, never: true, out: `"Never"`},
		{in: `"720h"`, want: 720 * time.Hour, out: `"720h0m0s"`},
		{in: `"0s"`, want: 0, out: `"0s"`},
		{in: `"1h30m"`, want: 90 * time.Minute, out: `"1h30m0s"`},
		{in: `"30d"`, wantErr: true},
		{in: `12`, wantErr: true},
	} {
		var d NillableDuration
		err := json.Unmarshal([]byte(tc.in), &d)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s: want error, got %v", tc.in, d)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if d.IsNever() != tc.never || (!tc.never && *d.Duration != tc.want) {
			t.Errorf("%s: got %v", tc.in, d)
		}
		b, _ := json.Marshal(d)
		if string(b) != tc.out {
			t.Errorf("%s: marshalled %s, want %s", tc.in, b, tc.out)
		}
	}
}
