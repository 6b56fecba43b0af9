package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/handlers"
	"github.com/bqbackfill/bqbackfill/shared/logging"
	"github.com/bqbackfill/bqbackfill/shared/notify"
)

var (
	published = time.Date(2024, 1, 6, 10, 0, 0, 0, time.UTC)
	testEvent = notify.Event{
		BackfillID:   "p.d.t/2024-01-05",
		Kind:         notify.KindDone,
		Table:        "p.d.t",
		EntryDate:    civil.Date{Year: 2024, Month: 1, Day: 5},
		Watchers:     []string{"alice@example.com"},
		StagingTable: "p.backfills_staging_derived.d__t_2024_01_05",
		Partitions:   2,
		Comparison:   []notify.PartitionRows{{Partition: "20240101", StagingRows: 5, ProductionRows: 4}},
	}
)

func encoded(t *testing.T, e notify.Event) []byte {
	t.Helper()
	b, err := notify.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pubsubEvent wraps body (the CloudEvent data, raw JSON) in a Pub/Sub
// CloudEvent as Eventarc delivers it.
func pubsubEvent(t *testing.T, body string) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("msg-1")
	e.SetType(eventdata.TypePubSubPublished)
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/backfill-events")
	e.SetTime(published)
	if err := e.SetData(cloudevents.ApplicationJSON, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return e
}

// messageBody is the Eventarc body carrying data.
func messageBody(data []byte, publishTime time.Time) string {
	b, _ := json.Marshal(eventdata.MessagePublishedData{
		Message:      eventdata.PubsubMessage{Data: data, MessageID: "msg-1", PublishTime: publishTime},
		Subscription: "projects/p/subscriptions/notifier",
	})
	return string(b)
}

// logLines parses the JSON log lines in buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestNotifierHandle(t *testing.T) {
	transient := errors.New("slack: 503")
	tests := []struct {
		name       string
		body       string
		notifyErr  error
		wantErr    bool
		wantNotify bool
		wantLog    string // severity and a substring of the message of the last log line
		wantSev    string
	}{
		{
			name:       "delivered",
			body:       messageBody(encoded(t, testEvent), published),
			wantNotify: true, wantSev: "INFO", wantLog: "notification delivered",
		},
		{
			// What functions-framework-go makes of a plain Pub/Sub push body.
			name: "push body converted by the framework",
			body: `{"message":{"@type":"type.googleapis.com/google.pubsub.v1.PubsubMessage","attributes":{"kind":"done"},"data":"` +
				base64.StdEncoding.EncodeToString(encoded(t, testEvent)) + `","messageId":"msg-1","publishTime":"2024-01-06T10:00:00Z"}}`,
			wantNotify: true, wantSev: "INFO", wantLog: "notification delivered",
		},
		{
			name:      "transient delivery failure is retried",
			body:      messageBody(encoded(t, testEvent), published),
			notifyErr: transient, wantErr: true, wantNotify: true,
			wantSev: "WARNING", wantLog: "Pub/Sub will redeliver",
		},
		{
			name:      "permanent delivery failure is acked",
			body:      messageBody(encoded(t, testEvent), published),
			notifyErr: notify.Permanent(errors.New("channel_not_found")), wantNotify: true,
			wantSev: "ERROR", wantLog: "cannot be delivered",
		},
		{
			name: "no Pub/Sub message", body: `{"bucket":"b","name":"n"}`,
			wantSev: "ERROR", wantLog: "malformed Pub/Sub event",
		},
		{
			name: "data is not an event", body: messageBody([]byte("hello"), published),
			wantSev: "ERROR", wantLog: "malformed backfill event",
		},
		{
			name: "event without a table", body: messageBody([]byte(`{"kind":"done"}`), published),
			wantSev: "ERROR", wantLog: "malformed backfill event",
		},
		{
			name: "too old", body: messageBody(encoded(t, testEvent), published.Add(-25*time.Hour)),
			wantSev: "ERROR", wantLog: "too old",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []notify.Event
			n := notify.Func{NotifyFunc: func(_ context.Context, e notify.Event) error {
				got = append(got, e)
				return tt.notifyErr
			}}
			var logs bytes.Buffer
			h := handlers.NewNotifier(n, logging.New(&logs, slog.LevelInfo))
			h.Now = func() time.Time { return published.Add(time.Minute) }

			err := h.Handle(context.Background(), pubsubEvent(t, tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Handle = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, tt.notifyErr) {
				t.Errorf("Handle error %v does not wrap the delivery error", err)
			}
			if tt.wantNotify {
				if len(got) != 1 || !reflect.DeepEqual(got[0], testEvent) {
					t.Errorf("notified %+v, want exactly %+v", got, testEvent)
				}
			} else if len(got) != 0 {
				t.Errorf("notified %+v, want nothing", got)
			}
			lines := logLines(t, &logs)
			if len(lines) == 0 {
				t.Fatal("nothing logged")
			}
			last := lines[len(lines)-1]
			if last["severity"] != tt.wantSev || !strings.Contains(last["message"].(string), tt.wantLog) {
				t.Errorf("last log line = %v, want severity %s and message containing %q", last, tt.wantSev, tt.wantLog)
			}
			if tt.wantNotify && (last["backfill_id"] != testEvent.BackfillID || last["kind"] != "done" || last["table"] != "p.d.t") {
				t.Errorf("log line %v lacks the backfill fields", last)
			}
			// Cloud Logging reads the labels from the entry (shared/logging).
			if labels, _ := last[logging.LabelsKey].(map[string]any); tt.wantNotify && (labels["backfill_id"] != testEvent.BackfillID || labels["table"] != "p.d.t") {
				t.Errorf("log line %v lacks the backfill labels", last)
			}
		})
	}
}

// TestHTTPBinding posts binary-mode CloudEvents (ce-* headers), as Eventarc
// does, through the cloudevents HTTP binding functions-framework-go uses.
func TestNotifierOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []notify.Event
	fail := false
	n := notify.Func{NotifyFunc: func(_ context.Context, e notify.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
		if fail {
			return errors.New("slack unavailable")
		}
		return nil
	}}
	h := handlers.NewNotifier(n, logging.New(&bytes.Buffer{}, slog.LevelInfo))
	h.MaxAge = 0
	p, err := cloudevents.NewHTTP()
	if err != nil {
		t.Fatal(err)
	}
	rh, err := cloudevents.NewHTTPReceiveHandler(context.Background(), p, h.Handle)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rh)
	defer srv.Close()

	post := func(body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("ce-id", "1234")
		req.Header.Set("ce-specversion", "1.0")
		req.Header.Set("ce-type", eventdata.TypePubSubPublished)
		req.Header.Set("ce-source", "//pubsub.googleapis.com/projects/p/topics/backfill-events")
		req.Header.Set("ce-time", "2024-01-06T10:00:00Z")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if code := post(messageBody(encoded(t, testEvent), published)); code != http.StatusOK {
		t.Errorf("delivered event: HTTP %d, want 200", code)
	}
	if code := post(`{"message":{"data":"bm90IGpzb24=","messageId":"2"}}`); code != http.StatusOK {
		t.Errorf("malformed event: HTTP %d, want 200 (acked)", code)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	if code := post(messageBody(encoded(t, testEvent), published)); code < 500 {
		t.Errorf("transient failure: HTTP %d, want 5xx (nack)", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || !reflect.DeepEqual(got[0], testEvent) {
		t.Errorf("notified %+v, want the test event twice", got)
	}
}
