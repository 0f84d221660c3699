package v1alpha1

import (
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Instant is a time kept to the microsecond. It reads both that form and the whole-second
// form (metav1.Time's), which SimInstances written by earlier versions hold, so a cluster
// that kept its SimInstances across an upgrade still decodes them.
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:Format=date-time
// +k8s:deepcopy-gen=false
type Instant struct {
	time.Time `json:"-"`
}

// NewInstant wraps t.
func NewInstant(t time.Time) Instant { return Instant{Time: t} }

// DeepCopyInto copies the value: time.Time holds no references callers may write through.
func (t *Instant) DeepCopyInto(out *Instant) { *out = *t }

// MarshalJSON writes RFC 3339 in UTC with microseconds, or null for the zero time.
func (t Instant) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(metav1.RFC3339Micro))
}

// UnmarshalJSON reads RFC 3339 with or without fractional seconds, or null.
func (t *Instant) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decoding a time: %w", err)
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("decoding a time: %w", err)
	}
	t.Time = parsed.Local()
	return nil
}
