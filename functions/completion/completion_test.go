package completion

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/handlers"
	"github.com/bqbackfill/bqbackfill/shared/handlers/handlertest"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
)

// TestEntryPoint posts completion requests, as Eventarc does, to the
// function built from the environment exactly as the deployed one is (only
// its log goes to a buffer), with the ledger on fake-gcs-server and Pub/Sub
// on pstest. A missing variable fails each request (redelivered) until it
// is set; a malformed request and a request for a backfill that is not
// completing are acknowledged and touch nothing.
func TestEntryPoint(t *testing.T) {
	cloud := handlertest.NewCloud(t, "ledger")
	var logs bytes.Buffer
	url := handlertest.Serve(t, handlers.Deferred("completion", func() (*handlers.Completion, error) { return setup(os.LookupEnv, &logs) }))
	t.Setenv("BQBACKFILL_PROJECT", "proj")
	t.Setenv("BQBACKFILL_LEDGER_BUCKET", "")

	ctx := context.Background()
	led := ledger.New(cloud.GCS.Client(), "ledger")
	const id = "proj.ds.t/2024-03-20"
	if err := led.Create(ctx, &ledger.Backfill{ID: id, State: ledger.StatePending}); err != nil {
		t.Fatal(err)
	}
	request := func(n int, data string) int {
		e, err := eventdata.NewPubSubEvent("projects/proj/topics/complete", "projects/proj/subscriptions/complete",
			eventdata.PubsubMessage{Data: []byte(data), MessageID: "m" + string(rune('0'+n)), PublishTime: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return handlertest.Post(t, url, e)
	}

	if code := request(1, `{"backfill_id":"`+id+`"}`); code < 500 {
		t.Fatalf("request without BQBACKFILL_LEDGER_BUCKET: HTTP %d, want 5xx (redelivered)", code)
	}
	t.Setenv("BQBACKFILL_LEDGER_BUCKET", "ledger")
	for i, tc := range []struct {
		data    string
		wantLog string
	}{
		{`{"backfill_id":"` + id + `"}`, `"message":"completion request ignored: backfill is not completing"`},
		{`not json`, `"message":"malformed completion request; dropping"`},
	} {
		logs.Reset()
		if code := request(i+2, tc.data); code != http.StatusOK {
			t.Errorf("request %q: HTTP %d, want 200", tc.data, code)
		}
		if !strings.Contains(logs.String(), tc.wantLog) || !strings.Contains(logs.String(), `"component":"completion"`) {
			t.Errorf("request %q logged %s, want %s from the completion component", tc.data, logs.String(), tc.wantLog)
		}
	}
	bf, err := led.Get(ctx, id)
	if err != nil || bf.State != ledger.StatePending {
		t.Errorf("backfill after the requests: %+v, %v; want it untouched in pending", bf, err)
	}
}
