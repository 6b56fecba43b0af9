package bigquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// reasonCodes maps BigQuery error reasons (REST errors[0].reason and job
// status errorResult.reason) to warehouse codes. Reasons decide before
// HTTP statuses: a 403 is PermissionDenied for accessDenied but Transient
// for rateLimitExceeded.
var reasonCodes = map[string]warehouse.ErrorCode{
	"notFound":  warehouse.NotFound,
	"duplicate": warehouse.AlreadyExists,

	"invalid":            warehouse.InvalidArgument,
	"invalidQuery":       warehouse.InvalidArgument,
	"badRequest":         warehouse.InvalidArgument,
	"required":           warehouse.InvalidArgument,
	"responseTooLarge":   warehouse.InvalidArgument,
	"resourcesExceeded":  warehouse.InvalidArgument,
	"invalidUser":        warehouse.InvalidArgument,
	"outOfRange":         warehouse.InvalidArgument,
	"notImplemented":     warehouse.InvalidArgument,
	"conditionNotMet":    warehouse.FailedPrecondition,
	"failedPrecondition": warehouse.FailedPrecondition,
	"resourceInUse":      warehouse.FailedPrecondition,
	"aborted":            warehouse.FailedPrecondition,

	"accessDenied":             warehouse.PermissionDenied,
	"billingNotEnabled":        warehouse.PermissionDenied,
	"billingTierLimitExceeded": warehouse.PermissionDenied,
	"blocked":                  warehouse.PermissionDenied,
	"unauthorized":             warehouse.PermissionDenied,

	"rateLimitExceeded": warehouse.Transient,
	// A long-term limit: wait >= 10 minutes (warehouse.QuotaRetryAfter).
	// HTTP 429 with this reason is a per-request rate limit (see codeOf).
	"quotaExceeded":        warehouse.QuotaExceeded,
	"jobRateLimitExceeded": warehouse.Transient,
	"backendError":         warehouse.Transient,
	"internalError":        warehouse.Transient,
	"jobBackendError":      warehouse.Transient,
	"jobInternalError":     warehouse.Transient,
	"tableUnavailable":     warehouse.Transient,
	"timeout":              warehouse.Transient,
}

// classify wraps err in a *warehouse.Error for op, naming subject (the
// table, dataset or job) in the message. An err that already is a
// *warehouse.Error is returned as is.
func classify(op, subject string, err error) error {
	if err == nil {
		return nil
	}
	var we *warehouse.Error
	if errors.As(err, &we) {
		return err
	}
	if subject != "" {
		err = fmt.Errorf("%s: %w", subject, err)
	}
	return &warehouse.Error{Code: codeOf(err), Op: op, Err: err}
}

// codeOf classifies a raw error from the client library:
//
//   - cancellation: Unknown (the caller gave up; nothing to retry);
//   - a *googleapi.Error: by reason (reasonCodes), else by HTTP status:
//     400 InvalidArgument, 401/403 PermissionDenied, 404 NotFound,
//     409 AlreadyExists for reason "duplicate" and FailedPrecondition
//     otherwise (a conflicting concurrent change), 412 FailedPrecondition,
//     429/5xx Transient;
//   - a job status error (*bigquery.Error, from JobStatus.Err): by reason;
//   - deadlines, timeouts, refused or reset connections, unexpected EOF:
//     Transient;
//   - anything else: Unknown.
func codeOf(err error) warehouse.ErrorCode {
	if errors.Is(err, context.Canceled) {
		return warehouse.Unknown
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		for _, e := range ge.Errors {
			if c, ok := reasonCodes[e.Reason]; ok {
				if c == warehouse.QuotaExceeded && ge.Code == http.StatusTooManyRequests {
					// 429 is a request rate limit (RESOURCE_EXHAUSTED
					// per second), short-term whatever the reason says.
					return warehouse.Transient
				}
				return c
			}
		}
		switch {
		case ge.Code == http.StatusBadRequest:
			return warehouse.InvalidArgument
		case ge.Code == http.StatusUnauthorized, ge.Code == http.StatusForbidden:
			return warehouse.PermissionDenied
		case ge.Code == http.StatusNotFound:
			return warehouse.NotFound
		case ge.Code == http.StatusConflict:
			return warehouse.FailedPrecondition
		case ge.Code == http.StatusPreconditionFailed:
			return warehouse.FailedPrecondition
		case ge.Code == http.StatusTooManyRequests, ge.Code == http.StatusRequestTimeout, ge.Code >= 500:
			return warehouse.Transient
		}
		return warehouse.Unknown
	}
	var be *bigquery.Error
	if errors.As(err, &be) {
		if c, ok := reasonCodes[be.Reason]; ok {
			return c
		}
		return warehouse.Unknown
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		return warehouse.Transient
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return warehouse.Transient
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		msg := ue.Error()
		if strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF") {
			return warehouse.Transient
		}
	}
	return warehouse.Unknown
}
