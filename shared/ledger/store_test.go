package ledger_test

// Black-box tests of the Store on fake-gcs-server, in memory and
// file-backed (local mode's backend), through the public API only.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
)

const bucket = "ledger"

// backend is one kind of fake GCS the suite runs on.
type backend struct {
	name string
	// root returns the StorageRoot for a new server ("" for memory).
	root func(t testing.TB) string
}

var backends = []backend{
	{"memory", func(testing.TB) string { return "" }},
	{"file", func(t testing.TB) string { return t.TempDir() }},
}

// startServer starts fake-gcs-server in process on root ("" for memory),
// with the ledger bucket.
func startServer(t testing.TB, root string) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{StorageRoot: root, NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	c := srv.Client()
	if _, err := c.Bucket(bucket).Attrs(context.Background()); errors.Is(err, storage.ErrBucketNotExist) {
		if err := c.Bucket(bucket).Create(context.Background(), "test", nil); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// forEachBackend runs f on a fresh Store over each backend.
func forEachBackend(t *testing.T, f func(t *testing.T, st *ledger.Store)) {
	forEachBackendClient(t, func(t *testing.T, st *ledger.Store, _ *storage.Client) { f(t, st) })
}

// forEachBackendClient is forEachBackend also passing the Store's client.
func forEachBackendClient(t *testing.T, f func(t *testing.T, st *ledger.Store, c *storage.Client)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := startServer(t, b.root(t)).Client()
			f(t, ledger.New(c, bucket), c)
		})
	}
}

const bfID = "moz-fx-data-shared-prod.telemetry_derived.clients_daily_v6/2026-11-01"

func newBackfill(id string) *ledger.Backfill {
	table, date, _ := strings.Cut(id, "/")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return &ledger.Backfill{ID: id, Table: table, EntryDate: date, State: ledger.StatePending, EntryHash: "h1", CreatedAt: now, UpdatedAt: now}
}

func TestStoreCreateTwice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		first := newBackfill(bfID)
		if err := st.Create(ctx, first); err != nil {
			t.Fatal(err)
		}
		if first.Generation == 0 {
			t.Error("Create did not set the generation")
		}
		second := newBackfill(bfID)
		second.EntryHash = "h2"
		if err := st.Create(ctx, second); !errors.Is(err, ledger.ErrExists) {
			t.Fatalf("second Create: %v, want ErrExists", err)
		}
		got, err := st.Get(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		if got.EntryHash != "h1" || got.Generation != first.Generation {
			t.Errorf("record after the second Create: hash %q generation %d, want h1 generation %d", got.EntryHash, got.Generation, first.Generation)
		}
	})
}

// TestStoreCreateRace: ten scanners start one backfill at once, each with
// its own spec; exactly one wins, and the record names the winner's spec.
func TestStoreCreateRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := newBackfill(bfID)
				b.EntryHash = fmt.Sprintf("scanner-%d", i)
				b.Spec = json.RawMessage(fmt.Sprintf(`{"scanner":%d}`, i))
				<-start
				errs[i] = st.Create(ctx, b)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("scanners %d and %d both created the backfill", winner, i)
				}
				winner = i
			case !errors.Is(err, ledger.ErrExists):
				t.Errorf("scanner %d: %v, want nil or ErrExists", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no scanner created the backfill")
		}
		got, err := st.Get(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("scanner-%d", winner); got.EntryHash != want {
			t.Errorf("record from %q, want the winner %q", got.EntryHash, want)
		}
		spec, err := st.Spec(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"scanner":%d}`, winner); string(spec) != want {
			t.Errorf("spec %s, want the winner's %s", spec, want)
		}
	})
}

// TestStoreConcurrentUpdates: goroutines increment one backfill record's
// counter and one partition record that does not exist yet (so they also
// race to create it); no increment is lost.
func TestStoreConcurrentUpdates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		// The test checks that nothing is lost, not how many retries a
		// goroutine needs under this much contention.
		st.MaxAttempts = 1000
		if err := st.Create(ctx, newBackfill(bfID)); err != nil {
			t.Fatal(err)
		}
		const goroutines, each = 8, 10
		var wg sync.WaitGroup
		var calls atomic.Int64
		errc := make(chan error, 2*goroutines*each)
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if _, err := st.Update(ctx, bfID, func(b *ledger.Backfill) error {
						calls.Add(1)
						b.PartitionCount++
						return nil
					}); err != nil {
						errc <- err
					}
					if _, err := st.UpdatePartition(ctx, bfID, "20261101", func(r *ledger.PartitionRecord) error {
						r.Attempts++
						return nil
					}); err != nil {
						errc <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		b, err := st.Get(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		if b.PartitionCount != goroutines*each {
			t.Errorf("counter = %d, want %d", b.PartitionCount, goroutines*each)
		}
		r, err := st.GetPartition(ctx, bfID, "20261101")
		if err != nil {
			t.Fatal(err)
		}
		if r.Attempts != goroutines*each {
			t.Errorf("partition attempts = %d, want %d", r.Attempts, goroutines*each)
		}
		t.Logf("%d update function calls for %d updates", calls.Load(), goroutines*each)
	})
}

func TestStoreUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		if _, err := st.Update(ctx, bfID, func(*ledger.Backfill) error { return nil }); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("Update of a missing record: %v, want ErrNotFound", err)
		}
		if err := st.Create(ctx, newBackfill(bfID)); err != nil {
			t.Fatal(err)
		}
		b, err := st.Update(ctx, bfID, func(b *ledger.Backfill) error {
			b.State = ledger.StateStaging
			b.Staging = "p.backfills_staging_derived.d__t_2026_11_01"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.Get(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != ledger.StateStaging || got.Staging != b.Staging || got.Generation != b.Generation {
			t.Errorf("after Update: %+v, want staging at generation %d", got, b.Generation)
		}

		// ErrNoChange: nothing written, the current record returned.
		same, err := st.Update(ctx, bfID, func(*ledger.Backfill) error { return ledger.ErrNoChange })
		if !errors.Is(err, ledger.ErrNoChange) || same == nil || same.Generation != b.Generation || same.State != ledger.StateStaging {
			t.Errorf("ErrNoChange update: %+v, %v; want the record at generation %d", same, err, b.Generation)
		}

		// A forbidden transition writes nothing.
		_, err = st.Update(ctx, bfID, func(b *ledger.Backfill) error {
			b.State = ledger.StateCompleted
			b.LastError = "should not be stored"
			return nil
		})
		if !errors.Is(err, ledger.ErrInvalidTransition) {
			t.Errorf("staging -> completed: %v, want ErrInvalidTransition", err)
		}
		// Nor does an error from fn, which Update returns wrapped.
		boom := errors.New("boom")
		if _, err := st.Update(ctx, bfID, func(b *ledger.Backfill) error { b.LastError = "no"; return boom }); !errors.Is(err, boom) {
			t.Errorf("fn error: %v, want it wrapped", err)
		}
		// Nor an attempt to change the id.
		if _, err := st.Update(ctx, bfID, func(b *ledger.Backfill) error { b.ID = "p.d.t/2026-01-01"; return nil }); err == nil {
			t.Error("Update changed the id")
		}
		got, err = st.Get(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != ledger.StateStaging || got.LastError != "" || got.Generation != b.Generation {
			t.Errorf("record changed by failed updates: %+v", got)
		}
	})
}

// TestStoreUpdateConflict: a record rewritten behind the store's back on
// every attempt exhausts MaxAttempts with ErrConflict.
func TestStoreUpdateConflict(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		if err := st.Create(ctx, newBackfill(bfID)); err != nil {
			t.Fatal(err)
		}
		st.MaxAttempts = 3
		calls := 0
		_, err := st.Update(ctx, bfID, func(b *ledger.Backfill) error {
			calls++
			// Another writer gets in between this read and its write.
			if _, err := st.Update(ctx, bfID, func(o *ledger.Backfill) error { o.PartitionCount++; return nil }); err != nil {
				return err
			}
			b.LastError = "lost"
			return nil
		})
		if !errors.Is(err, ledger.ErrConflict) {
			t.Fatalf("Update: %v, want ErrConflict", err)
		}
		if calls != 3 {
			t.Errorf("fn ran %d times, want MaxAttempts = 3", calls)
		}
		got, err := st.Get(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PartitionCount != 3 || got.LastError != "" {
			t.Errorf("record: count %d, last error %q; want the 3 interfering writes and nothing else", got.PartitionCount, got.LastError)
		}
	})
}

func TestStorePartitions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		if _, err := st.GetPartition(ctx, bfID, "20261101"); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("GetPartition of a missing record: %v, want ErrNotFound", err)
		}
		// UpdatePartition creates the record, starting from pending.
		var seen ledger.PartitionState
		r, err := st.UpdatePartition(ctx, bfID, "20261101", func(r *ledger.PartitionRecord) error {
			seen = r.State
			r.State = ledger.PartitionRunning
			r.Attempts++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen != ledger.PartitionPending || r.ID != "20261101" || r.Generation == 0 {
			t.Errorf("new record: started from %q, got %+v", seen, r)
		}
		at := time.Date(2026, 11, 25, 10, 1, 0, 0, time.UTC)
		if _, err := st.UpdatePartition(ctx, bfID, "20261101", func(r *ledger.PartitionRecord) error {
			r.State, r.JobID, r.BytesProcessed, r.Rows, r.Duration, r.UpdatedAt = ledger.PartitionDone, "job-1", 1<<20, 42, 1500*time.Millisecond, at
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := &ledger.PartitionRecord{ID: "20261101", State: ledger.PartitionDone, Attempts: 1, JobID: "job-1",
			BytesProcessed: 1 << 20, Rows: 42, Duration: 1500 * time.Millisecond, UpdatedAt: at}
		got, err := st.GetPartition(ctx, bfID, "20261101")
		if err != nil {
			t.Fatal(err)
		}
		want.Generation = got.Generation
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetPartition = %+v, want %+v", got, want)
		}

		// UpdatePartitionFrom with a stale snapshot still ends right.
		stale := *got
		if _, err := st.UpdatePartition(ctx, bfID, "20261101", func(r *ledger.PartitionRecord) error { r.Attempts++; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdatePartitionFrom(ctx, bfID, "20261101", &stale, func(r *ledger.PartitionRecord) error { r.Attempts++; return nil }); err != nil {
			t.Fatal(err)
		}
		// ... and with nil (believed missing) on a missing record.
		if _, err := st.UpdatePartitionFrom(ctx, bfID, "20261103", nil, func(r *ledger.PartitionRecord) error {
			r.State, r.Error = ledger.PartitionFailed, "division by zero"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdatePartition(ctx, bfID, "20261102", func(r *ledger.PartitionRecord) error { r.State = ledger.PartitionRunning; return nil }); err != nil {
			t.Fatal(err)
		}
		// ErrNoChange on a missing record creates nothing.
		if _, err := st.UpdatePartition(ctx, bfID, "20261104", func(*ledger.PartitionRecord) error { return ledger.ErrNoChange }); !errors.Is(err, ledger.ErrNoChange) {
			t.Errorf("ErrNoChange: %v", err)
		}

		list, err := st.ListPartitions(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range list {
			ids = append(ids, fmt.Sprintf("%s:%s:%d", r.ID, r.State, r.Attempts))
		}
		if got, want := strings.Join(ids, " "), "20261101:done:3 20261102:running:0 20261103:failed:0"; got != want {
			t.Errorf("ListPartitions = %s, want %s", got, want)
		}
		states, err := st.PartitionStates(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		wantStates := map[string]ledger.PartitionState{"20261101": ledger.PartitionDone, "20261102": ledger.PartitionRunning, "20261103": ledger.PartitionFailed}
		if !reflect.DeepEqual(states, wantStates) {
			t.Errorf("PartitionStates = %v, want %v", states, wantStates)
		}
		sum, err := st.PartitionSummary(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		wantSum := ledger.Summary{
			Counts: map[ledger.PartitionState]int{ledger.PartitionDone: 1, ledger.PartitionRunning: 1, ledger.PartitionFailed: 1},
			Total:  3, States: wantStates, Failed: []string{"20261103"}, FailedKinds: map[string]string{"20261103": ""},
		}
		if !reflect.DeepEqual(sum, wantSum) {
			t.Errorf("PartitionSummary = %+v, want %+v", sum, wantSum)
		}
		// Another backfill's partitions are separate.
		if recs, err := st.ListPartitions(ctx, "p.d.t/2026-11-01"); err != nil || len(recs) != 0 {
			t.Errorf("another backfill's partitions: %v, %v", recs, err)
		}
	})
}

func TestStoreSwapSteps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		if _, err := st.GetSwapStep(ctx, bfID, "backup"); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("GetSwapStep of a missing step: %v, want ErrNotFound", err)
		}
		at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
		for _, name := range []string{"delete-staging", "backup", "copy-20261101"} {
			if _, err := st.UpdateSwapStep(ctx, bfID, name, func(s *ledger.SwapStep) error {
				if s.Name != name || s.Done {
					return fmt.Errorf("new step %+v", s)
				}
				s.JobID, s.At = "job-"+name, at
				s.Done = name != "delete-staging"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.GetSwapStep(ctx, bfID, "backup")
		if err != nil {
			t.Fatal(err)
		}
		want := &ledger.SwapStep{Name: "backup", Done: true, JobID: "job-backup", At: at, Generation: got.Generation}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetSwapStep = %+v, want %+v", got, want)
		}
		steps, err := st.ListSwapSteps(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range steps {
			names = append(names, fmt.Sprintf("%s:%v", s.Name, s.Done))
		}
		if got, want := strings.Join(names, " "), "backup:true copy-20261101:true delete-staging:false"; got != want {
			t.Errorf("ListSwapSteps = %s, want %s", got, want)
		}
	})
}

func TestStoreList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		for _, id := range []string{"p.d.t2/2026-01-01", "p.d.t/2026-02-01", "p.d.t/2026-01-01", "q.d.t/2026-01-01"} {
			b := newBackfill(id)
			b.Spec = json.RawMessage(`{"partitions":[]}`)
			if err := st.Create(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		// A partition named "backfill" is not a backfill record.
		if _, err := st.UpdatePartition(ctx, "p.d.t/2026-01-01", "backfill", func(*ledger.PartitionRecord) error { return nil }); err != nil {
			t.Fatal(err)
		}
		idsOf := func(bs []*ledger.Backfill) string {
			var out []string
			for _, b := range bs {
				out = append(out, b.ID)
			}
			return strings.Join(out, " ")
		}
		all, err := st.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := idsOf(all), "p.d.t/2026-01-01 p.d.t/2026-02-01 p.d.t2/2026-01-01 q.d.t/2026-01-01"; got != want {
			t.Errorf("List = %s, want %s", got, want)
		}
		one, err := st.ListTable(ctx, "p.d.t")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := idsOf(one), "p.d.t/2026-01-01 p.d.t/2026-02-01"; got != want {
			t.Errorf("ListTable(p.d.t) = %s, want %s (not p.d.t2)", got, want)
		}
		none, err := st.ListTable(ctx, "p.d.missing")
		if err != nil || len(none) != 0 {
			t.Errorf("ListTable of a table without backfills: %v, %v", none, err)
		}
		if _, err := st.ListTable(ctx, "p.d.t/x"); !errors.Is(err, ledger.ErrInvalidName) {
			t.Errorf("ListTable of an invalid name: %v, want ErrInvalidName", err)
		}
	})
}

func TestStoreSpec(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		if err := st.Create(ctx, newBackfill(bfID)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Spec(ctx, bfID); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("Spec of a record without one: %v, want ErrNotFound", err)
		}
		if _, err := st.Spec(ctx, "p.d.t/2026-01-01"); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("Spec of a missing record: %v, want ErrNotFound", err)
		}

		v1 := json.RawMessage(`{"partitions":["20261101"]}`)
		v2 := json.RawMessage(`{"partitions":["20261101","20261102"]}`)
		if err := st.ReplaceSpec(ctx, bfID, v1); err != nil {
			t.Fatal(err)
		}
		if err := st.ReplaceSpec(ctx, bfID, v1); err != nil {
			t.Errorf("storing the same spec again: %v", err)
		}
		for _, v := range []json.RawMessage{v1, v2, v1} {
			if err := st.ReplaceSpec(ctx, bfID, v); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Update(ctx, bfID, func(b *ledger.Backfill) error { b.SpecHash = ledger.SpecHashOf(v); return nil }); err != nil {
				t.Fatal(err)
			}
			got, err := st.Spec(ctx, bfID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, v) {
				t.Errorf("Spec = %s, want %s", got, v)
			}
		}
		if h := ledger.SpecHashOf(v1); !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 || h == ledger.SpecHashOf(v2) {
			t.Errorf("SpecHashOf = %q", h)
		}
		// Get does not load the spec.
		got, err := st.Get(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec != nil || got.SpecHash != ledger.SpecHashOf(v1) {
			t.Errorf("Get: spec %s, hash %s", got.Spec, got.SpecHash)
		}
	})
}

// TestStoreJSONRoundTrip stores a record with every field set, reads it
// back equal, and pins its wire format (testdata/backfill.json): other
// versions of bqbackfill read these objects.
func TestStoreJSONRoundTrip(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 25, h, 30, 0, 0, time.UTC) }
	full := &ledger.Backfill{
		ID: bfID, Table: "moz-fx-data-shared-prod.telemetry_derived.clients_daily_v6", EntryDate: "2026-11-01",
		State: ledger.StateProcessed, EntryHash: "sha256:entry", PartitionCount: 2,
		Staging:   "moz-fx-data-shared-prod.backfills_staging_derived.telemetry_derived__clients_daily_v6_2026_11_01",
		Backup:    "moz-fx-data-shared-prod.backfills_staging_derived.telemetry_derived__clients_daily_v6_backup_2026_11_01",
		Watchers:  []string{"nobody@mozilla.com"},
		CreatedAt: at(1), UpdatedAt: at(7), StartedAt: at(2), PublishedAt: at(3), ProcessedAt: at(4),
		CompletionRequestedAt: at(5), CompletedAt: at(6),
		LastError: "partition 20261102: quota exceeded", Reported: map[string]time.Time{"start": at(2), "done": at(4)},
		Spec: json.RawMessage(`{"partitions":[{"id":"20261101"},{"id":"20261102"}]}`),
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "backfill.json"))
	if err != nil {
		t.Fatal(err)
	}
	forEachBackendClient(t, func(t *testing.T, st *ledger.Store, c *storage.Client) {
		ctx := context.Background()
		in := *full
		if err := st.Create(ctx, &in); err != nil {
			t.Fatal(err)
		}
		got, err := st.Get(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		want := *full
		want.Spec, want.SpecHash, want.Generation = nil, ledger.SpecHashOf(full.Spec), in.Generation
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, &want)
		}
		spec, err := st.Spec(ctx, bfID)
		if err != nil || !bytes.Equal(spec, full.Spec) {
			t.Errorf("spec: %s, %v", spec, err)
		}

		rd, err := c.Bucket(bucket).Object("backfills/" + bfID + "/backfill.json").NewReader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			t.Fatal(err)
		}
		var gotJSON, wantJSON any
		if err := json.Unmarshal(stored, &gotJSON); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(golden, &wantJSON); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotJSON, wantJSON) {
			t.Errorf("stored JSON differs from testdata/backfill.json:\n got %s\nwant %s", stored, golden)
		}
	})

	// Unset times and maps are left out.
	data, err := json.Marshal(&ledger.Backfill{ID: bfID})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"started_at", "completed_at", "reported", "spec", "generation", "Generation"} {
		if bytes.Contains(data, []byte(`"`+key+`"`)) {
			t.Errorf("empty record has %q: %s", key, data)
		}
	}
}

func TestStoreTransitions(t *testing.T) {
	allowed := map[ledger.State][]ledger.State{
		ledger.StatePending:    {ledger.StateStaging, ledger.StateFailed, ledger.StateCancelled, ledger.StateRejected},
		ledger.StateStaging:    {ledger.StateProcessing, ledger.StateFailed, ledger.StateCancelled},
		ledger.StateProcessing: {ledger.StateProcessed, ledger.StateFailed, ledger.StateCancelled},
		ledger.StateProcessed:  {ledger.StateCompleting, ledger.StateCancelled},
		ledger.StateFailed:     {ledger.StateProcessing, ledger.StatePending, ledger.StateProcessed, ledger.StateCancelled, ledger.StateRolledBack},
		ledger.StateCompleting: {ledger.StateCompleted, ledger.StateFailed, ledger.StateRolledBack},
		ledger.StateCompleted:  {ledger.StateRolledBack},
		ledger.StateRejected:   {ledger.StatePending, ledger.StateStaging},
	}
	terminal := map[ledger.State]bool{ledger.StateCompleted: true, ledger.StateCancelled: true, ledger.StateRejected: true, ledger.StateRolledBack: true}
	if len(ledger.States) != 10 {
		t.Errorf("States has %d states, want 10", len(ledger.States))
	}
	for _, from := range ledger.States {
		if !from.Valid() {
			t.Errorf("%s not valid", from)
		}
		if from.Terminal() != terminal[from] {
			t.Errorf("%s.Terminal() = %v", from, from.Terminal())
		}
		for _, to := range ledger.States {
			want := from == to
			for _, a := range allowed[from] {
				want = want || a == to
			}
			if got := ledger.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if ledger.State("running").Valid() || ledger.CanTransition(ledger.StatePending, "running") {
		t.Error("unknown state accepted")
	}

	// The whole lifecycle through the store; a rolled-back backfill stays.
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		if err := st.Create(ctx, &ledger.Backfill{ID: bfID}); err != nil {
			t.Fatal(err)
		}
		for _, to := range []ledger.State{ledger.StateStaging, ledger.StateProcessing, ledger.StateFailed, ledger.StateProcessing,
			ledger.StateProcessed, ledger.StateCompleting, ledger.StateCompleted, ledger.StateRolledBack} {
			if _, err := st.Update(ctx, bfID, func(b *ledger.Backfill) error { b.State = to; return nil }); err != nil {
				t.Fatalf("-> %s: %v", to, err)
			}
		}
		if _, err := st.Update(ctx, bfID, func(b *ledger.Backfill) error { b.State = ledger.StatePending; return nil }); !errors.Is(err, ledger.ErrInvalidTransition) {
			t.Errorf("rolled_back -> pending: %v, want ErrInvalidTransition", err)
		}
		if err := st.Create(ctx, &ledger.Backfill{ID: "p.d.t/2026-01-01", State: "bogus"}); !errors.Is(err, ledger.ErrInvalidTransition) {
			t.Errorf("Create in an unknown state: %v", err)
		}
		b, err := st.Get(ctx, bfID)
		if err != nil {
			t.Fatal(err)
		}
		if b.State != ledger.StateRolledBack || b.Table != "moz-fx-data-shared-prod.telemetry_derived.clients_daily_v6" || b.EntryDate != "2026-11-01" {
			t.Errorf("record %+v: want rolled_back with table and date filled from the id", b)
		}
	})
}

func TestStoreInvalidNames(t *testing.T) {
	srv := startServer(t, t.TempDir())
	st := ledger.New(srv.Client(), bucket)
	ctx := context.Background()
	for _, bad := range []string{
		"", "p.d.t", "p.d.t/", "/2026-01-01", "p.d.t/2026/01", "p.d.t//2026-01-01", "../x/2026-01-01",
		"p.d.t/..", "p.d.t/.", "p..d.t/2026-01-01", "p.d.t/2026-01-01\n", "p.d.t\\x/2026-01-01", "p.d.t/\xff",
		"p.d.t/" + strings.Repeat("x", 201),
	} {
		if err := st.Create(ctx, &ledger.Backfill{ID: bad}); !errors.Is(err, ledger.ErrInvalidName) {
			t.Errorf("Create(%q): %v, want ErrInvalidName", bad, err)
		}
		if _, err := st.Get(ctx, bad); !errors.Is(err, ledger.ErrInvalidName) {
			t.Errorf("Get(%q): %v, want ErrInvalidName", bad, err)
		}
	}
	for _, bad := range []string{"", "a/b", "..", "../../escape", "a\\b", "x\x00"} {
		if _, err := st.UpdatePartition(ctx, bfID, bad, func(*ledger.PartitionRecord) error { return nil }); !errors.Is(err, ledger.ErrInvalidName) {
			t.Errorf("UpdatePartition(%q): %v, want ErrInvalidName", bad, err)
		}
		if _, err := st.UpdateSwapStep(ctx, bfID, bad, func(*ledger.SwapStep) error { return nil }); !errors.Is(err, ledger.ErrInvalidName) {
			t.Errorf("UpdateSwapStep(%q): %v, want ErrInvalidName", bad, err)
		}
	}
	if err := st.Create(ctx, &ledger.Backfill{ID: bfID, Table: "p.d.other"}); !errors.Is(err, ledger.ErrInvalidName) {
		t.Errorf("Create with a table that is not the id's: %v", err)
	}
	// Nothing was written.
	if recs, err := st.List(ctx); err != nil || len(recs) != 0 {
		t.Errorf("List after invalid writes: %v, %v", recs, err)
	}
}

// TestStoreRestart: the file-backed ledger survives a restart of the fake
// with its records, generations and create-once guarantee.
func TestStoreRestart(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	srv := startServer(t, root)
	st := ledger.New(srv.Client(), bucket)
	b := newBackfill(bfID)
	b.Spec = json.RawMessage(`{"v":1}`)
	if err := st.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	r, err := st.UpdatePartition(ctx, bfID, "20261101", func(r *ledger.PartitionRecord) error { r.State = ledger.PartitionDone; return nil })
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	st = ledger.New(startServer(t, root).Client(), bucket)
	got, err := st.Get(ctx, bfID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != b.Generation || got.EntryHash != b.EntryHash {
		t.Errorf("after restart: %+v, want generation %d", got, b.Generation)
	}
	if err := st.Create(ctx, newBackfill(bfID)); !errors.Is(err, ledger.ErrExists) {
		t.Errorf("Create after restart: %v, want ErrExists", err)
	}
	if spec, err := st.Spec(ctx, bfID); err != nil || string(spec) != `{"v":1}` {
		t.Errorf("spec after restart: %s, %v", spec, err)
	}
	pr, err := st.GetPartition(ctx, bfID, "20261101")
	if err != nil || pr.Generation != r.Generation || pr.State != ledger.PartitionDone {
		t.Errorf("partition after restart: %+v, %v", pr, err)
	}
	if states, err := st.PartitionStates(ctx, bfID); err != nil || states["20261101"] != ledger.PartitionDone {
		t.Errorf("partition states after restart: %v, %v", states, err)
	}
}

// corruptingTransport flips a byte in the body of the next n downloads of
// a backfill.json, as the file-backed fake's read race does (content of
// one generation, checksum of another).
type corruptingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *corruptingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "backfill.json") || c.n.Add(-1) < 0 {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		body[0] ^= 0x20
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func TestStoreReadRetriesBadCRC(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, t.TempDir())
	if err := ledger.New(srv.Client(), bucket).Create(ctx, newBackfill(bfID)); err != nil {
		t.Fatal(err)
	}
	tr := &corruptingTransport{base: srv.HTTPClient().Transport}
	c, err := storage.NewClient(ctx, option.WithHTTPClient(&http.Client{Transport: tr}), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := ledger.New(c, bucket)

	tr.n.Store(2)
	got, err := st.Get(ctx, bfID)
	if err != nil {
		t.Fatalf("Get with two corrupted reads: %v", err)
	}
	if got.EntryHash != "h1" {
		t.Errorf("Get = %+v", got)
	}
	tr.n.Store(100)
	if _, err := st.Get(ctx, bfID); err == nil || !strings.Contains(err.Error(), "bad CRC") {
		t.Errorf("Get with every read corrupted: %v, want a bad CRC error", err)
	}
}

func TestStoreContextCancelled(t *testing.T) {
	srv := startServer(t, "")
	st := ledger.New(srv.Client(), bucket)
	if err := st.Create(context.Background(), newBackfill(bfID)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := st.Update(ctx, bfID, func(b *ledger.Backfill) error { b.LastError = "x"; return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestStoreProgressIsFinalRecords: a nacked attempt (a pending record) is
// not progress; only a partition reaching done or failed is. Otherwise a
// partition failing over and over would keep the scanner from seeing that
// nothing moves.
func TestStoreProgressIsFinalRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *ledger.Store) {
		ctx := context.Background()
		if err := st.Create(ctx, newBackfill(bfID)); err != nil {
			t.Fatal(err)
		}
		set := func(pid string, s ledger.PartitionState) {
			if _, err := st.UpdatePartition(ctx, bfID, pid, func(r *ledger.PartitionRecord) error { r.State = s; r.Attempts++; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		set("20261101", ledger.PartitionPending)
		if _, last, err := st.PartitionProgress(ctx, bfID); err != nil || !last.IsZero() {
			t.Errorf("after a nacked attempt: last progress %v, %v; want none", last, err)
		}
		set("20261102", ledger.PartitionDone)
		_, done, err := st.PartitionProgress(ctx, bfID)
		if err != nil || done.IsZero() {
			t.Fatalf("after a done partition: last progress %v, %v; want its time", done, err)
		}
		set("20261101", ledger.PartitionPending)
		if _, last, err := st.PartitionProgress(ctx, bfID); err != nil || !last.Equal(done) {
			t.Errorf("after another nacked attempt: last progress %v, %v; want %v (the done partition)", last, err, done)
		}
	})
}
