package state

import (
	"cmp"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider"
	"github.com/gokarpenter/karpenter/pkg/predicates"
	"github.com/gokarpenter/karpenter/pkg/snapshot"
)

// DefaultNominationTTL is how long a nomination outlives the initialisation of the
// NodeClaim it points at. A pod still pending that long after its node became usable is
// scheduled again from scratch.
const DefaultNominationTTL = 20 * time.Second

// Settle and MaxSettle hold back the re-planning of a pod whose nomination lapsed because
// kube-scheduler filled its initialised node with other pods. While kube-scheduler is still
// binding (a burst's pods come out of its back-off in waves), the pod will likely land in
// room the binding pods leave elsewhere, and a node launched for it then stays empty. So
// such a pod is planned only once no pod has been bound for Settle, and at the latest
// MaxSettle after its node was initialised.
const (
	Settle    = time.Second
	MaxSettle = 5 * time.Second
)

// deletedClaimTTL is how long a deleted NodeClaim's UID is remembered. The provisioner
// records the NodeClaim it created after the API server answered; if the NodeClaim was
// deleted (and the informer told us) in between, that late record must not bring it back.
// The window is the time one Create call takes, so minutes are plenty.
const deletedClaimTTL = 5 * time.Minute

// ConditionInitialized is the NodeClaim condition set once its node is usable.
const ConditionInitialized = v1.ConditionTypeInitialized

// Options configure a Cluster.
type Options struct {
	// Clock is read to age nominations; default the real clock.
	Clock clock.Clock
	// NominationTTL; default DefaultNominationTTL.
	NominationTTL time.Duration
}

// Cluster is the informer-fed state of the cluster. Every method is safe for concurrent
// use; the zero value is not usable, call NewCluster.
type Cluster struct {
	clock         clock.Clock
	nominationTTL time.Duration

	mu sync.RWMutex
	// pods are kept as records (podRecord), read as the Pods they build.
	pods map[types.NamespacedName]*podRecord
	// podsOnNode indexes the bound pods by node name, so reading what a node's pods use
	// does not walk every pod of the cluster (it ran on every pod event of a burst).
	podsOnNode  map[string]map[types.NamespacedName]struct{}
	nodes       map[string]*corev1.Node
	nodeClaims  map[string]*v1.NodeClaim
	nodePools   map[string]*v1.NodePool
	daemonSets  map[types.NamespacedName]*appsv1.DaemonSet
	nominations map[types.NamespacedName]nomination
	syncChecks  []func() bool

	claims         map[types.NamespacedName]*corev1.PersistentVolumeClaim
	volumes        map[string]*corev1.PersistentVolume
	storageClasses map[string]*storagev1.StorageClass
	csiNodes       map[string]*storagev1.CSINode
	namespaces     map[string]*corev1.Namespace
	// claimByNode indexes NodeClaims by the Node they registered as (status.nodeName).
	claimByNode map[string]string
	// deletedClaims remembers recently deleted NodeClaims by name, see deletedClaimTTL.
	deletedClaims map[string]deletedClaim
	// generation counts changes, see Generation; placement those that are not a node's
	// health, see PlacementGeneration.
	generation, placement uint64
	// lastBound is when a pod known unbound was last seen bound (see Settle).
	lastBound time.Time
}

// deletedClaim is the tombstone of a deleted NodeClaim.
type deletedClaim struct {
	uid types.UID
	at  time.Time
}

// nomination records that a pending pod is expected to land on a NodeClaim.
type nomination struct {
	uid       types.UID
	nodeClaim string
	at        time.Time
}

// NewCluster returns an empty Cluster.
func NewCluster(opts Options) *Cluster {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.NominationTTL <= 0 {
		opts.NominationTTL = DefaultNominationTTL
	}
	return &Cluster{
		clock:         opts.Clock,
		nominationTTL: opts.NominationTTL,
		pods:          map[types.NamespacedName]*podRecord{},
		podsOnNode:    map[string]map[types.NamespacedName]struct{}{},
		nodes:         map[string]*corev1.Node{},
		nodeClaims:    map[string]*v1.NodeClaim{},
		nodePools:     map[string]*v1.NodePool{},
		daemonSets:    map[types.NamespacedName]*appsv1.DaemonSet{},
		nominations:   map[types.NamespacedName]nomination{},

		claims:         map[types.NamespacedName]*corev1.PersistentVolumeClaim{},
		volumes:        map[string]*corev1.PersistentVolume{},
		storageClasses: map[string]*storagev1.StorageClass{},
		csiNodes:       map[string]*storagev1.CSINode{},
		namespaces:     map[string]*corev1.Namespace{},
		deletedClaims:  map[string]deletedClaim{},
		claimByNode:    map[string]string{},
	}
}

// Generation counts the changes to the state: it moves on every update or delete of an
// object the state holds and on every nomination, except an update that repeats the stored
// resource version (an informer resync) and a Node update that only renews the
// conditions' heartbeat times. A caller that found nothing to do at one generation (a
// disruption pass that found nothing to consolidate, say) need not look again while it
// stays the same, as far as the state is concerned: time, prices and objects the state does
// not hold are the caller's to watch.
func (c *Cluster) Generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.generation
}

// PlacementGeneration counts the changes Generation counts except a Node's health (an
// update that changes only its conditions and the node lifecycle controller's not-ready
// and unreachable taints, predicates.HealthOnly), a bound pod's run status (conditions,
// phase while it runs: predicates.PodStatusOnly) and a NodeClaim's record of its pods' last event
// (predicates.PodEventOnly: the pod events themselves are counted): what pods there are,
// where they run and what they request, and every other object the state holds. Nodes
// whose leases lapse flap Ready, NotReady and Ready again by the hundred, their pods'
// Ready conditions with them; a caller that depends on node health (disruption budgets
// count NotReady nodes) reads it from the Nodes itself rather than redoing its work on
// every flap.
func (c *Cluster) PlacementGeneration() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.placement
}

// changed moves both generations on. The caller holds c.mu.
func (c *Cluster) changed() { c.generation++; c.placement++ }

// record stores obj under key in m and moves the generation on, unless obj repeats the
// stored object's resource version (an informer resync, or the informer delivering what the
// provisioner recorded from its Create). The caller holds c.mu.
func record[K comparable, T metav1.Object](c *Cluster, m map[K]T, key K, obj T) {
	if old, ok := m[key]; !ok || newVersion(old, obj) {
		c.changed()
	}
	m[key] = obj
}

func newVersion(old, updated metav1.Object) bool {
	return old.GetResourceVersion() == "" || old.GetResourceVersion() != updated.GetResourceVersion()
}

// UpdatePod records the latest version of a pod. A pod that is bound, finished or gone
// from the provisionable set loses its nomination.
func (c *Cluster) UpdatePod(pod *corev1.Pod) {
	c.setPod(types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, newPodRecord(pod, nil), pod)
}

// setPod is UpdatePod with the pod's record already built (the PodStore's).
func (c *Cluster) setPod(key types.NamespacedName, r *podRecord, pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, known := c.pods[key]
	if known && old.node != r.node {
		c.unindexPod(old.node, key)
		if old.node == "" {
			c.lastBound = c.clock.Now()
		}
	}
	if r.node != "" {
		on := c.podsOnNode[r.node]
		if on == nil {
			on = map[types.NamespacedName]struct{}{}
			c.podsOnNode[r.node] = on
		}
		on[key] = struct{}{}
	}
	changedVersion := !known || old.meta.ResourceVersion == "" || old.meta.ResourceVersion != r.meta.ResourceVersion
	switch {
	case known && changedVersion && predicates.PodStatusOnly(old.pod(), pod):
		c.generation++
	case changedVersion:
		c.changed()
	}
	c.pods[key] = r
	if n, ok := c.nominations[key]; ok && (n.uid != r.meta.UID || !r.provisionable) {
		delete(c.nominations, key)
	}
}

// DeletePod forgets a pod and its nomination.
func (c *Cluster) DeletePod(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
	if old, ok := c.pods[key]; ok {
		c.unindexPod(old.node, key)
	}
	delete(c.pods, key)
	delete(c.nominations, key)
}

// unindexPod removes a pod from its node's index entry. The caller holds c.mu.
func (c *Cluster) unindexPod(nodeName string, key types.NamespacedName) {
	if on := c.podsOnNode[nodeName]; on != nil {
		delete(on, key)
		if len(on) == 0 {
			delete(c.podsOnNode, nodeName)
		}
	}
}

// UpdateNode records the latest version of a Node.
func (c *Cluster) UpdateNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch old, ok := c.nodes[node.Name]; {
	case ok && (!newVersion(old, node) || predicates.HeartbeatOnly(old, node)):
	case ok && predicates.HealthOnly(old, node):
		c.generation++
	default:
		c.changed()
	}
	c.nodes[node.Name] = node
}

// DeleteNode forgets a Node.
func (c *Cluster) DeleteNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
	delete(c.nodes, name)
}

// UpdateNodeClaim records the latest version of a NodeClaim. The provisioner calls it with
// the object the API server returned from Create, so the next batch sees the NodeClaim even
// before the informer does. A NodeClaim already seen deleted (same name and UID) is not
// recorded again: its delete event will not come twice.
func (c *Cluster) UpdateNodeClaim(nc *v1.NodeClaim) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tomb, ok := c.deletedClaims[nc.Name]; ok {
		if tomb.uid == nc.UID {
			return
		}
		delete(c.deletedClaims, nc.Name)
	}
	if old, ok := c.nodeClaims[nc.Name]; ok && old.UID != "" && old.UID == nc.UID && olderVersion(nc.ResourceVersion, old.ResourceVersion) {
		return
	}
	if old, ok := c.nodeClaims[nc.Name]; ok && old.Status.NodeName != "" && old.Status.NodeName != nc.Status.NodeName {
		delete(c.claimByNode, old.Status.NodeName)
	}
	if nc.Status.NodeName != "" {
		c.claimByNode[nc.Status.NodeName] = nc.Name
	}
	if old, ok := c.nodeClaims[nc.Name]; ok && newVersion(old, nc) && predicates.PodEventOnly(old, nc) {
		c.generation++
		c.nodeClaims[nc.Name] = nc
		return
	}
	record(c, c.nodeClaims, nc.Name, nc)
}

// DeleteNodeClaim forgets a NodeClaim and drops the nominations to it, so its pods are
// scheduled again.
func (c *Cluster) DeleteNodeClaim(name string) { c.deleteNodeClaim(name, "") }

// deleteNodeClaim forgets a NodeClaim and remembers its UID (uid, or the recorded
// NodeClaim's) so a late UpdateNodeClaim of the same object does not bring it back.
func (c *Cluster) deleteNodeClaim(name string, uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	for n, tomb := range c.deletedClaims {
		if now.Sub(tomb.at) > deletedClaimTTL {
			delete(c.deletedClaims, n)
		}
	}
	if nc, ok := c.nodeClaims[name]; ok && uid == "" {
		uid = nc.UID
	}
	if uid != "" {
		c.deletedClaims[name] = deletedClaim{uid: uid, at: now}
	}
	if nc, ok := c.nodeClaims[name]; ok && nc.Status.NodeName != "" && c.claimByNode[nc.Status.NodeName] == name {
		delete(c.claimByNode, nc.Status.NodeName)
	}
	c.changed()
	delete(c.nodeClaims, name)
	for key, n := range c.nominations {
		if n.nodeClaim == name {
			delete(c.nominations, key)
		}
	}
}

// UpdatePersistentVolumeClaim records the latest version of a claim.
func (c *Cluster) UpdatePersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := types.NamespacedName{Namespace: pvc.Namespace, Name: pvc.Name}
	record(c, c.claims, key, pvc)
}

// DeletePersistentVolumeClaim forgets a claim.
func (c *Cluster) DeletePersistentVolumeClaim(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
	delete(c.claims, key)
}

// UpdatePersistentVolume records the latest version of a PersistentVolume.
func (c *Cluster) UpdatePersistentVolume(pv *corev1.PersistentVolume) {
	c.mu.Lock()
	defer c.mu.Unlock()
	record(c, c.volumes, pv.Name, pv)
}

// DeletePersistentVolume forgets a PersistentVolume.
func (c *Cluster) DeletePersistentVolume(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
	delete(c.volumes, name)
}

// UpdateStorageClass records the latest version of a StorageClass.
func (c *Cluster) UpdateStorageClass(sc *storagev1.StorageClass) {
	c.mu.Lock()
	defer c.mu.Unlock()
	record(c, c.storageClasses, sc.Name, sc)
}

// DeleteStorageClass forgets a StorageClass.
func (c *Cluster) DeleteStorageClass(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
	delete(c.storageClasses, name)
}

// UpdateCSINode records the latest version of a CSINode.
func (c *Cluster) UpdateCSINode(cn *storagev1.CSINode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	record(c, c.csiNodes, cn.Name, cn)
}

// DeleteCSINode forgets a CSINode.
func (c *Cluster) DeleteCSINode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
	delete(c.csiNodes, name)
}

// UpdateNamespace records the latest version of a Namespace.
func (c *Cluster) UpdateNamespace(ns *corev1.Namespace) {
	c.mu.Lock()
	defer c.mu.Unlock()
	record(c, c.namespaces, ns.Name, ns)
}

// DeleteNamespace forgets a Namespace.
func (c *Cluster) DeleteNamespace(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
	delete(c.namespaces, name)
}

// UpdateNodePool records the latest version of a NodePool.
func (c *Cluster) UpdateNodePool(np *v1.NodePool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	record(c, c.nodePools, np.Name, np)
}

// DeleteNodePool forgets a NodePool.
func (c *Cluster) DeleteNodePool(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
	delete(c.nodePools, name)
}

// UpdateDaemonSet records the latest version of a DaemonSet.
func (c *Cluster) UpdateDaemonSet(ds *appsv1.DaemonSet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name}
	record(c, c.daemonSets, key, ds)
}

// DeleteDaemonSet forgets a DaemonSet.
func (c *Cluster) DeleteDaemonSet(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
	delete(c.daemonSets, key)
}

// Nominate records that pods are expected on target, the name of a NodeClaim or of the
// Node a NodeClaim registered as. It returns how many pods were nominated: none when the
// target is not a known, live NodeClaim (an unmanaged node, say). A pod the state no
// longer knows (deleted, or replaced by a namesake, while its batch was solved) is
// skipped: no later event would remove its nomination.
func (c *Cluster) Nominate(target string, pods []*corev1.Pod) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	name, ok := c.resolveNodeClaim(target)
	if !ok {
		return 0
	}
	now := c.clock.Now()
	n := 0
	for _, p := range pods {
		key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		if known, ok := c.pods[key]; !ok || known.meta.UID != p.UID {
			continue
		}
		c.nominations[key] = nomination{uid: p.UID, nodeClaim: name, at: now}
		n++
	}
	if n > 0 {
		c.changed()
	}
	return n
}

// Nomination returns the NodeClaim the pod is validly nominated to, if any (see
// validNominations). It looks only at the nominations to the same NodeClaim, so the
// provisioner can ask it for every pod event.
func (c *Cluster) Nomination(key types.NamespacedName) (string, bool) {
	name, _, ok := c.NominationState(key)
	return name, ok
}

// Settling returns how long the pending pod's re-planning is held back (see Settle): its
// nomination lapsed because its initialised node is full, and kube-scheduler is still
// binding pods. It returns 0 when the pod is to be planned now, or is validly nominated.
func (c *Cluster) Settling(key types.NamespacedName) time.Duration {
	_, settling, _ := c.NominationState(key)
	return settling
}

// NominationState is Nomination and Settling at once, for the provisioner's reconcile of
// every pod event: the Node's room is worked out once.
func (c *Cluster) NominationState(key types.NamespacedName) (nodeClaim string, settling time.Duration, nominated bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.nominations[key]
	if !ok {
		return "", 0, false
	}
	now := c.clock.Now()
	if !c.nominationHolds(key, n, now) {
		return "", 0, false
	}
	if c.hasRoom(key, n, now) {
		return n.nodeClaim, 0, true
	}
	if until, ok := c.settlingUntil(n, now); ok {
		return "", until.Sub(now), false
	}
	return "", 0, false
}

// hasRoom reports whether the pod key, validly nominated (n), keeps its room: its NodeClaim
// is not initialised yet, or its Node still has room for it after the bound pods and the
// pods nominated there before it. It looks only at the nominations to the same NodeClaim,
// so it can be asked for every pod event. The caller holds c.mu.
func (c *Cluster) hasRoom(key types.NamespacedName, n nomination, now time.Time) bool {
	nc := c.nodeClaims[n.nodeClaim]
	if !isInitialized(nc) || nc.Status.NodeName == "" || c.nodes[nc.Status.NodeName] == nil {
		return true
	}
	valid := map[types.NamespacedName]nomination{}
	var keys []types.NamespacedName
	for other, on := range c.nominations {
		if on.nodeClaim == n.nodeClaim && c.nominationHolds(other, on, now) {
			valid[other] = on
			keys = append(keys, other)
		}
	}
	node := nc.Status.NodeName
	c.dropOverflow(node, c.usedOn(map[string][]types.NamespacedName{node: nil})[node], keys, valid)
	_, ok := valid[key]
	return ok
}

// settlingUntil reports whether a lapsing nomination to n's NodeClaim is held back now,
// and until when at most (see Settle). Only an initialised NodeClaim's nominations lapse for
// want of room. The caller holds c.mu.
func (c *Cluster) settlingUntil(n nomination, now time.Time) (time.Time, bool) {
	cond := meta.FindStatusCondition(c.nodeClaims[n.nodeClaim].Status.Conditions, ConditionInitialized)
	if cond == nil || cond.Status != metav1.ConditionTrue {
		return time.Time{}, false
	}
	until := c.lastBound.Add(Settle)
	if limit := cond.LastTransitionTime.Add(MaxSettle); limit.Before(until) {
		until = limit
	}
	return until, now.Before(until)
}

// NominatedTo returns the pending pods validly nominated (see validNominations) to a
// NodeClaim, named by its own name or by the Node it registered as, oldest first, and the
// name of that NodeClaim's Node ("" before it registered).
func (c *Cluster) NominatedTo(target string) (node string, out []*corev1.Pod) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	name, ok := c.resolveNodeClaim(target)
	if !ok {
		return "", nil
	}
	for key, n := range c.validNominations(c.clock.Now()) {
		if n.nodeClaim == name {
			out = append(out, c.pods[key].pod())
		}
	}
	slices.SortFunc(out, snapshot.ComparePods)
	return c.nodeClaims[name].Status.NodeName, out
}

// resolveNodeClaim maps a NodeClaim or Node name to a live NodeClaim's name. The caller
// holds c.mu.
func (c *Cluster) resolveNodeClaim(target string) (string, bool) {
	if nc, ok := c.nodeClaims[target]; ok && nc.DeletionTimestamp == nil {
		return target, true
	}
	if name, ok := c.claimByNode[target]; ok {
		if nc := c.nodeClaims[name]; nc != nil && nc.DeletionTimestamp == nil {
			return name, true
		}
	}
	return "", false
}

// nominationValid: the NodeClaim exists and is not being deleted, and it has not been
// initialised for longer than the TTL. The caller holds c.mu.
func (c *Cluster) nominationValid(n nomination, now time.Time) bool {
	nc, ok := c.nodeClaims[n.nodeClaim]
	if !ok || nc.DeletionTimestamp != nil {
		return false
	}
	if cond := meta.FindStatusCondition(nc.Status.Conditions, ConditionInitialized); cond != nil && cond.Status == "True" {
		since := n.at
		if t := cond.LastTransitionTime.Time; t.After(since) {
			since = t
		}
		return now.Sub(since) < c.nominationTTL
	}
	return true
}

// NominatedTargets names the NodeClaims that pending pods are validly nominated to, and the
// Nodes those registered as: the capacity that must not be disrupted under the pods about to
// land there.
func (c *Cluster) NominatedTargets() map[string]bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := map[string]bool{}
	if len(c.nominations) == 0 {
		return out
	}
	for _, n := range c.validNominations(c.clock.Now()) {
		out[n.nodeClaim] = true
		if nc := c.nodeClaims[n.nodeClaim]; nc != nil && nc.Status.NodeName != "" {
			out[nc.Status.NodeName] = true
		}
	}
	return out
}

// PendingPods returns the provisionable pods that are not validly nominated, in the order
// they are planned in (snapshot.ComparePods: oldest first): every pod that still needs a
// place, as disruption must count them.
func (c *Cluster) PendingPods() []*corev1.Pod {
	out, _ := c.pending(false)
	return out
}

// PodsToProvision is PendingPods without the pods whose re-planning is held back while
// kube-scheduler is still binding (see Settle): what the provisioner plans for now. wait is
// how long until the first pod held back may be planned (0 when none is).
func (c *Cluster) PodsToProvision() (out []*corev1.Pod, wait time.Duration) { return c.pending(true) }

func (c *Cluster) pending(skipSettling bool) ([]*corev1.Pod, time.Duration) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	now := c.clock.Now()
	var out []*corev1.Pod
	var wait time.Duration
	valid := c.validNominations(now)
	for key, r := range c.pods {
		if !r.provisionable {
			continue
		}
		if _, ok := valid[key]; ok {
			continue
		}
		if n, ok := c.nominations[key]; skipSettling && ok && c.nominationHolds(key, n, now) {
			if until, settling := c.settlingUntil(n, now); settling {
				if d := until.Sub(now); wait == 0 || d < wait {
					wait = d
				}
				continue
			}
		}
		out = append(out, r.pod())
	}
	slices.SortFunc(out, snapshot.ComparePods)
	return out, wait
}

// validNominations are the nominations of provisionable pods that still hold: their
// NodeClaim is live and not initialised for longer than the TTL, and, once it is
// initialised, the pod still fits what its Node has left. kube-scheduler may have filled
// the node with other pods; waiting out the TTL would leave such a pod pending for nothing,
// so it is planned again at once. Nominated pods claim a node's room oldest nomination
// first. The caller holds c.mu.
func (c *Cluster) validNominations(now time.Time) map[types.NamespacedName]nomination {
	valid := map[types.NamespacedName]nomination{}
	onNode := map[string][]types.NamespacedName{} // initialised NodeClaims' Node names
	for key, n := range c.nominations {
		if !c.nominationHolds(key, n, now) {
			continue
		}
		valid[key] = n
		if nc := c.nodeClaims[n.nodeClaim]; isInitialized(nc) && nc.Status.NodeName != "" && c.nodes[nc.Status.NodeName] != nil {
			onNode[nc.Status.NodeName] = append(onNode[nc.Status.NodeName], key)
		}
	}
	if len(onNode) == 0 {
		return valid
	}
	used := c.usedOn(onNode)
	for nodeName, keys := range onNode {
		c.dropOverflow(nodeName, used[nodeName], keys, valid)
	}
	return valid
}

// nominationHolds: the pod is still the one nominated and still provisionable, and the
// nomination is valid (nominationValid). The caller holds c.mu.
func (c *Cluster) nominationHolds(key types.NamespacedName, n nomination, now time.Time) bool {
	r, ok := c.pods[key]
	return ok && r.meta.UID == n.uid && r.provisionable && c.nominationValid(n, now)
}

// usedOn sums the requests of the unfinished pods bound to each of the nodes, in one pass
// over the pods. The caller holds c.mu.
func (c *Cluster) usedOn(nodes map[string][]types.NamespacedName) map[string]corev1.ResourceList {
	used := map[string]corev1.ResourceList{}
	for node := range nodes {
		for key := range c.podsOnNode[node] {
			r := c.pods[key]
			if r == nil || node == "" || r.terminal {
				continue
			}
			if used[node] == nil {
				used[node] = corev1.ResourceList{}
			}
			addResources(used[node], r.requests())
		}
	}
	return used
}

// dropOverflow removes from valid the pods nominated to the initialised Node nodeName (keys)
// that no longer fit what the Node has left after its bound pods (used), oldest nomination
// served first. The caller holds c.mu.
func (c *Cluster) dropOverflow(nodeName string, used corev1.ResourceList, keys []types.NamespacedName, valid map[types.NamespacedName]nomination) {
	free := c.nodes[nodeName].Status.Allocatable.DeepCopy()
	for name, q := range used {
		left := free[name]
		left.Sub(q)
		free[name] = left
	}
	slices.SortFunc(keys, func(a, b types.NamespacedName) int {
		return cmp.Or(valid[a].at.Compare(valid[b].at), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, key := range keys {
		req := c.pods[key].requests()
		if !cloudprovider.Fits(free, req) {
			delete(valid, key)
			continue
		}
		for name, q := range req {
			left := free[name]
			left.Sub(q)
			free[name] = left
		}
	}
}

func addResources(sum, more corev1.ResourceList) {
	for name, q := range more {
		total := sum[name]
		total.Add(q)
		sum[name] = total
	}
}

func isInitialized(nc *v1.NodeClaim) bool { return nc != nil && snapshot.Initialized(nc) }

// NodePools returns every NodePool, by name.
func (c *Cluster) NodePools() []*v1.NodePool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return sortedValues(c.nodePools)
}

// NodeClaims returns every NodeClaim, by name.
func (c *Cluster) NodeClaims() []*v1.NodeClaim {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return sortedValues(c.nodeClaims)
}

// Nodes returns every Node, by name.
func (c *Cluster) Nodes() []*corev1.Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return sortedValues(c.nodes)
}

// Pointers points at each item of a List's items, for code that reads objects as pointers.
func Pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// AddSyncCheck adds a function Synced consults, typically an informer's HasSynced.
func (c *Cluster) AddSyncCheck(f func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncChecks = append(c.syncChecks, f)
}

// Synced reports whether every informer feeding the state has delivered its initial list.
// Deciding on a partial picture would launch capacity that already exists.
func (c *Cluster) Synced() bool {
	c.mu.RLock()
	checks := slices.Clone(c.syncChecks)
	c.mu.RUnlock()
	for _, f := range checks {
		if !f() {
			return false
		}
	}
	return true
}

func sortedValues[K cmp.Ordered, V any](m map[K]V) []V {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]V, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// olderVersion reports whether resource version a is older than b. Resource versions are
// opaque, but the API server's are integers; anything else compares as not older.
func olderVersion(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b) && isDigits(a) && isDigits(b)
	}
	return a < b && isDigits(a) && isDigits(b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
