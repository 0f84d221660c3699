package state

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// podGVK is the kind the PodStore serves.
var podGVK = corev1.SchemeGroupVersion.WithKind("Pod")

// NewCache returns the manager's cache constructor (manager.Options.NewCache): a
// controller-runtime cache for every kind but pods, which a PodStore serves. compact is
// the cache's transform for the other kinds (cache.Options.DefaultTransform) and the
// store's for pods (nil: a new Compactor).
func NewCache(compact *Compactor) cache.NewCacheFunc {
	if compact == nil {
		compact = NewCompactor(0)
	}
	return func(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
		if opts.DefaultTransform == nil {
			opts.DefaultTransform = compact.Transform
		}
		inner, err := cache.New(cfg, opts)
		if err != nil {
			return nil, err
		}
		lw, err := PodListWatch(cfg, opts)
		if err != nil {
			return nil, err
		}
		return NewPodCache(inner, NewPodStore(lw, compact)), nil
	}
}

// PodListWatch lists and watches every pod, as controller-runtime's informers do.
func PodListWatch(cfg *rest.Config, opts cache.Options) (toolscache.ListerWatcher, error) {
	s := opts.Scheme
	if s == nil {
		s = scheme.Scheme
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		var err error
		if httpClient, err = rest.HTTPClientFor(cfg); err != nil {
			return nil, fmt.Errorf("building the pod store's HTTP client: %w", err)
		}
	}
	rc, err := apiutil.RESTClientForGVK(podGVK, false, false, cfg, serializer.NewCodecFactory(s), httpClient)
	if err != nil {
		return nil, fmt.Errorf("building the pod store's REST client: %w", err)
	}
	params := runtime.NewParameterCodec(s)
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			list := &corev1.PodList{}
			if err := rc.Get().Resource("pods").VersionedParams(&o, params).Do(ctx).Into(list); err != nil {
				return nil, err
			}
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.Watch, o.AllowWatchBookmarks = true, true
			return rc.Get().Resource("pods").VersionedParams(&o, params).Watch(ctx)
		},
	}, nil
}

// PodCache is a cache whose pods a PodStore serves and every other kind the cache it
// wraps. Its Get and List of pods return copies the caller may change, as
// controller-runtime's cache does, and support what that cache supports without an index,
// plus the field selector spec.nodeName.
type PodCache struct {
	cache.Cache
	pods *PodStore
}

// NewPodCache wraps inner, serving pods from pods; Start runs both.
func NewPodCache(inner cache.Cache, pods *PodStore) *PodCache {
	return &PodCache{Cache: inner, pods: pods}
}

// Pods is the store.
func (c *PodCache) Pods() *PodStore { return c.pods }

// Get reads a pod from the store, other kinds from the wrapped cache.
func (c *PodCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	out, ok := obj.(*corev1.Pod)
	if !ok {
		return c.Cache.Get(ctx, key, obj, opts...)
	}
	if !c.pods.WaitForSync(ctx) {
		return fmt.Errorf("getting pod %s: waiting for the pod store: %w", key, ctx.Err())
	}
	pod, found := c.pods.Get(key)
	if !found {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, key.Name)
	}
	pod.DeepCopyInto(out)
	out.SetGroupVersionKind(podGVK)
	return nil
}

// List lists pods from the store, other kinds from the wrapped cache.
func (c *PodCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	out, ok := list.(*corev1.PodList)
	if !ok {
		return c.Cache.List(ctx, list, opts...)
	}
	lo := client.ListOptions{}
	lo.ApplyOptions(opts)
	nodeName, err := nodeNameSelected(lo.FieldSelector)
	if err != nil {
		return err
	}
	if !c.pods.WaitForSync(ctx) {
		return fmt.Errorf("listing pods: waiting for the pod store: %w", ctx.Err())
	}
	storeNode := nodeName
	if nodeName == unboundNode {
		storeNode = ""
	}
	pods := c.pods.List(lo.Namespace, lo.LabelSelector, storeNode)
	out.Items = make([]corev1.Pod, 0, len(pods))
	for _, p := range pods {
		if nodeName == unboundNode && p.Spec.NodeName != "" {
			continue
		}
		if lo.UnsafeDisableDeepCopy != nil && *lo.UnsafeDisableDeepCopy {
			out.Items = append(out.Items, *p)
		} else {
			out.Items = append(out.Items, *p.DeepCopy())
		}
		out.Items[len(out.Items)-1].SetGroupVersionKind(podGVK)
	}
	return nil
}

// unboundNode is what nodeNameSelected returns for spec.nodeName="", the pods not bound.
const unboundNode = "\x00unbound"

// nodeNameSelected reads a field selector on pods: none, or spec.nodeName=<name> alone.
func nodeNameSelected(sel fields.Selector) (string, error) {
	if sel == nil || sel.Empty() {
		return "", nil
	}
	name, ok := sel.RequiresExactMatch("spec.nodeName")
	if !ok || len(sel.Requirements()) != 1 {
		return "", fmt.Errorf("listing pods: field selector %q is not supported, only spec.nodeName=<name>", sel.String())
	}
	if name == "" {
		return unboundNode, nil
	}
	return name, nil
}

// GetInformer returns the store for pods, else the wrapped cache's informer.
func (c *PodCache) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	if _, ok := obj.(*corev1.Pod); ok {
		return c.pods, nil
	}
	return c.Cache.GetInformer(ctx, obj, opts...)
}

// GetInformerForKind returns the store for pods, else the wrapped cache's informer.
func (c *PodCache) GetInformerForKind(ctx context.Context, gvk schema.GroupVersionKind, opts ...cache.InformerGetOption) (cache.Informer, error) {
	if gvk == podGVK {
		return c.pods, nil
	}
	return c.Cache.GetInformerForKind(ctx, gvk, opts...)
}

// RemoveInformer refuses pods: the store runs as long as the cache.
func (c *PodCache) RemoveInformer(ctx context.Context, obj client.Object) error {
	if _, ok := obj.(*corev1.Pod); ok {
		return fmt.Errorf("removing the pod informer: the pod store runs as long as the cache")
	}
	return c.Cache.RemoveInformer(ctx, obj)
}

// IndexField accepts spec.nodeName on pods (the store lists by node name), refuses other
// pod fields, and passes other kinds to the wrapped cache.
func (c *PodCache) IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	if _, ok := obj.(*corev1.Pod); ok {
		if field == "spec.nodeName" {
			return nil
		}
		return c.pods.AddIndexers(nil)
	}
	return c.Cache.IndexField(ctx, obj, field, extract)
}

// Start runs the store and the wrapped cache until ctx ends.
func (c *PodCache) Start(ctx context.Context) error {
	go c.pods.Run(ctx)
	return c.Cache.Start(ctx)
}

// WaitForCacheSync waits for the wrapped cache and the store.
func (c *PodCache) WaitForCacheSync(ctx context.Context) bool {
	return c.Cache.WaitForCacheSync(ctx) && c.pods.WaitForSync(ctx)
}
