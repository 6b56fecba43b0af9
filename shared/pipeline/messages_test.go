package pipeline_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

// TestPartitionMessages: the worker's answer to each kind of partition
// message. Messages that can never succeed are acknowledged (a malformed
// one is kept on the dead-letter topic); a redelivered message of a done
// partition of a chain publishes the next link again, in case the first
// delivery died between its two writes.
func TestPartitionMessages(t *testing.T) {
	e := newContractEnv(t)
	e.scan(t, "Initiate")
	first := e.pub.take("partitions")[0]
	if out := e.p.HandlePartition(e.ctx, message.Received{ID: "1", Data: first.Data, Attributes: first.Attributes, DeliveryAttempt: 1}, nil); out != message.Ack {
		t.Fatalf("first partition: %v", out)
	}
	e.pub.take("partitions")
	encode := func(m pipeline.PartitionMessage) []byte {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name           string
		data           []byte
		wantOut        message.Outcome
		wantDeadLetter int
		wantNext       []string // partitions published
	}{
		{"not JSON", []byte("nope"), message.Ack, 1, nil},
		{"no partition", encode(pipeline.PartitionMessage{BackfillID: contractID}), message.Ack, 1, nil},
		{"unknown backfill", encode(pipeline.PartitionMessage{BackfillID: "p.d.t/2024-01-01", Partition: days[0]}), message.Ack, 0, nil},
		{"partition not in the backfill", encode(pipeline.PartitionMessage{BackfillID: contractID, Partition: "20990101"}), message.Ack, 0, nil},
		{"redelivery of a done link", first.Data, message.Ack, 0, []string{days[1]}},
	}
	touched := &pipeline.Touched{}
	for _, tc := range tests {
		out := e.p.HandlePartition(e.ctx, message.Received{ID: tc.name, Data: tc.data, DeliveryAttempt: 2}, touched)
		dl := e.pub.take("dead-letter")
		var next []string
		for _, m := range e.pub.take("partitions") {
			next = append(next, m.Attributes["partition"])
		}
		if out != tc.wantOut || len(dl) != tc.wantDeadLetter || !slices.Equal(next, tc.wantNext) {
			t.Errorf("%s: outcome %v, %d dead-lettered, published %q; want %v, %d, %q", tc.name, out, len(dl), next, tc.wantOut, tc.wantDeadLetter, tc.wantNext)
		}
	}
	if ids := touched.IDs(); !slices.Equal(slices.Sorted(slices.Values(ids)), []string{contractID, "p.d.t/2024-01-01"}) {
		t.Errorf("touched %q, want the backfills of the well-formed messages", ids)
	}
	if _, err := e.led.GetPartition(e.ctx, contractID, "20990101"); err == nil {
		t.Error("a partition outside the backfill was recorded")
	}
}

// TestStaleCompletionRequestRepublished: a backfill left completing (the
// request was lost) gets its completion request again once stale.
func TestStaleCompletionRequestRepublished(t *testing.T) {
	e := newContractEnv(t)
	e.scan(t, "Initiate")
	e.work(t)
	if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok {
		t.Fatal(ok, err)
	}
	e.scan(t, "Complete")
	if lost := e.pub.take("complete"); len(lost) != 1 {
		t.Fatalf("%d completion requests, want 1", len(lost))
	}
	if did := e.scan(t, "Complete"); len(did) != 0 {
		t.Errorf("fresh completing backfill: scan did %q, want nothing", did)
	}
	before := e.record(t).UpdatedAt
	e.p.Options.StaleAfter = -1
	if did := e.scan(t, "Complete"); !slices.Equal(did, []string{"republished " + contractID}) {
		t.Fatalf("stale completing backfill: scan did %q, want republished", did)
	}
	reqs := e.pub.take("complete")
	if len(reqs) != 1 {
		t.Fatalf("%d completion requests re-published, want 1", len(reqs))
	}
	r, err := pipeline.DecodeCompleteRequest(reqs[0].Data)
	if err != nil || r.BackfillID != contractID {
		t.Errorf("request %+v, %v", r, err)
	}
	if bf := e.record(t); bf.State != ledger.StateCompleting || bf.UpdatedAt.Before(before) {
		t.Errorf("record %s updated %v (before %v), want completing, touched", bf.State, bf.UpdatedAt, before)
	}
}
