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
	"strconv"
	"strings"
	"syscall"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"
)

// GCS is an in-process fake Cloud Storage and a real client for it.
type GCS struct {
	Client *storage.Client
	srv    *fakestorage.Server
	lock   *os.File
}

// OpenGCS starts the fake. With dir, objects persist as files under dir and
// the directory is locked for this process (the fake's own lock is
// in-process only, so two processes would lose updates); with "" they live
// in memory.
func OpenGCS(dir string) (*GCS, error) {
	g := &GCS{}
	opts := fakestorage.Options{NoListener: true}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("local storage: %w", err)
		}
		lock, err := lockDir(dir)
		if err != nil {
			return nil, err
		}
		g.lock = lock
		opts.StorageRoot = filepath.Join(dir, "data")
	}
	srv, err := fakestorage.NewServerWithOptions(opts)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("start local storage: %w", err)
	}
	g.srv = srv
	g.Client = srv.Client()
	return g, nil
}

// lockDir takes an exclusive lock on dir/lock, recording our pid in it.
func lockDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, "lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		data, _ := os.ReadFile(p)
		f.Close()
		pid := strings.TrimSpace(string(data))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("state directory %s is in use by another bqbackfill process (pid %s)", filepath.Dir(dir), pid)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// EnsureBucket creates a bucket unless it exists.
func (g *GCS) EnsureBucket(ctx context.Context, name string) error {
	_, err := g.Client.Bucket(name).Attrs(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("bucket %s: %w", name, err)
	}
	err = g.Client.Bucket(name).Create(ctx, "local", nil)
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusConflict {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// Close stops the fake and releases the directory.
func (g *GCS) Close() error {
	if g.Client != nil {
		g.Client.Close()
	}
	if g.srv != nil {
		g.srv.Stop()
	}
	if g.lock != nil {
		syscall.Flock(int(g.lock.Fd()), syscall.LOCK_UN)
		g.lock.Close()
	}
	return nil
}
