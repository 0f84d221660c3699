package explain

import (
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/controllers/disruption/budget"
)

// NodePoolReport is a NodePool's usage against its limits, its disruption budgets now and
// its conditions.
type NodePoolReport struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	NodeClaims int    `json:"nodeClaims"`
	// Resources has one row per resource that is used or limited, sorted by name.
	Resources []ResourceUsage `json:"resources"`
	// Budgets says, per disruption reason, how many more nodes may be disrupted now;
	// -1 means unlimited.
	Budgets []BudgetNow `json:"budgets"`
	// Launching is false when the NodePool launches nothing (deleted, static, or its
	// instance types cannot be listed); Message says why.
	Launching  bool        `json:"launching"`
	Message    string      `json:"message,omitempty"`
	Conditions []Condition `json:"conditions"`
}

// ResourceUsage is one resource's use and limit, as Kubernetes quantities.
type ResourceUsage struct {
	Resource string `json:"resource"`
	Used     string `json:"used"`
	// Limit is empty when the resource is not limited.
	Limit string `json:"limit,omitempty"`
	// Percent is Used/Limit × 100, or -1 when not limited.
	Percent float64 `json:"percent"`
}

// BudgetNow is how many nodes may be disrupted now for one reason.
type BudgetNow struct {
	Reason  string `json:"reason"`
	Allowed int    `json:"allowed"`
	Error   string `json:"error,omitempty"`
}

// Condition is a status condition.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// NodePool explains the NodePool of that name. Its budgets are the disruption controller's
// ledger: nodes being deleted, tainted karpenter.sh/disrupted or NotReady count as being
// disrupted.
func NodePool(w *World, name string, now time.Time) (*NodePoolReport, error) {
	np := w.NodePool(name)
	if np == nil {
		return nil, ErrNotFound{Kind: "nodepool", Name: name}
	}
	r := &NodePoolReport{Kind: "NodePool", Name: name, Resources: []ResourceUsage{}, Budgets: []BudgetNow{},
		Conditions: []Condition{}, Launching: launches(w, np)}
	if !r.Launching {
		r.Message = notLaunchingWhy(w, np)
	}
	used := Usage(w, name)
	names := map[string]bool{}
	for k := range used {
		names[string(k)] = true
	}
	for k := range np.Spec.Limits {
		names[string(k)] = true
	}
	for _, res := range slices.Sorted(maps.Keys(names)) {
		u := used[corev1.ResourceName(res)]
		row := ResourceUsage{Resource: res, Used: u.String(), Percent: -1}
		if l, ok := np.Spec.Limits[corev1.ResourceName(res)]; ok {
			row.Limit = l.String()
			if l.AsApproximateFloat64() > 0 {
				row.Percent = 100 * u.AsApproximateFloat64() / l.AsApproximateFloat64()
			}
		}
		r.Resources = append(r.Resources, row)
	}
	for _, nc := range w.NodeClaims {
		if nc.Labels[v1.NodePoolLabelKey] == name {
			r.NodeClaims++
		}
	}
	ledger := w.Ledger(now)
	for _, why := range []v1.DisruptionReason{v1.DisruptionReasonEmpty, v1.DisruptionReasonUnderutilized, v1.DisruptionReasonDrifted} {
		b := BudgetNow{Reason: string(why)}
		switch n := ledger.Allowed(name, why); {
		case ledger.PoolError(name) != nil:
			b.Error = ledger.PoolError(name).Error()
		case n == budget.Unlimited:
			b.Allowed = -1
		default:
			b.Allowed = n
		}
		r.Budgets = append(r.Budgets, b)
	}
	for _, c := range np.Status.Conditions {
		r.Conditions = append(r.Conditions, Condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message})
	}
	return r, nil
}
