package local

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// failFirst fails the first query of one partition with a transient error.
type failFirst struct {
	warehouse.Warehouse
	partition string

	mu     sync.Mutex
	failed bool
}

func (w *failFirst) Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error) {
	w.mu.Lock()
	fail := job.Partition == w.partition && !w.failed
	w.failed = w.failed || fail
	w.mu.Unlock()
	if fail {
		return warehouse.JobResult{}, warehouse.Errorf(warehouse.Transient, "query", "injected backend error")
	}
	return w.Warehouse.Query(ctx, job)
}

// TestNackedPartitionOutlivesTheWorkers: a partition's query fails
// transiently, the worker nacks, and Pub/Sub withholds the message for the
// subscription's retry backoff — longer than a task waits idle, so every
// task exits. The scanner sees the waiting partition with no worker
// running, starts one, and the partition completes without waiting for the
// stale re-publish.
func TestNackedPartitionOutlivesTheWorkers(t *testing.T) {
	ff := &failFirst{partition: "20240303"}
	s := openStack(t, Options{
		Retry: pipeline.Retry{Attempts: 1}, // the delivery is the retry
		Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse {
			ff.Warehouse = w
			return ff
		},
	})
	loadWarehouse(t, s)
	sqlDir := writeTree(t, sixDays.table, sixDays.entry)
	res := run(t, s, sqlDir)
	checkProcessed(t, s, sixDays, sixDaysID)

	if !ff.failed {
		t.Fatal("no query failed; the test injected nothing")
	}
	// The run had to skip the backoff (TestRetryPolicyBackoff checks its
	// length): the nacked message was withheld, not redelivered at once.
	if s.PubSub.retry.offset <= 0 {
		t.Errorf("the nacked message was not withheld for the retry backoff")
	}
	relaunched := false
	for _, a := range res.Actions {
		relaunched = relaunched || a.Did == pipeline.DidRelaunched
	}
	if !relaunched {
		t.Errorf("actions %v: the scanner never started workers for the waiting partition", res.Actions)
	}
	rec, err := s.Ledger.GetPartition(context.Background(), sixDaysID, "20240303")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Attempts != 2 {
		t.Errorf("partition 20240303: %d attempts recorded, want 2 (one nack, one success)", rec.Attempts)
	}
}

// TestRetryPolicyBackoff: consecutive nacks of one message are withheld
// exponentially longer, from the minimum to the maximum backoff.
func TestRetryPolicyBackoff(t *testing.T) {
	ctx := context.Background()
	ps, err := StartPubSub(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if err := ps.EnsureTopic(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	if err := ps.EnsureSubscription(ctx, "work-sub", "work", 10*time.Second, "", 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Client.Publisher("work").Publish(ctx, pubsubMessage("m")).Get(ctx); err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for i := 0; i < 7; i++ {
		ackID := pullOne(t, ps, "work-sub")
		if ackID == "" {
			t.Fatalf("nack %d: message not redelivered after the backoff", i)
		}
		nackedAt := ps.retry.now()
		nack(t, ps, "work-sub", ackID)
		if pullOne(t, ps, "work-sub") != "" {
			t.Fatalf("nack %d: message redelivered at once", i+1)
		}
		if !ps.SkipBackoff() {
			t.Fatalf("nack %d: nothing withheld", i+1)
		}
		got = append(got, ps.retry.now().Sub(nackedAt).Round(time.Second))
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("withheld %v, want %v", got, want)
			break
		}
	}
}

func pubsubMessage(data string) *pubsub.Message { return &pubsub.Message{Data: []byte(data)} }

// pullOne pulls one message and returns its ack id ("" when none is
// available).
func pullOne(t *testing.T, ps *PubSub, sub string) string {
	t.Helper()
	resp, err := ps.Client.SubscriptionAdminClient.Pull(context.Background(), &pubsubpb.PullRequest{Subscription: ps.SubscriptionPath(sub), MaxMessages: 1, ReturnImmediately: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ReceivedMessages) == 0 {
		return ""
	}
	return resp.ReceivedMessages[0].GetAckId()
}

func nack(t *testing.T, ps *PubSub, sub, ackID string) {
	t.Helper()
	if err := ps.Client.SubscriptionAdminClient.ModifyAckDeadline(context.Background(), &pubsubpb.ModifyAckDeadlineRequest{Subscription: ps.SubscriptionPath(sub), AckIds: []string{ackID}}); err != nil {
		t.Fatal(err)
	}
}
