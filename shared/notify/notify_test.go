package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
)

func TestEncodeDecode(t *testing.T) {
	e := baseEvent(KindFailed)
	e.Comparison = []PartitionRows{{Partition: "20240101", StagingRows: 3, ProductionRows: 4}}
	e.Failed = []PartitionFailure{{Partition: "20240102", Error: "boom"}}
	e.Errors = []RuleViolation{{Rule: "V1", Message: "m"}}
	e.Text = "extra"
	b, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"backfill_id":`, `"kind":"failed"`, `"table":"` + testTable + `"`, `"entry_date":"2024-01-05"`,
		`"watchers":["alice@mozilla.com","@mozilla/data-eng"]`, `"staging_table":`, `"backup_table":`, `"partitions":365`,
		`"comparison":[{"partition":"20240101","staging_rows":3,"production_rows":4}]`,
		`"failed":[{"partition":"20240102","error":"boom"}]`, `"errors":[{"rule":"V1","message":"m"}]`,
		`"text":"extra"`, `"time":"2024-01-06T10:00:00Z"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("encoded event lacks %s: %s", want, b)
		}
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v", got, e)
	}

	minimal, err := Encode(Event{Kind: KindStarted, Table: "p.d.t"})
	if err != nil {
		t.Fatal(err)
	}
	if string(minimal) != `{"kind":"started","table":"p.d.t"}` {
		t.Errorf("minimal event = %s: zero fields should be omitted", minimal)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in, wantErr string
	}{
		{`not json`, "decode event"},
		{`{"kind":"started"}`, "table"},
		{`{"table":"p.d.t"}`, "kind is empty"},
		{`{"kind":"done","table":"d.t"}`, "project>.<dataset>.<table>"},
		{`{"kind":"done","table":"p.d.t","entry_date":"2024-13-01"}`, "decode event"},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Decode(%s) = %v, want error containing %q", tt.in, err, tt.wantErr)
		}
	}
	// Unknown fields and kinds are accepted (fields are added, never renamed).
	e, err := Decode([]byte(`{"kind":"paused","table":"p.d.t","new_field":1}`))
	if err != nil || e.Kind != "paused" {
		t.Errorf("Decode with unknown field and kind = %+v, %v", e, err)
	}
	if _, err := Encode(Event{Kind: KindDone}); err == nil {
		t.Error("Encode of an event without a table: want an error")
	}
}

func TestAttributes(t *testing.T) {
	got := baseEvent(KindDone).Attributes()
	want := map[string]string{"kind": "done", "table": testTable, "backfill_id": baseEvent(KindDone).BackfillID}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Attributes = %v, want %v", got, want)
	}
}

func TestIsPermanent(t *testing.T) {
	perm := Permanent(errors.New("channel_not_found"))
	trans := errors.New("503")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"Permanent(nil)", Permanent(nil), false},
		{"permanent", perm, true},
		{"wrapped permanent", fmt.Errorf("post: %w", perm), true},
		{"transient", trans, false},
		{"joined all permanent", errors.Join(perm, fmt.Errorf("x: %w", perm)), true},
		{"joined mixed", errors.Join(perm, trans), false},
		{"wrapped joined mixed", fmt.Errorf("multi: %w", errors.Join(trans, perm)), false},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("%s: IsPermanent = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMultiFuncRecorder(t *testing.T) {
	rec := &Recorder{}
	var calls []string
	boom := errors.New("boom")
	m := Multi{
		Func{NotifyFunc: func(_ context.Context, e Event) error { calls = append(calls, "a:"+string(e.Kind)); return boom }},
		rec,
		Func{}, // nil NotifyFunc accepts everything
		Func{NotifyFunc: func(_ context.Context, e Event) error {
			calls = append(calls, "b:"+string(e.Kind))
			return Permanent(errors.New("gone"))
		}},
	}
	err := m.Notify(context.Background(), baseEvent(KindStarted))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "gone") {
		t.Errorf("Multi error = %v, want both errors", err)
	}
	if IsPermanent(err) {
		t.Error("Multi with one transient failure must not be permanent")
	}
	if want := []string{"a:started", "b:started"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("calls = %v, want %v (every notifier runs, in order)", calls, want)
	}
	if ev := rec.Events(); len(ev) != 1 || ev[0].Kind != KindStarted {
		t.Errorf("recorded %+v", ev)
	}
	if err := (Multi{rec}).Notify(context.Background(), baseEvent(KindDone)); err != nil {
		t.Errorf("Multi of healthy notifiers = %v", err)
	}
	if n := len(rec.Events()); n != 2 {
		t.Errorf("%d recorded events, want 2", n)
	}
}

// countingWriter records each Write call.
type countingWriter struct{ writes []string }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestLog(t *testing.T) {
	w := &countingWriter{}
	l := NewLog(w, &RenderOptions{Format: SlackMrkdwn}) // Format is forced to Plain
	for _, k := range []Kind{KindStarted, KindDone} {
		if err := l.Notify(context.Background(), baseEvent(k)); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.writes) != 2 {
		t.Fatalf("%d writes, want one per event", len(w.writes))
	}
	want := Render(baseEvent(KindStarted), RenderOptions{}) + "\n\n"
	if w.writes[0] != want {
		t.Errorf("block =\n%q\nwant\n%q", w.writes[0], want)
	}
	if !strings.HasPrefix(w.writes[1], "✅ Backfill processing is done") || !strings.HasSuffix(w.writes[1], "\n\n") {
		t.Errorf("second block = %q", w.writes[1])
	}
	err := NewLog(failingWriter{}, nil).Notify(context.Background(), baseEvent(KindDone))
	if err == nil || !strings.Contains(err.Error(), "disk full") || IsPermanent(err) {
		t.Errorf("failing writer: %v, want a transient error", err)
	}
}

func TestFromEnv(t *testing.T) {
	var buf bytes.Buffer
	tests := []struct {
		name    string
		env     cloudenv.Env
		want    string // type name
		wantErr string
	}{
		{"slack wins", cloudenv.Env{Project: "p", SlackToken: "xoxb-1", SlackChannel: "#c", SlackWebhook: "https://h/x"}, "*notify.Slack", ""},
		{"webhook", cloudenv.Env{SlackWebhook: "https://hooks.slack.com/services/x"}, "*notify.Webhook", ""},
		{"log", cloudenv.Env{Project: "p"}, "*notify.Log", ""},
		{"slack without channel", cloudenv.Env{SlackToken: "xoxb-1"}, "", "SLACK_BOT_TOKEN"},
		{"bad webhook", cloudenv.Env{SlackWebhook: "not a url"}, "", "SLACK_WEBHOOK_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := FromEnv(tt.env, &buf)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromEnv = %T, %v; want error containing %q", n, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", n); got != tt.want {
				t.Errorf("FromEnv = %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := FromEnv(cloudenv.Env{}, nil); err == nil {
		t.Error("FromEnv with nothing configured and no writer: want an error")
	}

	// The Log from the environment links tables and logs.
	buf.Reset()
	n, err := FromEnv(cloudenv.Env{Project: "proj"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), baseEvent(KindStarted)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"https://console.cloud.google.com/bigquery?project=", "Logs: https://console.cloud.google.com/logs/query;query=", "?project=proj"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log output lacks %q:\n%s", want, buf.String())
		}
	}
}
