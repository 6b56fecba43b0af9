package treestore

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

func newBucket(t *testing.T) *Trees {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "sql-bucket"})
	return NewTrees(srv.Client(), "sql-bucket")
}

func TestSyncThenRead(t *testing.T) {
	ctx := context.Background()
	trees := newBucket(t)
	if _, _, err := trees.Current(ctx); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("before any sync: got %v, want ErrNoManifest", err)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	m, err := Sync(ctx, trees.client, "sql-bucket", "testdata/sql", "test", now)
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 2 {
		t.Errorf("files = %d, want 2 (hidden .hidden skipped)", m.Files)
	}
	fsys, got, err := trees.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tree != m.Tree || !got.SyncedAt.Equal(now) {
		t.Errorf("manifest = %+v, want %+v", got, m)
	}
	if err := fstest.TestFS(fsys, "p/d/t/query.sql", "p/d/t/metadata.yaml"); err != nil {
		t.Fatal(err)
	}
	data, err := fs.ReadFile(fsys, "p/d/t/query.sql")
	if err != nil || string(data) != "SELECT 1\n" {
		t.Fatalf("query.sql = %q, %v", data, err)
	}

	// Same content: same archive name; the manifest is rewritten.
	m2, err := Sync(ctx, trees.client, "sql-bucket", "testdata/sql", "again", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m2.Tree != m.Tree {
		t.Errorf("re-sync of the same tree changed its name: %s -> %s", m.Tree, m2.Tree)
	}
	got2, err := ReadManifest(ctx, trees.client, "sql-bucket")
	if err != nil || got2.Source != "again" {
		t.Fatalf("manifest after re-sync = %+v, %v", got2, err)
	}
}

func TestArchiveIsDeterministic(t *testing.T) {
	a, _, _, _, err := Archive("testdata/sql")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, _, err := Archive("testdata/sql")
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatal("two archives of the same tree differ")
	}
}

func TestBadManifest(t *testing.T) {
	ctx := context.Background()
	trees := newBucket(t)
	w := trees.client.Bucket("sql-bucket").Object(ManifestObject).NewWriter(ctx)
	w.Write([]byte(`{"tree":"../etc/passwd"}`))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := trees.Current(ctx); err == nil {
		t.Fatal("a manifest naming an object outside trees/ was accepted")
	}
}

// TestArchiveHostile: sync reads the tree under the same rules as validate
// (shared/treefs): a link inside the tree is archived as the file it names;
// links leaving the tree or to directories, and FIFOs, are skipped and
// listed, never followed, and never hang (review: hostile input, item 8).
func TestArchiveHostile(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "p", "d", "t"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "p", "d", "t", "query.sql"), []byte("SELECT 1"), 0o644))
	must(os.Symlink("query.sql", filepath.Join(dir, "p", "d", "t", "linked.sql")))
	must(os.Symlink("/dev/zero", filepath.Join(dir, "p", "d", "t", "backfill.yaml")))
	must(os.Symlink("t", filepath.Join(dir, "p", "d", "t_link")))
	must(syscall.Mkfifo(filepath.Join(dir, "p", "d", "t", "metadata.yaml"), 0o644))
	data, files, _, skipped, err := Archive(dir)
	must(err)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	must(err)
	got := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		must(err)
		b, err := io.ReadAll(rc)
		must(err)
		rc.Close()
		got[f.Name] = string(b)
	}
	if files != 2 || got["p/d/t/query.sql"] != "SELECT 1" || got["p/d/t/linked.sql"] != "SELECT 1" {
		t.Errorf("archived %d files: %v", files, got)
	}
	want := []string{"p/d/t/backfill.yaml: is a symbolic link that leads outside the tree", "p/d/t/metadata.yaml: is not a regular file", "p/d/t_link: is a symbolic link to a directory"}
	if len(skipped) != len(want) {
		t.Fatalf("skipped %q, want %d entries", skipped, len(want))
	}
	for i, w := range want {
		if !strings.Contains(skipped[i], w) {
			t.Errorf("skipped[%d] = %q, want it to contain %q", i, skipped[i], w)
		}
	}
}
