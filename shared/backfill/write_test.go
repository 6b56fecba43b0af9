package backfill_test

import (
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
)

// handEdited is not in canonical form: indented lists, a quoted reason, a
// folded block, a comment, fields out of order, no blank line.
const handEdited = `# Backfills of t_v1.
2026-06-02:
  start_date: 2026-05-01
  end_date: 2026-05-02
  reason: >-
    folded
    reason
  watchers:
    - a@b.co
  status: Complete
  # billed on demand
  billing_project: moz-fx-data-backfill-2
  shredder_mitigation: False
2026-05-01:
  start_date: 2026-04-01
  end_date: 2026-04-02
  reason: 'quoted'
  watchers: [a@b.co]
  status: Cancelled
`

func TestMarshalUnchangedIsByteStable(t *testing.T) {
	for _, src := range []string{example, handEdited, "", "# only a comment\n"} {
		f, errs := backfill.Parse([]byte(src), "backfill.yaml")
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		got, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != src {
			t.Errorf("round trip changed the file:\n%s\nwant:\n%s", got, src)
		}
	}
}

func TestAddKeepsOtherEntriesText(t *testing.T) {
	f, errs := backfill.Parse([]byte(handEdited), "backfill.yaml")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	e := &backfill.Entry{EntryDate: date("2026-06-11"), StartDate: date("2026-06-01"), EndDate: date("2026-06-10"),
		Reason: "new one", Watchers: []string{"c@d.co"}, Status: backfill.Initiate}
	if err := f.Add(e); err != nil {
		t.Fatal(err)
	}
	got, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// The new entry comes first; the others keep their text and their
	// (missing) blank line between them.
	want := "# Backfills of t_v1.\n" + string(e.Canonical()) + "\n" + strings.TrimPrefix(handEdited, "# Backfills of t_v1.\n")
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if err := f.Add(e.Clone()); err == nil {
		t.Error("a second entry with the same entry date was accepted")
	}
	// Reparse: still the same entries.
	g, errs := backfill.Parse(got, "backfill.yaml")
	if len(errs) > 0 || len(g.Entries) != 3 || g.Entries[0].Key() != "2026-06-11" {
		t.Errorf("reparse: %v %d", errs, len(g.Entries))
	}
}

func TestChangedEntryIsRewrittenCanonically(t *testing.T) {
	f, _ := backfill.Parse([]byte(handEdited), "backfill.yaml")
	f.Entries[1].Status = backfill.Complete
	got, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), string(f.Entries[1].Canonical())) {
		t.Errorf("changed entry not canonical:\n%s", got)
	}
	if !strings.Contains(string(got), "  reason: >-\n    folded\n    reason\n") {
		t.Errorf("unchanged entry lost its text:\n%s", got)
	}
	// Changing it back restores the original text.
	f.Entries[1].Status = backfill.Cancelled
	got, _ = f.Marshal()
	if string(got) != handEdited {
		t.Errorf("reverted change did not restore the file:\n%s", got)
	}
}

func TestMarshalBrokenFileRefuses(t *testing.T) {
	f, errs := backfill.Parse([]byte("2026-06-01: [\n"), "backfill.yaml")
	if len(errs) != 1 || errs[0].Rule != "P2" {
		t.Fatalf("errors %v", errs)
	}
	if _, err := f.Marshal(); err == nil {
		t.Error("a file with a YAML error was rewritten")
	}
}

func TestHashIgnoresLayout(t *testing.T) {
	a, _ := backfill.Parse([]byte("2026-05-01:\n  start_date: 2026-04-01\n  end_date: 2026-04-02\n  reason: 'quoted'\n  watchers: [a@b.co]\n  status: Cancelled\n"), "a")
	b, _ := backfill.Parse([]byte("2026-05-01:\n  status: cancelled\n  watchers:\n    - a@b.co\n  reason: quoted\n  end_date: 2026-04-02\n  start_date: 2026-04-01\n  shredder_mitigation: false\n"), "b")
	if a.Entries[0].Hash() != b.Entries[0].Hash() {
		t.Error("same entry, different hash")
	}
	b.Entries[0].Reason = "other"
	if a.Entries[0].Hash() == b.Entries[0].Hash() {
		t.Error("different entries, same hash")
	}
	if !strings.HasPrefix(a.Entries[0].Hash(), "sha256:") || len(a.Entries[0].Hash()) != 71 {
		t.Errorf("hash %q", a.Entries[0].Hash())
	}
}
