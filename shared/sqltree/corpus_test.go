package sqltree

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/metadata"
)

// corpusDir finds testdata/corpus/bigquery-etl/sql by walking up to go.mod.
func corpusDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "corpus", "bigquery-etl", "sql")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// corpusFiles lists the corpus files with the given base name.
func corpusFiles(tb testing.TB, fsys fs.FS, base string) []string {
	tb.Helper()
	var out []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == base {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatalf("no %s in the corpus", base)
	}
	return out
}

// corpusToday is the day of the corpus snapshot (bigquery-etl 1c16343c97).
var corpusToday = civil.Date{Year: 2026, Month: 8, Day: 21}

// TestCorpusBackfillFiles: every backfill.yaml parses without a problem and
// writes back byte for byte; adding an entry keeps every other entry's text.
func TestCorpusBackfillFiles(t *testing.T) {
	fsys := os.DirFS(corpusDir(t))
	files := corpusFiles(t, fsys, backfill.FileName)
	entries := 0
	for _, p := range files {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			t.Fatal(err)
		}
		f, errs := backfill.Parse(data, p)
		if len(errs) > 0 {
			t.Errorf("%s: %v", p, errs)
			continue
		}
		entries += len(f.Entries)
		out, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Errorf("%s: round trip is not byte-stable", p)
		}
		add := &backfill.Entry{EntryDate: corpusToday.AddDays(1), StartDate: corpusToday, EndDate: corpusToday,
			Reason: "added by the corpus test", Watchers: []string{"a@b.co"}, Status: backfill.Initiate}
		if err := f.Add(add); err != nil {
			t.Fatal(err)
		}
		out, err = f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		want := append(append(add.Canonical(), '\n'), data...)
		if !bytes.Equal(out, want) {
			t.Errorf("%s: adding an entry changed the existing text", p)
		}
		g, errs := backfill.Parse(out, p)
		if len(errs) > 0 || len(g.Entries) != len(f.Entries) {
			t.Errorf("%s: the file with the added entry does not parse back: %v", p, errs)
		}
	}
	if len(files) != 204 || entries != 335 {
		t.Errorf("%d files, %d entries; the corpus has 204 files and 335 entries", len(files), entries)
	}
}

func TestCorpusMetadataAndSchemas(t *testing.T) {
	fsys := os.DirFS(corpusDir(t))
	for _, p := range corpusFiles(t, fsys, metadata.FileName) {
		data, _ := fs.ReadFile(fsys, p)
		if _, err := metadata.Parse(data, p); err != nil {
			t.Errorf("%v", err)
		}
	}
	tree := New(fsys, "sql")
	resolved, converted := 0, 0
	schemas := corpusFiles(t, fsys, metadata.SchemaFileName)
	for _, p := range schemas {
		data, _ := fs.ReadFile(fsys, p)
		s, err := metadata.ParseSchema(data, p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if r, err := s.Resolve(tree.SchemaLoader()); err == nil {
			resolved++
			if _, err := r.ToWarehouse(); err == nil {
				converted++
			}
		}
	}
	// Includes of files outside the sql tree (bigquery_etl/schema/…) cannot
	// be resolved from the corpus; everything else must convert.
	t.Logf("%d schema.yaml files: %d resolved, %d converted to warehouse.Schema", len(schemas), resolved, converted)
	if converted < len(schemas)-60 {
		t.Errorf("only %d of %d schemas converted", converted, len(schemas))
	}
}

// TestCorpusValidates: every corpus table with a backfill.yaml is valid on
// the snapshot day (generated tables have no metadata.yaml in the corpus,
// hence IgnoreMissingMetadata).
func TestCorpusValidates(t *testing.T) {
	tree := New(os.DirFS(corpusDir(t)), "sql")
	tables, problems, err := tree.BackfillTables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("the corpus reads with problems: %v", problems)
	}
	opts := backfill.Options{Today: corpusToday, Settings: config.Default(), IgnoreMissingMetadata: true}
	for _, tb := range tables {
		if r := backfill.Validate(tb, opts); !r.Valid() {
			t.Errorf("%s: %v", tb.Ref, r.Errors)
		}
	}
	if len(tables) != 204 {
		t.Errorf("%d tables with backfill.yaml, want 204", len(tables))
	}
	// Without the flag, exactly the tables without metadata.yaml fail, on M0.
	opts.IgnoreMissingMetadata = false
	for _, tb := range tables {
		r := backfill.Validate(tb, opts)
		if tb.HasMetadata != r.Valid() {
			t.Errorf("%s: has metadata %v, valid %v: %v", tb.Ref, tb.HasMetadata, r.Valid(), r.Errors)
		}
		for _, e := range r.Errors {
			if e.Rule != "M0" || !strings.HasSuffix(e.File, "/metadata.yaml") {
				t.Errorf("%s: unexpected %v", tb.Ref, e)
			}
		}
	}
}

// BenchmarkValidateCorpus discovers, loads and validates every table of
// the corpus that has a backfill.yaml.
func BenchmarkValidateCorpus(b *testing.B) {
	fsys := os.DirFS(corpusDir(b))
	opts := backfill.Options{Today: corpusToday, Settings: config.Default(), IgnoreMissingMetadata: true}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tables, _, err := New(fsys, "sql").BackfillTables(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, tb := range tables {
			backfill.Validate(tb, opts)
		}
		if len(tables) != 204 {
			b.Fatalf("%d tables", len(tables))
		}
	}
}

// BenchmarkParseCorpusMetadata discovers every table and parses every
// metadata.yaml of the corpus (about 2,200 files).
func BenchmarkParseCorpusMetadata(b *testing.B) {
	fsys := os.DirFS(corpusDir(b))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tree := New(fsys, "sql")
		dirs, _, err := tree.Discover(ctx)
		if err != nil {
			b.Fatal(err)
		}
		tables, err := tree.LoadAll(ctx, dirs)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, tb := range tables {
			if tb.Metadata != nil {
				n++
			}
		}
		if n < 2100 {
			b.Fatalf("%d metadata files parsed", n)
		}
	}
}
