package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// TestStateCache: a worker trusts a backfill's processing state it read
// for StateCacheTTL (so a cancellation reaches it within the TTL), and
// reads the ledger again after.
func TestStateCache(t *testing.T) {
	e := newContractEnv(t)
	e.p.Cache = &pipeline.StateCache{}
	e.p.Options.StateCacheTTL = time.Hour
	e.scan(t, "Initiate")
	if out := e.deliver(1); out[days[0]] != message.Ack {
		t.Fatalf("first partition: %v", out)
	}
	e.scan(t, "Cancelled")
	if out := e.deliver(1); out[days[1]] != message.Ack {
		t.Fatalf("second partition: %v", out)
	}
	if r := e.partition(t, days[1]); r.State != ledger.PartitionDone {
		t.Errorf("partition run within the TTL after the cancel: %s, want done (the cached state is trusted)", r.State)
	}
	e.p.Options.StateCacheTTL = time.Nanosecond
	if out := e.deliver(1); out[days[2]] != message.Ack {
		t.Fatalf("third partition: %v", out)
	}
	if _, err := e.led.GetPartition(e.ctx, contractID, days[2]); err == nil {
		t.Errorf("partition %s ran after the TTL although the backfill is cancelled", days[2])
	}
}

// TestDeliveryLimit: a partition that keeps failing transiently is failed
// on its last delivery (MaxDeliveries), dead-lettered and acknowledged,
// instead of being redelivered for ever.
func TestDeliveryLimit(t *testing.T) {
	e := newContractEnv(t)
	e.p.Options.MaxDeliveries = 3
	e.scan(t, "Initiate")
	e.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Reason: "backendError", Message: "try later"})
	msgs := e.pub.take("partitions")
	for n, want := range []message.Outcome{message.Nack, message.Nack, message.Ack} {
		out := e.p.HandlePartition(e.ctx, message.Received{ID: "m", Data: msgs[0].Data, Attributes: msgs[0].Attributes, DeliveryAttempt: n + 1}, nil)
		if out != want {
			t.Fatalf("delivery %d: %v, want %v", n+1, out, want)
		}
	}
	if r := e.partition(t, days[0]); r.State != ledger.PartitionFailed || r.Attempts != 3 || !strings.Contains(r.Error, "try later") {
		t.Errorf("partition %+v, want failed after 3 attempts", r)
	}
	if dl := e.pub.take("dead-letter"); len(dl) != 1 {
		t.Errorf("%d dead-lettered, want 1", len(dl))
	}
}
