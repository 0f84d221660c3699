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

// toRequirements exports a reqSet (minValues kept).
func toRequirements(s reqSet) []Requirement {
	out := make([]Requirement, 0, len(s))
	for i := range s {
		r := &s[i]
		var req Requirement
		switch {
		case r.Gt != math.MinInt64 && r.Lt == math.MaxInt64:
			req = Requirement{Key: r.Key, Operator: "Gt", Values: []string{strconv.FormatInt(r.Gt, 10)}}
		case r.Lt != math.MaxInt64 && r.Gt == math.MinInt64:
			req = Requirement{Key: r.Key, Operator: "Lt", Values: []string{strconv.FormatInt(r.Lt, 10)}}
		case !r.Complement && len(r.Values) == 0:
			req = Requirement{Key: r.Key, Operator: "DoesNotExist"}
		case !r.Complement:
			req = Requirement{Key: r.Key, Operator: "In", Values: slices.Clone(r.Values)}
		case len(r.Values) > 0:
			req = Requirement{Key: r.Key, Operator: "NotIn", Values: slices.Clone(r.Values)}
		case !r.AllowAbsent:
			req = Requirement{Key: r.Key, Operator: "Exists"}
		default:
			continue
		}
		if r.MinValues > 0 {
			mv := r.MinValues
			req.MinValues = &mv
		}
		out = append(out, req)
	}
	return out
}
