package backfill_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// example is the reference's §1.4 example with every field.
const example = `2026-06-11:
  start_date: 2026-05-01
  end_date: 2026-06-09
  excluded_dates:
  - 2026-05-14
  - 2026-05-20
  reason: |-
    https://mozilla-hub.atlassian.net/browse/DENG-12345
    Recompute after upstream fix.
  watchers:
  - alice@mozilla.com
  - bob@mozilla.com
  status: Initiate
  custom_query_path: sql/moz-fx-data-shared-prod/example_derived/example_v1/backfill_deng12345.sql
  shredder_mitigation: false
  override_retention_limit: false
  override_depends_on_past_end_date: false
  override_depends_on_past_null_partition: false
  ignore_date_partition_offset: false
  billing_project: moz-fx-data-backfill-1

2026-05-02:
  start_date: 2026-04-01
  end_date: 2026-04-30
  reason: Earlier backfill, already swapped in.
  watchers:
  - alice@mozilla.com
  status: Complete
  shredder_mitigation: false
  override_retention_limit: false
  override_depends_on_past_end_date: false
  override_depends_on_past_null_partition: false
  ignore_date_partition_offset: false
`

func date(s string) civil.Date {
	d, err := civil.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestParseExample(t *testing.T) {
	f, errs := backfill.Parse([]byte(example), "backfill.yaml")
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(f.Entries) != 2 {
		t.Fatalf("got %d entries", len(f.Entries))
	}
	e := f.Entries[0]
	if e.EntryDate != date("2026-06-11") || e.StartDate != date("2026-05-01") || e.EndDate != date("2026-06-09") {
		t.Errorf("dates: %v %v %v", e.EntryDate, e.StartDate, e.EndDate)
	}
	if len(e.ExcludedDates) != 2 || e.ExcludedDates[1] != date("2026-05-20") {
		t.Errorf("excluded: %v", e.ExcludedDates)
	}
	if e.Reason != "https://mozilla-hub.atlassian.net/browse/DENG-12345\nRecompute after upstream fix." {
		t.Errorf("reason %q", e.Reason)
	}
	if e.Status != backfill.Initiate || e.BillingProject != "moz-fx-data-backfill-1" || e.Line != 1 {
		t.Errorf("status %q billing %q line %d", e.Status, e.BillingProject, e.Line)
	}
	if f.Entries[1].Status != backfill.Complete || f.Entries[1].Line != 22 {
		t.Errorf("second entry: %+v", f.Entries[1])
	}
	// The example is canonical: each entry's canonical text is in the file.
	for _, e := range f.Entries {
		if !strings.Contains(example, string(e.Canonical())) {
			t.Errorf("canonical form of %s differs from the reference example:\n%s", e.Key(), e.Canonical())
		}
	}
}

func TestParseSpellingsAndCase(t *testing.T) {
	src := `2026-06-11:
  start_date: 2026-05-01
  end_date: '2026-06-09'
  reason: r
  watchers: [a@b.co]
  status: iNiTiAtE
  shredder_mitigation: True
  override_retention_limit: yes
  ignore_date_partition_offset: FALSE
  reinitialize_table: null
`
	f, errs := backfill.Parse([]byte(src), "backfill.yaml")
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	e := f.Entries[0]
	if e.Status != backfill.Initiate || !e.ShredderMitigation || !e.OverrideRetentionLimit || e.IgnoreDatePartitionOffset || e.ReinitializeTable != nil {
		t.Errorf("got %+v", e)
	}
	if e.EndDate != date("2026-06-09") {
		t.Errorf("quoted date: %v", e.EndDate)
	}
}

// TestParseCollectsEverything: one bad entry reports all of its problems
// with lines and fields, and does not hide the next entry.
func TestParseCollectsEverything(t *testing.T) {
	src := `2026-06-11:
  start_date: 2026-06-12
  end_date: 2026-06-13
  reason: ""
  watchers:
  - not-an-email
  - not-an-email
  status: Running
  reason: again
2026-06-01:
  start_date: 2026-05-01
  end_date: 2026-05-02
  reason: fine
  watchers: [a@b.co]
  status: Complete
2026-6-1:
  start_date: 2026-05-01
`
	f, errs := backfill.Parse([]byte(src), "sql/p/d/t/backfill.yaml")
	want := map[string]string{"P1": "reason", "P7": "start_date", "P8": "end_date", "P12": "watchers", "P13": "watchers", "P4": "status", "P17": ""}
	got := map[string]backfill.Error{}
	for _, e := range errs {
		got[e.Rule] = e
		if e.File != "sql/p/d/t/backfill.yaml" || e.Line == 0 {
			t.Errorf("error without file or line: %+v", e)
		}
	}
	for rule, field := range want {
		e, ok := got[rule]
		if !ok {
			t.Errorf("missing %s in %v", rule, errs)
			continue
		}
		if e.Field != field {
			t.Errorf("%s field %q, want %q", rule, e.Field, field)
		}
	}
	if got["P4"].Line != 8 || got["P4"].EntryDate != "2026-06-11" {
		t.Errorf("P4 at line %d entry %q", got["P4"].Line, got["P4"].EntryDate)
	}
	if len(f.Entries) != 2 || f.Entries[1].Reason != "fine" {
		t.Errorf("entries: %d", len(f.Entries))
	}
	if !strings.Contains(got["P7"].Error(), "sql/p/d/t/backfill.yaml:2: entry 2026-06-11: start_date:") {
		t.Errorf("formatted error: %s", got["P7"].Error())
	}
}

func TestParseEmptyAndCommentsOnly(t *testing.T) {
	for _, src := range []string{"", "# nothing yet\n", "---\n"} {
		f, errs := backfill.Parse([]byte(src), "backfill.yaml")
		if len(errs) > 0 || len(f.Entries) != 0 {
			t.Errorf("%q: entries %d errors %v", src, len(f.Entries), errs)
		}
	}
	if _, errs := backfill.Parse([]byte("- a\n- b\n"), "backfill.yaml"); len(errs) != 1 || errs[0].Rule != "P17" {
		t.Errorf("a list at the top: %v", errs)
	}
	if _, errs := backfill.Parse([]byte("2026-06-01:\n  excluded_dates:\n"), "backfill.yaml"); !hasRule(errs, "P17") {
		t.Errorf("null excluded_dates: %v", errs)
	}
}

// TestLoadFileName is rule P5.
func TestLoadFileName(t *testing.T) {
	fsys := fstest.MapFS{
		"p/d/t/backfill.yml":  {Data: []byte(example)},
		"p/d/t/backfill.yaml": {Data: []byte(example)},
	}
	if _, errs := backfill.LoadFile(fsys, "p/d/t/backfill.yml", "sql/p/d/t/backfill.yml"); len(errs) != 1 || errs[0].Rule != "P5" {
		t.Errorf("backfill.yml: %v", errs)
	}
	if _, errs := backfill.LoadFile(fsys, "p/d/t/backfill.yaml", "sql/p/d/t/backfill.yaml"); len(errs) != 0 {
		t.Errorf("backfill.yaml: %v", errs)
	}
}

// TestUnreachableFromFiles covers V3 and V4, which a parsed file never
// reaches (P1, P10 and P11 fire first) but entries built in code can.
func TestUnreachableFromFiles(t *testing.T) {
	base := func() *backfill.Entry {
		return &backfill.Entry{EntryDate: date("2026-06-10"), StartDate: date("2026-06-01"), EndDate: date("2026-06-09"),
			Reason: "r", Watchers: []string{"a@b.co"}, Status: backfill.Complete}
	}
	md := &backfill.Table{Ref: warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}, Dir: "p/d/t", HasMetadata: true}
	opts := backfill.Options{Today: fixtureToday, Settings: config.Default(), IgnoreMissingMetadata: true}
	for _, tc := range []struct {
		rule    string
		entries []*backfill.Entry
		fail    bool
	}{
		{"V3", []*backfill.Entry{base(), base()}, true},
		{"V3", []*backfill.Entry{base()}, false},
		{"V4", []*backfill.Entry{func() *backfill.Entry {
			e := base()
			e.ExcludedDates = []civil.Date{date("2026-06-05"), date("2026-06-03")}
			return e
		}()}, true},
		{"V4", []*backfill.Entry{func() *backfill.Entry {
			e := base()
			e.ExcludedDates = []civil.Date{date("2026-06-03"), date("2026-06-05")}
			return e
		}()}, false},
	} {
		f := backfill.NewFile("backfill.yaml")
		f.Entries = tc.entries
		md.File = f
		r := backfill.Validate(md, opts)
		if hasRule(r.Errors, tc.rule) != tc.fail {
			t.Errorf("%s fail=%v: got %v", tc.rule, tc.fail, r.Errors)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]backfill.Status{"initiate": backfill.Initiate, "COMPLETE": backfill.Complete, "Cancelled": backfill.Cancelled} {
		if got, err := backfill.ParseStatus(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if _, err := backfill.ParseStatus("Canceled"); err == nil {
		t.Error("Canceled accepted")
	}
}

func TestValidWatcher(t *testing.T) {
	for w, ok := range map[string]bool{"a@b.co": true, "@mozilla/data": true, "moz/x": true, "a@b": false, "": false, "team/x": false} {
		if backfill.ValidWatcher(w) != ok {
			t.Errorf("%q: want %v", w, ok)
		}
	}
}
