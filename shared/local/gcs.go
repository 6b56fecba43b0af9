// Package local is the embedded stack: Cloud Storage served by
// fake-gcs-server (files under the state directory), Pub/Sub by pstest,
// DuckDB as the warehouse, and goroutines as the worker job's tasks — with
// the same pipeline, handlers and client libraries as production.
package local

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/bqbackfill/bqbackfill/shared/gcsfake"
)

// GCSDataDir is the subdirectory of OpenGCS's directory that holds the
// objects (fake-gcs-server's StorageRoot): one directory per bucket, one
// file per object, object attributes in the file's user.metadata xattr. Copy
// it with cp -a, tar --xattrs or rsync -X; a copy without xattrs is unreadable.
const GCSDataDir = "data"

// GCS is an in-process fake Cloud Storage (fake-gcs-server, no listener) and
// a real client for it.
//
// The fake honours generation preconditions on uploads only (not on Update,
// Delete or Copy); on the file backend a metadata Update changes the
// object's generation, and a read racing a rewrite of the same object can
// fail with "bad CRC on read" (retry it). See shared/ledger, which copes with
// all three.
type GCS struct {
	// Client talks to the fake in process; Close closes it.
	Client *storage.Client

	srv       *fakestorage.Server
	lock      *DirLock
	closeOnce sync.Once
	closeErr  error
}

// OpenGCS starts the fake. With a directory, objects persist under
// dir/data and survive a restart (content, generation, metadata); the
// directory is created if missing and locked for as long as the GCS is open,
// because fake-gcs-server's own lock is in-process only and two processes on
// one directory lose updates. A second OpenGCS on a locked directory, from
// any process, fails with an *InUseError ("state directory X is in use by
// another bqbackfill process (pid N)"). With dir == "", objects live in
// memory and nothing is locked.
func OpenGCS(dir string) (*GCS, error) { return openGCS(dir, false) }

// OpenGCSReadOnly opens the objects under an existing dir for reading: it
// creates nothing and takes a shared lock (LockDirShared), so readers
// coexist and a writer excludes them. Writes through it may fail.
func OpenGCSReadOnly(dir string) (*GCS, error) {
	if dir == "" {
		return nil, errors.New("local storage: a read-only open needs a directory")
	}
	return openGCS(dir, true)
}

func openGCS(dir string, readOnly bool) (*GCS, error) {
	g := &GCS{}
	opts := fakestorage.Options{NoListener: true}
	if dir != "" {
		lockDir := LockDirShared
		if !readOnly {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("local storage: create %s: %w", dir, err)
			}
			lockDir = LockDir
		}
		lock, err := lockDir(dir)
		if err != nil {
			return nil, err // an *InUseError says it all; other errors name the file
		}
		g.lock = lock
		opts.StorageRoot = filepath.Join(dir, GCSDataDir)
	}
	srv, err := fakestorage.NewServerWithOptions(opts)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("start local storage: %w", err)
	}
	g.srv = srv
	// matchGlob, which the fake ignores, is applied in front of it
	// (gcsfake.MatchGlob), so listings return what Cloud Storage returns.
	c, err := storage.NewClient(context.Background(), option.WithHTTPClient(&http.Client{Transport: gcsfake.MatchGlob(srv.HTTPClient().Transport)}), option.WithoutAuthentication())
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("local storage: client: %w", err)
	}
	g.Client = c
	return g, nil
}

// EnsureBucket creates a bucket unless it exists. It is safe to call
// concurrently and on every start.
func (g *GCS) EnsureBucket(ctx context.Context, name string) error {
	_, err := g.Client.Bucket(name).Attrs(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("local storage: bucket %s: %w", name, err)
	}
	err = g.Client.Bucket(name).Create(ctx, "local", nil) // the fake ignores the project
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusConflict {
		return nil // created meanwhile
	}
	if err != nil {
		return fmt.Errorf("local storage: create bucket %s: %w", name, err)
	}
	return nil
}

// Close closes the client, stops the fake and releases the directory.
// Calling it again does nothing.
func (g *GCS) Close() error {
	g.closeOnce.Do(func() {
		var errs []error
		if g.Client != nil {
			if err := g.Client.Close(); err != nil {
				errs = append(errs, fmt.Errorf("local storage: close client: %w", err))
			}
		}
		if g.srv != nil {
			g.srv.Stop()
		}
		if err := g.lock.Unlock(); err != nil {
			errs = append(errs, fmt.Errorf("local storage: %w", err))
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}
