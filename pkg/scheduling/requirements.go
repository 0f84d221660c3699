package scheduling

import (
	"math"
	"slices"
	"strconv"

	"github.com/gokarpenter/karpenter/pkg/scheduling/internal/labelreq"
)

// Label requirements live in internal/labelreq; these names keep the scheduler's code short.
type (
	keyReq = labelreq.Req
	reqSet = labelreq.Set
)

// NormalizedKey maps the deprecated label keys kube-scheduler still honours on nodes
// (beta.kubernetes.io/arch, failure-domain.beta.kubernetes.io/zone, ...) to their stable
// names; other keys are returned as they are. Requirements are kept under the stable key, and
// nodes launched for them carry both labels.
func NormalizedKey(key string) string { return labelreq.NormalizedKey(key) }

// DeprecatedKeys lists the deprecated aliases of NormalizedKey, alias first.
func DeprecatedKeys() [][2]string { return labelreq.DeprecatedKeys() }

// compileRequirements turns exported Requirements into a reqSet.
func compileRequirements(reqs []Requirement) (reqSet, error) {
	var s reqSet
	for _, r := range reqs {
		kr, err := labelreq.New(r.Key, r.Operator, r.Values)
		if err != nil {
			return nil, err
		}
		if r.MinValues != nil {
			kr.MinValues = *r.MinValues
		}
		s = s.With(kr)
	}
	return s, nil
}

// toRequirements exports a reqSet (minValues kept, on the key's first requirement). A key
// may need several: NotIn with Gt and Lt for an integer range that excludes values.
func toRequirements(s reqSet) []Requirement {
	out := make([]Requirement, 0, len(s))
	for i := range s {
		r := &s[i]
		first := len(out)
		switch {
		case !r.Complement && len(r.Values) == 0:
			out = append(out, Requirement{Key: r.Key, Operator: "DoesNotExist"})
		case !r.Complement:
			// The values are already within any integer bounds (labelreq.Intersect).
			out = append(out, Requirement{Key: r.Key, Operator: "In", Values: slices.Clone(r.Values)})
		default:
			if len(r.Values) > 0 {
				out = append(out, Requirement{Key: r.Key, Operator: "NotIn", Values: slices.Clone(r.Values)})
			}
			bounded := false
			if r.Integer && r.Min > math.MinInt64 {
				out = append(out, Requirement{Key: r.Key, Operator: "Gt", Values: []string{strconv.FormatInt(r.Min-1, 10)}})
				bounded = true
			}
			if r.Integer && r.Max < math.MaxInt64 {
				out = append(out, Requirement{Key: r.Key, Operator: "Lt", Values: []string{strconv.FormatInt(r.Max+1, 10)}})
				bounded = true
			}
			if !bounded && len(r.Values) == 0 && !r.AllowAbsent {
				out = append(out, Requirement{Key: r.Key, Operator: "Exists"})
			}
		}
		if r.MinValues > 0 && len(out) > first {
			mv := r.MinValues
			out[first].MinValues = &mv
		}
	}
	return out
}
