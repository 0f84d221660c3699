package simulate

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// containerDefaults are the requests and limits a namespace's LimitRanges give containers
// that set none, as the LimitRanger admission plugin does when the pod is created.
type containerDefaults struct {
	requests, limits corev1.ResourceList
}

// namespaceDefaults merges the Container items of the LimitRanges of each namespace, in
// name order (the first to set a resource wins), with the API's defaulting of a
// LimitRangeItem: a default limit falls back to max, a default request to the default
// limit, then to min.
func namespaceDefaults(ranges []*corev1.LimitRange) map[string]*containerDefaults {
	sorted := slices.Clone(ranges)
	slices.SortFunc(sorted, func(a, b *corev1.LimitRange) int { return strings.Compare(a.Name, b.Name) })
	out := map[string]*containerDefaults{}
	for _, lr := range sorted {
		// Within one LimitRange a later Container item overrides an earlier one.
		one := containerDefaults{requests: corev1.ResourceList{}, limits: corev1.ResourceList{}}
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			limits, requests := item.Default.DeepCopy(), item.DefaultRequest.DeepCopy()
			limits, requests = fill(limits, item.Max), fill(requests, limits)
			requests = fill(requests, item.Min)
			for k, v := range limits {
				one.limits[k] = v
			}
			for k, v := range requests {
				one.requests[k] = v
			}
		}
		if len(one.limits)+len(one.requests) == 0 {
			continue
		}
		d := out[lr.Namespace]
		if d == nil {
			d = &containerDefaults{requests: corev1.ResourceList{}, limits: corev1.ResourceList{}}
			out[lr.Namespace] = d
		}
		d.limits, d.requests = fill(d.limits, one.limits), fill(d.requests, one.requests)
	}
	return out
}

// fill sets in dst (made when nil) each resource of src that dst lacks, and returns it.
func fill(dst, src corev1.ResourceList) corev1.ResourceList {
	for k, v := range src {
		if dst == nil {
			dst = corev1.ResourceList{}
		}
		if _, ok := dst[k]; !ok {
			dst[k] = v.DeepCopy()
		}
	}
	return dst
}

// applyDefaults gives spec's containers what a pod gets on creation: requests default to
// the container's own limits (API defaulting), then the namespace's LimitRange defaults fill
// the requests and limits still unset (admission).
func (d *containerDefaults) applyDefaults(spec *corev1.PodSpec) {
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			r := &cs[i].Resources
			r.Requests = fill(r.Requests, r.Limits)
			r.Limits = fill(r.Limits, d.limits)
			r.Requests = fill(r.Requests, d.requests)
		}
	}
}

// applyLimitRanges applies the input's LimitRanges to the pods and DaemonSet templates of
// their namespaces.
func (l *loader) applyLimitRanges() {
	if len(l.limitRanges) == 0 {
		return
	}
	defaults := namespaceDefaults(l.limitRanges)
	for _, pods := range [][]*corev1.Pod{l.in.Pods, l.in.BoundPods} {
		for _, p := range pods {
			if d := defaults[p.Namespace]; d != nil {
				d.applyDefaults(&p.Spec)
			}
		}
	}
	for _, ds := range l.in.DaemonSets {
		if d := defaults[ds.Namespace]; d != nil {
			d.applyDefaults(&ds.Spec.Template.Spec)
		}
	}
}
