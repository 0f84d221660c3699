package status

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// HashVersion is the value of karpenter.sh/nodepool-hash-version. Bump it whenever Hash
// changes what it covers, so NodeClaims stamped with an older hash are not taken as drifted.
const HashVersion = "v1"

// hashed are the drift-relevant template fields, in a fixed order.
type hashed struct {
	Labels                 map[string]string      `json:"labels,omitempty"`
	Annotations            map[string]string      `json:"annotations,omitempty"`
	Taints                 []corev1.Taint         `json:"taints,omitempty"`
	StartupTaints          []corev1.Taint         `json:"startupTaints,omitempty"`
	NodeClassRef           *v1.NodeClassReference `json:"nodeClassRef,omitempty"`
	ExpireAfter            string                 `json:"expireAfter"`
	TerminationGracePeriod *metav1.Duration       `json:"terminationGracePeriod,omitempty"`
}

// Hash is the hex SHA-256 of the canonical JSON of the pool's drift-relevant template
// fields. Map keys are sorted by encoding/json; taints are sorted so that reordering them
// does not count as a change.
func Hash(pool *v1.NodePool) (string, error) {
	t := pool.Spec.Template
	h := hashed{
		Labels:                 t.ObjectMeta.Labels,
		Annotations:            t.ObjectMeta.Annotations,
		Taints:                 sortedTaints(t.Spec.Taints),
		StartupTaints:          sortedTaints(t.Spec.StartupTaints),
		NodeClassRef:           t.Spec.NodeClassRef,
		ExpireAfter:            t.Spec.ExpireAfter.String(),
		TerminationGracePeriod: t.Spec.TerminationGracePeriod,
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("hashing the template of nodepool %s: %w", pool.Name, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func sortedTaints(taints []corev1.Taint) []corev1.Taint {
	out := make([]corev1.Taint, 0, len(taints))
	for _, t := range taints {
		out = append(out, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
	}
	slices.SortFunc(out, func(a, b corev1.Taint) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Effect, b.Effect), cmp.Compare(a.Value, b.Value))
	})
	return out
}
