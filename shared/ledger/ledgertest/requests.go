package ledgertest

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// Requests is an http.RoundTripper in front of a (fake) GCS server that
// counts the requests under one object-name prefix by kind, so a test can
// say how many listings and reads an operation costs. Safe for concurrent
// use.
type Requests struct {
	Base http.RoundTripper
	// Prefix selects the requests counted: a listing whose prefix, or a
	// read or upload whose object name, starts with it ("" counts all).
	Prefix string

	mu                    sync.Mutex
	lists, reads, uploads int
}

// Counts returns the listings, reads (of content or attributes) and
// uploads counted since the last Reset.
func (t *Requests) Counts() (lists, reads, uploads int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lists, t.reads, t.uploads
}

// Reset sets the counts to zero.
func (t *Requests) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lists, t.reads, t.uploads = 0, 0, 0
}

// RoundTrip implements http.RoundTripper.
func (t *Requests) RoundTrip(req *http.Request) (*http.Response, error) {
	if c := t.counter(req); c != nil {
		t.mu.Lock()
		*c++
		t.mu.Unlock()
	}
	return t.Base.RoundTrip(req)
}

// counter is the count req adds to, nil if none. The storage client lists
// with GET .../b/<bucket>/o?prefix=P, uploads with POST /upload/...?name=N,
// and reads with GET of .../o/<name> (JSON API) or /<bucket>/<name> (XML
// API, or the fake's download path).
func (t *Requests) counter(req *http.Request) *int {
	q := req.URL.Query()
	p := req.URL.Path
	switch {
	case req.Method == http.MethodPost && strings.Contains(p, "/upload/"):
		if strings.HasPrefix(q.Get("name"), t.Prefix) {
			return &t.uploads
		}
	case req.Method != http.MethodGet:
	case strings.HasSuffix(p, "/o"):
		if strings.HasPrefix(q.Get("prefix"), t.Prefix) {
			return &t.lists
		}
	case strings.Contains(p, "/o/"):
		_, name, _ := strings.Cut(p, "/o/")
		if strings.HasPrefix(name, t.Prefix) {
			return &t.reads
		}
	case strings.Contains(p, "/"+t.Prefix):
		return &t.reads
	}
	return nil
}

// CountedClient starts fake-gcs-server in process with bucket and returns
// a storage client to it whose requests under prefix are counted.
func CountedClient(t testing.TB, bucket, prefix string) (*storage.Client, *Requests, *fakestorage.Server) {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	reqs := &Requests{Base: srv.HTTPClient().Transport, Prefix: prefix}
	c, err := storage.NewClient(context.Background(), option.WithHTTPClient(&http.Client{Transport: reqs}), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, reqs, srv
}
