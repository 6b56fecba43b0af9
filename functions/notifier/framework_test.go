package notifier

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/notify"
)

// serveEnv, when set, makes TestServeFunction run the real
// functions-framework server on 127.0.0.1:$PORT instead of testing.
const serveEnv = "BQBACKFILL_NOTIFIER_TEST_SERVE"

// TestServeFunction is the child process of TestFrameworkRoundTrip: the
// deployed function exactly as the functions image runs it (registered in
// init, selected by FUNCTION_TARGET, configured from the environment on the
// first event).
func TestServeFunction(t *testing.T) {
	if os.Getenv(serveEnv) != "1" {
		t.Skip("helper process for TestFrameworkRoundTrip")
	}
	if err := funcframework.StartHostPort("127.0.0.1", os.Getenv("PORT")); err != nil {
		t.Fatalf("functions framework: %v", err)
	}
}

// TestFrameworkRoundTrip runs the function under functions-framework-go in
// a child process, configured with SLACK_WEBHOOK_URL pointing at a local
// webhook, and posts an Eventarc CloudEvent and a plain Pub/Sub push body.
func TestFrameworkRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	var mu sync.Mutex
	var texts []string
	webhookStatus := http.StatusOK
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Text string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		texts = append(texts, body.Text)
		status := webhookStatus
		mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, "ok")
	}))
	defer hook.Close()

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestServeFunction$", "-test.v")
	cmd.Env = append(os.Environ(),
		serveEnv+"=1",
		"PORT="+port,
		"FUNCTION_TARGET="+EntryPoint,
		"BQBACKFILL_PROJECT=test-proj",
		"SLACK_WEBHOOK_URL="+hook.URL+"/services/T/B/x",
		"SLACK_BOT_TOKEN=",
	)
	var childOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &childOut, &childOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stopOnce sync.Once
	stop := func() { // kills the child we started; its output is complete after Wait
		stopOnce.Do(func() {
			cancel()
			_ = cmd.Wait()
		})
	}
	defer func() {
		stop()
		if t.Failed() {
			t.Logf("function output:\n%s", childOut.String())
		}
	}()
	base := "http://127.0.0.1:" + port
	waitListening(t, "127.0.0.1:"+port)

	data, err := notify.Encode(doneEvent)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	ceHeaders := map[string]string{
		"Content-Type":   "application/json",
		"ce-id":          "1001",
		"ce-specversion": "1.0",
		"ce-type":        eventdata.TypePubSubPublished,
		"ce-source":      "//pubsub.googleapis.com/projects/test-proj/topics/backfill-events",
		"ce-time":        now,
	}

	// 1. An Eventarc CloudEvent, binary mode.
	if code := postTo(t, base+"/", ceHeaders, eventarcBody(t, doneEvent, time.Now())); code != http.StatusOK {
		t.Fatalf("CloudEvent: HTTP %d, want 200", code)
	}
	// 2. A plain Pub/Sub push body; the framework converts it (topic from the path).
	push := fmt.Sprintf(`{"message":{"data":%q,"attributes":{"kind":"done"},"messageId":"2002","publishTime":%q},"subscription":"projects/test-proj/subscriptions/push"}`,
		base64.StdEncoding.EncodeToString(data), now)
	if code := postTo(t, base+"/projects/test-proj/topics/backfill-events", map[string]string{"Content-Type": "application/json"}, push); code != http.StatusOK {
		t.Fatalf("push body: HTTP %d, want 200", code)
	}
	// 3. A malformed event is acknowledged and sends nothing.
	if code := postTo(t, base+"/", ceHeaders, `{"message":{"data":"bm90IGpzb24=","messageId":"3"}}`); code != http.StatusOK {
		t.Fatalf("malformed event: HTTP %d, want 200", code)
	}
	// 4. A webhook that is gone (404) is permanent: acknowledged.
	mu.Lock()
	webhookStatus = http.StatusNotFound
	mu.Unlock()
	if code := postTo(t, base+"/", ceHeaders, eventarcBody(t, doneEvent, time.Now())); code != http.StatusOK {
		t.Fatalf("permanent failure: HTTP %d, want 200", code)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(texts) != 3 {
		t.Fatalf("webhook got %d messages, want 3: %q", len(texts), texts)
	}
	for i, text := range texts[:2] {
		for _, want := range []string{"<@alice> :white_check_mark: Backfill processing is done for `p.d.t`",
			"<https://console.cloud.google.com/bigquery?project=p&p=p&d=backfills_staging_derived&t=d__t_2024_01_05&page=table|",
			"?project=test-proj|Logs>"} {
			if !strings.Contains(text, want) {
				t.Errorf("message %d lacks %q:\n%s", i+1, want, text)
			}
		}
	}
	stop()
	out := childOut.String()
	for _, want := range []string{`"severity":"INFO","message":"notification delivered"`, `"message":"malformed backfill event; dropping it"`,
		`"message":"notification cannot be delivered; dropping it"`} {
		if !strings.Contains(out, want) {
			t.Errorf("function logs lack %s", want)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// waitListening waits until something accepts connections on addr (the
// child process compiles nothing, so this takes well under a second).
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the function never listened on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func postTo(t *testing.T, url string, headers map[string]string, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
