package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/bqbackfill/bqbackfill/shared/ledger/ledgertest"
)

// TestPartitionSummaryOneListing: the summary status shows (states, the
// failed partitions' error kinds, the partitions with warnings) comes from
// one listing and no read, however many partitions failed; a failed
// record written before the kind was kept in metadata is read, and only
// it (review: status read every failed record to learn its kind).
func TestPartitionSummaryOneListing(t *testing.T) {
	ctx := context.Background()
	const bf = "p.d.t/2026-11-01"
	c, reqs, srv := ledgertest.CountedClient(t, "ledger", root+bf+"/partitions/")
	s := New(c, "ledger")
	kinds := []string{"query", "transient", "schema", "permission", "not_found", "check", "transient"}
	want := Summary{Counts: map[PartitionState]int{}, States: map[string]PartitionState{}, FailedKinds: map[string]string{}}
	for i, k := range kinds {
		pid := fmt.Sprintf("202611%02d", i+1)
		if _, err := s.UpdatePartition(ctx, bf, pid, func(r *PartitionRecord) error {
			r.State, r.Error, r.ErrorKind = PartitionFailed, k+" error", k
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want.Failed = append(want.Failed, pid)
		want.FailedKinds[pid] = k
		want.States[pid] = PartitionFailed
	}
	for _, pid := range []string{"20261120", "20261121"} {
		if _, err := s.UpdatePartition(ctx, bf, pid, func(r *PartitionRecord) error {
			r.State, r.Warnings = PartitionDone, []string{"check 1 (#warn) failed: " + pid}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want.Warned = append(want.Warned, pid)
		want.States[pid] = PartitionDone
	}
	// A nacked attempt: pending, with the kind of its last error.
	if _, err := s.UpdatePartition(ctx, bf, "20261122", func(r *PartitionRecord) error {
		r.State, r.Error, r.ErrorKind = PartitionPending, "rate limit", "transient"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want.States["20261122"] = PartitionPending
	want.Counts = map[PartitionState]int{PartitionFailed: len(kinds), PartitionDone: 2, PartitionPending: 1}
	want.Total = len(kinds) + 3

	reqs.Reset()
	got, err := s.PartitionSummary(ctx, bf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PartitionSummary =\n%+v, want\n%+v", got, want)
	}
	if lists, reads, _ := reqs.Counts(); lists != 1 || reads != 0 {
		t.Errorf("PartitionSummary of %d failed partitions: %d listings, %d reads; want 1 listing, no read", len(kinds), lists, reads)
	}

	// Written by an earlier version: a failed record with its state but
	// no kind in the metadata, and one with no metadata at all.
	legacy := func(pid string, md map[string]string) {
		data, _ := json.Marshal(&PartitionRecord{ID: pid, State: PartitionFailed, Error: "bad column", ErrorKind: "query", UpdatedAt: time.Now()})
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "ledger", Name: root + bf + "/partitions/" + pid + ".json", Metadata: md}, Content: data})
		want.Failed = append(want.Failed, pid)
		want.FailedKinds[pid] = "query"
		want.States[pid] = PartitionFailed
		want.Counts[PartitionFailed]++
		want.Total++
	}
	// A warnings mark that is not a number still marks warnings.
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "ledger", Name: root + bf + "/partitions/20261129.json",
		Metadata: map[string]string{stateKey: string(PartitionDone), warningsKey: "some"}}, Content: []byte(`{"id":"20261129","state":"done","warnings":["w"]}`)})
	want.Warned = append(want.Warned, "20261129")
	want.States["20261129"] = PartitionDone
	want.Counts[PartitionDone]++
	want.Total++
	legacy("20261130", map[string]string{stateKey: string(PartitionFailed)})
	legacy("20261201", nil)
	reqs.Reset()
	got, err = s.PartitionSummary(ctx, bf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PartitionSummary with earlier records =\n%+v, want\n%+v", got, want)
	}
	if lists, reads, _ := reqs.Counts(); lists != 1 || reads != 2 {
		t.Errorf("PartitionSummary with two earlier records: %d listings, %d reads; want 1 listing, 2 reads (the earlier records)", lists, reads)
	}
}
