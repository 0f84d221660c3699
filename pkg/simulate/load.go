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
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

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
	// Pods are the pods to plan for: Pods without spec.nodeName and the pods of Deployments,
	// ReplicaSets, StatefulSets and Jobs.
	Pods []*corev1.Pod
	// Nodes are existing nodes.
	Nodes []*corev1.Node
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
	kind string
	name string
}

func (o origin) errorf(format string, args ...any) *InputError {
	return &InputError{File: o.file, Doc: o.doc, Kind: o.kind, Name: o.name, Err: fmt.Errorf(format, args...)}
}

func (o origin) wrap(err error) *InputError {
	return &InputError{File: o.file, Doc: o.doc, Kind: o.kind, Name: o.name, Err: err}
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
}

func newLoader() (*loader, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, storagev1.AddToScheme, v1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	codecs := serializer.NewCodecFactory(scheme, serializer.EnableStrict)
	return &loader{decoder: codecs.UniversalDeserializer(), seen: map[string]origin{}}, nil
}

// loadFile reads every document of one file: documents are decoded in parallel, then
// filed in order.
func (l *loader) loadFile(path string) error {
	docs, err := readDocuments(path)
	if err != nil {
		return err
	}
	for _, d := range l.decodeAll(docs) {
		switch {
		case d.err != nil:
			return d.err
		case d.nodeClass != nil:
			l.in.NodeClasses = append(l.in.NodeClasses, *d.nodeClass)
		default:
			if err := l.add(d.o, d.obj); err != nil {
				return err
			}
		}
	}
	return nil
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
		return l.addReplicas(o, "Deployment", t.ObjectMeta, t.Spec.Replicas, t.Spec.Template)
	case *appsv1.ReplicaSet:
		return l.addReplicas(o, "ReplicaSet", t.ObjectMeta, t.Spec.Replicas, t.Spec.Template)
	case *appsv1.StatefulSet:
		return l.addStatefulSet(o, t)
	case *batchv1.Job:
		return l.addJob(o, t)
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
	case *corev1.Namespace:
		if err := l.remember(o, "Namespace", "", t.Name); err != nil {
			return err
		}
		l.in.Namespaces = append(l.in.Namespaces, t)
	default:
		gvk := obj.GetObjectKind().GroupVersionKind()
		return o.wrap(unknownKind(gvk.GroupVersion().String(), gvk.Kind))
	}
	return nil
}

// unknownKind is the error for a kind simulate does not read.
func unknownKind(apiVersion, kind string) error {
	return fmt.Errorf("%w %s %s: simulate reads NodePools, node classes, Pods, Deployments, "+
		"ReplicaSets, StatefulSets, Jobs, DaemonSets, Nodes, PersistentVolumeClaims, "+
		"PersistentVolumes, StorageClasses and Namespaces", ErrUnknownKind, apiVersion, kind)
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
// claims the input does not define are created from their templates.
func (l *loader) finish() error {
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
