package sqltree

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/treefs"
)

const validBackfill = `2026-06-10:
  start_date: 2026-06-01
  end_date: 2026-06-09
  reason: Recompute after the upstream fix (DENG-1).
  watchers:
  - alice@mozilla.com
  status: Initiate
`

// TestHostileTree reads a tree with what a pull request can ship in place
// of a backfill.yaml: each table gets a clear rule and message (review:
// hostile input, item 8), the others still load, nothing hangs or
// exhausts memory, and a link inside the tree is followed.
func TestHostileTree(t *testing.T) {
	dir := t.TempDir()
	table := func(name string) string {
		p := filepath.Join(dir, "p", "d", name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(p, "backfill.yaml")
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(table("good"), []byte(validBackfill), 0o644))
	must(os.Symlink("../good/backfill.yaml", table("linked")))
	must(os.Symlink("/dev/zero", table("zero")))
	must(syscall.Mkfifo(table("fifo"), 0o644))
	big, err := os.Create(table("big"))
	must(err)
	must(big.Truncate(treefs.MaxFileBytes + 1))
	must(big.Close())
	must(os.Symlink("d", filepath.Join(dir, "p", "d_link")))
	// A readable backfill.yaml whose query.sql leaves the tree: the table
	// loads, and the query's problem is among its file errors.
	must(os.WriteFile(table("badquery"), []byte(validBackfill), 0o644))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "p", "d", "badquery", "query.sql")))

	fsys, closer, err := treefs.Dir(dir)
	must(err)
	defer closer.Close()
	tables, problems, err := New(fsys, "sql").BackfillTables(context.Background())
	must(err)
	if len(problems) != 1 || problems[0].Rule != "T3" || problems[0].File != "sql/p/d_link" {
		t.Errorf("problems %v, want T3 for the linked directory sql/p/d_link", problems)
	}
	want := map[string]string{"good": "", "linked": "", "badquery": "", "zero": "T3", "fifo": "T3", "big": "T4"}
	for _, tb := range tables {
		rule, ok := want[tb.Ref.Table]
		if !ok {
			t.Errorf("unexpected table %s", tb.Ref)
			continue
		}
		delete(want, tb.Ref.Table)
		got := ""
		if u := Unreadable(tb); len(u) > 0 {
			got = u[0].Rule
			if u[0].File != "sql/p/d/"+tb.Ref.Table+"/backfill.yaml" || u[0].Message == "" {
				t.Errorf("%s: %+v", tb.Ref.Table, u[0])
			}
		}
		if got != rule {
			t.Errorf("%s: rule %q, want %q (%v)", tb.Ref.Table, got, rule, tb.FileErrors)
		}
		if tb.Ref.Table == "badquery" && (len(tb.FileErrors) != 1 || tb.FileErrors[0].Rule != "T3" || tb.FileErrors[0].File != "sql/p/d/badquery/query.sql") {
			t.Errorf("badquery: %v", tb.FileErrors)
		}
		if rule == "" && (tb.File == nil || len(tb.File.Entries) != 1) {
			t.Errorf("%s: not loaded: %v", tb.Ref.Table, tb.FileErrors)
		}
	}
	if len(want) > 0 {
		t.Errorf("tables not returned: %v", want)
	}
}
