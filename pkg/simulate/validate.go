package simulate

import (
	"errors"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// operators are the requirement operators a NodePool may use.
func operators() []string {
	return []string{
		string(v1.NodeSelectorOpIn), string(v1.NodeSelectorOpNotIn), string(v1.NodeSelectorOpExists),
		string(v1.NodeSelectorOpDoesNotExist), string(v1.NodeSelectorOpGt), string(v1.NodeSelectorOpLt),
		string(v1.NodeSelectorOpGte), string(v1.NodeSelectorOpLte),
	}
}

// taintEffects are the valid taint effects.
func taintEffects() []string {
	return []string{
		string(corev1.TaintEffectNoSchedule), string(corev1.TaintEffectPreferNoSchedule), string(corev1.TaintEffectNoExecute),
	}
}

// validateNodePool checks what the CRD's validation would reject and the scheduler relies on:
// a node class reference, well-formed requirements, no restricted labels, valid taints and
// weight. Problems are *field.Error values, joined.
func validateNodePool(np *v1.NodePool) error {
	var errs []error
	spec := field.NewPath("spec", "template", "spec")
	ref := np.Spec.Template.Spec.NodeClassRef
	switch {
	case ref == nil:
		errs = append(errs, field.Required(spec.Child("nodeClassRef"), "a NodePool needs a node class"))
	default:
		for name, value := range map[string]string{"group": ref.Group, "kind": ref.Kind, "name": ref.Name} {
			if value == "" {
				errs = append(errs, field.Required(spec.Child("nodeClassRef", name), ""))
			}
		}
	}
	for i, r := range np.Spec.Template.Spec.Requirements {
		errs = append(errs, validateRequirement(spec.Child("requirements").Index(i), r)...)
	}
	for key := range np.Spec.Template.ObjectMeta.Labels {
		if v1.IsRestrictedLabel(key) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "template", "metadata", "labels").Key(key), "label is restricted"))
		}
	}
	errs = append(errs, validateTaints(spec.Child("taints"), np.Spec.Template.Spec.Taints)...)
	errs = append(errs, validateTaints(spec.Child("startupTaints"), np.Spec.Template.Spec.StartupTaints)...)
	if w := np.Spec.Weight; w != nil && (*w < 1 || *w > 100) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "weight"), *w, "must be between 1 and 100"))
	}
	slices.SortStableFunc(errs, compareFieldErrors)
	return errors.Join(errs...)
}

// validateRequirement checks one NodePool requirement.
func validateRequirement(path *field.Path, r v1.NodeSelectorRequirementWithMinValues) []error {
	var errs []error
	if r.Key == "" {
		errs = append(errs, field.Required(path.Child("key"), ""))
	}
	if v1.IsRestrictedLabel(r.Key) {
		errs = append(errs, field.Forbidden(path.Child("key"), "label "+r.Key+" is restricted"))
	}
	switch r.Operator {
	case v1.NodeSelectorOpIn:
		if len(r.Values) == 0 {
			errs = append(errs, field.Required(path.Child("values"), "operator In needs at least one value"))
		}
	case v1.NodeSelectorOpNotIn:
	case v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist:
		if len(r.Values) != 0 {
			errs = append(errs, field.Invalid(path.Child("values"), r.Values, "operator "+string(r.Operator)+" takes no values"))
		}
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt, v1.NodeSelectorOpGte, v1.NodeSelectorOpLte:
		if len(r.Values) != 1 {
			errs = append(errs, field.Invalid(path.Child("values"), r.Values, "operator "+string(r.Operator)+" takes exactly one value"))
		} else if n, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil || n < 0 {
			errs = append(errs, field.Invalid(path.Child("values").Index(0), r.Values[0], "must be a non-negative integer"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("operator"), r.Operator, operators()))
	}
	if m := r.MinValues; m != nil {
		switch {
		case *m < 1 || *m > 50:
			errs = append(errs, field.Invalid(path.Child("minValues"), *m, "must be between 1 and 50"))
		case r.Operator == v1.NodeSelectorOpIn && *m > len(r.Values):
			errs = append(errs, field.Invalid(path.Child("minValues"), *m, "must not exceed the number of values"))
		}
	}
	return errs
}

// validateTaints checks keys and effects.
func validateTaints(path *field.Path, taints []corev1.Taint) []error {
	var errs []error
	for i, t := range taints {
		if t.Key == "" {
			errs = append(errs, field.Required(path.Index(i).Child("key"), ""))
		}
		if !slices.Contains(taintEffects(), string(t.Effect)) {
			errs = append(errs, field.NotSupported(path.Index(i).Child("effect"), t.Effect, taintEffects()))
		}
	}
	return errs
}

// validatePodSpec checks what the scheduler needs from a pod: containers, and requests and
// limits that are not negative (unparseable quantities already failed decoding).
func validatePodSpec(spec *corev1.PodSpec, path *field.Path) error {
	var errs []error
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("containers"), "a pod needs at least one container"))
	}
	check := func(p *field.Path, containers []corev1.Container) {
		for i, c := range containers {
			for kind, list := range map[string]corev1.ResourceList{"requests": c.Resources.Requests, "limits": c.Resources.Limits} {
				for name, q := range list {
					if q.Sign() < 0 {
						errs = append(errs, field.Invalid(p.Index(i).Child("resources", kind).Key(string(name)), q.String(), "must not be negative"))
					}
				}
			}
		}
	}
	check(path.Child("initContainers"), spec.InitContainers)
	check(path.Child("containers"), spec.Containers)
	for name, q := range spec.Overhead {
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(path.Child("overhead").Key(string(name)), q.String(), "must not be negative"))
		}
	}
	slices.SortStableFunc(errs, compareFieldErrors)
	return errors.Join(errs...)
}

// compareFieldErrors orders errors by message so reports are deterministic.
func compareFieldErrors(a, b error) int {
	switch as, bs := a.Error(), b.Error(); {
	case as < bs:
		return -1
	case as > bs:
		return 1
	}
	return 0
}
