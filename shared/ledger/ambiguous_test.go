package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/ledger/ledgertest"
)

// lossyStore is a Store whose client loses the response of the uploads
// matched by match (see ledgertest.LostResponse), on fake-gcs-server.
func lossyStore(t *testing.T, match func([]byte) bool) (*ledger.Store, *ledgertest.LostResponse) {
	t.Helper()
	srv := startServer(t, "")
	tr := &ledgertest.LostResponse{Base: srv.HTTPClient().Transport, Match: match}
	c, err := storage.NewClient(context.Background(), option.WithHTTPClient(&http.Client{Transport: tr}), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ledger.New(c, bucket), tr
}

// An upload that committed but whose response was lost is retried by the
// storage client; the retry fails its precondition (412). The store must
// see its own write there, not a lost race.
func TestStoreLostResponse(t *testing.T) {
	ctx := context.Background()
	record := func(body []byte) bool { return bytes.Contains(body, []byte(`"entry_hash"`)) }

	t.Run("create", func(t *testing.T) {
		st, tr := lossyStore(t, record)
		err := st.Create(ctx, newBackfill(bfID))
		if tr.Lost() != 1 {
			t.Fatalf("lost %d responses, want 1", tr.Lost())
		}
		if err != nil {
			t.Fatalf("Create whose response was lost: %v, want nil (ErrExists means the store took its own write for a rival's)", err)
		}
		if err := st.Create(ctx, newBackfill(bfID)); !errors.Is(err, ledger.ErrExists) {
			t.Errorf("second Create: %v, want ErrExists", err)
		}
	})

	t.Run("transition", func(t *testing.T) {
		processed := func(body []byte) bool { return bytes.Contains(body, []byte(`"state":"processed"`)) }
		st, tr := lossyStore(t, processed)
		b := newBackfill(bfID)
		b.State = ledger.StateProcessing
		if err := st.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		runs := 0
		moved, err := st.Transition(ctx, bfID, []ledger.State{ledger.StateProcessing}, ledger.StateProcessed, func(*ledger.Backfill) error {
			runs++
			return nil
		})
		if tr.Lost() != 1 {
			t.Fatalf("lost %d responses, want 1", tr.Lost())
		}
		if err != nil || !moved {
			t.Fatalf("Transition whose response was lost: moved %v, %v; want moved", moved, err)
		}
		if runs != 1 {
			t.Errorf("mutate ran %d times, want 1 (the write landed the first time)", runs)
		}
		got, err := st.Get(ctx, bfID)
		if err != nil || got.State != ledger.StateProcessed {
			t.Fatalf("after: %+v, %v", got, err)
		}
	})

	t.Run("partition attempt counted once", func(t *testing.T) {
		done := func(body []byte) bool { return bytes.Contains(body, []byte(`"state":"done"`)) }
		st, tr := lossyStore(t, done)
		if err := st.Create(ctx, newBackfill(bfID)); err != nil {
			t.Fatal(err)
		}
		r, err := st.UpdatePartition(ctx, bfID, "20261101", func(r *ledger.PartitionRecord) error {
			r.Attempts++
			r.State = ledger.PartitionDone
			return nil
		})
		if tr.Lost() != 1 {
			t.Fatalf("lost %d responses, want 1", tr.Lost())
		}
		if err != nil || r.Attempts != 1 {
			t.Fatalf("UpdatePartition whose response was lost: %+v, %v; want 1 attempt", r, err)
		}
		got, err := st.GetPartition(ctx, bfID, "20261101")
		if err != nil || got.Attempts != 1 || got.Generation != r.Generation {
			t.Errorf("stored: %+v, %v; want 1 attempt at generation %d", got, err, r.Generation)
		}
	})

	// A real lost race still reads as one: the rival's write carries its
	// own write id.
	t.Run("rival", func(t *testing.T) {
		st, _ := lossyStore(t, func([]byte) bool { return false })
		if err := st.Create(ctx, newBackfill(bfID)); err != nil {
			t.Fatal(err)
		}
		if err := st.Create(ctx, newBackfill(bfID)); !errors.Is(err, ledger.ErrExists) {
			t.Errorf("Create after a rival's: %v, want ErrExists", err)
		}
	})
}
