package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/local"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
)

var today = civil.Date{Year: 2026, Month: 11, Day: 25}

// newStack is the local stack with the demo tree synced (not scanned) and
// its data loaded.
func newStack(t *testing.T) *local.Stack {
	t.Helper()
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	s, err := local.Open(ctx, local.Options{Now: now, IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	sqlDir, err := local.WriteDemoTree(filepath.Join(t.TempDir(), "tree"), today)
	if err != nil {
		t.Fatal(err)
	}
	if err := local.LoadDemoData(ctx, s.DuckDB, today); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sync(ctx, sqlDir); err != nil {
		t.Fatal(err)
	}
	return s
}

var demoID = pipeline.BackfillID(local.DemoTable, today.String())

func started(t *testing.T, s *local.Stack) bool {
	t.Helper()
	_, err := s.Ledger.Get(context.Background(), demoID)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func storageEvent(t *testing.T, name string) event.Event {
	t.Helper()
	e, err := eventdata.NewStorageFinalizedEvent(eventdata.StorageObject{Bucket: local.SQLBucket, Name: name, Generation: 7})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestScannerHandle(t *testing.T) {
	tick, err := eventdata.NewPubSubEvent("projects/p/topics/backfill-scan-tick", "projects/p/subscriptions/tick", eventdata.PubsubMessage{MessageID: "1", Data: []byte("tick")})
	if err != nil {
		t.Fatal(err)
	}
	malformed := event.New()
	malformed.SetID("x")
	malformed.SetSource("//storage.googleapis.com/projects/_/buckets/" + local.SQLBucket)
	malformed.SetType(eventdata.TypeStorageFinalized)
	if err := malformed.SetData(cloudevents.ApplicationJSON, []byte(`{"generation": {}}`)); err != nil {
		t.Fatal(err)
	}
	other := event.New()
	other.SetID("y")
	other.SetSource("//example")
	other.SetType("com.example.other")
	for _, tc := range []struct {
		name      string
		event     event.Event
		wantStart bool
	}{
		{"manifest finalized starts the backfill", storageEvent(t, treestore.ManifestObject), true},
		{"scheduler tick scans too", tick, true},
		{"another object of the bucket is ignored", storageEvent(t, "trees/abc.zip"), false},
		{"a malformed event is acknowledged, not retried", malformed, false},
		{"an unknown event type is ignored", other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t)
			if err := s.Scanner.Handle(context.Background(), tc.event); err != nil {
				t.Fatalf("Handle returned %v; only unreadable trees are retried", err)
			}
			if got := started(t, s); got != tc.wantStart {
				t.Fatalf("backfill started = %v, want %v", got, tc.wantStart)
			}
			if _, err := s.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestScannerOverHTTP delivers the manifest event the way Eventarc does:
// a binary-mode CloudEvent (ce-* headers) through the cloudevents HTTP
// binding that functions-framework-go uses.
func TestScannerOverHTTP(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	p, err := cloudevents.NewHTTP()
	if err != nil {
		t.Fatal(err)
	}
	h, err := cloudevents.NewHTTPReceiveHandler(ctx, p, s.Scanner.Handle)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := []byte(`{"bucket":"` + local.SQLBucket + `","name":"manifest.json","generation":"1712345678901234","size":"42"}`)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("ce-id", "1")
	req.Header.Set("ce-specversion", "1.0")
	req.Header.Set("ce-type", eventdata.TypeStorageFinalized)
	req.Header.Set("ce-source", "//storage.googleapis.com/projects/_/buckets/"+local.SQLBucket)
	req.Header.Set("ce-subject", "objects/manifest.json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !started(t, s) {
		t.Fatal("the manifest event did not start the backfill")
	}
	if _, err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := s.Ledger.Get(ctx, demoID)
	if err != nil || b.State != ledger.StateProcessed {
		t.Fatalf("after the workers: %+v, %v", b, err)
	}
}

func TestCompletionHandle(t *testing.T) {
	ctx := context.Background()
	msg := func(data string) event.Event {
		e, err := eventdata.NewPubSubEvent("projects/p/topics/backfill-complete", "projects/p/subscriptions/c", eventdata.PubsubMessage{MessageID: "m", Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	s := newStack(t)
	for _, tc := range []struct {
		name  string
		event event.Event
	}{
		{"not JSON", msg("{")},
		{"no backfill id", msg(`{}`)},
		{"unknown backfill", msg(`{"backfill_id":"p.d.t/2026-01-01"}`)},
		{"backfill not completing yet", msg(`{"backfill_id":"` + demoID + `"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Completion.Handle(ctx, tc.event); err != nil {
				t.Fatalf("Handle = %v; a request that can never succeed is acknowledged", err)
			}
		})
	}

	// A real request completes a processed backfill.
	if _, err := s.FireManifest(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ledger.Update(ctx, demoID, func(b *ledger.Backfill) error { b.State = ledger.StateCompleting; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Completion.Handle(ctx, msg(`{"backfill_id":"`+demoID+`"}`)); err != nil {
		t.Fatal(err)
	}
	b, err := s.Ledger.Get(ctx, demoID)
	if err != nil || b.State != ledger.StateCompleted {
		t.Fatalf("after the completion request: %+v, %v", b, err)
	}
}
