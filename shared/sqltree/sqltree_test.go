package sqltree

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"sort"
	"testing"
	"testing/fstest"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

const (
	validEntry = "2026-06-10:\n  start_date: 2026-06-01\n  end_date: 2026-06-09\n  reason: r\n  watchers: [a@b.co]\n  status: Initiate\n"
	dayMeta    = "bigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n"
)

func testTree() fstest.MapFS {
	return fstest.MapFS{
		"bqbackfill.yaml":                 {Data: []byte("retention_days: 100\n")},
		"p/d/with_backfill/backfill.yaml": {Data: []byte(validEntry)},
		"p/d/with_backfill/metadata.yaml": {Data: []byte(dayMeta)},
		"p/d/with_backfill/query.sql":     {Data: []byte("SELECT 1")},
		"p/d/with_backfill/schema.yaml":   {Data: []byte("fields:\n- name: x\n  type: INTEGER\n")},
		"p/d/only_metadata/metadata.yaml": {Data: []byte("scheduling:\n  depends_on_past: maybe\n")},
		"p/d/script/backfill.yaml":        {Data: []byte(validEntry)},
		"p/d/script/query.py":             {Data: []byte("print(1)")},
		"p/d/nothing/README.md":           {Data: []byte("x")},
		"p/.hidden/t/backfill.yaml":       {Data: []byte(validEntry)},
		"p/bad name/t/backfill.yaml":      {Data: []byte(validEntry)},
		"p/d/dataset_metadata.yaml":       {Data: []byte("friendly_name: d")},
		"q/e/broken/backfill.yaml":        {Data: []byte("2026-06-10: [\n")},
	}
}

func zipFS(t *testing.T, m fstest.MapFS) fs.FS {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(m[n].Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

// TestTree runs the same checks over a directory-like FS and over a zip
// archive, the form the synced tree takes in Cloud Storage.
func TestTree(t *testing.T) {
	m := testTree()
	for name, fsys := range map[string]fs.FS{"map": m, "zip": zipFS(t, m)} {
		t.Run(name, func(t *testing.T) {
			tree := New(fsys, "sql")
			dirs, problems, err := tree.Discover(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// A directory that cannot name a table is reported, not skipped
			// without a word (review: hostile input, item 13).
			if len(problems) != 1 || problems[0].Rule != "T2" || problems[0].File != "sql/p/bad name" {
				t.Errorf("problems %v, want T2 for sql/p/bad name", problems)
			}
			var got []string
			for _, d := range dirs {
				got = append(got, d.Dir)
			}
			want := []string{"p/d/only_metadata", "p/d/script", "p/d/with_backfill", "q/e/broken"}
			if len(got) != len(want) {
				t.Fatalf("discovered %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("discovered %v, want %v", got, want)
				}
			}
			s, err := tree.Settings()
			if err != nil || s.RetentionDays != 100 {
				t.Errorf("settings %v %v", s.RetentionDays, err)
			}
			tables, _, err := tree.BackfillTables(context.Background())
			if err != nil || len(tables) != 3 {
				t.Fatalf("backfill tables %d %v", len(tables), err)
			}
			wb := tables[1]
			if wb.Ref.Table != "with_backfill" || wb.File == nil || len(wb.File.Entries) != 1 || wb.Metadata == nil || !wb.HasQuerySQL || !wb.HasSchema || wb.IsPython() {
				t.Errorf("with_backfill: %+v", wb)
			}
			if sc, err := wb.Schema(); err != nil || len(sc.Fields) != 1 {
				t.Errorf("schema %v %v", sc, err)
			}
			if !tables[0].IsPython() {
				t.Error("script table is not python")
			}
			broken := tables[2]
			if len(broken.FileErrors) != 1 || broken.FileErrors[0].Rule != "P2" || broken.FileErrors[0].File != "sql/q/e/broken/backfill.yaml" {
				t.Errorf("broken: %v", broken.FileErrors)
			}
			om, err := tree.Load(warehouse.TableRef{Project: "p", Dataset: "d", Table: "only_metadata"})
			if err != nil || om.File != nil || om.MetadataErr == nil || !om.HasMetadata {
				t.Errorf("only_metadata: %+v %v", om, err)
			}
			if _, err := tree.Load(warehouse.TableRef{Project: "p", Dataset: "d", Table: "missing"}); !errors.Is(err, ErrNoTable) {
				t.Errorf("missing table: %v", err)
			}
			if p, err := wb.ResolveCustomQuery("sql/p/d/with_backfill/query.sql"); err != nil || p != "p/d/with_backfill/query.sql" {
				t.Errorf("custom query %q %v", p, err)
			}
			if p, err := wb.ResolveCustomQuery("elsewhere/query.sql"); err != nil || p != "p/d/with_backfill/query.sql" {
				t.Errorf("custom query by base name %q %v", p, err)
			}
			if _, err := wb.ResolveCustomQuery("sql/p/d/with_backfill/nope.sql"); !errors.Is(err, backfill.ErrCustomQueryNotFound) {
				t.Errorf("missing custom query: %v", err)
			}
		})
	}
}

func TestFSConformance(t *testing.T) {
	if err := fstest.TestFS(testTree(), "p/d/with_backfill/backfill.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tree := New(testTree(), "sql")
	dirs, _, err := tree.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.LoadAll(ctx, dirs); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
}

func TestSchemaLoader(t *testing.T) {
	m := fstest.MapFS{
		"p/d/a/schema.yaml":      {Data: []byte("fields: !include-fields\n  table: p.d.b\n")},
		"p/d/b/schema.yaml":      {Data: []byte("fields:\n- name: x\n  type: STRING\n")},
		"p/d/shared_schema.yaml": {Data: []byte("fields:\n- name: y\n  type: DATE\n")},
		"p/d/c/schema.yaml":      {Data: []byte("fields: !include-fields\n  file: /sql/p/d/shared_schema.yaml\n")},
	}
	tree := New(m, "sql")
	for _, dir := range []string{"a", "c"} {
		tb := &backfill.Table{FS: m, Dir: "p/d/" + dir, DisplayRoot: "sql"}
		s, err := tb.Schema()
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Resolve(tree.SchemaLoader())
		if err != nil {
			t.Fatal(err)
		}
		ws, err := r.ToWarehouse()
		if err != nil || len(ws) != 1 {
			t.Errorf("%s: %v %v", dir, ws, err)
		}
	}
}
