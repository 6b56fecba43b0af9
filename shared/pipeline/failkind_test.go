package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestFailureKind: each warehouse error code maps to the kind of failure
// whose advice fits it; a failed #fail check is a check failure, not a
// schema one, and an unclassified error is unknown.
func TestFailureKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want notify.FailureKind
	}{
		{warehouse.Errorf(warehouse.Transient, "query", "backendError"), notify.FailureTransient},
		{warehouse.Errorf(warehouse.QuotaExceeded, "query", "quotaExceeded"), notify.FailureTransient},
		{fmt.Errorf("run: %w", context.DeadlineExceeded), notify.FailureTransient},
		{warehouse.Errorf(warehouse.PermissionDenied, "query", "Access Denied"), notify.FailurePermission},
		{warehouse.Errorf(warehouse.NotFound, "query", "Not found: Table p.d.t"), notify.FailureNotFound},
		{warehouse.Errorf(warehouse.InvalidArgument, "query", "Syntax error"), notify.FailureQuery},
		{warehouse.Errorf(warehouse.FailedPrecondition, "query", "Provided Schema does not match"), notify.FailureSchema},
		{&warehouse.Error{Code: warehouse.FailedPrecondition, Op: "checks", Err: fmt.Errorf("%w on partition 20240101: check 1", errChecksFailed)}, notify.FailureCheck},
		{errors.New("query.py exited with status 1"), notify.FailureUnknown},
	} {
		if got := failureKind(tc.err); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.err, got, tc.want)
		}
	}
}
