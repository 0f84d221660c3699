package snapshot

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/pods"
	"github.com/gokarpenter/karpenter/pkg/scheduling"
)

// List reads the objects Build needs, and the NodePools, through a client (a live
// cluster's, or a cache's), for callers without the controller's state such as `karpenter
// explain`. Nominations live only in the controller's memory, so Objects.Nominated is
// empty.
func List(ctx context.Context, c client.Reader) (Objects, []*v1.NodePool, error) {
	var (
		objs  Objects
		nps   v1.NodePoolList
		nodes corev1.NodeList
		ncs   v1.NodeClaimList
		pods  corev1.PodList
		dss   appsv1.DaemonSetList
		pvcs  corev1.PersistentVolumeClaimList
		pvs   corev1.PersistentVolumeList
		scs   storagev1.StorageClassList
		csins storagev1.CSINodeList
		nss   corev1.NamespaceList
		lists = []client.ObjectList{&nps, &nodes, &ncs, &pods, &dss, &pvcs, &pvs, &scs, &csins, &nss}
	)
	for _, l := range lists {
		if err := c.List(ctx, l); err != nil {
			return Objects{}, nil, fmt.Errorf("listing %T: %w", l, err)
		}
	}
	objs.Nodes = pointers(nodes.Items)
	objs.NodeClaims = pointers(ncs.Items)
	objs.Pods = pointers(pods.Items)
	objs.DaemonSets = pointers(dss.Items)
	objs.PersistentVolumeClaims = pointers(pvcs.Items)
	objs.PersistentVolumes = pointers(pvs.Items)
	objs.StorageClasses = pointers(scs.Items)
	objs.CSINodes = pointers(csins.Items)
	objs.Namespaces = pointers(nss.Items)
	return objs, pointers(nps.Items), nil
}

func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// FromClient is the whole adapter for a caller holding only a client (`karpenter explain`):
// it lists the objects, converts the NodePools with instanceTypes, builds the snapshot and
// returns the pods waiting for capacity (pods.IsProvisionable) in the order the controller
// plans them. An error listing some NodePool's instance types is returned next to a usable
// snapshot that leaves that NodePool out.
func FromClient(ctx context.Context, c client.Reader, instanceTypes InstanceTypesFunc) (*scheduling.Snapshot, []*corev1.Pod, error) {
	objs, nodePools, err := List(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	pools, all, poolErr := NodePools(nodePools, instanceTypes, objs)
	var pending []*corev1.Pod
	for _, p := range objs.Pods {
		if pods.IsProvisionable(p) {
			pending = append(pending, p)
		}
	}
	slices.SortFunc(pending, ComparePods)
	return Build(objs, pools, all), pending, poolErr
}
