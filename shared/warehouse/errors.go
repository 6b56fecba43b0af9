package warehouse

import (
	"context"
	"errors"
	"fmt"
)

// ErrorCode classifies a warehouse error. Programs act on the code, not the message.
type ErrorCode int

const (
	Unknown ErrorCode = iota
	// NotFound: a table, dataset or partition does not exist.
	NotFound
	// AlreadyExists: the object to create exists (with deterministic names
	// this usually means the step was already done).
	AlreadyExists
	// FailedPrecondition: the request is well-formed but the state forbids it
	// (stale ETag, schemas that cannot be copied onto each other).
	FailedPrecondition
	// InvalidArgument: the request itself is wrong (bad SQL, a row outside
	// the destination partition, an unsupported construct).
	InvalidArgument
	// PermissionDenied: the caller may not do this.
	PermissionDenied
	// Transient: rate limits, backend errors, timeouts; retrying may succeed.
	Transient
)

func (c ErrorCode) String() string {
	switch c {
	case NotFound:
		return "NotFound"
	case AlreadyExists:
		return "AlreadyExists"
	case FailedPrecondition:
		return "FailedPrecondition"
	case InvalidArgument:
		return "InvalidArgument"
	case PermissionDenied:
		return "PermissionDenied"
	case Transient:
		return "Transient"
	}
	return "Unknown"
}

// Error is a classified warehouse error.
type Error struct {
	Code ErrorCode
	Op   string // the operation, e.g. "query", "copy"
	Err  error
}

func (e *Error) Error() string {
	if e.Op == "" {
		return fmt.Sprintf("%v (%s)", e.Err, e.Code)
	}
	return fmt.Sprintf("%s: %v (%s)", e.Op, e.Err, e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code c.
func Errorf(c ErrorCode, op, format string, args ...any) error {
	return &Error{Code: c, Op: op, Err: fmt.Errorf(format, args...)}
}

// Code returns err's code: the code of the first *Error in its chain,
// Transient for context deadline errors, Unknown otherwise.
func Code(err error) ErrorCode {
	if err == nil {
		return Unknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Transient
	}
	return Unknown
}

// IsNotFound reports whether err has code NotFound.
func IsNotFound(err error) bool { return Code(err) == NotFound }

// IsAlreadyExists reports whether err has code AlreadyExists.
func IsAlreadyExists(err error) bool { return Code(err) == AlreadyExists }

// IsTransient reports whether retrying err later may succeed.
func IsTransient(err error) bool { return Code(err) == Transient }
