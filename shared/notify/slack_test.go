package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// slackCall is one request the fake Slack API received.
type slackCall struct {
	method string // "users.lookupByEmail", "chat.postMessage"
	form   map[string]string
}

// fakeSlack is a local Slack Web API. Each method answers from a script of
// responses (the last one repeats) and records every call.
type fakeSlack struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	calls   []slackCall
	users   map[string]string          // email -> user id; others are users_not_found
	answers map[string][]slackResponse // method -> scripted answers, consumed in order
}

type slackResponse struct {
	status     int
	retryAfter string
	body       string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{t: t, users: map[string]string{}, answers: map[string][]slackResponse{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("fake slack: parse form: %v", err)
	}
	method := strings.TrimPrefix(r.URL.Path, "/")
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	f.mu.Lock()
	f.calls = append(f.calls, slackCall{method: method, form: form})
	var resp *slackResponse
	if script := f.answers[method]; len(script) > 0 {
		resp = &script[0]
		if len(script) > 1 {
			f.answers[method] = script[1:]
		}
	}
	f.mu.Unlock()

	if form["token"] != "xoxb-test" {
		f.t.Errorf("fake slack: %s with token %q, want xoxb-test", method, form["token"])
	}
	w.Header().Set("Content-Type", "application/json")
	if resp != nil {
		if resp.retryAfter != "" {
			w.Header().Set("Retry-After", resp.retryAfter)
		}
		w.WriteHeader(resp.status)
		fmt.Fprint(w, resp.body)
		return
	}
	switch method {
	case "users.lookupByEmail":
		if id, ok := f.users[form["email"]]; ok {
			fmt.Fprintf(w, `{"ok":true,"user":{"id":%q,"name":"x"}}`, id)
			return
		}
		fmt.Fprint(w, `{"ok":false,"error":"users_not_found"}`)
	case "chat.postMessage":
		fmt.Fprintf(w, `{"ok":true,"channel":"C123","ts":"1700000000.000100","message":{"text":%s}}`, jsonString(form["text"]))
	default:
		f.t.Errorf("fake slack: unexpected method %q", method)
		w.WriteHeader(http.StatusNotFound)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// callsTo returns the recorded calls of one method.
func (f *fakeSlack) callsTo(method string) []slackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []slackCall
	for _, c := range f.calls {
		if c.method == method {
			out = append(out, c)
		}
	}
	return out
}

// sleepRecorder replaces RetryOptions.Sleep: it records the waits and
// returns at once.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

func newTestSlack(t *testing.T, f *fakeSlack, sl *sleepRecorder) *Slack {
	t.Helper()
	s, err := NewSlack("xoxb-test", "#dataops-alerts", &SlackOptions{
		APIURL: f.srv.URL + "/",
		Render: RenderOptions{ConsoleLinks: true, LogsURL: CloudLoggingURL("bqbackfill-prod")},
		Retry:  RetryOptions{Sleep: sl.sleep},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSlackNotifyLooksUpWatchersAndPosts(t *testing.T) {
	f := newFakeSlack(t)
	f.users["alice@mozilla.com"] = "U0ALICE"
	sl := &sleepRecorder{}
	s := newTestSlack(t, f, sl)

	e := baseEvent(KindDone)
	e.Watchers = []string{"Alice@Mozilla.com", "bob@mozilla.com", "@mozilla/data-eng"}
	e.Comparison = comparison(3, map[int][2]int64{1: {10, 20}})
	for i := 0; i < 2; i++ {
		if err := s.Notify(context.Background(), e); err != nil {
			t.Fatalf("Notify #%d: %v", i+1, err)
		}
	}

	// Lookups: one per email watcher (lower-cased), cached across events,
	// including the not-found answer; none for the GitHub identity.
	var emails []string
	for _, c := range f.callsTo("users.lookupByEmail") {
		emails = append(emails, c.form["email"])
	}
	if want := []string{"alice@mozilla.com", "bob@mozilla.com"}; !slices.Equal(emails, want) {
		t.Errorf("lookups = %q, want %q", emails, want)
	}

	posts := f.callsTo("chat.postMessage")
	if len(posts) != 2 {
		t.Fatalf("%d chat.postMessage calls, want 2", len(posts))
	}
	p := posts[0].form
	if p["channel"] != "#dataops-alerts" {
		t.Errorf("channel = %q", p["channel"])
	}
	if p["unfurl_links"] != "false" {
		t.Errorf("unfurl_links = %q, want false", p["unfurl_links"])
	}
	text := p["text"]
	for _, want := range []string{
		"<@U0ALICE> <@bob> <@mozilla/data-eng> :white_check_mark: Backfill processing is done for `" + testTable + "`",
		"<https://console.cloud.google.com/bigquery?project=moz-fx-data-shared-prod&p=moz-fx-data-shared-prod&d=backfills_staging_derived&t=telemetry_derived__clients_daily_v6_2024_01_05&page=table|" + testStaging + ">",
		"1 of 3 partitions differ",
		"|Logs>",
		"https://console.cloud.google.com/logs/query;query=",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("posted text lacks %q:\n%s", want, text)
		}
	}
	if got := sl.got(); len(got) != 0 {
		t.Errorf("slept %v on a healthy API", got)
	}
}

func TestSlackLookupFailureFallsBackToLocalPart(t *testing.T) {
	f := newFakeSlack(t)
	// The lookup keeps failing with a server error; the missing scope case
	// is permanent. Both fall back to the local part, and the post goes out.
	f.answers["users.lookupByEmail"] = []slackResponse{
		{status: 503, body: "unavailable"}, {status: 503, body: "unavailable"}, {status: 503, body: "unavailable"},
		{status: 200, body: `{"ok":false,"error":"missing_scope","needed":"users:read.email"}`},
	}
	sl := &sleepRecorder{}
	s, err := NewSlack("xoxb-test", "C42", &SlackOptions{
		APIURL: f.srv.URL + "/",
		Retry:  RetryOptions{MaxAttempts: 3, Sleep: sl.sleep},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := baseEvent(KindStarted)
	e.Watchers = []string{"carol@example.com", "dave@example.com"}
	if err := s.Notify(context.Background(), e); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	lookups := f.callsTo("users.lookupByEmail")
	if len(lookups) != 4 { // carol: 3 attempts (503); dave: 1 (missing_scope, permanent)
		t.Errorf("%d lookups, want 4", len(lookups))
	}
	if got, want := sl.got(), []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("backoff waits = %v, want %v", got, want)
	}
	posts := f.callsTo("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
	if text := posts[0].form["text"]; !strings.HasPrefix(text, "<@carol> <@dave> :hourglass_flowing_sand: Initiating backfill") {
		t.Errorf("text = %q", text)
	}
	if posts[0].form["channel"] != "C42" {
		t.Errorf("channel = %q", posts[0].form["channel"])
	}
	// Failed lookups are not cached: the next event asks again.
	if err := s.Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if n := len(f.callsTo("users.lookupByEmail")); n != 6 {
		t.Errorf("%d lookups after the second event, want 6 (a failure is not cached)", n)
	}
}

func TestSlackRetries(t *testing.T) {
	tests := []struct {
		name          string
		script        []slackResponse
		wantErr       bool
		wantPermanent bool
		wantPosts     int
		wantWaits     []time.Duration
	}{
		{
			name:      "rate limited honours Retry-After",
			script:    []slackResponse{{status: 429, retryAfter: "7", body: "{}"}, {status: 429, retryAfter: "1", body: "{}"}, {status: 200, body: `{"ok":true}`}},
			wantPosts: 3,
			wantWaits: []time.Duration{7 * time.Second, time.Second},
		},
		{
			name:      "ratelimited error code backs off",
			script:    []slackResponse{{status: 200, body: `{"ok":false,"error":"ratelimited"}`}, {status: 200, body: `{"ok":true}`}},
			wantPosts: 2,
			wantWaits: []time.Duration{time.Second},
		},
		{
			name:      "server errors back off exponentially then give up",
			script:    []slackResponse{{status: 500, body: "oops"}},
			wantErr:   true,
			wantPosts: 5,
			wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second},
		},
		{
			name:          "channel_not_found is permanent",
			script:        []slackResponse{{status: 200, body: `{"ok":false,"error":"channel_not_found"}`}},
			wantErr:       true,
			wantPermanent: true,
			wantPosts:     1,
		},
		{
			name:          "invalid_auth is permanent",
			script:        []slackResponse{{status: 200, body: `{"ok":false,"error":"invalid_auth"}`}},
			wantErr:       true,
			wantPermanent: true,
			wantPosts:     1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			f.answers["chat.postMessage"] = tt.script
			sl := &sleepRecorder{}
			s, err := NewSlack("xoxb-test", "#c", &SlackOptions{
				APIURL: f.srv.URL + "/",
				Retry:  RetryOptions{MaxBackoff: 4 * time.Second, Sleep: sl.sleep},
			})
			if err != nil {
				t.Fatal(err)
			}
			e := baseEvent(KindCompleted)
			e.Watchers = nil
			err = s.Notify(context.Background(), e)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Notify error = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tt.wantPermanent)
			}
			if err != nil && !strings.Contains(err.Error(), "chat.postMessage") {
				t.Errorf("error %q should name the call", err)
			}
			if n := len(f.callsTo("chat.postMessage")); n != tt.wantPosts {
				t.Errorf("%d posts, want %d", n, tt.wantPosts)
			}
			if got := sl.got(); !slices.Equal(got, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", got, tt.wantWaits)
			}
		})
	}
}

func TestSlackCancelledContext(t *testing.T) {
	f := newFakeSlack(t)
	f.answers["users.lookupByEmail"] = []slackResponse{{status: 500, body: "x"}}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := NewSlack("xoxb-test", "#c", &SlackOptions{
		APIURL: f.srv.URL + "/",
		Retry: RetryOptions{Sleep: func(context.Context, time.Duration) error {
			cancel() // the deadline arrives while waiting to retry
			return context.Canceled
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := baseEvent(KindStarted)
	err = s.Notify(ctx, e)
	if err == nil || IsPermanent(err) {
		t.Fatalf("Notify = %v, want a transient error", err)
	}
	if n := len(f.callsTo("chat.postMessage")); n != 0 {
		t.Errorf("%d posts after cancellation, want 0", n)
	}
}

func TestNewSlackValidates(t *testing.T) {
	if _, err := NewSlack("", "#c", nil); err == nil {
		t.Error("empty token: want an error")
	}
	if _, err := NewSlack("xoxb-1", " ", nil); err == nil {
		t.Error("empty channel: want an error")
	}
}

func TestIsEmail(t *testing.T) {
	for in, want := range map[string]bool{
		"a@b.c": true, "alice@mozilla.com": true, "@mozilla/data-eng": false, "mozilla/team": false,
		"a@b": false, "a@b.": false, "a@@b.c": false, "@b.c": false,
	} {
		if got := isEmail(in); got != want {
			t.Errorf("isEmail(%q) = %v, want %v", in, got, want)
		}
	}
}
