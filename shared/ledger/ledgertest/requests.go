package ledgertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/bqbackfill/bqbackfill/shared/gcsfake"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// Requests is an http.RoundTripper in front of a (fake) GCS server that
// counts the requests under one object-name prefix by kind, and the objects
// the counted listings return, so a test can say how many listings and
// reads an operation costs and how much the listings carry. Safe for
// concurrent use.
type Requests struct {
	Base http.RoundTripper
	// Prefix selects the requests counted: a listing whose prefix, or a
	// read or upload whose object name, starts with it ("" counts all).
	Prefix string

	mu                    sync.Mutex
	lists, reads, uploads int
	listed                int
}

// Counts returns the listings, reads (of content or attributes) and
// uploads counted since the last Reset.
func (t *Requests) Counts() (lists, reads, uploads int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lists, t.reads, t.uploads
}

// Listed returns the objects the counted listings returned (their pages'
// items, prefixes not included) since the last Reset.
func (t *Requests) Listed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listed
}

// Reset sets the counts to zero.
func (t *Requests) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lists, t.reads, t.uploads, t.listed = 0, 0, 0, 0
}

// RoundTrip implements http.RoundTripper.
func (t *Requests) RoundTrip(req *http.Request) (*http.Response, error) {
	c := t.counter(req)
	if c != nil {
		t.mu.Lock()
		*c++
		t.mu.Unlock()
	}
	resp, err := t.Base.RoundTrip(req)
	if err != nil || c != &t.lists || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("ledgertest: listing response: %w", err)
	}
	t.mu.Lock()
	t.listed += len(page.Items)
	t.mu.Unlock()
	return resp, nil
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
// a storage client to it whose requests under prefix are counted. The
// fake's transport is wrapped by gcsfake.MatchGlob, so listings honour
// matchGlob as Cloud Storage does and Listed counts what it would return.
func CountedClient(t testing.TB, bucket, prefix string) (*storage.Client, *Requests, *fakestorage.Server) {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	reqs := &Requests{Base: gcsfake.MatchGlob(srv.HTTPClient().Transport), Prefix: prefix}
	c, err := storage.NewClient(context.Background(), option.WithHTTPClient(&http.Client{Transport: reqs}), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, reqs, srv
}
