package pipeline_test

import (
	"bytes"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/ledger/ledgertest"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

var contractID = pipeline.BackfillID(table, entryDate)

// kinds returns the kinds of the events published since the last call.
func (e *contractEnv) kinds() []string {
	var out []string
	for _, m := range e.pub.take("events") {
		out = append(out, m.Attributes["kind"])
	}
	return out
}

// Finish's compare-and-swap to processed loses its response after the write
// landed: Finish must still see that it moved the state, and send the done
// event (which nobody else would send).
func TestFinishLostResponse(t *testing.T) {
	lost := &ledgertest.LostResponse{Match: func(body []byte) bool {
		return bytes.Contains(body, []byte(`"state":"processed"`))
	}}
	e := newContractEnvGCS(t, func(base http.RoundTripper) http.RoundTripper {
		lost.Base = base
		return lost
	})
	if did := e.scan(t, "Initiate"); len(did) != 1 || did[0] != "started "+contractID {
		t.Fatalf("scan = %v", did)
	}
	e.work(t)
	e.kinds()
	finished, err := e.p.Finish(e.ctx, contractID)
	if lost.Lost() != 1 {
		t.Fatalf("lost %d responses, want 1", lost.Lost())
	}
	if err != nil || !finished {
		t.Fatalf("Finish = %v, %v; want finished", finished, err)
	}
	if got := e.kinds(); len(got) != 1 || got[0] != "done" {
		t.Errorf("events = %v, want [done]", got)
	}
	bf, err := e.led.Get(e.ctx, contractID)
	if err != nil || bf.State != ledger.StateProcessed {
		t.Errorf("record = %+v, %v", bf, err)
	}
}

// countingTransport counts the uploads of a backfill's record.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    int
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && bytes.Contains([]byte(req.URL.RawQuery), []byte("backfill.json")) {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	return c.base.RoundTrip(req)
}

// A start writes backfill.json twice: created (claimed), then processing
// with the publish recorded.
func TestStartWritesRecordTwice(t *testing.T) {
	ct := &countingTransport{}
	e := newContractEnvGCS(t, func(base http.RoundTripper) http.RoundTripper {
		ct.base = base
		return ct
	})
	if did := e.scan(t, "Initiate"); len(did) != 1 || did[0] != "started "+contractID {
		t.Fatalf("scan = %v", did)
	}
	if ct.n != 2 {
		t.Errorf("the start wrote backfill.json %d times, want 2", ct.n)
	}
	bf, err := e.led.Get(e.ctx, contractID)
	if err != nil || bf.State != ledger.StateProcessing || bf.StartedAt.IsZero() || bf.PublishedAt.IsZero() {
		t.Errorf("record = %+v, %v", bf, err)
	}
	if got := e.pub.take("partitions"); len(got) != 1 {
		t.Errorf("published %d partition messages, want 1 (a chain starts with its first)", len(got))
	}
}

// TestFinishOneListing: Finish learns the partitions' states and which of
// them hold check warnings from one listing, and reads only the records
// with warnings for the "done" report (review: it listed the partitions
// twice, states then warnings).
func TestFinishOneListing(t *testing.T) {
	reqs := &ledgertest.Requests{Prefix: "backfills/" + contractID + "/partitions/"}
	e := newContractEnvGCS(t, func(base http.RoundTripper) http.RoundTripper {
		reqs.Base = base
		return reqs
	})
	e.p.Checker = &verdictChecker{warn: map[string][]string{
		"2024-03-18": {"#warn: fewer rows than the day before"},
		"2024-03-20": {"#warn: a country is missing"},
	}}
	withChecks := maps.Clone(tree("Initiate"))
	withChecks[tableDir+"checks.sql"] = &fstest.MapFile{Data: []byte("#warn\nSELECT 1")}
	e.scanTree(t, withChecks)
	if got := e.work(t); !slices.Equal(got, days) {
		t.Fatalf("partitions handled %q, want %q", got, days)
	}
	e.kinds()
	reqs.Reset()
	if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	if lists, reads, _ := reqs.Counts(); lists != 1 || reads != 2 {
		t.Errorf("Finish: %d listings, %d reads of partition records; want 1 listing, 2 reads (the records with warnings)", lists, reads)
	}
	evs := e.events(t)
	if len(evs) != 1 || evs[0].Kind != notify.KindDone || len(evs[0].Warnings) != 2 || evs[0].Warnings[0].Partition != days[0] || evs[0].Warnings[1].Partition != days[2] {
		t.Errorf("events %+v, want done with the warnings of %s and %s", evs, days[0], days[2])
	}
}

// TestRetryOneListing: a retry learns which partitions failed, and why,
// from one listing of the partition records, reads them only to reset
// them, and publishes from the same listing (review: retry listed the
// partitions twice, and the CLI listed them again and read every failed
// record for its kind).
func TestRetryOneListing(t *testing.T) {
	reqs := &ledgertest.Requests{Prefix: "backfills/" + contractID + "/partitions/"}
	e := newContractEnvGCS(t, func(base http.RoundTripper) http.RoundTripper {
		reqs.Base = base
		return reqs
	})
	e.scan(t, "Initiate")
	e.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Table: staging.Table + "$" + days[1], Reason: "invalidQuery", Message: "Unrecognized name: visits", Times: 1})
	if got := e.work(t); !slices.Equal(got, days[:2]) {
		t.Fatalf("partitions handled %q, want %q", got, days[:2])
	}
	// A second failed partition, as a backfill that is not a chain has.
	if _, err := e.led.UpdatePartition(e.ctx, contractID, days[2], func(r *ledger.PartitionRecord) error {
		r.State, r.Error, r.ErrorKind = ledger.PartitionFailed, "no such field", string(notify.FailureSchema)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	e.pub.take("partitions")
	reqs.Reset()
	res, err := e.p.RetryReport(e.ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	// Each reset is a read and a compare-and-swap write; nothing else reads.
	if lists, reads, uploads := reqs.Counts(); lists != 1 || reads != 2 || uploads != 2 {
		t.Errorf("RetryReport of 2 failed partitions: %d listings, %d reads, %d writes of partition records; want 1 listing, and a read and a write per reset (2)", lists, reads, uploads)
	}
	want := pipeline.Retried{ID: contractID, Rerun: days[1:], Kinds: map[string]string{days[1]: "query", days[2]: "schema"}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("RetryReport = %+v, want %+v", res, want)
	}
	// A chain goes on from its first failed partition.
	if msgs := e.pub.take("partitions"); len(msgs) != 1 || msgs[0].Attributes["partition"] != days[1] {
		t.Errorf("published %+v, want the partition %s", msgs, days[1])
	}
}
