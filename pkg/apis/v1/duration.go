package v1

import (
	"encoding/json"
	"fmt"
	"time"
)

// Never is the string form of a NillableDuration that never elapses.
const Never = "Never"

// NillableDuration is a duration that may be "Never". In JSON it is a Go duration string
// ("720h", "30s") or "Never"; in Go, Duration is nil for Never.
//
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:Pattern=`^(([0-9]+(s|m|h))+|Never)$`
type NillableDuration struct {
	Duration *time.Duration `json:"-"`
}

// MustParseNillableDuration parses a duration string or "Never"; it panics on bad input and is
// meant for constants and tests.
func MustParseNillableDuration(s string) NillableDuration {
	var d NillableDuration
	if err := d.parse(s); err != nil {
		panic(err)
	}
	return d
}

// IsNever reports whether the duration never elapses.
func (d NillableDuration) IsNever() bool { return d.Duration == nil }

// String is the JSON form without quotes.
func (d NillableDuration) String() string {
	if d.Duration == nil {
		return Never
	}
	return d.Duration.String()
}

// MarshalJSON writes "Never" or a duration string.
func (d NillableDuration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "Never" or a duration string.
func (d *NillableDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decoding duration: %w", err)
	}
	return d.parse(s)
}

func (d *NillableDuration) parse(s string) error {
	if s == Never {
		d.Duration = nil
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parsing duration %q: %w", s, err)
	}
	d.Duration = &v
	return nil
}

// ToUnstructured lets the structured-merge-diff machinery (server-side apply) see a string.
func (d NillableDuration) ToUnstructured() interface{} { return d.String() }
