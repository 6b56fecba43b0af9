package pipeline_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// TestMaxBytesGuard: max_bytes_per_backfill refuses a backfill whose dry
// runs add up to more, and one that cannot be estimated at all (the guard
// promises that nothing bigger starts); within the guard it starts.
func TestMaxBytesGuard(t *testing.T) {
	const tib = int64(1) << 40
	tests := []struct {
		name      string
		dryRun    func(q *bqfake.Query) (*bqfake.Result, error)
		maxBytes  int64
		wantDid   pipeline.Did
		wantError string
	}{
		{
			name:     "over the guard",
			dryRun:   func(*bqfake.Query) (*bqfake.Result, error) { return &bqfake.Result{BytesProcessed: 2 * tib}, nil },
			maxBytes: tib, wantDid: pipeline.DidRejected, wantError: "Q2: ",
		},
		{
			name: "cannot be estimated",
			dryRun: func(*bqfake.Query) (*bqfake.Result, error) {
				return nil, &bqfake.JobError{Reason: "invalidQuery", Message: "Unrecognized name: x"}
			},
			maxBytes: tib, wantDid: pipeline.DidRejected, wantError: "Q2: max_bytes_per_backfill is set but the backfill could not be estimated",
		},
		{
			name:     "within the guard",
			dryRun:   func(*bqfake.Query) (*bqfake.Result, error) { return &bqfake.Result{BytesProcessed: 1 << 20}, nil },
			maxBytes: tib, wantDid: pipeline.DidStarted,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newContractEnv(t)
			dry := tc.dryRun
			e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
				if !q.DryRun {
					return nil, nil
				}
				return dry(q)
			})
			d := e.desired(t)
			d.MaxBytes = tc.maxBytes
			did, err := e.p.Reconcile(e.ctx, d)
			if err != nil || did != tc.wantDid {
				t.Fatalf("Reconcile = %q, %v; want %q", did, err, tc.wantDid)
			}
			bf := e.record(t)
			if tc.wantError == "" {
				if bf.State != ledger.StateProcessing || bf.LastError != "" {
					t.Errorf("record %s %q, want processing", bf.State, bf.LastError)
				}
				if got := e.work(t); !slices.Equal(got, days) {
					t.Errorf("partitions %q", got)
				}
				return
			}
			if bf.State != ledger.StateRejected || !strings.HasPrefix(bf.LastError, tc.wantError) {
				t.Errorf("record %s %q, want rejected with %q", bf.State, bf.LastError, tc.wantError)
			}
		})
	}
}
