package simulate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
)

// Limits on the input: bad or hostile input fails fast, naming the file and field, instead
// of exhausting memory.
const (
	// MaxFileBytes is the largest manifest file read.
	MaxFileBytes = 64 << 20
	// MaxPods is the most pods the input may hold once workloads are expanded.
	MaxPods = 100_000
	// MaxNesting is the deepest a document may nest mappings and sequences; Kubernetes
	// objects need about 15 levels.
	MaxNesting = 64
)

// document is one non-empty document of a file.
type document struct {
	o    origin
	data []byte
}

// decoded is a document turned into an object, or the error doing so.
type decoded struct {
	o         origin
	obj       k8sruntime.Object
	nodeClass *NodeClass
	// ec2 is an EC2NodeClass's content (nodeClass is set too).
	ec2 *awsv1.EC2NodeClass
	// items are a List's objects, in order.
	items []decoded
	// skip is the apiVersion of a document of a kind simulate skips.
	skip string
	err  error
}

// readDocuments reads a file (at most MaxFileBytes) and splits it into its non-empty
// documents, numbered from 1.
func readDocuments(path string) ([]document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{File: path, Err: fmt.Errorf("reading input: %w", err)}
	}
	defer func() { _ = f.Close() }()
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Size() > MaxFileBytes {
		return nil, &InputError{File: path, Err: fmt.Errorf("file is %d bytes, larger than the limit of %d MiB", info.Size(), MaxFileBytes>>20)}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &InputError{File: path, Err: fmt.Errorf("reading input: %w", err)}
	}
	if len(data) > MaxFileBytes {
		return nil, &InputError{File: path, Err: fmt.Errorf("file is larger than the limit of %d MiB", MaxFileBytes>>20)}
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []document
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, &InputError{File: path, Doc: len(docs) + 1, Err: fmt.Errorf("splitting documents: %w", err)}
		}
		if isEmptyDocument(doc) {
			continue
		}
		docs = append(docs, document{o: origin{file: path, doc: len(docs) + 1}, data: doc})
	}
}

// decodeAll decodes documents on every CPU. Results keep the documents' order; once a
// document fails, later ones are not started, so the first error in document order is
// always among the results.
func (l *loader) decodeAll(docs []document) []decoded {
	out := make([]decoded, len(docs))
	var next atomic.Int64
	var stop atomic.Int64
	stop.Store(int64(len(docs)))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(docs)) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= stop.Load() {
					return
				}
				out[i] = l.decodeDocument(docs[i])
				if out[i].err != nil {
					for s := stop.Load(); i < s && !stop.CompareAndSwap(s, i); s = stop.Load() {
					}
				}
			}
		})
	}
	wg.Wait()
	return out
}

// readGroups are the API versions of the kinds simulate reads.
var readGroups = map[string]bool{"v1": true, "apps/v1": true, "batch/v1": true, "storage.k8s.io/v1": true, "karpenter.sh/v1": true}

// decodeList decodes the items of a List document (what `kubectl get -o yaml` writes), each
// as a document of its own numbered from 1 within it.
func (l *loader) decodeList(o origin, data []byte) decoded {
	if o.item > 0 {
		return decoded{o: o, err: o.errorf("a List inside a List")}
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := yaml.Unmarshal(data, &list); err != nil {
		return decoded{o: o, err: o.wrap(fmt.Errorf("decoding %s: %w", o.kind, err))}
	}
	out := decoded{o: o, items: make([]decoded, 0, len(list.Items))}
	for i, raw := range list.Items {
		item := l.decodeDocument(document{o: origin{file: o.file, doc: o.doc, item: i + 1}, data: raw})
		if item.err != nil {
			return item
		}
		out.items = append(out.items, item)
	}
	return out
}

// decodeDocument decodes one document. It converts the YAML to JSON once and decodes that
// strictly; a document that does not convert cleanly takes the YAML decoder's path, so its
// error reads the same as ever.
func (l *loader) decodeDocument(d document) decoded {
	o := d.o
	if path, deep := tooDeep(d.data, MaxNesting); deep {
		return decoded{o: o, err: o.errorf("%s: nesting deeper than %d levels", path, MaxNesting)}
	}
	data, ok := fastYAMLToJSON(d.data)
	var err error
	if !ok {
		data, err = yaml.YAMLToJSONStrict(d.data)
	}
	var h header
	if err != nil || json.Unmarshal(data, &h) != nil {
		data = d.data
		if err := yaml.Unmarshal(data, &h); err != nil {
			return decoded{o: o, err: o.wrap(fmt.Errorf("decoding document: %w", err))}
		}
	}
	o.kind, o.name = h.Kind, h.Metadata.Name
	if h.Kind == "" {
		return decoded{o: o, err: o.errorf("decoding document: no kind")}
	}
	if h.Kind == "List" || strings.HasSuffix(h.Kind, "List") && readKinds[strings.TrimSuffix(h.Kind, "List")] {
		return l.decodeList(o, data)
	}
	if strings.HasSuffix(h.Kind, "NodeClass") {
		if h.Metadata.Name == "" {
			return decoded{o: o, err: o.errorf("metadata.name: Required value")}
		}
		d := decoded{o: o, nodeClass: &NodeClass{APIVersion: h.APIVersion, Kind: h.Kind, Name: h.Metadata.Name}}
		if h.Kind == "EC2NodeClass" && h.APIVersion == awsv1.SchemeGroupVersion.String() {
			// Read for the settings that shape capacity (kubelet, block devices); fields
			// this version does not know are left alone, as for other node classes.
			d.ec2 = &awsv1.EC2NodeClass{}
			if err := yaml.Unmarshal(data, d.ec2); err != nil {
				return decoded{o: o, err: o.wrap(fmt.Errorf("decoding EC2NodeClass: %w", err))}
			}
		}
		return d
	}
	obj, _, err := l.decoder.Decode(data, nil, nil)
	if err != nil {
		if k8sruntime.IsNotRegisteredError(err) {
			if readKinds[h.Kind] || readGroups[h.APIVersion] {
				return decoded{o: o, err: o.wrap(unknownKind(h.APIVersion, h.Kind))}
			}
			return decoded{o: o, skip: h.APIVersion}
		}
		return decoded{o: o, err: o.wrap(fmt.Errorf("decoding %s: %w", h.Kind, err))}
	}
	if h.Metadata.Name == "" {
		return decoded{o: o, err: o.errorf("metadata.name: Required value")}
	}
	return decoded{o: o, obj: obj}
}
