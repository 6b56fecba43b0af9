package duckdb_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// replaceFixture makes production p.d.t with days 2024-01-01..+days-1, x=1
// (3 rows a day), a description on day, and staging p.s.t with the same
// days, x=2, without descriptions.
func replaceFixture(t *testing.T, days int) (w interface {
	warehouse.Warehouse
	ReplacePartitions(context.Context, warehouse.ReplaceJob) (warehouse.JobResult, error)
}, prod, stg warehouse.TableRef) {
	t.Helper()
	ctx := context.Background()
	dw := open(t, t.TempDir(), nil)
	prod = warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}
	stg = warehouse.TableRef{Project: "p", Dataset: "s", Table: "t"}
	for _, ds := range []string{"d", "s"} {
		if err := dw.EnsureDataset(ctx, "p", ds, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		ref  warehouse.TableRef
		desc string
		x    int
	}{{prod, "the day", 1}, {stg, "", 2}} {
		md := warehouse.TableMetadata{Ref: c.ref, PartitionType: warehouse.Day, PartitionField: "day",
			Schema: warehouse.Schema{{Name: "day", Type: "DATE", Description: c.desc}, {Name: "x", Type: "INT64"}}}
		if err := dw.CreateTable(ctx, md); err != nil {
			t.Fatal(err)
		}
		script(t, dw, fmt.Sprintf("INSERT INTO %s SELECT d, %d FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE_ADD(DATE '2024-01-01', INTERVAL %d DAY))) AS d, UNNEST([1, 2, 3]) AS k",
			"`"+c.ref.String()+"`", c.x, days-1))
	}
	return dw, prod, stg
}

// counts returns the rows of prod with x=1 (old) and x=2 (new).
func counts(t *testing.T, w warehouse.Warehouse, prod warehouse.TableRef) (old, new int64, err error) {
	rows, err := w.Read(context.Background(), warehouse.QueryJob{SQL: "SELECT SUM(CASE WHEN x = 1 THEN 1 ELSE 0 END) AS o, SUM(CASE WHEN x = 2 THEN 1 ELSE 0 END) AS n FROM `" + prod.String() + "`"})
	if err != nil {
		return 0, 0, err
	}
	toInt := func(v any) int64 {
		switch n := v.(type) {
		case int64:
			return n
		case float64:
			return int64(n)
		}
		t.Fatalf("count %v is %T", v, v)
		return 0
	}
	return toInt(rows.Rows[0][0]), toInt(rows.Rows[0][1]), nil
}

func TestReplacePartitions(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name         string
		parts        []string
		srcTable     string // staging table name ("" = the fixture's)
		wantCode     warehouse.ErrorCode
		wantOld      int64
		wantNew      int64
		wantRowsRepl int64
	}{
		{name: "some partitions", parts: []string{"20240102", "20240104"}, wantOld: 24, wantNew: 6, wantRowsRepl: 6},
		{name: "whole table", parts: nil, wantOld: 0, wantNew: 30, wantRowsRepl: 30},
		{name: "month id on a day table", parts: []string{"202401"}, wantCode: warehouse.InvalidArgument, wantOld: 30},
		{name: "too many partitions", parts: make([]string, 4001), wantCode: warehouse.InvalidArgument, wantOld: 30},
		{name: "missing source", parts: []string{"20240102"}, srcTable: "nope", wantCode: warehouse.NotFound, wantOld: 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, prod, stg := replaceFixture(t, 10)
			if c.srcTable != "" {
				stg.Table = c.srcTable
			}
			res, err := w.ReplacePartitions(ctx, warehouse.ReplaceJob{Source: stg, Dest: prod, Partitions: c.parts, JobID: "swap"})
			if c.wantCode != warehouse.Unknown {
				if warehouse.Code(err) != c.wantCode {
					t.Fatalf("error %v, want code %s", err, c.wantCode)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if res.RowsWritten != c.wantRowsRepl || res.BytesProcessed <= 0 {
				t.Errorf("result %+v, want %d rows written and bytes read > 0", res, c.wantRowsRepl)
			}
			old, nw, err := counts(t, w, prod)
			if err != nil {
				t.Fatal(err)
			}
			if old != c.wantOld || nw != c.wantNew {
				t.Errorf("production has %d old and %d new rows, want %d and %d", old, nw, c.wantOld, c.wantNew)
			}
			md, err := w.Table(ctx, prod)
			if err != nil {
				t.Fatal(err)
			}
			if md.Schema[0].Description != "the day" {
				t.Errorf("production lost its schema: %+v", md.Schema)
			}
		})
	}
}

func TestReplaceIncompatibleSchemaChangesNothing(t *testing.T) {
	ctx := context.Background()
	w, prod, _ := replaceFixture(t, 3)
	other := warehouse.TableRef{Project: "p", Dataset: "s", Table: "other"}
	if err := w.CreateTable(ctx, warehouse.TableMetadata{Ref: other, PartitionType: warehouse.Day, PartitionField: "day",
		Schema: warehouse.Schema{{Name: "x", Type: "INT64"}, {Name: "day", Type: "DATE"}}}); err != nil {
		t.Fatal(err)
	}
	_, err := w.ReplacePartitions(ctx, warehouse.ReplaceJob{Source: other, Dest: prod, Partitions: []string{"20240101"}})
	if warehouse.Code(err) != warehouse.FailedPrecondition {
		t.Fatalf("error %v, want FailedPrecondition", err)
	}
	if old, nw, err := counts(t, w, prod); err != nil || old != 9 || nw != 0 {
		t.Errorf("production %d old %d new (%v), want untouched", old, nw, err)
	}
}

// A reader running while partitions are replaced sees all the old rows or
// all the new ones, never a mix.
func TestReplaceReaderNeverSeesAMix(t *testing.T) {
	ctx := context.Background()
	const days = 400
	w, prod, stg := replaceFixture(t, days)
	parts := make([]string, days)
	for i := range parts {
		d := civil.Date{Year: 2024, Month: 1, Day: 1}.AddDays(i)
		parts[i] = fmt.Sprintf("%04d%02d%02d", d.Year, d.Month, d.Day)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	var reads, mixed int
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			old, nw, err := counts(t, w, prod)
			if err != nil {
				readErr = err
				return
			}
			reads++
			if !(old == 3*days && nw == 0) && !(old == 0 && nw == 3*days) {
				mixed++
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	_, err := w.ReplacePartitions(ctx, warehouse.ReplaceJob{Source: stg, Dest: prod, Partitions: parts})
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	t.Logf("%d reads", reads)
	if mixed > 0 || reads == 0 {
		t.Errorf("%d of %d reads saw a mix of old and new partitions", mixed, reads)
	}
	if old, nw, _ := counts(t, w, prod); old != 0 || nw != 3*days {
		t.Errorf("after the swap: %d old, %d new", old, nw)
	}
}
