// Package treestore keeps synced copies of a sql/ tree in a GCS bucket.
//
// A sync uploads the whole tree as one zip object, named by the SHA-256 of
// its content (trees/<sha>.zip), and then overwrites manifest.json, which
// names the current tree. Readers load the manifest, then the zip, and get an
// io/fs.FS. Because the manifest is written last and the tree object is
// immutable, a reader never sees a half-synced tree, and a backfill that
// recorded its tree object keeps reading the same files even after later
// syncs. The manifest's object-finalized event is what triggers the scanner.
package treestore

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/bqbackfill/bqbackfill/shared/treefs"
)

// ManifestObject is the object whose finalize event triggers the scanner.
const ManifestObject = "manifest.json"

// TreePrefix is where tree archives live in the bucket.
const TreePrefix = "trees/"

// Manifest names the current tree.
type Manifest struct {
	Tree     string    `json:"tree"`   // object name of the zip, e.g. trees/<sha>.zip
	SHA256   string    `json:"sha256"` // of the zip's content
	Files    int       `json:"files"`
	Bytes    int64     `json:"bytes"` // uncompressed
	SyncedAt time.Time `json:"synced_at"`
	Source   string    `json:"source,omitempty"` // a commit id or directory, for humans
	// Skipped lists the files of the directory that were not synced, one
	// "path: reason" each (see Archive); readers report them.
	Skipped []string `json:"skipped,omitempty"`
}

// ErrNoManifest is returned by Load when nothing has been synced yet.
var ErrNoManifest = errors.New("no tree has been synced to the bucket (manifest.json is missing)")

// Archive zips the files under dir (paths relative to dir, with forward
// slashes), skipping hidden files and directories. It reads the tree under
// the same rules as validate and the scanner (shared/treefs): a symbolic
// link to a file inside the tree is archived as that file's content; what
// those rules refuse (links leaving the tree or to directories, devices,
// FIFOs, files over the size limit) is not archived and is listed in
// skipped, one "path: reason" each. The archive is deterministic: same
// files, same bytes.
func Archive(dir string) (data []byte, files int, size int64, skipped []string, err error) {
	fsys, closer, err := treefs.Dir(dir)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	defer closer.Close()
	var paths []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != "." && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := fs.Stat(fsys, p)
		switch {
		case err != nil:
			why := treefs.Describe(err)
			if why == "" {
				why = err.Error()
			}
			skipped = append(skipped, filepath.Join(dir, p)+": "+why)
		case info.IsDir():
			skipped = append(skipped, filepath.Join(dir, p)+": is a symbolic link to a directory: links to directories are not followed")
		default:
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, 0, 0, nil, fmt.Errorf("walk %s: %w", dir, err)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range paths {
		content, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, 0, 0, nil, fmt.Errorf("read %s: %w", filepath.Join(dir, p), err)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: p, Method: zip.Deflate, Modified: epoch})
		if err != nil {
			return nil, 0, 0, nil, fmt.Errorf("zip %s: %w", p, err)
		}
		if _, err := w.Write(content); err != nil {
			return nil, 0, 0, nil, fmt.Errorf("zip %s: %w", p, err)
		}
		size += int64(len(content))
	}
	if err := zw.Close(); err != nil {
		return nil, 0, 0, nil, fmt.Errorf("zip: %w", err)
	}
	return buf.Bytes(), len(paths), size, skipped, nil
}

// Sync uploads the tree under dir to bucket and points the manifest at it.
// Uploading the same tree twice reuses the archive but still rewrites the
// manifest, so a re-sync re-triggers the scanner (which then finds nothing
// new to do).
func Sync(ctx context.Context, client *storage.Client, bucket, dir, source string, now time.Time) (Manifest, error) {
	data, files, size, skipped, err := Archive(dir)
	if err != nil {
		return Manifest{}, err
	}
	sum := sha256.Sum256(data)
	m := Manifest{
		Tree:     TreePrefix + hex.EncodeToString(sum[:]) + ".zip",
		SHA256:   hex.EncodeToString(sum[:]),
		Files:    files,
		Bytes:    size,
		SyncedAt: now.UTC(),
		Source:   source,
		Skipped:  skipped,
	}
	b := client.Bucket(bucket)
	// The archive is immutable: create it only if absent. Its custom time
	// records the last sync that named it; the bucket's lifecycle rule
	// deletes archives no sync has named for a while, never the current one.
	err = write(ctx, b.Object(m.Tree).If(storage.Conditions{DoesNotExist: true}), "application/zip", data, now)
	switch {
	case isPrecondition(err):
		if _, err := b.Object(m.Tree).Update(ctx, storage.ObjectAttrsToUpdate{CustomTime: now.UTC()}); err != nil {
			return Manifest{}, fmt.Errorf("refresh custom time of gs://%s/%s: %w", bucket, m.Tree, err)
		}
	case err != nil:
		return Manifest{}, fmt.Errorf("upload tree to gs://%s/%s: %w", bucket, m.Tree, err)
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	if err := write(ctx, b.Object(ManifestObject), "application/json", mj, time.Time{}); err != nil {
		return Manifest{}, fmt.Errorf("write gs://%s/%s: %w", bucket, ManifestObject, err)
	}
	return m, nil
}

func write(ctx context.Context, o *storage.ObjectHandle, contentType string, data []byte, customTime time.Time) error {
	w := o.NewWriter(ctx)
	w.ContentType = contentType
	if !customTime.IsZero() {
		w.CustomTime = customTime.UTC()
	}
	w.ChunkSize = 0 // one request; small objects
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}

// ReadManifest reads the bucket's manifest.
func ReadManifest(ctx context.Context, client *storage.Client, bucket string) (Manifest, error) {
	data, err := read(ctx, client.Bucket(bucket).Object(ManifestObject))
	if errors.Is(err, storage.ErrObjectNotExist) {
		return Manifest{}, ErrNoManifest
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("read gs://%s/%s: %w", bucket, ManifestObject, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("gs://%s/%s is not a manifest: %w", bucket, ManifestObject, err)
	}
	if !strings.HasPrefix(m.Tree, TreePrefix) || strings.Contains(m.Tree, "..") {
		return Manifest{}, fmt.Errorf("gs://%s/%s names an invalid tree object %q", bucket, ManifestObject, m.Tree)
	}
	return m, nil
}

func read(ctx context.Context, o *storage.ObjectHandle) ([]byte, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		r, err := o.NewReader(ctx)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err == nil {
			return data, nil
		}
		// fake-gcs-server's file backend can serve a stale checksum for a
		// concurrently rewritten object; the client reports a bad CRC. Retry.
		lastErr = err
		if !strings.Contains(err.Error(), "bad CRC") {
			return nil, err
		}
	}
	return nil, lastErr
}

// Trees caches opened tree archives by object name; archives are
// immutable, so a cached tree never goes stale. Safe for concurrent use.
type Trees struct {
	client *storage.Client
	bucket string

	mu    sync.Mutex
	cache map[string]fs.FS
}

// NewTrees returns a reader of the trees synced to bucket.
func NewTrees(client *storage.Client, bucket string) *Trees {
	return &Trees{client: client, bucket: bucket, cache: map[string]fs.FS{}}
}

// Bucket returns the bucket name.
func (t *Trees) Bucket() string { return t.bucket }

// Current reads the manifest and returns the tree it names.
func (t *Trees) Current(ctx context.Context) (fs.FS, Manifest, error) {
	m, err := ReadManifest(ctx, t.client, t.bucket)
	if err != nil {
		return nil, Manifest{}, err
	}
	fsys, err := t.Open(ctx, m.Tree)
	return fsys, m, err
}

// Open returns the tree stored in object (e.g. trees/<sha>.zip).
func (t *Trees) Open(ctx context.Context, object string) (fs.FS, error) {
	t.mu.Lock()
	fsys, ok := t.cache[object]
	t.mu.Unlock()
	if ok {
		return fsys, nil
	}
	data, err := read(ctx, t.client.Bucket(t.bucket).Object(object))
	if err != nil {
		return nil, fmt.Errorf("read tree gs://%s/%s: %w", t.bucket, object, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("tree gs://%s/%s is not a zip archive: %w", t.bucket, object, err)
	}
	t.mu.Lock()
	t.cache[object] = zr
	t.mu.Unlock()
	return zr, nil
}
