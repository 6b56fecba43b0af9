package treestore

import (
	"context"
	"errors"
	"io/fs"
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
	a, _, _, err := Archive("testdata/sql")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := Archive("testdata/sql")
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
