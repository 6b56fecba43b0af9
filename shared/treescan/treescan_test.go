package treescan_test

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
)

var scanNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

const tableDir = "moz-fx-data-shared-prod/test_derived/dau_v1/"

const metadataYAML = `friendly_name: DAU
description: test
owners:
  - test@example.com
bigquery:
  time_partitioning:
    type: day
    field: submission_date
`

// treeWith is a tree with one table whose backfill.yaml holds n entries,
// newest first, one day apart; initiate of them (the newest) are Initiate,
// the others Complete.
func treeWith(tb testing.TB, n, initiate int) fstest.MapFS {
	tb.Helper()
	f := backfill.NewFile(tableDir + backfill.FileName)
	day := civil.DateOf(scanNow)
	for i := range n {
		st := backfill.Complete
		if i < initiate {
			st = backfill.Initiate
		}
		f.Entries = append(f.Entries, &backfill.Entry{EntryDate: day, StartDate: day.AddDays(-3), EndDate: day.AddDays(-1), Reason: "r", Watchers: []string{"a@example.com"}, Status: st})
		day = day.AddDays(-1)
	}
	raw, err := f.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return fstest.MapFS{
		tableDir + backfill.FileName: {Data: raw},
		tableDir + "metadata.yaml":   {Data: []byte(metadataYAML)},
		tableDir + "query.sql":       {Data: []byte("SELECT DATE(@submission_date) AS submission_date")},
	}
}

// TestDesiredSingleInitiate: of several Initiate entries, Desired rejects
// the last one with R1 (the others are rejected by Validate's V6), and
// only that one.
func TestDesiredSingleInitiate(t *testing.T) {
	desired, problems := treescan.Desired(context.Background(), treeWith(t, 5, 3), treescan.Options{Now: scanNow})
	if len(problems) > 0 {
		t.Fatalf("problems: %+v", problems)
	}
	r1 := map[string]bool{}
	for _, d := range desired {
		for _, p := range d.Problems {
			if p.Rule == "R1" {
				r1[d.EntryDate] = true
			}
		}
	}
	last := civil.DateOf(scanNow).AddDays(-2).String()
	if len(r1) != 1 || !r1[last] {
		t.Errorf("R1 on %v, want only %s", r1, last)
	}
}

// BenchmarkDesiredEntries scans one table whose backfill.yaml holds n
// Initiate entries (the worst case of rule R1): ns/entry stays flat as n
// grows, because R1 is checked once per file (it was once per Initiate
// entry, quadratic: issue 14 asks validation linear in the entries).
func BenchmarkDesiredEntries(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			fsys := treeWith(b, n, n)
			ctx := context.Background()
			b.ReportMetric(0, "ns/op")
			for b.Loop() {
				if d, _ := treescan.Desired(ctx, fsys, treescan.Options{Now: scanNow}); len(d) != n {
					b.Fatalf("%d entries, want %d", len(d), n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}
