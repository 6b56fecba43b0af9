package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeWebhook is a local incoming webhook answering from a script (the last
// answer repeats) and recording every request body.
type fakeWebhook struct {
	mu     sync.Mutex
	script []slackResponse
	bodies []string
	ctypes []string
}

func (f *fakeWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(b))
	f.ctypes = append(f.ctypes, r.Header.Get("Content-Type"))
	resp := slackResponse{status: 200, body: "ok"}
	if len(f.script) > 0 {
		resp = f.script[0]
		if len(f.script) > 1 {
			f.script = f.script[1:]
		}
	}
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/services/T0/B0/secret" {
		http.Error(w, "wrong request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		return
	}
	if resp.retryAfter != "" {
		w.Header().Set("Retry-After", resp.retryAfter)
	}
	w.WriteHeader(resp.status)
	io.WriteString(w, resp.body)
}

func TestWebhookNotify(t *testing.T) {
	tests := []struct {
		name          string
		script        []slackResponse
		wantErr       bool
		wantPermanent bool
		wantPosts     int
		wantWaits     []time.Duration
	}{
		{name: "ok", wantPosts: 1},
		{
			name:      "rate limited honours Retry-After",
			script:    []slackResponse{{status: 429, retryAfter: "3", body: "rate_limited"}, {status: 200, body: "ok"}},
			wantPosts: 2,
			wantWaits: []time.Duration{3 * time.Second},
		},
		{
			name:      "server error retried with backoff",
			script:    []slackResponse{{status: 500, body: "x"}, {status: 502, body: "x"}, {status: 200, body: "ok"}},
			wantPosts: 3,
			wantWaits: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:          "gone webhook is permanent",
			script:        []slackResponse{{status: 404, body: "no_service"}},
			wantErr:       true,
			wantPermanent: true,
			wantPosts:     1,
		},
		{
			name:      "persistent 503 gives up, transient",
			script:    []slackResponse{{status: 503, body: "x"}},
			wantErr:   true,
			wantPosts: 5,
			wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeWebhook{script: tt.script}
			srv := httptest.NewServer(f)
			defer srv.Close()
			sl := &sleepRecorder{}
			w, err := NewWebhook(srv.URL+"/services/T0/B0/secret", &WebhookOptions{
				Render: RenderOptions{ConsoleLinks: true, Format: Plain}, // Format is forced to mrkdwn
				Retry:  RetryOptions{Sleep: sl.sleep},
			})
			if err != nil {
				t.Fatal(err)
			}
			e := baseEvent(KindRejected)
			e.Errors = []RuleViolation{{Rule: "V2", Message: "Default reason found."}}
			err = w.Notify(context.Background(), e)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Notify error = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil {
				if IsPermanent(err) != tt.wantPermanent {
					t.Errorf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tt.wantPermanent)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error leaks the webhook URL: %v", err)
				}
			}
			if len(f.bodies) != tt.wantPosts {
				t.Fatalf("%d posts, want %d", len(f.bodies), tt.wantPosts)
			}
			if got := sl.got(); !slices.Equal(got, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", got, tt.wantWaits)
			}
			// Every attempt sends the same body: {"text": mrkdwn}.
			var body map[string]any
			if err := json.Unmarshal([]byte(f.bodies[0]), &body); err != nil {
				t.Fatalf("body %q: %v", f.bodies[0], err)
			}
			if len(body) != 1 {
				t.Errorf("body has fields %v, want only text", body)
			}
			text, _ := body["text"].(string)
			want := Render(e, RenderOptions{Format: SlackMrkdwn, ConsoleLinks: true})
			if text != want {
				t.Errorf("text =\n%s\nwant\n%s", text, want)
			}
			if !strings.HasPrefix(text, "<@alice> <@mozilla/data-eng> :no_entry:") || !strings.Contains(text, "`V2`: Default reason found.") {
				t.Errorf("text lacks the mentions or the rule: %s", text)
			}
			for i, b := range f.bodies {
				if b != f.bodies[0] || f.ctypes[i] != "application/json" {
					t.Errorf("attempt %d: body %q, content type %q", i+1, b, f.ctypes[i])
				}
			}
		})
	}
}

func TestWebhookTransportErrorIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/services/secret"
	srv.Close() // nothing listens any more
	sl := &sleepRecorder{}
	w, err := NewWebhook(u, &WebhookOptions{Retry: RetryOptions{MaxAttempts: 2, Sleep: sl.sleep}})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Notify(context.Background(), baseEvent(KindStarted))
	if err == nil || IsPermanent(err) {
		t.Fatalf("Notify = %v, want a transient error", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the webhook URL: %v", err)
	}
	if got := sl.got(); len(got) != 1 {
		t.Errorf("waits = %v, want one", got)
	}
}

func TestNewWebhookValidates(t *testing.T) {
	for _, u := range []string{"", "hooks.slack.com/services/x", "ftp://x/y", "https://", "::"} {
		if _, err := NewWebhook(u, nil); err == nil {
			t.Errorf("NewWebhook(%q): want an error", u)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "-1": 0, "soon": 0,
		"Mon, 01 Jan 2024 00:00:30 GMT": 30 * time.Second,
		"Sun, 31 Dec 2023 23:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
