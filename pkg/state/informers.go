package state

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// Register feeds the Cluster from the informers of c (usually mgr.GetCache()): pods,
// Nodes, NodeClaims, NodePools, DaemonSets, PersistentVolumeClaims, PersistentVolumes,
// StorageClasses, CSINodes and Namespaces. Synced reports true once every handler has
// seen its informer's initial list. When informers is a PodCache, the Cluster keeps the
// PodStore's records of pods rather than records of its own.
func (c *Cluster) Register(ctx context.Context, informers cache.Informers) error {
	type feed struct {
		obj    client.Object
		update func(obj any)
		remove func(obj any)
	}
	var feeds []feed
	if pc, ok := informers.(*PodCache); ok {
		store := pc.Pods()
		store.observe(&recordObserver{set: c.setPod, remove: c.DeletePod})
		c.AddSyncCheck(store.Synced)
	} else {
		feeds = append(feeds, feed{&corev1.Pod{}, typed(c.UpdatePod), keyed(func(p *corev1.Pod) { c.DeletePod(nsName(p)) })})
	}
	feeds = append(feeds, []feed{
		{&corev1.Node{}, typed(c.UpdateNode), keyed(func(n *corev1.Node) { c.DeleteNode(n.Name) })},
		{&v1.NodeClaim{}, typed(c.UpdateNodeClaim), keyed(func(nc *v1.NodeClaim) { c.deleteNodeClaim(nc.Name, nc.UID) })},
		{&v1.NodePool{}, typed(c.UpdateNodePool), keyed(func(np *v1.NodePool) { c.DeleteNodePool(np.Name) })},
		{&appsv1.DaemonSet{}, typed(c.UpdateDaemonSet), keyed(func(ds *appsv1.DaemonSet) { c.DeleteDaemonSet(nsName(ds)) })},
		{&corev1.PersistentVolumeClaim{}, typed(c.UpdatePersistentVolumeClaim), keyed(func(pvc *corev1.PersistentVolumeClaim) { c.DeletePersistentVolumeClaim(nsName(pvc)) })},
		{&corev1.PersistentVolume{}, typed(c.UpdatePersistentVolume), keyed(func(pv *corev1.PersistentVolume) { c.DeletePersistentVolume(pv.Name) })},
		{&storagev1.StorageClass{}, typed(c.UpdateStorageClass), keyed(func(sc *storagev1.StorageClass) { c.DeleteStorageClass(sc.Name) })},
		{&storagev1.CSINode{}, typed(c.UpdateCSINode), keyed(func(cn *storagev1.CSINode) { c.DeleteCSINode(cn.Name) })},
		{&corev1.Namespace{}, typed(c.UpdateNamespace), keyed(func(ns *corev1.Namespace) { c.DeleteNamespace(ns.Name) })},
	}...)
	for _, f := range feeds {
		inf, err := informers.GetInformer(ctx, f.obj)
		if err != nil {
			return fmt.Errorf("getting informer for %T: %w", f.obj, err)
		}
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { f.update(obj) },
			UpdateFunc: func(_, obj any) { f.update(obj) },
			DeleteFunc: f.remove,
		})
		if err != nil {
			return fmt.Errorf("adding event handler for %T: %w", f.obj, err)
		}
		c.AddSyncCheck(reg.HasSynced)
	}
	return nil
}

// typed adapts an update method to an informer's untyped object.
func typed[T any](f func(T)) func(obj any) {
	return func(obj any) {
		if t, ok := obj.(T); ok {
			f(t)
		}
	}
}

// keyed adapts a delete method, unwrapping the tombstone an informer hands out when it
// missed the delete event itself.
func keyed[T any](f func(T)) func(obj any) {
	return func(obj any) {
		if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if t, ok := obj.(T); ok {
			f(t)
		}
	}
}

func nsName(obj client.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// PodsAndNodes returns every pod, as refs, and every Node, read only: the cluster state's
// when cluster is set (a reader builds each pod when it reads it, PodRef), else listed from
// the reader without a deep copy (a List copies each pod's struct, 25 MB a call at 20,000
// pods).
func PodsAndNodes(ctx context.Context, cluster *Cluster, reader client.Reader) ([]PodRef, []*corev1.Node, error) {
	if cluster != nil {
		return cluster.PodRefs(), cluster.Nodes(), nil
	}
	pods := &corev1.PodList{}
	if err := reader.List(ctx, pods, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, fmt.Errorf("listing pods: %w", err)
	}
	nodes := &corev1.NodeList{}
	if err := reader.List(ctx, nodes, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, fmt.Errorf("listing nodes: %w", err)
	}
	refs := make([]PodRef, len(pods.Items))
	for i := range pods.Items {
		refs[i] = RefOf(&pods.Items[i])
	}
	return refs, Pointers(nodes.Items), nil
}
