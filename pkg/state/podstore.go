package state

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// PodStore holds the cluster's pods for the whole process in place of controller-runtime's
// pod informer: a reflector lists and watches pods into it, and it keeps each as a
// podRecord (its metadata and status, and a spec shared with its template's other pods)
// rather than as a corev1.Pod. At 20,000 pods the informer's Pods, their indexes and the
// state's references to them were about 50 MB of a 90 MB heap (BenchmarkCacheMemory).
//
// It serves what the informer served: event handlers (it is a cache.Informer, so For and
// Watches of pods work unchanged), and Get and List through the manager's cache
// (PodCache), each pod built from its record (copied for the cache's readers). The Cluster reads the records
// themselves (Register).
//
// Handlers run one event at a time, in the reflector's goroutine, in the order the API
// server sent them; a handler added late is first told of every pod held (as adds in the
// initial list). Handlers must be quick and must not add or remove handlers.
type PodStore struct {
	lw      toolscache.ListerWatcher
	compact *Compactor

	mu      sync.RWMutex
	pods    map[types.NamespacedName]*podRecord
	synced  chan struct{} // closed once the first list is in and told
	started atomic.Bool
	stopped atomic.Bool

	// dispatch serialises telling: events, and the replay to a handler added late.
	dispatch  sync.Mutex
	handlers  []*podHandler
	observers []*recordObserver
}

// NewPodStore returns a store that lw fills once Run. compact transforms each pod as the
// operator's cache transforms every object, and shares the specs (nil: a new Compactor).
func NewPodStore(lw toolscache.ListerWatcher, compact *Compactor) *PodStore {
	if compact == nil {
		compact = NewCompactor(0)
	}
	return &PodStore{lw: lw, compact: compact, pods: map[types.NamespacedName]*podRecord{}, synced: make(chan struct{})}
}

// Run lists and watches pods into the store until ctx ends.
func (s *PodStore) Run(ctx context.Context) {
	if !s.started.CompareAndSwap(false, true) {
		return
	}
	defer s.stopped.Store(true)
	r := toolscache.NewReflectorWithOptions(s.lw, &corev1.Pod{}, s, toolscache.ReflectorOptions{Name: "pod store", TypeDescription: "*v1.Pod"})
	r.RunWithContext(ctx)
}

// Synced reports whether the first list is in.
func (s *PodStore) Synced() bool {
	select {
	case <-s.synced:
		return true
	default:
		return false
	}
}

// WaitForSync waits until the first list is in or ctx ends; it reports which.
func (s *PodStore) WaitForSync(ctx context.Context) bool {
	select {
	case <-s.synced:
		return true
	case <-ctx.Done():
		return false
	}
}

// Get returns the pod, read only (podRecord.pod).
func (s *PodStore) Get(key types.NamespacedName) (*corev1.Pod, bool) {
	s.mu.RLock()
	r, ok := s.pods[key]
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return r.pod(), true
}

// List returns the pods of namespace ("" for all) whose labels match selector (nil for
// all) and, when nodeName is set, that are bound to that node; read only (podRecord.pod), in no order.
func (s *PodStore) List(namespace string, selector labels.Selector, nodeName string) []*corev1.Pod {
	s.mu.RLock()
	records := make([]*podRecord, 0, len(s.pods))
	for _, r := range s.pods {
		if (namespace == "" || r.meta.Namespace == namespace) && (nodeName == "" || r.node == nodeName) &&
			(selector == nil || selector.Empty() || selector.Matches(labels.Set(r.meta.Labels))) {
			records = append(records, r)
		}
	}
	s.mu.RUnlock()
	out := make([]*corev1.Pod, len(records))
	for i, r := range records {
		out[i] = r.pod()
	}
	return out
}

// Len is the number of pods held.
func (s *PodStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.pods)
}

// admit transforms a pod from the reflector and records it.
func (s *PodStore) admit(obj any) (*corev1.Pod, *podRecord, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil, fmt.Errorf("pod store: got %T, want *v1.Pod", obj)
	}
	out, err := s.compact.Transform(pod)
	if err != nil {
		return nil, nil, fmt.Errorf("transforming pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	pod = out.(*corev1.Pod)
	return pod, newPodRecord(pod, s.compact), nil
}

// Add is Update: the reflector's add of a pod.
func (s *PodStore) Add(obj any) error { return s.Update(obj) }

// Update records a new version of a pod and tells the handlers.
func (s *PodStore) Update(obj any) error {
	pod, r, err := s.admit(obj)
	if err != nil {
		return err
	}
	s.dispatch.Lock()
	defer s.dispatch.Unlock()
	s.mu.Lock()
	old := s.pods[r.key()]
	s.pods[r.key()] = r
	s.mu.Unlock()
	s.tellSet(r.key(), old, r, pod, false)
	return nil
}

// Delete forgets a pod and tells the handlers.
func (s *PodStore) Delete(obj any) error {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return fmt.Errorf("pod store: deleting %T, want *v1.Pod", obj)
	}
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	s.dispatch.Lock()
	defer s.dispatch.Unlock()
	s.mu.Lock()
	_, known := s.pods[key]
	delete(s.pods, key)
	s.mu.Unlock()
	if known {
		s.tellDelete(key, pod)
	}
	return nil
}

// Replace makes the store hold exactly list (a fresh list from the API server): pods not in
// it were deleted while the watch was down, and are told as deletes of their last known
// state; pods whose resource version changed are told as updates, the others not at all.
func (s *PodStore) Replace(list []any, _ string) error {
	fresh := make(map[types.NamespacedName]*podRecord, len(list))
	decoded := make(map[types.NamespacedName]*corev1.Pod, len(list))
	var errs []error
	for _, obj := range list {
		pod, r, err := s.admit(obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fresh[r.key()], decoded[r.key()] = r, pod
	}
	s.dispatch.Lock()
	defer s.dispatch.Unlock()
	s.mu.Lock()
	old := s.pods
	s.pods = fresh
	s.mu.Unlock()
	initial := !s.Synced()
	for key, r := range fresh {
		o := old[key]
		if o != nil && o.meta.UID == r.meta.UID && o.meta.ResourceVersion == r.meta.ResourceVersion {
			continue
		}
		if o != nil && o.meta.UID != r.meta.UID {
			s.tellDelete(key, toolscache.DeletedFinalStateUnknown{Key: key.String(), Obj: o.pod()})
			o = nil
		}
		s.tellSet(key, o, r, decoded[key], initial)
	}
	for key, o := range old {
		if _, ok := fresh[key]; !ok {
			s.tellDelete(key, toolscache.DeletedFinalStateUnknown{Key: key.String(), Obj: o.pod()})
		}
	}
	if initial {
		close(s.synced)
	}
	return errors.Join(errs...)
}

// Resync does nothing: nothing here asks for periodic resyncs.
func (s *PodStore) Resync() error { return nil }

// tellSet tells the observers and handlers of an added (old nil) or updated pod. The caller
// holds s.dispatch.
func (s *PodStore) tellSet(key types.NamespacedName, old, r *podRecord, pod *corev1.Pod, initial bool) {
	for _, o := range s.observers {
		o.set(key, r, pod)
	}
	if len(s.handlers) == 0 {
		return
	}
	var oldPod *corev1.Pod
	if old != nil {
		oldPod = old.pod()
	}
	for _, h := range s.handlers {
		if oldPod == nil {
			h.handler.OnAdd(pod, initial)
		} else {
			h.handler.OnUpdate(oldPod, pod)
		}
	}
}

// tellDelete tells the observers and handlers of a deleted pod: obj is its last state, a
// Pod or a tombstone. The caller holds s.dispatch.
func (s *PodStore) tellDelete(key types.NamespacedName, obj any) {
	for _, o := range s.observers {
		o.remove(key)
	}
	for _, h := range s.handlers {
		h.handler.OnDelete(obj)
	}
}

// snapshot returns the records held. The caller holds s.dispatch, so none changes before
// it is told.
func (s *PodStore) snapshot() map[types.NamespacedName]*podRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.pods)
}

// recordObserver is told of every record (the Cluster's feed): set with the record and the
// pod it was built from, remove with the key.
type recordObserver struct {
	set    func(key types.NamespacedName, r *podRecord, pod *corev1.Pod)
	remove func(key types.NamespacedName)
}

// observe adds an observer, first telling it of every pod held.
func (s *PodStore) observe(o *recordObserver) {
	s.dispatch.Lock()
	defer s.dispatch.Unlock()
	for key, r := range s.snapshot() {
		o.set(key, r, r.pod())
	}
	s.observers = append(s.observers, o)
}

// podHandler is a handler added through the Informer interface.
type podHandler struct {
	store   *PodStore
	handler toolscache.ResourceEventHandler
}

// HasSynced: the store's first list is in; a handler added later was told of every pod
// before AddEventHandler returned.
func (h *podHandler) HasSynced() bool { return h.store.Synced() }

// HasSyncedChecker is HasSynced as a DoneChecker.
func (h *podHandler) HasSyncedChecker() toolscache.DoneChecker { return h.store.HasSyncedChecker() }

// AddEventHandler tells handler of every pod held (OnAdd, in the initial list), then of
// every event.
func (s *PodStore) AddEventHandler(handler toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	if s.stopped.Load() {
		return nil, errors.New("pod store: adding a handler after the store stopped")
	}
	h := &podHandler{store: s, handler: handler}
	s.dispatch.Lock()
	defer s.dispatch.Unlock()
	for _, r := range s.snapshot() {
		handler.OnAdd(r.pod(), true)
	}
	s.handlers = append(s.handlers, h)
	return h, nil
}

// AddEventHandlerWithResyncPeriod is AddEventHandler: the store does not resync.
func (s *PodStore) AddEventHandlerWithResyncPeriod(handler toolscache.ResourceEventHandler, _ time.Duration) (toolscache.ResourceEventHandlerRegistration, error) {
	return s.AddEventHandler(handler)
}

// AddEventHandlerWithOptions is AddEventHandler: the store does not resync.
func (s *PodStore) AddEventHandlerWithOptions(handler toolscache.ResourceEventHandler, _ toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	return s.AddEventHandler(handler)
}

// RemoveEventHandler removes a handler AddEventHandler returned; again is a no-op.
func (s *PodStore) RemoveEventHandler(reg toolscache.ResourceEventHandlerRegistration) error {
	s.dispatch.Lock()
	defer s.dispatch.Unlock()
	s.handlers = slices.DeleteFunc(s.handlers, func(h *podHandler) bool { return h == reg })
	return nil
}

// AddIndexers refuses: the store keeps no index but the pods' node names.
func (s *PodStore) AddIndexers(toolscache.Indexers) error {
	return errors.New("pod store: pods cannot be indexed; list them by namespace, labels or spec.nodeName")
}

// HasSynced reports whether the first list is in.
func (s *PodStore) HasSynced() bool { return s.Synced() }

// HasSyncedChecker is HasSynced as a DoneChecker.
func (s *PodStore) HasSyncedChecker() toolscache.DoneChecker { return syncedChecker{s.synced} }

// IsStopped reports whether Run returned.
func (s *PodStore) IsStopped() bool { return s.stopped.Load() }

type syncedChecker struct{ done chan struct{} }

func (c syncedChecker) Name() string          { return "pod store" }
func (c syncedChecker) Done() <-chan struct{} { return c.done }
