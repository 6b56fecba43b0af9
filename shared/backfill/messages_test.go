package backfill_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/sqltree"
)

const messagesMetadata = `friendly_name: Test
scheduling:
  dag_name: bqetl_test
bigquery:
  time_partitioning:
    type: day
    field: submission_date
`

// TestOneMessagePerProblem: a value of the wrong type is reported once, by
// P17, without the rules that would read its zero value (review: hostile
// input, item 12: "start_date: 20261101" also gave "start_date 0000-00-00
// is before ..." [V9]; watchers as a list of lists gave a line per item and
// "watchers is empty").
func TestOneMessagePerProblem(t *testing.T) {
	tests := []struct {
		name, fields string
		field        string
	}{
		{"date without dashes", "  start_date: 20260601\n  end_date: 2026-06-09\n  watchers:\n  - alice@mozilla.com\n", "start_date"},
		{"end date without dashes", "  start_date: 2026-06-01\n  end_date: 20260609\n  watchers:\n  - alice@mozilla.com\n", "end_date"},
		{"watchers as lists", "  start_date: 2026-06-01\n  end_date: 2026-06-09\n  watchers:\n  - [a@b.co, c@d.co]\n  - [e@f.co]\n  - [g@h.co]\n", "watchers"},
	}
	for _, tt := range tests {
		yaml := "2026-06-10:\n" + tt.fields + "  reason: Recompute after the upstream fix (DENG-1).\n  status: Initiate\n"
		fsys := fstest.MapFS{
			"p/d/t_v1/backfill.yaml": {Data: []byte(yaml)},
			"p/d/t_v1/metadata.yaml": {Data: []byte(messagesMetadata)},
			"p/d/t_v1/query.sql":     {Data: []byte("SELECT 1")},
		}
		tables, _, err := sqltree.New(fsys, "sql").BackfillTables(t.Context())
		if err != nil || len(tables) != 1 {
			t.Fatalf("%s: %v", tt.name, err)
		}
		r := backfill.Validate(tables[0], backfill.Options{Today: fixtureToday, Settings: config.Default()})
		if len(r.Errors) != 1 || r.Errors[0].Rule != "P17" || r.Errors[0].Field != tt.field {
			t.Errorf("%s: want one P17 on %s, got %v", tt.name, tt.field, r.Errors)
		}
	}
}

// TestMissingMetadataMessage: M0 does not tell run and scanner users to
// pass a flag they do not have (item 12).
func TestMissingMetadataMessage(t *testing.T) {
	fsys := fstest.MapFS{"p/d/t_v1/backfill.yaml": {Data: []byte("2026-06-10:\n  start_date: 2026-06-01\n  end_date: 2026-06-09\n  watchers:\n  - alice@mozilla.com\n  reason: r\n  status: Initiate\n")}}
	tables, _, err := sqltree.New(fsys, "sql").BackfillTables(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := backfill.Validate(tables[0], backfill.Options{Today: fixtureToday, Settings: config.Default()})
	if !hasRule(r.Errors, "M0") || !strings.Contains(fmt.Sprint(r.Errors), "run and the scanner cannot") {
		t.Errorf("M0: %v", r.Errors)
	}
}

// BenchmarkValidateEntries validates one table whose backfill.yaml has n
// Complete entries (newest first) and one Initiate entry: the time per
// entry stays flat as n grows (validation is linear in the entries; the
// duplicate and second-Initiate checks were quadratic, 26 s for 100k).
func BenchmarkValidateEntries(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			f := backfill.NewFile("sql/p/d/t/backfill.yaml")
			day := fixtureToday
			for i := range n {
				st := backfill.Complete
				if i == 0 {
					st = backfill.Initiate
				}
				f.Entries = append(f.Entries, &backfill.Entry{EntryDate: day, StartDate: day.AddDays(-3), EndDate: day.AddDays(-1), Reason: "r", Watchers: []string{"a@b.co"}, Status: st})
				day = day.AddDays(-1)
			}
			tb := &backfill.Table{File: f, Dir: "p/d/t", HasMetadata: true}
			opts := backfill.Options{Today: fixtureToday, Settings: config.Default(), IgnoreMissingMetadata: true}
			b.ReportMetric(0, "ns/op")
			for b.Loop() {
				backfill.Validate(tb, opts)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}
