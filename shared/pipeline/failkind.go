package pipeline

import (
	"errors"

	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// failureKind classifies the error that failed a partition, for the notice
// and status to say what helps (retry re-runs the same query).
func failureKind(err error) notify.FailureKind {
	switch warehouse.Code(err) {
	case warehouse.Transient, warehouse.QuotaExceeded:
		return notify.FailureTransient
	case warehouse.PermissionDenied:
		return notify.FailurePermission
	case warehouse.NotFound:
		return notify.FailureNotFound
	case warehouse.InvalidArgument:
		return notify.FailureQuery
	case warehouse.FailedPrecondition:
		if errors.Is(err, errChecksFailed) {
			return notify.FailureCheck
		}
		return notify.FailureSchema
	}
	return notify.FailureUnknown
}
