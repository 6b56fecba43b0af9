package pipeline_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// deliver hands the partition messages published so far to the worker,
// as delivery attempt n, and returns the outcome per partition.
func (e *contractEnv) deliver(n int) map[string]message.Outcome {
	out := map[string]message.Outcome{}
	for i, m := range e.pub.take("partitions") {
		out[m.Attributes["partition"]] = e.p.HandlePartition(e.ctx, message.Received{ID: fmt.Sprint("d", n, "-", i), Data: m.Data, Attributes: m.Attributes, DeliveryAttempt: n}, nil)
	}
	return out
}

// partition reads the ledger record of one partition of the contract backfill.
func (e *contractEnv) partition(t *testing.T, pid string) *ledger.PartitionRecord {
	t.Helper()
	r, err := e.led.GetPartition(e.ctx, contractID, pid)
	if err != nil {
		t.Fatalf("partition %s: %v", pid, err)
	}
	return r
}

// TestFailedPartitionRetried: a partition whose query fails for good ends
// the chain there (the later partitions do not run), goes to the
// dead-letter topic and fails the backfill, reported with the error;
// `retry` re-runs it and the rest of the chain, keeping what was done.
func TestFailedPartitionRetried(t *testing.T) {
	e := newContractEnv(t)
	e.scan(t, "Initiate")
	e.kinds()
	e.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Table: staging.Table + "$" + days[1], Reason: "invalidQuery", Message: "Unrecognized name: visits", Times: 1})

	if got := e.work(t); !slices.Equal(got, days[:2]) {
		t.Fatalf("partitions handled %q, want %q (the chain stops at the failure)", got, days[:2])
	}
	if r := e.partition(t, days[1]); r.State != ledger.PartitionFailed || !strings.Contains(r.Error, "Unrecognized name: visits") {
		t.Errorf("failed partition record: %s %q", r.State, r.Error)
	}
	dl := e.pub.take("dead-letter")
	if len(dl) != 1 || dl[0].Attributes["partition"] != days[1] || !strings.Contains(dl[0].Attributes["error"], "Unrecognized name") {
		t.Errorf("dead-letter messages %+v, want the failed partition with its error", dl)
	}
	if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	bf := e.record(t)
	if bf.State != ledger.StateFailed || bf.Failure != ledger.FailurePartitions || !strings.Contains(bf.LastError, "1 partition(s) failed, first "+days[1]) {
		t.Errorf("record: %s %q %q", bf.State, bf.Failure, bf.LastError)
	}
	evs := e.events(t)
	if len(evs) != 1 || evs[0].Kind != notify.KindFailed || len(evs[0].Failed) != 1 || evs[0].Failed[0].Partition != days[1] || !strings.Contains(evs[0].Text, "chain stopped") {
		t.Errorf("events %+v, want one failed event naming %s and the stopped chain", evs, days[1])
	}

	id, n, err := e.p.Retry(e.ctx, table)
	if err != nil || id != contractID || n != 1 {
		t.Fatalf("Retry = %q, %d, %v; want one partition queued again", id, n, err)
	}
	if bf := e.record(t); bf.State != ledger.StateProcessing || bf.PublishedAt.IsZero() {
		t.Errorf("record after retry: %s, published %v", bf.State, bf.PublishedAt)
	}
	if r := e.partition(t, days[1]); r.State != ledger.PartitionPending || r.Attempts != 0 || r.Error != "" {
		t.Errorf("retried partition record: %+v, want pending with no attempts or error", r)
	}
	if got := e.work(t); !slices.Equal(got, days[1:]) {
		t.Errorf("partitions handled after retry %q, want %q (the done one is kept)", got, days[1:])
	}
	if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok || e.record(t).State != ledger.StateProcessed {
		t.Errorf("Finish after retry = %v, %v; state %s", ok, err, e.record(t).State)
	}
}

// idleLauncher is a Cloud Run job whose executions have all ended.
type idleLauncher struct {
	mu       sync.Mutex
	running  bool
	launches []string
}

func (l *idleLauncher) Launch(_ context.Context, id string, n int) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.launches = append(l.launches, fmt.Sprintf("%s %d", id, n))
	return fmt.Sprintf("execution-%d", len(l.launches)), nil
}

func (l *idleLauncher) Running(context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running, nil
}

// TestNackedPartitionRelaunched: a transient failure nacks the message and
// records the attempt; a scan that finds the partition waiting while no
// worker runs starts one (Pub/Sub withholds the message longer than idle
// workers wait), and none while one runs; the redelivery then succeeds.
func TestNackedPartitionRelaunched(t *testing.T) {
	e := newContractEnv(t)
	lau := &idleLauncher{}
	e.p.Launcher = lau
	e.scan(t, "Initiate")
	lau.launches = nil
	e.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Reason: "backendError", Times: 1})
	msgs := e.pub.take("partitions")
	if len(msgs) != 1 {
		t.Fatalf("%d partition messages, want the first of the chain", len(msgs))
	}
	delivery := func(n int) message.Outcome {
		return e.p.HandlePartition(e.ctx, message.Received{ID: "m", Data: msgs[0].Data, Attributes: msgs[0].Attributes, DeliveryAttempt: n}, nil)
	}
	if out := delivery(1); out != message.Nack {
		t.Fatalf("transient failure: outcome %v, want nack", out)
	}
	if r := e.partition(t, days[0]); r.State != ledger.PartitionPending || r.Attempts != 1 || !strings.Contains(r.Error, "backendError") {
		t.Errorf("nacked partition record %+v, want pending after 1 attempt with the error", r)
	}

	lau.running = true
	if did := e.scan(t, "Initiate"); len(did) != 0 || len(lau.launches) != 0 {
		t.Errorf("scan with a worker running did %q, launched %q; want nothing", did, lau.launches)
	}
	lau.running = false
	if did := e.scan(t, "Initiate"); !slices.Equal(did, []string{"relaunched " + contractID}) || !slices.Equal(lau.launches, []string{contractID + " 1"}) {
		t.Errorf("scan with no worker did %q, launched %q; want one worker for the waiting partition", did, lau.launches)
	}
	if out := delivery(2); out != message.Ack {
		t.Fatalf("redelivery: outcome %v, want ack", out)
	}
	if r := e.partition(t, days[0]); r.State != ledger.PartitionDone || r.Attempts != 2 {
		t.Errorf("partition after the redelivery %+v, want done after 2 attempts", r)
	}
}

// TestStaleProcessingRepublished: a processing backfill whose messages
// were lost (no partition recorded for StaleAfter) gets the messages of
// its open partitions again, and the time of that publish is recorded.
func TestStaleProcessingRepublished(t *testing.T) {
	e := newContractEnv(t)
	e.p.Options.StaleAfter = -1 // every unfinished step is stale
	e.scan(t, "Initiate")
	before := e.record(t)
	if lost := e.pub.take("partitions"); len(lost) != 1 {
		t.Fatalf("%d partition messages at start, want 1", len(lost))
	}
	if did := e.scan(t, "Initiate"); !slices.Equal(did, []string{"republished " + contractID}) {
		t.Fatalf("scan did %q, want republished", did)
	}
	if after := e.record(t); !after.PublishedAt.After(before.PublishedAt) && !after.UpdatedAt.After(before.UpdatedAt) && after.Generation == before.Generation {
		t.Errorf("the re-publish was not recorded: %+v", after)
	}
	if got := e.work(t); !slices.Equal(got, days) {
		t.Errorf("partitions handled %q, want %q", got, days)
	}
	if did := e.scan(t, "Initiate"); !slices.Equal(did, []string{"finished " + contractID}) {
		t.Errorf("scan after the work did %q, want finished", did)
	}
}

// TestCancelled: an entry set to Cancelled stops its backfill: the record
// is cancelled and reported once, a partition message still in flight is
// acknowledged without running, production is untouched.
func TestCancelled(t *testing.T) {
	e := newContractEnv(t)
	e.scan(t, "Initiate")
	e.kinds()
	e.fake.ResetRequests()
	if did := e.scan(t, "Cancelled"); !slices.Equal(did, []string{"cancelled " + contractID}) {
		t.Fatalf("scan did %q, want cancelled", did)
	}
	if bf := e.record(t); bf.State != ledger.StateCancelled {
		t.Errorf("state %s, want cancelled", bf.State)
	}
	if evs := e.events(t); len(evs) != 1 || evs[0].Kind != notify.KindCancelled || !strings.Contains(evs[0].Text, "production was not changed") {
		t.Errorf("events %+v, want one cancelled event", evs)
	}
	if out := e.deliver(1); out[days[0]] != message.Ack {
		t.Errorf("in-flight partition: outcomes %v, want ack", out)
	}
	if w := e.writes(t); len(w) != 0 {
		t.Errorf("writes after cancelling %q, want none", w)
	}
	if did := e.scan(t, "Cancelled"); len(did) != 0 || len(e.kinds()) != 0 {
		t.Errorf("second scan did %q", did)
	}
}

// TestEditedEntryReportedOnce: an entry edited after its backfill started
// is reported once (the change is not applied); the backfill goes on.
func TestEditedEntryReportedOnce(t *testing.T) {
	e := newContractEnv(t)
	e.scan(t, "Initiate")
	e.kinds()
	edited := maps.Clone(tree("Initiate"))
	edited[tableDir+"backfill.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(backfillYAML("Initiate"), "Drop bot traffic", "Drop more bot traffic", 1))}
	if did := e.scanTree(t, edited); !slices.Equal(did, []string{"edited " + contractID}) {
		t.Fatalf("scan of the edited entry did %q, want edited", did)
	}
	if evs := e.events(t); len(evs) != 1 || evs[0].Kind != notify.KindEdited || !strings.Contains(evs[0].Text, "not applied") {
		t.Errorf("events %+v, want one edited event", evs)
	}
	if did := e.scanTree(t, edited); len(did) != 0 || len(e.kinds()) != 0 {
		t.Errorf("second scan of the edited entry did %q, want nothing (reported once)", did)
	}
	if bf := e.record(t); bf.State != ledger.StateProcessing {
		t.Errorf("state %s, want processing", bf.State)
	}
}

// TestRefusedCompletionRetried: a completion that would lose data is
// refused before production is touched, fails the backfill with the
// refusal's kind and is reported; `retry` takes it back to processed (or,
// for partitions empty in staging, re-runs them), and once the cause is
// gone the completion requested again swaps.
func TestRefusedCompletionRetried(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(e *contractEnv)
		fix    func(e *contractEnv)
		want   string
		kind   ledger.FailureKind // "" for FailureCompletionRefused
		rerun  int                // partitions retry re-runs
	}{
		{
			name: "staging missing",
			break_: func(e *contractEnv) {
				e.fake.InjectFault(bqfake.Fault{Op: "tables.get", Resource: "tables/" + staging.Table, Status: 404, Reason: "notFound"})
			},
			fix:  func(e *contractEnv) { e.fake.ClearFaults() },
			want: "staging table " + staging.String() + " does not exist",
		},
		{
			name: "staging empty",
			break_: func(e *contractEnv) {
				for _, d := range append([]string{seed}, days...) {
					if err := e.fake.SetPartitionRows(staging, d, 0); err != nil {
						t.Fatal(err)
					}
				}
			},
			fix: func(e *contractEnv) {
				for _, d := range days {
					if err := e.fake.SetPartitionRows(staging, d, 2); err != nil {
						t.Fatal(err)
					}
				}
			},
			want:  "staging table " + staging.String() + " is empty (the backfill query produced no rows)",
			kind:  ledger.FailureStagingLost,
			rerun: len(days),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newContractEnv(t)
			e.scan(t, "Initiate")
			e.work(t)
			if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok {
				t.Fatalf("Finish = %v, %v", ok, err)
			}
			e.kinds()
			tc.break_(e)
			e.fake.ResetRequests()
			e.scan(t, "Complete")
			e.pub.take("complete")
			if err := e.p.Complete(e.ctx, contractID); err != nil {
				t.Fatalf("Complete = %v, want nil (a refusal is not retried)", err)
			}
			bf := e.record(t)
			kind := tc.kind
			if kind == "" {
				kind = ledger.FailureCompletionRefused
			}
			if bf.State != ledger.StateFailed || bf.Failure != kind || !strings.Contains(bf.LastError, "completion refused: "+tc.want) {
				t.Fatalf("record: %s %q %q; want failed, refused, %q", bf.State, bf.Failure, bf.LastError, tc.want)
			}
			if w := e.writes(t); len(w) != 0 {
				t.Errorf("a refused completion wrote %q", w)
			}
			kinds := e.kinds()
			if !slices.Equal(kinds, []string{"completing", "failed"}) {
				t.Errorf("events %q, want completing then failed", kinds)
			}

			if id, n, err := e.p.Retry(e.ctx, table); err != nil || id != contractID || n != tc.rerun {
				t.Fatalf("Retry = %q, %d, %v; want %d partitions re-run", id, n, err, tc.rerun)
			}
			tc.fix(e)
			if tc.rerun > 0 {
				e.work(t)
				if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok {
					t.Fatalf("Finish after the re-run = %v, %v", ok, err)
				}
			}
			if bf := e.record(t); bf.State != ledger.StateProcessed || bf.Failure != "" || bf.FailedPartitions != nil {
				t.Errorf("record after retry: %s %q %q, want processed, failure cleared", bf.State, bf.Failure, bf.FailedPartitions)
			}
			if did := e.scan(t, "Complete"); !slices.Equal(did, []string{"completion-requested " + contractID}) {
				t.Fatalf("scan after the fix did %q", did)
			}
			if err := e.p.Complete(e.ctx, contractID); err != nil {
				t.Fatalf("Complete after the fix: %v", err)
			}
			if bf := e.record(t); bf.State != ledger.StateCompleted {
				t.Errorf("state after the fix %s, want completed", bf.State)
			}
		})
	}
}

// TestIDsAndRequests: the ids and messages other components hand the
// pipeline are checked, with errors that say what is expected.
func TestIDsAndRequests(t *testing.T) {
	ids := []struct {
		id, wantTable, wantDate, wantErr string
	}{
		{"p.d.t/2024-03-20", "p.d.t", "2024-03-20", ""},
		{"p.d.t", "", "", "want <project>.<dataset>.<table>/<entry_date>"},
		{"p.d/2024-03-20", "", "", `backfill id "p.d/2024-03-20"`},
	}
	for _, tc := range ids {
		ref, date, err := pipeline.ParseBackfillID(tc.id)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseBackfillID(%q) error %v, want %q", tc.id, err, tc.wantErr)
			}
			continue
		}
		if err != nil || ref.String() != tc.wantTable || date != tc.wantDate || pipeline.BackfillID(ref, date) != tc.id {
			t.Errorf("ParseBackfillID(%q) = %s, %s, %v", tc.id, ref, date, err)
		}
	}
	reqs := []struct {
		data, wantID, wantErr string
	}{
		{`{"backfill_id":"p.d.t/2024-03-20"}`, "p.d.t/2024-03-20", ""},
		{`{}`, "", "lacks backfill_id"},
		{`nope`, "", "not JSON"},
	}
	for _, tc := range reqs {
		r, err := pipeline.DecodeCompleteRequest([]byte(tc.data))
		if (tc.wantErr == "" && (err != nil || r.BackfillID != tc.wantID)) || (tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr))) {
			t.Errorf("DecodeCompleteRequest(%s) = %+v, %v; want %q, error %q", tc.data, r, err, tc.wantID, tc.wantErr)
		}
	}
}
