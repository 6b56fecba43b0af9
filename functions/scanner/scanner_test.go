package scanner

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/handlers"
	"github.com/bqbackfill/bqbackfill/shared/handlers/handlertest"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
)

// TestEntryPoint posts storage events, as Eventarc does, to the function
// built from the environment exactly as the deployed one is (only its log
// goes to a buffer), with the buckets on fake-gcs-server and Pub/Sub on
// pstest. A missing variable fails each event (redelivered) until it is
// set; objects other than the manifest are ignored; a manifest event reads
// the synced tree (none yet, an empty tree, an unreadable manifest, which
// is returned so the event is retried).
func TestEntryPoint(t *testing.T) {
	cloud := handlertest.NewCloud(t, "sql", "ledger")
	var logs bytes.Buffer
	url := handlertest.Serve(t, handlers.Deferred("scanner", func() (*handlers.Scanner, error) { return setup(os.LookupEnv, &logs) }))
	for k, v := range map[string]string{"BQBACKFILL_PROJECT": "proj", "BQBACKFILL_LEDGER_BUCKET": "ledger", "BQBACKFILL_SQL_BUCKET": "",
		"BQBACKFILL_PARTITIONS_TOPIC": "partitions", "BQBACKFILL_COMPLETE_TOPIC": "complete", "BQBACKFILL_EVENTS_TOPIC": "events",
		"BQBACKFILL_WORKER_JOB": "projects/proj/locations/europe-west1/jobs/worker"} {
		t.Setenv(k, v)
	}
	finalized := func(name string) int {
		e, err := eventdata.NewStorageFinalizedEvent(eventdata.StorageObject{Bucket: "sql", Name: name, Generation: time.Now().UnixNano(), Updated: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		logs.Reset()
		return handlertest.Post(t, url, e)
	}

	if code := finalized(treestore.ManifestObject); code < 500 {
		t.Fatalf("event without BQBACKFILL_SQL_BUCKET: HTTP %d, want 5xx (redelivered)", code)
	}
	t.Setenv("BQBACKFILL_SQL_BUCKET", "sql")
	if code := finalized("trees/other.zip"); code != http.StatusOK || logs.Len() != 0 {
		t.Errorf("event for another object: HTTP %d, logged %q; want 200 and nothing", code, logs.String())
	}
	if code := finalized(treestore.ManifestObject); code != http.StatusOK || !strings.Contains(logs.String(), `"message":"nothing synced yet; nothing to scan"`) {
		t.Errorf("manifest event before any sync: HTTP %d, logged %s", code, logs.String())
	}

	m, err := treestore.Sync(context.Background(), cloud.GCS.Client(), "sql", t.TempDir(), "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code := finalized(treestore.ManifestObject); code != http.StatusOK || !strings.Contains(logs.String(), `"message":"scan done"`) ||
		!strings.Contains(logs.String(), `"tree":"`+m.Tree+`"`) || !strings.Contains(logs.String(), `"component":"scanner"`) {
		t.Errorf("manifest event after a sync: HTTP %d, logged %s; want the scan of %s", code, logs.String(), m.Tree)
	}

	cloud.GCS.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "sql", Name: treestore.ManifestObject}, Content: []byte("not json")})
	if code := finalized(treestore.ManifestObject); code < 500 {
		t.Errorf("manifest event with an unreadable manifest: HTTP %d, want 5xx (retried)", code)
	}
}
