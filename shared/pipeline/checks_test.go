package pipeline_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// verdictChecker answers RunChecks per partition date (the job's
// @submission_date), as shared/checks.Gate would after running the
// checks: failed #fail checks, failed #warn checks, or no verdict.
type verdictChecker struct {
	mu      sync.Mutex
	fail    map[string][]string
	warn    map[string][]string
	noReply map[string]error
	targets []string
}

func (c *verdictChecker) RunChecks(_ context.Context, src string, table, target warehouse.TableRef, job warehouse.QueryJob) ([]string, []string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	date := ""
	for _, p := range job.Params {
		if p.Name == "submission_date" {
			date = p.Value
		}
	}
	c.targets = append(c.targets, target.String()+" "+date+" "+strings.TrimSpace(src))
	if err := c.noReply[date]; err != nil {
		return nil, nil, err
	}
	return c.fail[date], c.warn[date], nil
}

// TestDataChecks: the entry's checks.sql runs against staging after each
// partition's query; a failed #warn check is recorded on the partition and
// reported when the backfill is done, a failed #fail check fails the
// partition for good (naming the check) and a check that gets no verdict
// has the partition redelivered.
func TestDataChecks(t *testing.T) {
	e := newContractEnv(t)
	chk := &verdictChecker{
		warn:    map[string][]string{"2024-03-18": {"#warn: fewer rows than the day before"}},
		fail:    map[string][]string{"2024-03-19": {"#fail: total must not decrease"}},
		noReply: map[string]error{"2024-03-20": errors.New("jobs.query: connection reset")},
	}
	e.p.Checker = chk
	withChecks := maps.Clone(tree("Initiate"))
	withChecks[tableDir+"checks.sql"] = &fstest.MapFile{Data: []byte("#fail\nSELECT 1")}
	e.scanTree(t, withChecks)
	e.kinds()

	if got := e.work(t); !slices.Equal(got, days[:2]) {
		t.Fatalf("partitions handled %q, want %q", got, days[:2])
	}
	if r := e.partition(t, days[0]); r.State != ledger.PartitionDone || !slices.Equal(r.Warnings, []string{"checks.sql #warn: fewer rows than the day before"}) {
		t.Errorf("partition %s: %s, warnings %q", days[0], r.State, r.Warnings)
	}
	if r := e.partition(t, days[1]); r.State != ledger.PartitionFailed || !strings.Contains(r.Error, "data checks failed on partition "+days[1]+": checks.sql #fail: total must not decrease") {
		t.Errorf("partition %s: %s %q", days[1], r.State, r.Error)
	}
	if want := staging.String() + " 2024-03-18 #fail\nSELECT 1"; len(chk.targets) == 0 || chk.targets[0] != want {
		t.Errorf("checks ran as %q, want first %q (staging, the partition's parameters, the file)", chk.targets, want)
	}

	if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok || e.record(t).Failure != ledger.FailurePartitions {
		t.Fatalf("Finish = %v, %v; want failed partitions", ok, err)
	}

	// Retried with the data fixed: the last partition's checks get no
	// verdict (redelivered), then pass; the done report has the warning.
	delete(chk.fail, "2024-03-19")
	if _, n, err := e.p.Retry(e.ctx, table); err != nil || n != 1 {
		t.Fatalf("Retry = %d, %v", n, err)
	}
	e.kinds()
	if out := e.deliver(1); out[days[1]] != message.Ack {
		t.Fatalf("retried partition: outcomes %v, want ack", out)
	}
	last := e.pub.take("partitions")
	if len(last) != 1 || last[0].Attributes["partition"] != days[2] {
		t.Fatalf("published %+v, want the last partition of the chain", last)
	}
	delivery := func(n int) message.Outcome {
		return e.p.HandlePartition(e.ctx, message.Received{ID: "last", Data: last[0].Data, Attributes: last[0].Attributes, DeliveryAttempt: n}, nil)
	}
	if out := delivery(1); out != message.Nack {
		t.Errorf("checks without a verdict: outcome %v, want nack", out)
	}
	if r := e.partition(t, days[2]); r.State != ledger.PartitionPending || !strings.Contains(r.Error, "checks.sql: jobs.query: connection reset") {
		t.Errorf("partition %s after checks without a verdict: %s %q, want pending with the error", days[2], r.State, r.Error)
	}
	delete(chk.noReply, "2024-03-20")
	if out := delivery(2); out != message.Ack {
		t.Errorf("redelivery: outcome %v, want ack", out)
	}
	if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	evs := e.events(t)
	if len(evs) != 1 || evs[0].Kind != notify.KindDone || len(evs[0].Warnings) != 1 || evs[0].Warnings[0].Partition != days[0] {
		t.Errorf("events %+v, want done with the warning of %s", evs, days[0])
	}
}
