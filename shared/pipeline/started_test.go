package pipeline_test

import (
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// The "started" notification carries the estimate in one line: the
// partitions, the bytes their queries process (dry runs), the profile
// query's bytes (a dry run of its production side, doubled for staging),
// the price, the jobs and the least duration BigQuery's per-table rate
// allows.
func TestStartedNotificationEstimate(t *testing.T) {
	e := newContractEnv(t)
	var profileDryRuns []string
	e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		switch {
		case !q.DryRun:
			return nil, nil
		case strings.HasPrefix(q.SQL, "SELECT 'production' AS side"):
			profileDryRuns = append(profileDryRuns, q.SQL)
			return &bqfake.Result{BytesProcessed: 1 << 30}, nil
		}
		return &bqfake.Result{BytesProcessed: 3 << 30}, nil // each partition query
	})
	if did := e.scan(t, "Initiate"); len(did) != 1 {
		t.Fatalf("scan = %v", did)
	}
	var started *notify.Event
	for _, m := range e.pub.take("events") {
		ev, err := notify.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == notify.KindStarted {
			started = &ev
		}
	}
	if started == nil {
		t.Fatal("no started notification")
	}
	// 3 partitions of 3 GiB; the profile reads 1 GiB of production and as
	// much of staging; 11 GiB at $6.25 per TiB. Jobs: 3 queries, the seed
	// copy (depends_on_past), the backup, 3 promotion copies. Duration:
	// 4 staging writes and 3 copies at 5 per second.
	want := "Estimate: 3 partitions, 9.0 GiB processed, promotion copy reading 0 B, profile query 2.0 GiB, $0.07 at on-demand prices, 8 jobs, at least 1s at BigQuery's per-table rate."
	if !strings.Contains(started.Text, want) {
		t.Errorf("started notification text:\n%s\nwant the line\n%s", started.Text, want)
	}
	if len(profileDryRuns) != 1 || !strings.Contains(profileDryRuns[0], "FROM `"+table.String()+"`") {
		t.Errorf("profile dry runs %q, want one reading production %s", profileDryRuns, table)
	}
	// The line reaches people: the rendered notification shows it.
	if out := notify.Render(*started, notify.RenderOptions{}); !strings.Contains(out, want) {
		t.Errorf("rendered started notification:\n%s\nlacks the estimate line", out)
	}
}
