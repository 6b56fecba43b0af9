package backfill_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
)

// TestCheckTargetScript is rule R5: under a target, a backfill that runs a
// Python script (query.py, or a .py custom query) is rejected; SQL
// backfills, and every backfill without a target, pass.
func TestCheckTargetScript(t *testing.T) {
	dev := &config.Target{Name: "dev", Project: "sandbox"}
	for _, tc := range []struct {
		name   string
		files  []string
		custom string
		target *config.Target
		reject bool
	}{
		{"query.py under a target", []string{"query.py=x"}, "", dev, true},
		{"query.py without a target", []string{"query.py=x"}, "", nil, false},
		{"query.sql under a target", []string{"query.sql=SELECT 1"}, "", dev, false},
		{".py custom query under a target", []string{"query.sql=SELECT 1", "fix.py=x"}, "fix.py", dev, true},
		{".sql custom query of a query.py table under a target", []string{"query.py=x", "fix.sql=SELECT 1"}, "fix.sql", dev, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := entryFor("2024-03-20", "2024-03-01", "2024-03-02")
			e.CustomQueryPath = tc.custom
			err := backfill.CheckTargetScript(planTable(t, "moz-fx-data-shared-prod.d.t_v1", mdDay, tc.files...), e, tc.target)
			if !tc.reject {
				if err != nil {
					t.Errorf("rejected: %v", err)
				}
				return
			}
			if err == nil || err.Rule != "R5" || err.EntryDate != "2024-03-20" || !strings.Contains(err.Message, "--target is not supported") {
				t.Errorf("got %+v, want R5 for entry 2024-03-20", err)
			}
		})
	}
}

// TestSingleInitiate is rule R1 as the scanner applies it: in a file
// with several Initiate entries, the last one (which V6 does not cover) is
// rejected too; a single Initiate entry, and entries of other statuses,
// pass.
func TestSingleInitiate(t *testing.T) {
	mk := func(date string, st backfill.Status) *backfill.Entry {
		e := entryFor(date, "2024-03-01", "2024-03-02")
		e.Status = st
		return e
	}
	for _, tc := range []struct {
		name    string
		entries []*backfill.Entry
		want    []string // the entry dates rejected with R1
	}{
		{"one Initiate", []*backfill.Entry{mk("2024-03-20", backfill.Initiate), mk("2024-03-10", backfill.Complete)}, nil},
		{"two Initiate", []*backfill.Entry{mk("2024-03-20", backfill.Initiate), mk("2024-03-10", backfill.Initiate)}, []string{"2024-03-10"}},
		{"three Initiate around a Complete", []*backfill.Entry{
			mk("2024-03-20", backfill.Initiate), mk("2024-03-15", backfill.Complete),
			mk("2024-03-10", backfill.Initiate), mk("2024-03-05", backfill.Initiate),
		}, []string{"2024-03-05"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if e, err := backfill.SingleInitiate(tc.entries); err != nil {
				if e == nil || err.Rule != "R1" || err.EntryDate != e.Key() || !strings.Contains(err.Message, "only one backfill per table") {
					t.Errorf("%v: %+v", e, err)
				}
				got = append(got, err.EntryDate)
			} else if e != nil {
				t.Errorf("entry %s returned without an error", e.Key())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("rejected %q, want %q", got, tc.want)
			}
		})
	}
}

// TestErrorsByEntry: the one-pass index answers what ErrorsFor answers,
// in the same order, for every entry of a file with table-wide errors
// (no metadata.yaml) and errors of several entries.
func TestErrorsByEntry(t *testing.T) {
	f := backfill.NewFile("sql/p/d/t/backfill.yaml")
	f.Entries = []*backfill.Entry{
		entryFor("2026-06-10", "2026-06-01", "2026-06-05"),
		entryFor("2026-06-09", "2026-06-05", "2026-06-01"), // end before start
		entryFor("2026-06-08", "2026-06-01", "2026-06-05"),
	}
	f.Entries[1].Watchers = nil
	r := backfill.Validate(&backfill.Table{File: f, Dir: "p/d/t"}, backfill.Options{Today: fixtureToday, Settings: config.Default()})
	if len(r.Errors) < 3 {
		t.Fatalf("fixture gives too few errors to compare: %v", r.Errors)
	}
	lookup := r.ErrorsByEntry()
	for _, e := range append(f.Entries, entryFor("2026-01-01", "2025-12-01", "2025-12-02")) {
		want, got := r.ErrorsFor(e.EntryDate), lookup(e.EntryDate)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", e.Key(), got, want)
		}
	}
}
