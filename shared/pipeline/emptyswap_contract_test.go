package pipeline_test

import (
	"maps"
	"slices"
	"testing"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// TestContractEmptyPartition: a day the query produces no rows for is
// emptied in production by one DELETE of its whole-partition range, never
// by a copy from the empty staging partition (which the fake, like the
// embedded warehouse, refuses: BigQuery's behaviour is undocumented); the
// rollback restores it with a copy from the backup, and empties a day the
// backup has no rows of.
func TestContractEmptyPartition(t *testing.T) {
	e := newContractEnv(t)
	const empty = "20240319"
	e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if q.Destination == nil || q.Destination.TableId != staging.Table+"$"+empty {
			return nil, nil
		}
		return &bqfake.Result{Schema: []*bq.TableFieldSchema{bqfake.Column("submission_date", "DATE"), bqfake.Column("country", "STRING"), bqfake.Column("visits", "INTEGER"), bqfake.Column("total", "INTEGER")}}, nil
	})
	// 20240320 is new to production: the rollback must empty it.
	if err := e.fake.SetPartitionRows(table, "20240320", 0); err != nil {
		t.Fatal(err)
	}
	before := maps.Clone(e.fake.PartitionRows(table))
	e.scan(t, "Initiate")
	e.work(t)
	if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	if r, err := e.led.GetPartition(e.ctx, contractID, empty); err != nil || r.Rows != 0 {
		t.Fatalf("partition %s: %+v, %v; want done with 0 rows", empty, r, err)
	}
	e.fake.ResetRequests()
	e.scan(t, "Complete")
	e.pub.take("complete")
	if err := e.p.Complete(e.ctx, contractID); err != nil {
		t.Fatal(err)
	}
	if bf := e.record(t); bf.State != ledger.StateCompleted {
		t.Fatalf("state %s (%s), want completed", bf.State, bf.LastError)
	}
	var copies, dml []string
	for _, j := range e.insertedJobs(t) {
		switch c := j.Configuration; {
		case c.Copy != nil && c.Copy.OperationType == "":
			copies = append(copies, c.Copy.SourceTables[0].TableId)
		case c.Query != nil && c.Query.DestinationTable == nil:
			dml = append(dml, c.Query.Query)
		}
	}
	slices.Sort(copies)
	if want := []string{staging.Table + "$20240318", staging.Table + "$20240320"}; !slices.Equal(copies, want) {
		t.Errorf("swap copies from %q, want %q (no copy from the empty partition)", copies, want)
	}
	wantDelete := "DELETE FROM `" + table.String() + "` WHERE (`submission_date` >= DATE '2024-03-19' AND `submission_date` < DATE '2024-03-20')"
	if !slices.Contains(dml, wantDelete) {
		t.Errorf("statements %q, want %q", dml, wantDelete)
	}
	if got := e.fake.PartitionRows(table); got[empty] != 0 || got["20240318"] != 2 || got["20240320"] != 2 {
		t.Errorf("production partitions after the swap: %v", got)
	}

	if _, n, err := e.p.Rollback(e.ctx, table); err != nil || n != len(days) {
		t.Fatalf("Rollback = %d, %v", n, err)
	}
	if got := e.fake.PartitionRows(table); !maps.Equal(nonZero(got), nonZero(before)) {
		t.Errorf("production after rollback %v, want %v", got, before)
	}
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
