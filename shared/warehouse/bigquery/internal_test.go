package bigquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func TestCodeOf(t *testing.T) {
	apiErr := func(code int, reason string) error {
		e := &googleapi.Error{Code: code, Message: "m"}
		if reason != "" {
			e.Errors = []googleapi.ErrorItem{{Reason: reason, Message: "m"}}
		}
		return e
	}
	jobErr := func(reason string) error { return &bigquery.Error{Reason: reason, Message: "m"} }
	tests := []struct {
		name string
		err  error
		want warehouse.ErrorCode
	}{
		{"api 404", apiErr(404, "notFound"), warehouse.NotFound},
		{"api 404 no reason", apiErr(404, ""), warehouse.NotFound},
		{"api 409 duplicate", apiErr(409, "duplicate"), warehouse.AlreadyExists},
		{"api 409 other", apiErr(409, ""), warehouse.FailedPrecondition},
		{"api 412", apiErr(412, ""), warehouse.FailedPrecondition},
		{"api 400 invalidQuery", apiErr(400, "invalidQuery"), warehouse.InvalidArgument},
		{"api 400 invalid", apiErr(400, "invalid"), warehouse.InvalidArgument},
		{"api 400 backendError", apiErr(400, "backendError"), warehouse.Transient},
		{"api 403 accessDenied", apiErr(403, "accessDenied"), warehouse.PermissionDenied},
		{"api 403 rateLimitExceeded", apiErr(403, "rateLimitExceeded"), warehouse.Transient},
		{"api 403 quotaExceeded", apiErr(403, "quotaExceeded"), warehouse.QuotaExceeded},
		{"api 429 quotaExceeded", apiErr(429, "quotaExceeded"), warehouse.Transient},
		{"api 403 no reason", apiErr(403, ""), warehouse.PermissionDenied},
		{"api 429", apiErr(429, ""), warehouse.Transient},
		{"api 500", apiErr(500, ""), warehouse.Transient},
		{"api 502", apiErr(502, ""), warehouse.Transient},
		{"api 503", apiErr(503, "backendError"), warehouse.Transient},
		{"api 504", apiErr(504, ""), warehouse.Transient},
		{"api 418", apiErr(418, ""), warehouse.Unknown},
		{"job notFound", jobErr("notFound"), warehouse.NotFound},
		{"job duplicate", jobErr("duplicate"), warehouse.AlreadyExists},
		{"job invalidQuery", jobErr("invalidQuery"), warehouse.InvalidArgument},
		{"job invalid (rows outside partition)", jobErr("invalid"), warehouse.InvalidArgument},
		{"job resourcesExceeded", jobErr("resourcesExceeded"), warehouse.InvalidArgument},
		{"job accessDenied", jobErr("accessDenied"), warehouse.PermissionDenied},
		{"job backendError", jobErr("backendError"), warehouse.Transient},
		{"job internalError", jobErr("internalError"), warehouse.Transient},
		{"job rateLimitExceeded", jobErr("rateLimitExceeded"), warehouse.Transient},
		{"job quotaExceeded", jobErr("quotaExceeded"), warehouse.QuotaExceeded},
		{"job stopped", jobErr("stopped"), warehouse.Unknown},
		{"wrapped job error", fmt.Errorf("job x failed: %w", jobErr("notFound")), warehouse.NotFound},
		{"deadline", context.DeadlineExceeded, warehouse.Transient},
		{"deadline over a 400", fmt.Errorf("retry failed with %w; last error: %w", context.DeadlineExceeded, apiErr(400, "invalid")), warehouse.InvalidArgument},
		{"cancelled", context.Canceled, warehouse.Unknown},
		{"cancelled over a 503", fmt.Errorf("%w: %w", context.Canceled, apiErr(503, "")), warehouse.Unknown},
		{"connection refused", &url.Error{Op: "Get", URL: "http://x", Err: errors.New("dial tcp: connection refused")}, warehouse.Transient},
		{"unexpected EOF", io.ErrUnexpectedEOF, warehouse.Transient},
		{"other", errors.New("boom"), warehouse.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(tt.err); got != tt.want {
				t.Errorf("codeOf(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

func TestClassifyKeepsWarehouseErrors(t *testing.T) {
	inner := warehouse.Errorf(warehouse.NotFound, "table", "gone")
	if got := classify("copy", "x", fmt.Errorf("ctx: %w", inner)); warehouse.Code(got) != warehouse.NotFound {
		t.Errorf("classify re-coded a warehouse error: %v", got)
	}
	got := classify("copy", "p.d.t", &googleapi.Error{Code: 404})
	var we *warehouse.Error
	if !errors.As(got, &we) || we.Op != "copy" || we.Code != warehouse.NotFound {
		t.Fatalf("classify = %#v", got)
	}
	if msg := got.Error(); msg != "copy: p.d.t: googleapi: got HTTP response code 404 with body:  (NotFound)" {
		t.Errorf("message = %q", msg)
	}
}

func TestBackoff(t *testing.T) {
	w := &Warehouse{cfg: Config{Project: "p", Retry: RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}}.withDefaults()}
	for attempt, max := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 9: time.Second} {
		for i := 0; i < 20; i++ {
			d := w.retryPolicy(1).Delay(attempt)
			if d > max || d < max/2 {
				t.Errorf("Delay(%d) = %v, want within [%v, %v]", attempt, d, max/2, max)
			}
		}
	}
}

func TestJobIDPrefixAndDecorators(t *testing.T) {
	for in, want := range map[string]string{
		"bf-b1_20240101":   "bf-b1_20240101",
		"a.b c/d:é":        "a_b_c_d___",
		"moz-fx-data.x$y#": "moz-fx-data_x_y_",
	} {
		if got := jobIDPrefix(in); got != want {
			t.Errorf("jobIDPrefix(%q) = %q, want %q", in, got, want)
		}
	}
	for id, ok := range map[string]bool{"20240101": true, "202401": true, "__NULL__": true, "__UNPARTITIONED__": true, "": false, "2024-01": false, "x": false} {
		if validDecorator(id) != ok {
			t.Errorf("validDecorator(%q) = %v, want %v", id, !ok, ok)
		}
	}
}
