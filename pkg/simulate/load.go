package simulate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
)

// Input is everything read from the manifests, in input order (files in the order given,
// directories in lexical order, documents in file order).
type Input struct {
	// NodePools are the karpenter.sh/v1 NodePools.
	NodePools []*v1.NodePool
	// NodeClasses are the node classes seen (EC2NodeClass and any other *NodeClass kind);
	// they are accepted and not interpreted.
	NodeClasses []NodeClass
	// EC2NodeClasses are the karpenter.k8s.aws/v1 node classes: their kubelet settings and
	// root volume shape the capacity of the types their NodePools launch.
	EC2NodeClasses []*awsv1.EC2NodeClass
	// Pods are the unbound pods: Pods without spec.nodeName and the pods of Deployments,
	// ReplicaSets, ReplicationControllers, StatefulSets, Jobs and CronJobs (PendingPods are
	// those the controller would plan for).
	Pods []*corev1.Pod
	// Nodes are existing nodes.
	Nodes []*corev1.Node
	// NodeClaims are Karpenter's, as a cluster holds them: one without a Node yet is capacity
	// in flight that pending pods may be planned onto, as the controller would.
	NodeClaims []*v1.NodeClaim
	// CSINodes give existing nodes' CSI attach limits.
	CSINodes []*storagev1.CSINode
	// BoundPods are Pods with spec.nodeName, each naming one of Nodes.
	BoundPods []*corev1.Pod
	// DaemonSets are kept whole: their pod template runs on every node it tolerates and
	// selects.
	DaemonSets []*appsv1.DaemonSet
	// PersistentVolumeClaims include the claims of StatefulSet volumeClaimTemplates that the
	// input does not define itself.
	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	PersistentVolumes      []*corev1.PersistentVolume
	StorageClasses         []*storagev1.StorageClass
	// Namespaces are the Namespace documents; their labels are what pod affinity
	// namespaceSelectors match.
	Namespaces []*corev1.Namespace
	// Skipped are the documents of kinds that neither make pods nor say where they may run
	// (ConfigMaps, Services, PodDisruptionBudgets, custom resources, ...), so
	// that a whole application's manifests can be given as they are.
	Skipped []Skipped
}

// Skipped is a document simulate read and left out of the plan.
type Skipped struct {
	File       string
	Doc, Item  int
	APIVersion string
	Kind, Name string
}

// String reads like "Service web (app.yaml, document 3)".
func (s Skipped) String() string {
	where := fmt.Sprintf("%s, document %d", s.File, s.Doc)
	if s.Item > 0 {
		where += fmt.Sprintf(", item %d", s.Item)
	}
	return fmt.Sprintf("%s %s (%s)", s.Kind, s.Name, where)
}

// NodeClass identifies a node class document.
type NodeClass struct {
	APIVersion string
	Kind       string
	Name       string
}

// Load reads files and directories (recursing into *.yaml, *.yml and *.json files) of
// multi-document YAML or JSON manifests. Any problem is returned as an *InputError.
func Load(paths []string) (*Input, error) {
	if len(paths) == 0 {
		return nil, &InputError{Err: errors.New("no file or directory given")}
	}
	l, err := newLoader()
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := l.loadFile(f); err != nil {
				return nil, err
			}
		}
	}
	if err := l.finish(); err != nil {
		return nil, err
	}
	return &l.in, nil
}

// manifestFiles lists path itself when it is a file, or the manifest files under it.
func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, &InputError{File: path, Err: fmt.Errorf("reading input: %w", err)}
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return &InputError{File: p, Err: fmt.Errorf("reading directory: %w", err)}
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, &InputError{File: path, Err: errors.New("no *.yaml, *.yml or *.json file in the directory")}
	}
	sort.Strings(files)
	return files, nil
}

// origin is where an object was read, for error messages.
type origin struct {
	file string
	doc  int
	item int // within a List document, from 1
	kind string
	name string
}

func (o origin) errorf(format string, args ...any) *InputError {
	return o.wrap(fmt.Errorf(format, args...))
}

func (o origin) wrap(err error) *InputError {
	return &InputError{File: o.file, Doc: o.doc, Item: o.item, Kind: o.kind, Name: o.name, Err: err}
}

// loader accumulates an Input across files.
type loader struct {
	decoder runtime.Decoder
	in      Input
	// seen maps "Kind namespace/name" to where it was first defined.
	seen map[string]origin
	// boundPods remembers where each bound pod came from, to check its node at the end.
	boundPods []origin
	// claims are the StatefulSet claims to create if the input does not define them.
	claims []generatedClaim
	// limitRanges give the pods of their namespaces default requests and limits.
	limitRanges []*corev1.LimitRange
	// scalables are the workloads an autoscaler may scale, by "Kind namespace/name".
	scalables map[string]*scalable
	// autoscalers are the HorizontalPodAutoscalers read.
	autoscalers []autoscaler
}

func newLoader() (*loader, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, storagev1.AddToScheme, v1.AddToScheme,
		autoscalingv1.AddToScheme, autoscalingv2.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	codecs := serializer.NewCodecFactory(scheme, serializer.EnableStrict)
	return &loader{decoder: codecs.UniversalDeserializer(), seen: map[string]origin{}, scalables: map[string]*scalable{}}, nil
}

// loadFile reads every document of one file: documents are decoded in parallel, then
// filed in order.
func (l *loader) loadFile(path string) error {
	docs, err := readDocuments(path)
	if err != nil {
		return err
	}
	for _, d := range l.decodeAll(docs) {
		if err := l.file(d); err != nil {
			return err
		}
	}
	return nil
}

// file files one decoded document, or each item of a List.
func (l *loader) file(d decoded) error {
	switch {
	case d.err != nil:
		return d.err
	case d.items != nil:
		for _, item := range d.items {
			if err := l.file(item); err != nil {
				return err
			}
		}
	case d.nodeClass != nil:
		l.in.NodeClasses = append(l.in.NodeClasses, *d.nodeClass)
		if d.ec2 != nil {
			if err := l.remember(d.o, "EC2NodeClass", "", d.ec2.Name); err != nil {
				return err
			}
			l.in.EC2NodeClasses = append(l.in.EC2NodeClasses, d.ec2)
		}
	case d.skip != "":
		l.skip(d.o, d.skip)
	default:
		return l.add(d.o, d.obj)
	}
	return nil
}

// skip records a document left out of the plan.
func (l *loader) skip(o origin, apiVersion string) {
	l.in.Skipped = append(l.in.Skipped, Skipped{File: o.file, Doc: o.doc, Item: o.item, APIVersion: apiVersion, Kind: o.kind, Name: o.name})
}

// isEmptyDocument reports whether a document holds only whitespace and comments.
func isEmptyDocument(data []byte) bool {
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return false
		}
	}
	return true
}

// header is the part of a document read before its kind is known.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// add files a decoded object.
func (l *loader) add(o origin, obj runtime.Object) error {
	switch t := obj.(type) {
	case *v1.NodePool:
		if err := validateNodePool(t); err != nil {
			return o.wrap(err)
		}
		if err := l.remember(o, "NodePool", "", t.Name); err != nil {
			return err
		}
		l.in.NodePools = append(l.in.NodePools, t)
	case *corev1.Pod:
		return l.addPod(o, t)
	case *appsv1.Deployment:
		return l.addReplicas(o, appsv1.SchemeGroupVersion.String(), "Deployment", t.ObjectMeta, t.Spec.Replicas, t.Spec.Template)
	case *appsv1.ReplicaSet:
		return l.addReplicas(o, appsv1.SchemeGroupVersion.String(), "ReplicaSet", t.ObjectMeta, t.Spec.Replicas, t.Spec.Template)
	case *appsv1.StatefulSet:
		return l.addStatefulSet(o, t)
	case *batchv1.Job:
		return l.addJob(o, "Job", t.ObjectMeta, &t.Spec, field.NewPath("spec"))
	case *batchv1.CronJob:
		// Planned as the Job it creates when it fires (none while suspended).
		spec := t.Spec.JobTemplate.Spec.DeepCopy()
		if t.Spec.Suspend != nil && *t.Spec.Suspend {
			spec.Suspend = t.Spec.Suspend
		}
		return l.addJob(o, "CronJob", t.ObjectMeta, spec, field.NewPath("spec", "jobTemplate", "spec"))
	case *corev1.ReplicationController:
		if t.Spec.Template == nil {
			return o.wrap(field.Required(field.NewPath("spec", "template"), ""))
		}
		return l.addReplicas(o, corev1.SchemeGroupVersion.String(), "ReplicationController", t.ObjectMeta, t.Spec.Replicas, *t.Spec.Template)
	case *appsv1.DaemonSet:
		defaultNamespace(&t.ObjectMeta)
		if err := validatePodSpec(&t.Spec.Template.Spec, templatePath()); err != nil {
			return o.wrap(err)
		}
		if err := l.remember(o, "DaemonSet", t.Namespace, t.Name); err != nil {
			return err
		}
		l.in.DaemonSets = append(l.in.DaemonSets, t)
	case *corev1.Node:
		if err := l.remember(o, "Node", "", t.Name); err != nil {
			return err
		}
		l.in.Nodes = append(l.in.Nodes, t)
	case *corev1.PersistentVolumeClaim:
		defaultNamespace(&t.ObjectMeta)
		if err := l.remember(o, "PersistentVolumeClaim", t.Namespace, t.Name); err != nil {
			return err
		}
		l.in.PersistentVolumeClaims = append(l.in.PersistentVolumeClaims, t)
	case *corev1.PersistentVolume:
		if err := l.remember(o, "PersistentVolume", "", t.Name); err != nil {
			return err
		}
		l.in.PersistentVolumes = append(l.in.PersistentVolumes, t)
	case *storagev1.StorageClass:
		if err := l.remember(o, "StorageClass", "", t.Name); err != nil {
			return err
		}
		l.in.StorageClasses = append(l.in.StorageClasses, t)
	case *storagev1.CSINode:
		if err := l.remember(o, "CSINode", "", t.Name); err != nil {
			return err
		}
		l.in.CSINodes = append(l.in.CSINodes, t)
	case *v1.NodeClaim:
		if err := l.remember(o, "NodeClaim", "", t.Name); err != nil {
			return err
		}
		l.in.NodeClaims = append(l.in.NodeClaims, t)
	case *corev1.Namespace:
		if err := l.remember(o, "Namespace", "", t.Name); err != nil {
			return err
		}
		l.in.Namespaces = append(l.in.Namespaces, t)
	case *autoscalingv2.HorizontalPodAutoscaler, *autoscalingv1.HorizontalPodAutoscaler:
		return l.addAutoscaler(o, obj)
	case *corev1.LimitRange:
		defaultNamespace(&t.ObjectMeta)
		if err := l.remember(o, "LimitRange", t.Namespace, t.Name); err != nil {
			return err
		}
		l.limitRanges = append(l.limitRanges, t)
	default:
		l.skip(o, obj.GetObjectKind().GroupVersionKind().GroupVersion().String())
	}
	return nil
}

// readKinds are the kinds simulate plans with. A kind of another name is skipped, unless
// its API group is one of readGroups: there it is more likely a misspelt kind than one
// that makes no pods.
var readKinds = map[string]bool{
	"NodePool": true, "Pod": true, "Deployment": true, "ReplicaSet": true, "ReplicationController": true,
	"StatefulSet": true, "Job": true, "CronJob": true, "DaemonSet": true, "Node": true,
	"PersistentVolumeClaim": true, "PersistentVolume": true, "StorageClass": true, "Namespace": true,
	"LimitRange": true, "NodeClaim": true, "CSINode": true,
}

// unknownKind is the error for a kind simulate does not know in a group it reads, or a
// kind it reads in a version it does not.
func unknownKind(apiVersion, kind string) error {
	return fmt.Errorf("%w %s %s: simulate reads NodePools, node classes, Pods, Deployments, "+
		"ReplicaSets, ReplicationControllers, StatefulSets, Jobs, CronJobs, DaemonSets, Nodes, "+
		"PersistentVolumeClaims, PersistentVolumes, StorageClasses, CSINodes, Namespaces, LimitRanges and "+
		"NodeClaims (apps/v1, "+
		"batch/v1, v1, storage.k8s.io/v1, karpenter.sh/v1), and skips the kinds of other groups",
		ErrUnknownKind, apiVersion, kind)
}

// remember records an object's key and fails when an earlier document defined it.
func (l *loader) remember(o origin, kind, namespace, name string) error {
	key := kind + " " + name
	if namespace != "" {
		key = kind + " " + namespace + "/" + name
	}
	if first, ok := l.seen[key]; ok {
		return o.wrap(fmt.Errorf("%s: %w (first in %s document %d)", key, ErrDuplicate, first.file, first.doc))
	}
	l.seen[key] = o
	return nil
}

// finish runs the checks that need every file: bound pods name known nodes, and StatefulSet
// claims the input does not define are created from their templates. Autoscaled workloads
// get their autoscalers' bounds, then pods their namespace's LimitRange defaults.
func (l *loader) finish() error {
	if err := l.applyAutoscalers(); err != nil {
		return err
	}
	l.applyLimitRanges()
	nodes := make(map[string]bool, len(l.in.Nodes))
	for _, n := range l.in.Nodes {
		nodes[n.Name] = true
	}
	for i, p := range l.in.BoundPods {
		if !nodes[p.Spec.NodeName] {
			return l.boundPods[i].errorf("spec.nodeName: Not found: node %q is not in the input", p.Spec.NodeName)
		}
	}
	claims := make(map[string]bool, len(l.in.PersistentVolumeClaims))
	for _, c := range l.in.PersistentVolumeClaims {
		claims[c.Namespace+"/"+c.Name] = true
	}
	for _, g := range l.claims {
		if key := g.claim.Namespace + "/" + g.claim.Name; !claims[key] {
			claims[key] = true
			l.in.PersistentVolumeClaims = append(l.in.PersistentVolumeClaims, g.claim)
		}
	}
	return nil
}
