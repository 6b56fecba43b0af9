// Package handlertest runs a deployed function's entry point, as
// functions-framework-go serves it, against in-process stand-ins of Google
// Cloud: fake-gcs-server listening on loopback (STORAGE_EMULATOR_HOST) and
// pstest (PUBSUB_EMULATOR_HOST). BigQuery and the Cloud Run Admin API have
// no emulator; their clients get placeholder credentials, so they can be
// built, and a test must not make them call out.
package handlertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Cloud is the stand-ins a test's environment points at.
type Cloud struct {
	GCS    *fakestorage.Server
	PubSub *pstest.Server
}

// NewCloud starts the stand-ins and points the client libraries at them
// through the environment (t.Setenv), with the given buckets created. The
// public host is the loopback address, so the client library's path-style
// (XML API) reads reach the fake.
func NewCloud(t testing.TB, buckets ...string) *Cloud {
	t.Helper()
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	for _, b := range buckets {
		gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })

	// authorized_user credentials are read without a network call; a
	// token is only fetched when a request needs one.
	creds := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(creds, []byte(`{"type":"authorized_user","client_id":"test","client_secret":"test","refresh_token":"test"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", creds)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(gcs.URL(), "http://"))
	t.Setenv("PUBSUB_EMULATOR_HOST", ps.Addr)
	return &Cloud{GCS: gcs, PubSub: ps}
}

// Serve serves fn as functions-framework-go does (the cloudevents HTTP
// binding) and returns the server's URL.
func Serve(t testing.TB, fn func(context.Context, event.Event) error) string {
	t.Helper()
	p, err := cloudevents.NewHTTP()
	if err != nil {
		t.Fatal(err)
	}
	h, err := cloudevents.NewHTTPReceiveHandler(context.Background(), p, fn)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Post sends e to url as a binary-mode CloudEvent (ce-* headers, data as
// the body), as Eventarc does, and returns the HTTP status.
func Post(t testing.TB, url string, e event.Event) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(e.Data())))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", e.DataContentType())
	req.Header.Set("ce-id", e.ID())
	req.Header.Set("ce-specversion", e.SpecVersion())
	req.Header.Set("ce-type", e.Type())
	req.Header.Set("ce-source", e.Source())
	if s := e.Subject(); s != "" {
		req.Header.Set("ce-subject", s)
	}
	if !e.Time().IsZero() {
		req.Header.Set("ce-time", e.Time().UTC().Format(time.RFC3339Nano))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
