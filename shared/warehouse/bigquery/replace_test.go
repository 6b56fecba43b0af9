package bigquery_test

import (
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

func TestReplacePartitionsScript(t *testing.T) {
	cases := []struct {
		name  string
		dest  warehouse.TableRef
		parts []string
		where string
		code  warehouse.ErrorCode
	}{
		{name: "contiguous days merge into one range", dest: prod, parts: []string{"20240101", "20240102", "20240103"},
			where: "(`submission_date` >= DATE '2024-01-01' AND `submission_date` < DATE '2024-01-04')"},
		{name: "gaps make several ranges", dest: prod, parts: []string{"20240101", "20240105"},
			where: "(`submission_date` >= DATE '2024-01-01' AND `submission_date` < DATE '2024-01-02') OR (`submission_date` >= DATE '2024-01-05' AND `submission_date` < DATE '2024-01-06')"},
		{name: "months", dest: monthly, parts: []string{"202401", "202402"},
			where: "(`submission_date` >= DATE '2024-01-01' AND `submission_date` < DATE '2024-03-01')"},
		{name: "whole table", dest: plain, where: "TRUE"},
		{name: "day id on a month table", dest: monthly, parts: []string{"20240101"}, code: warehouse.InvalidArgument},
		{name: "partitions of an unpartitioned table", dest: plain, parts: []string{"20240101"}, code: warehouse.InvalidArgument},
		{name: "more than 4,000 partitions", dest: prod, parts: make([]string, 4001), code: warehouse.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			var got []*bqfake.Query
			e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
				got = append(got, q)
				return &bqfake.Result{BytesProcessed: 777}, nil
			})
			res, err := e.w.ReplacePartitions(e.ctx, warehouse.ReplaceJob{Source: staging, Dest: c.dest, Partitions: c.parts,
				BillingProject: "backfill-slots", Labels: map[string]string{"bqbackfill_entry": "2024-02-01"}, JobID: "swap_x"})
			if c.code != warehouse.Unknown {
				wantCode(t, "ReplacePartitions", err, c.code)
				if len(got) != 0 {
					t.Errorf("a refused replacement sent %d queries", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d queries, want 1 script", len(got))
			}
			q := got[0]
			want := "BEGIN TRANSACTION;\nDELETE FROM `" + c.dest.String() + "` WHERE " + c.where + ";\nINSERT INTO `" + c.dest.String() + "` SELECT * FROM `" + staging.String() + "` WHERE " + c.where + ";\nCOMMIT TRANSACTION;\n"
			if q.SQL != want {
				t.Errorf("script:\n%s\nwant:\n%s", q.SQL, want)
			}
			if q.Destination != nil || q.Project != "backfill-slots" || q.Labels["bqbackfill_entry"] != "2024-02-01" || !hasPrefix(q.JobID, "swap_x") {
				t.Errorf("job %+v: want no destination, billed to backfill-slots, labelled, job id swap_x…", q)
			}
			if res.BytesProcessed != 777 {
				t.Errorf("bytes processed %d, want the script's 777", res.BytesProcessed)
			}
		})
	}
}

func TestDeletePartitionsStatement(t *testing.T) {
	cases := []struct {
		name  string
		dest  warehouse.TableRef
		parts []string
		want  string
	}{
		{name: "whole-partition ranges of the partitioning column (free)", dest: prod, parts: []string{"20240101", "20240102", "20240105"},
			want: "DELETE FROM `" + prod.String() + "` WHERE (`submission_date` >= DATE '2024-01-01' AND `submission_date` < DATE '2024-01-03') OR (`submission_date` >= DATE '2024-01-05' AND `submission_date` < DATE '2024-01-06')"},
		{name: "whole table", dest: plain, want: "TRUNCATE TABLE `" + plain.String() + "`"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			var got []*bqfake.Query
			e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
				got = append(got, q)
				return nil, nil
			})
			if _, err := e.w.DeletePartitions(e.ctx, warehouse.DeleteJob{Table: c.dest, Partitions: c.parts,
				BillingProject: "backfill-slots", Labels: map[string]string{"bqbackfill_entry": "2024-02-01"}, JobID: "clear_x"}); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d queries, want 1 statement", len(got))
			}
			q := got[0]
			if q.SQL != c.want {
				t.Errorf("statement:\n%s\nwant:\n%s", q.SQL, c.want)
			}
			if q.Destination != nil || q.Project != "backfill-slots" || q.Labels["bqbackfill_entry"] != "2024-02-01" || !hasPrefix(q.JobID, "clear_x") {
				t.Errorf("job %+v: want no destination, billed to backfill-slots, labelled, job id clear_x…", q)
			}
		})
	}
}
