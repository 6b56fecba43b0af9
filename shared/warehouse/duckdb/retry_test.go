package duckdb

import (
	"context"
	"errors"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// TestRetryConflicts: a transaction conflict is retried up to MaxAttempts
// tries, anything else is not; the last error comes back as it was.
func TestRetryConflicts(t *testing.T) {
	conflict := classify("insert", &duckdb.Error{Type: duckdb.ErrorTypeTransaction, Msg: `TransactionContext Error: Conflict on tuple deletion!`})
	other := classify("insert", &duckdb.Error{Type: duckdb.ErrorTypeParser, Msg: `Parser Error: syntax error`})
	tests := []struct {
		name      string
		results   []error // fn returns these in turn, then nil
		wantCalls int
		wantErr   error
	}{
		{"conflicts then success", []error{conflict, conflict}, 3, nil},
		{"conflicts until the attempts run out", []error{conflict, conflict, conflict, conflict}, 3, conflict},
		{"other errors are not retried", []error{other}, 1, other},
	}
	w := &Warehouse{maxAttempts: 3}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := w.retry(context.Background(), func() error {
				calls++
				if calls <= len(tc.results) {
					return tc.results[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls || err != tc.wantErr {
				t.Errorf("%d calls, error %v; want %d calls, error %v", calls, err, tc.wantCalls, tc.wantErr)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	if err := w.retry(ctx, func() error { calls++; return conflict }); calls != 1 || !errors.Is(err, conflict) {
		t.Errorf("cancelled context: %d calls, error %v; want 1 call and the conflict", calls, err)
	}
}
