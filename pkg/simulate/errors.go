package simulate

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownKind is wrapped by an InputError for a document whose kind simulate does not
// know in an API group it reads (a misspelt kind, or a version no longer served): other
// kinds are skipped (Input.Skipped).
var ErrUnknownKind = errors.New("unknown kind")

// ErrDuplicate is wrapped by an InputError for an object that an earlier document already
// defined (same kind, namespace and name; expanded pods count).
var ErrDuplicate = errors.New("defined twice")

// InputError is bad input: a missing path, a document that cannot be decoded, an unknown
// kind or an invalid object. No retry fixes it; `karpenter simulate` exits with status 2.
type InputError struct {
	// File is the path the problem is in.
	File string
	// Doc is the 1-based index of the document among the file's non-empty documents, 0 when
	// the problem is with the file itself.
	Doc int
	// Item is the 1-based index of the object among the items of a List document, 0 for a
	// document that is not a List.
	Item int
	// Kind and Name identify the object, when known.
	Kind string
	Name string
	// Err is the problem. Field problems are *field.Error values (joined when several).
	Err error
}

// Error reads like "web.yaml: document 3 (Deployment web): spec.replicas: Invalid value".
func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Doc > 0 {
		fmt.Fprintf(&b, ": document %d", e.Doc)
		if e.Item > 0 {
			fmt.Fprintf(&b, ", item %d", e.Item)
		}
		switch {
		case e.Kind != "" && e.Name != "":
			fmt.Fprintf(&b, " (%s %s)", e.Kind, e.Name)
		case e.Kind != "":
			fmt.Fprintf(&b, " (%s)", e.Kind)
		}
	}
	b.WriteString(": ")
	if e.Err != nil {
		// Joined errors print one per line; keep the message on one line.
		b.WriteString(strings.ReplaceAll(e.Err.Error(), "\n", "; "))
	}
	return b.String()
}

// Unwrap returns the problem.
func (e *InputError) Unwrap() error { return e.Err }

// IsInputError reports whether err is, or wraps, an *InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}
