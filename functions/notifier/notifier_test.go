package notifier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/handlers"
	"github.com/bqbackfill/bqbackfill/shared/notify"
)

// doneEvent is a "processing done" event of a backfill with one watcher.
var doneEvent = notify.Event{
	BackfillID: "p.d.t/2024-01-05", Kind: notify.KindDone, Table: "p.d.t",
	EntryDate: civil.Date{Year: 2024, Month: 1, Day: 5}, Watchers: []string{"alice@example.com"},
	StagingTable: "p.backfills_staging_derived.d__t_2024_01_05", Partitions: 2,
}

// eventarcBody is the body Eventarc posts for a Pub/Sub message carrying e.
func eventarcBody(t *testing.T, e notify.Event, published time.Time) string {
	t.Helper()
	data, err := notify.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(eventdata.MessagePublishedData{
		Message: eventdata.PubsubMessage{Data: data, MessageID: "msg-1", PublishTime: published}, Subscription: "projects/p/subscriptions/notifier",
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSetupRetried: the deployed function's setup runs on each event until
// the environment is complete (a missing variable is a retriable error
// naming it, not a failure kept until the instance restarts); then, with
// no Slack configured, events become Cloud Logging entries on stdout with
// the notifier's labels.
func TestSetupRetried(t *testing.T) {
	env := map[string]string{"BQBACKFILL_LOG_LEVEL": "INFO"}
	lookups := 0
	lookup := func(k string) (string, bool) { lookups++; v, ok := env[k]; return v, ok }
	var stdout bytes.Buffer
	fn := handlers.Deferred("notifier", func() (*handlers.Notifier, error) { return setup(lookup, &stdout) })

	e := event.New()
	e.SetID("msg-1")
	e.SetType(eventdata.TypePubSubPublished)
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/backfill-events")
	if err := e.SetData(cloudevents.ApplicationJSON, []byte(eventarcBody(t, doneEvent, time.Now()))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		err := fn(context.Background(), e)
		if err == nil || !strings.Contains(err.Error(), "notifier setup") || !strings.Contains(err.Error(), "BQBACKFILL_PROJECT") {
			t.Fatalf("event %d without BQBACKFILL_PROJECT: %v, want a setup error naming it", i+1, err)
		}
	}
	env["BQBACKFILL_PROJECT"] = "proj"
	for i := 0; i < 2; i++ {
		if err := fn(context.Background(), e); err != nil {
			t.Fatalf("event after the fix: %v", err)
		}
	}
	before := lookups
	if err := fn(context.Background(), e); err != nil || lookups != before {
		t.Errorf("the environment is read again after setup (lookups %d -> %d, err %v)", before, lookups, err)
	}
	var notifications []map[string]any
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if m["notification"] == true {
			notifications = append(notifications, m)
		}
	}
	if len(notifications) != 3 {
		t.Fatalf("%d notification log entries, want 3:\n%s", len(notifications), stdout.String())
	}
	n := notifications[0]
	msg, _ := n["message"].(string)
	labels, _ := n["logging.googleapis.com/labels"].(map[string]any)
	if !strings.HasPrefix(msg, "✅ Backfill processing is done for `p.d.t`") || !strings.Contains(msg, "Logs: https://console.cloud.google.com/logs/query;") ||
		n["severity"] != "INFO" || labels["component"] != "notifier" {
		t.Errorf("notification entry = %v", n)
	}
}
