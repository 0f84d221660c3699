package status

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
)

// ValidationSucceeded reasons: what the CRD's rules cannot check because it needs the
// cloud's instance types or crosses fields in ways CEL's cost budget does not allow.
const (
	ReasonValidationSucceeded       = "ValidationSucceeded"
	ReasonLabelConflict             = "LabelConflictsWithRequirements"
	ReasonNoCompatibleInstanceTypes = "NoCompatibleInstanceTypes"
	ReasonMinValuesUnsatisfiable    = "MinValuesUnsatisfiable"
)

// validate checks the pool against its cloud: a template label its own requirements exclude,
// requirements no instance type offering satisfies, and minValues more than the compatible
// instance types provide. It returns the ValidationSucceeded status, reason and message.
func (c *Controller) validate(ctx context.Context, pool *v1.NodePool) (metav1.ConditionStatus, string, string, error) {
	reqs := pool.Spec.Template.Spec.Requirements
	for _, key := range sortedKeys(pool.Spec.Template.ObjectMeta.Labels) {
		value := pool.Spec.Template.ObjectMeta.Labels[key]
		for _, r := range reqs {
			if r.Key == key && !cloudprovider.Matches(r, map[string]string{key: value}) {
				return metav1.ConditionFalse, ReasonLabelConflict,
					fmt.Sprintf("template label %s=%s is excluded by the requirement %s %s %v", key, value, r.Key, r.Operator, r.Values), nil
			}
		}
	}
	if c.cloud == nil {
		return metav1.ConditionTrue, ReasonValidationSucceeded, "", nil
	}
	its, err := c.cloud.GetInstanceTypes(ctx, pool)
	if err != nil {
		return "", "", "", fmt.Errorf("getting the instance types of nodepool %s: %w", pool.Name, err)
	}
	// Template labels constrain the launch like requirements do.
	all := slices.Clone(reqs)
	for _, key := range sortedKeys(pool.Spec.Template.ObjectMeta.Labels) {
		all = append(all, v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: v1.NodeSelectorOpIn, Values: []string{pool.Spec.Template.ObjectMeta.Labels[key]}})
	}
	candidates := cloudprovider.Candidates(its, &v1.NodeClaim{Spec: v1.NodeClaimSpec{Requirements: all}})
	if len(candidates) == 0 {
		return metav1.ConditionFalse, ReasonNoCompatibleInstanceTypes,
			fmt.Sprintf("no instance type offering satisfies the requirements (%d instance types offered)", len(its)), nil
	}
	for _, r := range reqs {
		if r.MinValues == nil {
			continue
		}
		values := map[string]bool{}
		for _, cand := range candidates {
			if v, ok := cand.Labels()[r.Key]; ok {
				values[v] = true
			}
		}
		if len(values) < *r.MinValues {
			return metav1.ConditionFalse, ReasonMinValuesUnsatisfiable,
				fmt.Sprintf("requirement %s asks for minValues %d but the compatible instance types offer %d distinct values", r.Key, *r.MinValues, len(values)), nil
		}
	}
	return metav1.ConditionTrue, ReasonValidationSucceeded, "", nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// joinReasons lists the false conditions that keep a pool from being Ready.
func joinReasons(parts []string) string { return strings.Join(parts, "; ") }
