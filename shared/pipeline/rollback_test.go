package pipeline_test

import (
	"strings"
	"testing"

	"cloud.google.com/go/civil"

)

// TestRollbackEmptiesChunkNewToProduction: a rollback restoring a chunk
// the backup holds no rows of (days production did not have) empties it
// with one DELETE and copies nothing (the DELETE's job id, named for the
// chunk's first partition, was read after the chunk was narrowed to its
// copies, none here: an index out of range).
func TestRollbackEmptiesChunkNewToProduction(t *testing.T) {
	e := newContractEnv(t)
	days := startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-02-19"), civil.Date{Year: 2023, Month: 1, Day: 1}, 50)
	if err := e.p.Complete(e.ctx, contractID); err != nil {
		t.Fatal(err)
	}
	e.fake.ResetRequests()
	if _, n, err := e.p.Rollback(e.ctx, table); err != nil || n != len(days) {
		t.Fatalf("Rollback = %d, %v; want %d restored", n, err, len(days))
	}
	rows := e.fake.PartitionRows(table)
	for _, d := range days {
		if rows[d] != 0 {
			t.Errorf("production partition %s has %d rows after the rollback, want none (the backup has none)", d, rows[d])
		}
	}
	jobs := e.insertedJobs(t)
	if len(jobs) != 1 || jobs[0].Configuration.Query == nil || !strings.HasPrefix(jobs[0].Configuration.Query.Query, "DELETE FROM") {
		t.Errorf("the rollback ran %d job(s), want one DELETE and no copy", len(jobs))
	}
}
