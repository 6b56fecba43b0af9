package warehouse

import (
	"context"
	"errors"
	"fmt"
	"time"
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
	// Transient: short-term rate limits (rateLimitExceeded), backend errors,
	// timeouts; retrying after seconds may succeed.
	Transient
	// QuotaExceeded: a long-term quota is used up (BigQuery's reason
	// quotaExceeded, e.g. the 30,000 partition modifications per table per
	// day). BigQuery's advice is to wait at least QuotaRetryAfter before
	// trying again; failed jobs count against the quota, so retrying at
	// transient speed only digs deeper. The work is not wrong: a retry after
	// the wait may succeed, and it must not count as a failed attempt.
	QuotaExceeded
)

// QuotaRetryAfter is the least wait before retrying a QuotaExceeded error
// ("quotaExceeded ... wait 10 minutes or longer",
// https://cloud.google.com/bigquery/docs/troubleshoot-quotas).
const QuotaRetryAfter = 10 * time.Minute

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
	case QuotaExceeded:
		return "QuotaExceeded"
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

// IsTransient reports whether retrying err after a short backoff may
// succeed. QuotaExceeded is not transient: see IsRetryable.
func IsTransient(err error) bool { return Code(err) == Transient }

// IsQuotaExceeded reports whether err is a long-term quota error: retry
// no sooner than QuotaRetryAfter, without counting it as a failed attempt.
func IsQuotaExceeded(err error) bool { return Code(err) == QuotaExceeded }

// IsRetryable reports whether the same request may succeed later
// (Transient or QuotaExceeded); how long to wait depends on which.
func IsRetryable(err error) bool {
	c := Code(err)
	return c == Transient || c == QuotaExceeded
}

// Messages BigQuery sends with its quota and rate-limit errors (reason in
// brackets), from https://cloud.google.com/bigquery/docs/troubleshoot-quotas
// and https://cloud.google.com/bigquery/quotas (../shared/spec/gcp-limits.md
// §1). Fakes and quota models use them so that tests see the real text.
const (
	// [rateLimitExceeded] more than 50 modifications per 10 s of one
	// partitioned table.
	MsgPartitionedTableRate = "Exceeded rate limits: too many partitioned table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"
	// [rateLimitExceeded] more than 5 modifications per 10 s of one
	// unpartitioned table.
	MsgTableRate = "Exceeded rate limits: too many table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"
	// [quotaExceeded] more than 30,000 partition modifications of one
	// column-partitioned table in a day.
	MsgPartitionModificationsPerDay = "Quota exceeded: Your table exceeded quota for Number of partition modifications to a column partitioned table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"
	// [quotaExceeded] more than 1,500 load/copy/query writes of one
	// unpartitioned table in a day.
	MsgTableWritesPerDay = "Quota exceeded: Your table exceeded quota for imports or query appends per table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"
	// [quotaExceeded] more than 100,000 copy jobs in a project in a day.
	MsgCopiesPerProject = "Quota exceeded: Your project exceeded quota for copies per project. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"
)
