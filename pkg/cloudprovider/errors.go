package cloudprovider

import (
	"errors"
	"fmt"
)

// NodeClaimNotFoundError means the instance behind a NodeClaim or provider ID does not
// exist (never launched, or already terminated).
type NodeClaimNotFoundError struct{ err error }

// NewNodeClaimNotFoundError wraps err as a NodeClaimNotFoundError.
func NewNodeClaimNotFoundError(err error) *NodeClaimNotFoundError {
	return &NodeClaimNotFoundError{err: err}
}

func (e *NodeClaimNotFoundError) Error() string { return "nodeclaim not found: " + errText(e.err) }
func (e *NodeClaimNotFoundError) Unwrap() error { return e.err }

// IsNodeClaimNotFoundError reports whether err is or wraps a NodeClaimNotFoundError.
func IsNodeClaimNotFoundError(err error) bool {
	var target *NodeClaimNotFoundError
	return errors.As(err, &target)
}

// IgnoreNodeClaimNotFoundError returns nil for a NodeClaimNotFoundError and err otherwise.
func IgnoreNodeClaimNotFoundError(err error) error {
	if IsNodeClaimNotFoundError(err) {
		return nil
	}
	return err
}

// InsufficientCapacityError means none of the offerings that satisfy a NodeClaim can be
// launched right now. The NodeClaim should be deleted and its pods scheduled again, now
// that the offerings are marked unavailable.
type InsufficientCapacityError struct{ err error }

// NewInsufficientCapacityError wraps err as an InsufficientCapacityError.
func NewInsufficientCapacityError(err error) *InsufficientCapacityError {
	return &InsufficientCapacityError{err: err}
}

func (e *InsufficientCapacityError) Error() string {
	return "insufficient capacity: " + errText(e.err)
}
func (e *InsufficientCapacityError) Unwrap() error { return e.err }

// IsInsufficientCapacityError reports whether err is or wraps an InsufficientCapacityError.
func IsInsufficientCapacityError(err error) bool {
	var target *InsufficientCapacityError
	return errors.As(err, &target)
}

// IgnoreInsufficientCapacityError returns nil for an InsufficientCapacityError and err otherwise.
func IgnoreInsufficientCapacityError(err error) error {
	if IsInsufficientCapacityError(err) {
		return nil
	}
	return err
}

// NodeClassNotReadyError means the node class a NodeClaim or NodePool refers to is missing
// or not Ready, so nothing can be launched with it until that changes.
type NodeClassNotReadyError struct{ err error }

// NewNodeClassNotReadyError wraps err as a NodeClassNotReadyError.
func NewNodeClassNotReadyError(err error) *NodeClassNotReadyError {
	return &NodeClassNotReadyError{err: err}
}

func (e *NodeClassNotReadyError) Error() string { return "node class not ready: " + errText(e.err) }
func (e *NodeClassNotReadyError) Unwrap() error { return e.err }

// IsNodeClassNotReadyError reports whether err is or wraps a NodeClassNotReadyError.
func IsNodeClassNotReadyError(err error) bool {
	var target *NodeClassNotReadyError
	return errors.As(err, &target)
}

// IgnoreNodeClassNotReadyError returns nil for a NodeClassNotReadyError and err otherwise.
func IgnoreNodeClassNotReadyError(err error) error {
	if IsNodeClassNotReadyError(err) {
		return nil
	}
	return err
}

// CreateError is a launch failure with a machine-readable reason (CamelCase, suitable as
// a condition reason) and a human message, e.g. the Launched condition of a NodeClaim.
type CreateError struct {
	// Reason is a CamelCase cause such as "NoCompatibleInstanceType".
	Reason string
	// Message explains the failure to a person.
	Message string
	err     error
}

// NewCreateError wraps err as a CreateError with a reason and message.
func NewCreateError(err error, reason, message string) *CreateError {
	return &CreateError{Reason: reason, Message: message, err: err}
}

func (e *CreateError) Error() string {
	return fmt.Sprintf("creating nodeclaim (%s): %s", e.Reason, errText(e.err))
}
func (e *CreateError) Unwrap() error { return e.err }

// IsCreateError reports whether err is or wraps a CreateError.
func IsCreateError(err error) bool {
	var target *CreateError
	return errors.As(err, &target)
}

// IgnoreCreateError returns nil for a CreateError and err otherwise.
func IgnoreCreateError(err error) error {
	if IsCreateError(err) {
		return nil
	}
	return err
}

// AsCreateError returns the CreateError err is or wraps, or nil.
func AsCreateError(err error) *CreateError {
	var target *CreateError
	if errors.As(err, &target) {
		return target
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
