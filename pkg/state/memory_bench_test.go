package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	"github.com/gokarpenter/karpenter/pkg/state"
)

// BenchmarkCacheMemory measures the controller's live heap holding a cluster of 2,000
// nodes (with their NodeClaims) and 20,000 ReplicaSet pods: the objects come from a fake
// API server as a real one (1.3x) serves them (managed fields, the service account token
// volume, container statuses, ...), as watch-list streams, through a controller-runtime
// cache with a transform, and into a state.Cluster fed by its informers (state.Register).
// "podstore" is the operator's cache (state.NewCache: pods in a state.PodStore, the rest
// through the Compactor), "compact" controller-runtime's cache for pods too with the
// Compactor, "strip" with state.StripForCache alone. It reports the live heap after a GC
// against the heap before the cache was built, total and per pod.
// STATE_HEAP_PROFILE=prefix writes a heap profile of each filled cache to prefix.<name>.
//
//	go test -run '^$' -bench CacheMemory -benchtime=1x ./pkg/state/
func BenchmarkCacheMemory(b *testing.B) {
	const nodes, podsPerNode = 2000, 10
	transforms := []struct {
		name     string
		newCache func() cache.NewCacheFunc
	}{
		{"strip", func() cache.NewCacheFunc { return withTransform(state.StripForCache) }},
		{"compact", func() cache.NewCacheFunc { return withTransform(state.NewCompactor(0).Transform) }},
		{"podstore", func() cache.NewCacheFunc { return state.NewCache(state.NewCompactor(0)) }},
	}
	for _, tr := range transforms {
		b.Run(tr.name, func(b *testing.B) {
			for range b.N {
				live := measureCache(b, tr.newCache(), nodes, podsPerNode)
				b.ReportMetric(float64(live)/(1<<20), "live-MiB")
				b.ReportMetric(float64(live)/float64(nodes*podsPerNode), "live-B/pod")
			}
		})
	}
}

// withTransform is controller-runtime's cache with the transform.
func withTransform(transform func(any) (any, error)) cache.NewCacheFunc {
	return func(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
		opts.DefaultTransform = transform
		return cache.New(cfg, opts)
	}
}

// measureCache fills a cache and a Cluster from a fake API server and returns the live
// heap they hold.
func measureCache(tb testing.TB, newCache cache.NewCacheFunc, nodes, podsPerNode int) uint64 {
	tb.Helper()
	api := newFakeAPI(tb, nodes, podsPerNode)
	before := liveHeap()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, cluster := startCache(ctx, tb, api.URL, newCache)
	after := liveHeap()
	if path := os.Getenv("STATE_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path + "." + tb.Name()[strings.LastIndex(tb.Name(), "/")+1:])
		if err != nil {
			tb.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			tb.Fatal(err)
		}
		_ = f.Close()
	}
	got := 0
	for _, on := range cluster.Objects().Running {
		got += len(on)
	}
	if got != nodes*podsPerNode {
		tb.Fatalf("state holds %d bound pods, want %d", got, nodes*podsPerNode)
	}
	runtime.KeepAlive(c)
	return after - before
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// startCache builds the operator's cache against the API server at host, feeds a Cluster
// from it and waits for both to sync.
func startCache(ctx context.Context, tb testing.TB, host string, newCache cache.NewCacheFunc) (cache.Cache, *state.Cluster) {
	tb.Helper()
	s := scheme.Scheme
	if err := v1.AddToScheme(s); err != nil {
		tb.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{
		corev1.SchemeGroupVersion.WithKind("Pod"), corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"),
		appsv1.SchemeGroupVersion.WithKind("DaemonSet"),
	} {
		mapper.Add(gvk, meta.RESTScopeNamespace)
	}
	for _, gvk := range []schema.GroupVersionKind{
		corev1.SchemeGroupVersion.WithKind("Node"), corev1.SchemeGroupVersion.WithKind("PersistentVolume"),
		corev1.SchemeGroupVersion.WithKind("Namespace"), storagev1.SchemeGroupVersion.WithKind("StorageClass"),
		storagev1.SchemeGroupVersion.WithKind("CSINode"), v1.SchemeGroupVersion.WithKind("NodeClaim"),
		v1.SchemeGroupVersion.WithKind("NodePool"),
	} {
		mapper.Add(gvk, meta.RESTScopeRoot)
	}
	c, err := newCache(&rest.Config{Host: host, QPS: -1}, cache.Options{Scheme: s, Mapper: mapper})
	if err != nil {
		tb.Fatal(err)
	}
	cluster := state.NewCluster(state.Options{})
	if err := cluster.Register(ctx, c); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		tb.Fatal("cache did not sync")
	}
	deadline := time.Now().Add(time.Minute)
	for !cluster.Synced() {
		if time.Now().After(deadline) {
			tb.Fatal("cluster state did not sync")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, cluster
}

// fakeAPI serves pods, Nodes and NodeClaims (and empty lists of the other kinds the state
// watches) as watch-list streams and lists; watches then stay open without events.
type fakeAPI struct {
	*httptest.Server
	nodes, podsPerNode int
	done               chan struct{}
	once               sync.Once
}

func newFakeAPI(tb testing.TB, nodes, podsPerNode int) *fakeAPI {
	api := &fakeAPI{nodes: nodes, podsPerNode: podsPerNode, done: make(chan struct{})}
	api.Server = httptest.NewServer(http.HandlerFunc(api.serve))
	tb.Cleanup(func() {
		api.once.Do(func() { close(api.done) })
		api.Server.CloseClientConnections()
		api.Server.Close()
	})
	return api
}

// objects returns the JSON objects of the resource at path (nil: an empty list), their
// list kind and API version.
func (a *fakeAPI) objects(path string) (func(yield func(any) bool), string, string) {
	switch path {
	case "/api/v1/pods":
		return func(yield func(any) bool) {
			for n := range a.nodes {
				for j := range a.podsPerNode {
					if !yield(realisticPod(n*a.podsPerNode+j, nodeName(n))) {
						return
					}
				}
			}
		}, "Pod", "v1"
	case "/api/v1/nodes":
		return func(yield func(any) bool) {
			for n := range a.nodes {
				if !yield(realisticNode(n)) {
					return
				}
			}
		}, "Node", "v1"
	case "/apis/karpenter.sh/v1/nodeclaims":
		return func(yield func(any) bool) {
			for n := range a.nodes {
				if !yield(realisticNodeClaim(n)) {
					return
				}
			}
		}, "NodeClaim", "karpenter.sh/v1"
	}
	kinds := map[string][2]string{
		"/api/v1/persistentvolumeclaims":         {"PersistentVolumeClaim", "v1"},
		"/api/v1/persistentvolumes":              {"PersistentVolume", "v1"},
		"/api/v1/namespaces":                     {"Namespace", "v1"},
		"/apis/apps/v1/daemonsets":               {"DaemonSet", "apps/v1"},
		"/apis/storage.k8s.io/v1/storageclasses": {"StorageClass", "storage.k8s.io/v1"},
		"/apis/storage.k8s.io/v1/csinodes":       {"CSINode", "storage.k8s.io/v1"},
		"/apis/karpenter.sh/v1/nodepools":        {"NodePool", "karpenter.sh/v1"},
	}
	if k, ok := kinds[path]; ok {
		return func(func(any) bool) {}, k[0], k[1]
	}
	return nil, "", ""
}

func (a *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	items, kind, apiVersion := a.objects(r.URL.Path)
	if items == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	q := r.URL.Query()
	if q.Get("watch") != "true" && q.Get("watch") != "1" {
		list := map[string]any{"kind": kind + "List", "apiVersion": apiVersion, "metadata": map[string]string{"resourceVersion": "100"}}
		var all []any
		for o := range items {
			all = append(all, o)
		}
		list["items"] = all
		_ = enc.Encode(list)
		return
	}
	if q.Get("sendInitialEvents") == "true" {
		for o := range items {
			_ = enc.Encode(map[string]any{"type": "ADDED", "object": o})
		}
		_ = enc.Encode(map[string]any{"type": "BOOKMARK", "object": map[string]any{"kind": kind, "apiVersion": apiVersion,
			"metadata": map[string]any{"resourceVersion": "100", "annotations": map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}})
	}
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-a.done:
	}
}

func nodeName(n int) string {
	return fmt.Sprintf("ip-10-%d-%d-%d.ec2.internal", n/65536, n/256%256, n%256)
}

var (
	created = metav1.NewTime(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	zones   = []string{"us-east-1a", "us-east-1b", "us-east-1c"}
)

// workload is one of the ReplicaSets the pods belong to.
type workload struct {
	name, hash  string
	cpu, memory string
	tolerations []corev1.Toleration
	affinity    *corev1.Affinity
	spread      bool
}

var workloads = func() []workload {
	var ws []workload
	for i, size := range []struct{ cpu, mem string }{{"180m", "256Mi"}, {"250m", "512Mi"}, {"100m", "128Mi"}, {"500m", "1Gi"}, {"150m", "200Mi"}} {
		w := workload{name: fmt.Sprintf("service-%d", i), hash: fmt.Sprintf("7f9c4d%04x", i*7919), cpu: size.cpu, memory: size.mem}
		if i%2 == 0 {
			w.tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "apps", Effect: corev1.TaintEffectNoSchedule}}
		}
		if i%3 == 0 {
			w.affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}},
					{Key: "karpenter.sh/capacity-type", Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand", "spot"}}}}}}},
				PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100,
					PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}}}}}}}
		}
		w.spread = i%2 == 1
		ws = append(ws, w)
	}
	return ws
}()

// realisticPod is a running ReplicaSet pod as the API server returns it once kubelet has
// started it.
func realisticPod(i int, node string) *corev1.Pod {
	w := workloads[i%len(workloads)]
	name := fmt.Sprintf("%s-%s-%05x", w.name, w.hash, i)
	ip := fmt.Sprintf("10.1.%d.%d", i/256%256, i%256)
	labels := map[string]string{"app": w.name, "pod-template-hash": w.hash, "app.kubernetes.io/part-of": "shop", "tier": "backend"}
	tolerations := append(append([]corev1.Toleration(nil), w.tolerations...),
		corev1.Toleration{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		corev1.Toleration{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)})
	var spread []corev1.TopologySpreadConstraint
	if w.spread {
		spread = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}}, MatchLabelKeys: []string{"pod-template-hash"}}}
	}
	fields := func(manager string, op metav1.ManagedFieldsOperationType, sub, raw string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: "v1", Time: &created, FieldsType: "FieldsV1",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(raw)}, Subresource: sub}
	}
	cond := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: created}
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, GenerateName: w.name + "-" + w.hash + "-", Namespace: "shop", UID: types.UID(fmt.Sprintf("5b1c%04x-9e2d-4c1a-8f3b-%012x", i%65536, i)),
			ResourceVersion: fmt.Sprint(1000 + i), CreationTimestamp: created, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: w.name + "-" + w.hash,
				UID: types.UID(fmt.Sprintf("a1b2c3d4-0000-4000-8000-%012x", i%len(workloads))), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				fields("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, "", `{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"a1b2\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{},"f:resources":{".":{},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{},"f:tolerations":{}}}`),
				fields("kubelet", metav1.ManagedFieldsOperationUpdate, "status", `{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Initialized\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:hostIPs":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\"10.1.0.1\"}":{".":{},"f:ip":{}}},"f:startTime":{}}}`),
			},
		},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "kube-api-access-" + w.hash[:5], VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr.To[int32](420), Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
				}}}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example/shop/" + w.name + ":1.4.2", ImagePullPolicy: corev1.PullIfNotPresent,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(w.cpu), corev1.ResourceMemory: resource.MustParse(w.memory)},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(w.memory)}},
				VolumeMounts:           []corev1.VolumeMount{{Name: "kube-api-access-" + w.hash[:5], ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
				ReadinessProbe:         &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}}, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}},
			RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To[int64](30), DNSPolicy: corev1.DNSClusterFirst,
			ServiceAccountName: "default", DeprecatedServiceAccount: "default", NodeName: node, SecurityContext: &corev1.PodSecurityContext{},
			SchedulerName: corev1.DefaultSchedulerName, Tolerations: tolerations, Affinity: w.affinity, TopologySpreadConstraints: spread,
			Priority: ptr.To[int32](0), EnableServiceLinks: ptr.To(true), PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority),
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{cond("PodReadyToStartContainers"), cond(corev1.PodInitialized), cond(corev1.PodReady), cond(corev1.ContainersReady), cond(corev1.PodScheduled)},
			HostIP:     "10.0.0.1", HostIPs: []corev1.HostIP{{IP: "10.0.0.1"}}, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, StartTime: &created, QOSClass: corev1.PodQOSBurstable,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 0, Image: "registry.example/shop/" + w.name + ":1.4.2",
				ImageID: "registry.example/shop/" + w.name + "@sha256:9f2b4c1d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c", ContainerID: fmt.Sprintf("containerd://%064x", i),
				Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: created}}}},
		},
	}
}

// realisticNode is a Node Karpenter launched, as kubelet reports it.
func realisticNode(n int) *corev1.Node {
	name := nodeName(n)
	zone := zones[n%len(zones)]
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1930m"), corev1.ResourceMemory: resource.MustParse("7291444Ki"), corev1.ResourcePods: resource.MustParse("29"),
		corev1.ResourceEphemeralStorage: resource.MustParse("18242267924"), "hugepages-1Gi": resource.MustParse("0"), "hugepages-2Mi": resource.MustParse("0")}
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("7934260Ki"), corev1.ResourcePods: resource.MustParse("29"),
		corev1.ResourceEphemeralStorage: resource.MustParse("20959212Ki"), "hugepages-1Gi": resource.MustParse("0"), "hugepages-2Mi": resource.MustParse("0")}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, LastHeartbeatTime: created, LastTransitionTime: created, Reason: reason, Message: msg}
	}
	var images []corev1.ContainerImage
	for j := range 8 {
		images = append(images, corev1.ContainerImage{Names: []string{fmt.Sprintf("registry.example/image-%d@sha256:%064x", j, j), fmt.Sprintf("registry.example/image-%d:v1.%d", j, j)}, SizeBytes: int64(j+1) * 31_000_000})
	}
	return &corev1.Node{
		TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(fmt.Sprintf("6c2d%04x-1f3e-4d2b-9a4c-%012x", n%65536, n)), ResourceVersion: fmt.Sprint(500 + n), CreationTimestamp: created,
			Labels:      nodeLabels(n),
			Annotations: map[string]string{"karpenter.sh/nodepool-hash": "4012513481623584108", "karpenter.sh/nodepool-hash-version": "v3", "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
			Finalizers:  []string{"karpenter.sh/termination"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "karpenter.sh/v1", Kind: "NodeClaim", Name: fmt.Sprintf("default-%05x", n),
				UID: types.UID(fmt.Sprintf("7d3e%04x-2a4f-4e3c-8b5d-%012x", n%65536, n)), BlockOwnerDeletion: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &created, FieldsType: "FieldsV1", Subresource: "status",
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:allocatable":{"f:cpu":{},"f:ephemeral-storage":{},"f:memory":{}},"f:capacity":{"f:cpu":{},"f:memory":{}},"f:conditions":{"k:{\"type\":\"DiskPressure\"}":{"f:lastHeartbeatTime":{}},"k:{\"type\":\"MemoryPressure\"}":{"f:lastHeartbeatTime":{}},"k:{\"type\":\"PIDPressure\"}":{"f:lastHeartbeatTime":{}},"k:{\"type\":\"Ready\"}":{"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{}}},"f:images":{},"f:nodeInfo":{"f:bootID":{},"f:systemUUID":{}}}}`)}}},
		},
		Spec: corev1.NodeSpec{ProviderID: fmt.Sprintf("aws:///%s/i-%017x", zone, n), Taints: []corev1.Taint{{Key: "dedicated", Value: "apps", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Capacity: capacity, Allocatable: alloc,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.0.%d.%d", n/256%256, n%256)}, {Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalDNS, Address: name}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{MachineID: fmt.Sprintf("ec2%029x", n), SystemUUID: fmt.Sprintf("ec2%05x-0000-0000-0000-%012x", n, n), BootID: fmt.Sprintf("%08x-1111-2222-3333-%012x", n, n),
				KernelVersion: "6.1.112-124.190.amzn2023.x86_64", OSImage: "Amazon Linux 2023.6.20241010", ContainerRuntimeVersion: "containerd://1.7.22",
				KubeletVersion: "v1.31.0-eks-a737599", KubeProxyVersion: "v1.31.0-eks-a737599", OperatingSystem: "linux", Architecture: "amd64"},
			Images: images,
		},
	}
}

func nodeLabels(n int) map[string]string {
	zone := zones[n%len(zones)]
	return map[string]string{
		"karpenter.sh/nodepool": "default", "karpenter.sh/capacity-type": "on-demand", "karpenter.sh/initialized": "true", "karpenter.sh/registered": "true",
		"node.kubernetes.io/instance-type": "m5.large", "beta.kubernetes.io/instance-type": "m5.large",
		"topology.kubernetes.io/zone": zone, "failure-domain.beta.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "us-east-1", "failure-domain.beta.kubernetes.io/region": "us-east-1",
		"kubernetes.io/arch": "amd64", "beta.kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux", "kubernetes.io/hostname": nodeName(n),
		"karpenter.k8s.aws/instance-category": "m", "karpenter.k8s.aws/instance-family": "m5", "karpenter.k8s.aws/instance-generation": "5", "karpenter.k8s.aws/instance-size": "large",
		"karpenter.k8s.aws/instance-cpu": "2", "karpenter.k8s.aws/instance-memory": "8192", "karpenter.k8s.aws/instance-hypervisor": "nitro", "topology.k8s.aws/zone-id": "use1-az" + fmt.Sprint(n%3+1),
	}
}

// realisticNodeClaim is the NodeClaim of realisticNode(n), launched and initialised.
func realisticNodeClaim(n int) *v1.NodeClaim {
	node := realisticNode(n)
	cond := func(t string) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionTrue, LastTransitionTime: created, Reason: t, ObservedGeneration: 1}
	}
	labels := nodeLabels(n)
	delete(labels, "kubernetes.io/hostname")
	return &v1.NodeClaim{
		TypeMeta: metav1.TypeMeta{Kind: "NodeClaim", APIVersion: "karpenter.sh/v1"},
		ObjectMeta: metav1.ObjectMeta{Name: node.OwnerReferences[0].Name, UID: node.OwnerReferences[0].UID, ResourceVersion: fmt.Sprint(700 + n), Generation: 1, CreationTimestamp: created,
			Labels: labels, Annotations: map[string]string{"karpenter.sh/nodepool-hash": "4012513481623584108", "karpenter.sh/nodepool-hash-version": "v3", "karpenter.k8s.aws/ec2nodeclass-hash": "15535182697325354914"},
			Finalizers:      []string{"karpenter.sh/termination"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "karpenter.sh/v1", Kind: "NodePool", Name: "default", UID: "8e4f0000-3b5a-4f4d-9c6e-000000000001", BlockOwnerDeletion: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "karpenter", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "karpenter.sh/v1", Time: &created, FieldsType: "FieldsV1",
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:annotations":{},"f:finalizers":{},"f:labels":{},"f:ownerReferences":{}},"f:spec":{"f:nodeClassRef":{},"f:requirements":{},"f:resources":{}}}`)}}}},
		Spec: v1.NodeClaimSpec{
			Taints: node.Spec.Taints,
			Requirements: []v1.NodeSelectorRequirementWithMinValues{
				{Key: "karpenter.sh/nodepool", Operator: v1.NodeSelectorOpIn, Values: []string{"default"}},
				{Key: "node.kubernetes.io/instance-type", Operator: v1.NodeSelectorOpIn, Values: []string{"m5.large", "m5a.large", "m6i.large", "m6a.large", "m7i.large", "c5.xlarge"}},
				{Key: "karpenter.sh/capacity-type", Operator: v1.NodeSelectorOpIn, Values: []string{"on-demand"}},
				{Key: "topology.kubernetes.io/zone", Operator: v1.NodeSelectorOpIn, Values: []string{node.Labels["topology.kubernetes.io/zone"]}},
				{Key: "kubernetes.io/arch", Operator: v1.NodeSelectorOpIn, Values: []string{"amd64"}},
			},
			Resources:    v1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1800m"), corev1.ResourceMemory: resource.MustParse("2560Mi"), corev1.ResourcePods: resource.MustParse("10")}},
			NodeClassRef: &v1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"},
		},
		Status: v1.NodeClaimStatus{NodeName: node.Name, ProviderID: node.Spec.ProviderID, ImageID: "ami-0123456789abcdef0", Capacity: node.Status.Capacity, Allocatable: node.Status.Allocatable,
			Conditions:       []metav1.Condition{cond("Launched"), cond("Registered"), cond("Initialized"), cond("Consolidatable"), cond("Ready")},
			LastPodEventTime: created},
	}
}

// BenchmarkCachedObjectSize is the live heap one cached object takes, per kind: decoded
// from the JSON the API server sends (as the informers do) and passed through
// state.StripForCache ("strip") or the operator's state.Compactor ("compact"), 2,000 of
// them kept.
//
//	go test -run '^$' -bench CachedObjectSize -benchtime=1x ./pkg/state/
func BenchmarkCachedObjectSize(b *testing.B) {
	kinds := []struct {
		name string
		obj  func(i int) any
		new  func() any
	}{
		{"pod", func(i int) any { return realisticPod(i, nodeName(i/10)) }, func() any { return &corev1.Pod{} }},
		{"node", func(i int) any { return realisticNode(i) }, func() any { return &corev1.Node{} }},
		{"nodeclaim", func(i int) any { return realisticNodeClaim(i) }, func() any { return &v1.NodeClaim{} }},
	}
	const n = 2000
	for _, k := range kinds {
		for _, compact := range []bool{false, true} {
			name, transform := k.name+"/strip", state.StripForCache
			if compact {
				name, transform = k.name+"/compact", state.NewCompactor(0).Transform
			}
			b.Run(name, func(b *testing.B) {
				for range b.N {
					docs := make([][]byte, n)
					for i := range docs {
						doc, err := json.Marshal(k.obj(i))
						if err != nil {
							b.Fatal(err)
						}
						docs[i] = doc
					}
					kept := make([]any, n)
					before := liveHeap()
					for i, doc := range docs {
						obj := k.new()
						if err := json.Unmarshal(doc, obj); err != nil {
							b.Fatal(err)
						}
						out, err := transform(obj)
						if err != nil {
							b.Fatal(err)
						}
						kept[i] = out
					}
					after := liveHeap()
					runtime.KeepAlive(kept)
					runtime.KeepAlive(docs)
					b.ReportMetric(float64(after-before)/n, "live-B/object")
				}
			})
		}
	}
}
