package notify

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render")

const (
	testTable   = "moz-fx-data-shared-prod.telemetry_derived.clients_daily_v6"
	testStaging = "moz-fx-data-shared-prod.backfills_staging_derived.telemetry_derived__clients_daily_v6_2024_01_05"
	testBackup  = "moz-fx-data-shared-prod.backfills_staging_derived.telemetry_derived__clients_daily_v6_backup_2024_01_05"
)

// baseEvent is an event of kind k with the fields every kind shares.
func baseEvent(k Kind) Event {
	return Event{
		BackfillID:   "moz-fx-data-shared-prod.telemetry_derived.clients_daily_v6/2024-01-05",
		Kind:         k,
		Table:        testTable,
		EntryDate:    civil.Date{Year: 2024, Month: 1, Day: 5},
		Watchers:     []string{"alice@mozilla.com", "@mozilla/data-eng"},
		StagingTable: testStaging,
		BackupTable:  testBackup,
		Partitions:   365,
		Time:         time.Date(2024, 1, 6, 10, 0, 0, 0, time.UTC),
	}
}

// comparison returns n partitions of 1,000 rows each in both tables, then
// applies the changes (partition index -> staging, production rows).
func comparison(n int, changes map[int][2]int64) []PartitionRows {
	var c []PartitionRows
	for i := 0; i < n; i++ {
		d := civil.Date{Year: 2023, Month: 1, Day: 1}.AddDays(i)
		p := PartitionRows{Partition: strings.ReplaceAll(d.String(), "-", ""), StagingRows: 1000, ProductionRows: 1000}
		if ch, ok := changes[i]; ok {
			p.StagingRows, p.ProductionRows = ch[0], ch[1]
		}
		c = append(c, p)
	}
	return c
}

// renderCases are the golden cases: one or more per kind. Each renders in
// both formats, to testdata/render/<name>.plain and <name>.slack.
func renderCases() []struct {
	name string
	e    Event
} {
	started := baseEvent(KindStarted)
	started.BackupTable = ""

	done := baseEvent(KindDone)
	done.BackupTable = ""
	done.Comparison = comparison(365, map[int][2]int64{
		3: {1500, 1000}, 10: {1000, 0}, 11: {0, 1000}, 20: {1001, 1000}, 21: {1001, 1000},
		22: {999, 1000}, 40: {2_000_000, 1000},
	})

	doneEqual := baseEvent(KindDone)
	doneEqual.BackupTable = ""
	doneEqual.Partitions = 3
	doneEqual.Comparison = comparison(3, nil)

	doneFew := baseEvent(KindDone)
	doneFew.Partitions = 2
	doneFew.Comparison = comparison(2, map[int][2]int64{1: {5, 7}})

	failed := baseEvent(KindFailed)
	failed.BackupTable = ""
	failed.Failed = []PartitionFailure{
		{Partition: "20230301", Error: "Query error: Division by zero: 1 / 0\n  at [12:3]", Kind: FailureQuery},
		{Partition: "20230105", Error: "Resources exceeded during query execution: <too much> & more", Kind: FailureTransient},
	}
	for i := 0; i < 6; i++ {
		failed.Failed = append(failed.Failed, PartitionFailure{
			Partition: fmt.Sprintf("202304%02d", i+1), Error: strings.Repeat("x", 400), Kind: FailureTransient})
	}
	failed.Text = "Dead-lettered after 5 attempts."

	failedStep := baseEvent(KindFailed)
	failedStep.BackupTable = ""
	failedStep.Partitions = 0
	failedStep.Text = "create staging table: permission denied on dataset backfills_staging_derived"

	failedCompletion := baseEvent(KindFailed)
	failedCompletion.Text = "Completion refused before anything was changed: staging schema is not compatible with production: column 3 is client_id in staging, sample_id in production"

	rejected := baseEvent(KindRejected)
	rejected.StagingTable, rejected.BackupTable, rejected.Partitions = "", "", 0
	rejected.Errors = []RuleViolation{
		{Rule: "V1", Message: "Default watcher found: (nobody@mozilla.com)."},
		{Rule: "V5", Message: "shredder_mitigation is true but the table has no shredder_mitigation label"},
		{Message: "a message without a rule id"},
	}

	cancelled := baseEvent(KindCancelled)
	cancelled.Text = "The entry was removed from backfill.yaml."

	edited := baseEvent(KindEdited)
	edited.Text = "end_date: 2024-01-31 -> 2024-02-29"

	unknown := baseEvent(Kind("paused"))
	unknown.Text = "Some future event."

	return []struct {
		name string
		e    Event
	}{
		{"started", started},
		{"done", done},
		{"done_equal", doneEqual},
		{"done_few", doneFew},
		{"failed", failed},
		{"failed_step", failedStep},
		{"failed_completion", failedCompletion},
		{"completing", baseEvent(KindCompleting)},
		{"completed", baseEvent(KindCompleted)},
		{"rejected", rejected},
		{"cancelled", cancelled},
		{"edited", edited},
		{"rolled_back", baseEvent(KindRolledBack)},
		{"unknown_kind", unknown},
	}
}

func TestRenderGolden(t *testing.T) {
	covered := map[Kind]bool{}
	for _, tc := range renderCases() {
		covered[tc.e.Kind] = true
		for _, f := range []struct {
			ext  string
			opts RenderOptions
		}{
			{"plain", RenderOptions{Format: Plain}},
			{"slack", RenderOptions{Format: SlackMrkdwn, ConsoleLinks: true,
				LogsURL: CloudLoggingURL("bqbackfill-prod"), HelpChannel: "<#C01E8GDG80N>"}},
		} {
			t.Run(tc.name+"."+f.ext, func(t *testing.T) {
				got := Render(tc.e, f.opts) + "\n"
				path := filepath.Join("testdata", "render", tc.name+"."+f.ext)
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("Render mismatch with %s (go test -update rewrites it)\n--- got\n%s--- want\n%s", path, got, want)
				}
			})
		}
	}
	for _, k := range Kinds {
		if !covered[k] {
			t.Errorf("kind %q has no golden case", k)
		}
	}
}

// TestRenderContent checks the promises the golden files must keep, so an
// -update cannot silently drop them.
func TestRenderContent(t *testing.T) {
	cases := map[string]Event{}
	for _, tc := range renderCases() {
		cases[tc.name] = tc.e
	}
	slackOpts := RenderOptions{Format: SlackMrkdwn, ConsoleLinks: true}
	tests := []struct {
		name     string
		opts     RenderOptions
		want     []string
		wantNot  []string
		maxLines int
	}{
		{"started", slackOpts, []string{"<@alice> <@mozilla/data-eng> :hourglass_flowing_sand:",
			"You will receive another notification once the backfill is done", "365 partitions"}, nil, 0},
		{"done", slackOpts, []string{":white_check_mark:", "Staging location: <https://console.cloud.google.com/bigquery?project=moz-fx-data-shared-prod&p=moz-fx-data-shared-prod&d=backfills_staging_derived&t=telemetry_derived__clients_daily_v6_2024_01_05&page=table|",
			"validate", "status to Complete", "expire in 30 days", "7 of 365 partitions differ",
			"`20230210`: 1,000 → 2,000,000 (+1,999,000)", "and 2 more"}, []string{"20230101"}, 12},
		{"done_equal", RenderOptions{}, []string{"equal in all 3 partitions (3,000 rows)"}, nil, 0},
		{"failed", slackOpts, []string{":x:", "8 of 365 partitions failed", "`bqbackfill retry " + testTable + "`",
			"&lt;too much&gt; &amp; more", "Division by zero: 1 / 0 at [12:3]", "and 3 more"},
			[]string{"delete the staging table", "<too much>"}, 0},
		{"failed_step", RenderOptions{}, []string{"❌ Backfill for", "failed: create staging table: permission denied", "bqbackfill status"}, []string{"retry"}, 0},
		{"failed_completion", RenderOptions{}, []string{"❌ Backfill for `" + testTable + "` (entry 2024-01-05) failed: Completion refused before anything was changed: staging schema is not compatible", "bqbackfill status"}, nil, 0},
		{"completing", RenderOptions{}, []string{"Completing backfill of", "backup for 30 days at `" + testBackup + "`"}, nil, 0},
		{"completed", RenderOptions{}, []string{"Backfill is complete for", "Production data has been updated", "bqbackfill rollback " + testTable}, nil, 0},
		{"rejected", slackOpts, []string{"`V1`: Default watcher found", "`V5`: shredder_mitigation", "a message without a rule id", "Fix the entry and push again."}, nil, 0},
		{"edited", RenderOptions{}, []string{"changed after the backfill started", "create a new entry to change a running backfill", "end_date: 2024-01-31 -> 2024-02-29"}, nil, 0},
		{"rolled_back", RenderOptions{}, []string{"rolled back", testBackup}, nil, 0},
		{"cancelled", RenderOptions{}, []string{"cancelled", "removed from backfill.yaml", "Watchers: alice@mozilla.com, @mozilla/data-eng"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Render(cases[tt.name], tt.opts)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("unexpected %q in:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "\n") + 1; tt.maxLines > 0 && n > tt.maxLines {
				t.Errorf("%d lines, want at most %d:\n%s", n, tt.maxLines, got)
			}
		})
	}
}

func TestRenderMentions(t *testing.T) {
	e := baseEvent(KindStarted)
	got := Render(e, RenderOptions{Format: SlackMrkdwn, Mentions: []string{"<@U1>", "<!subteam^S1>"}})
	if !strings.HasPrefix(got, "<@U1> <!subteam^S1> :hourglass_flowing_sand: ") {
		t.Errorf("mentions should lead the message: %q", got)
	}
	if got := Render(e, RenderOptions{Format: SlackMrkdwn, Mentions: []string{}}); !strings.HasPrefix(got, ":hourglass") {
		t.Errorf("empty (non-nil) Mentions should mention nobody: %q", got)
	}
	e.Watchers = []string{"x<y@example.com"}
	if got := Render(e, RenderOptions{Format: SlackMrkdwn}); !strings.HasPrefix(got, "<@x&lt;y> ") {
		t.Errorf("fallback mention must be escaped: %q", got)
	}
}

func TestHelpers(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", -1234567: "-1,234,567", 123456789: "123,456,789"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"alice@mozilla.com": "alice", "@mozilla/data-eng": "mozilla/data-eng",
		"mozilla/team": "mozilla/team", " bob@x.org ": "bob"} {
		if got := LocalPart(in); got != want {
			t.Errorf("LocalPart(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := ConsoleTableURL(warehouse.TableRef{Project: "p-1", Dataset: "d", Table: "t"}),
		"https://console.cloud.google.com/bigquery?project=p-1&p=p-1&d=d&t=t&page=table"; got != want {
		t.Errorf("ConsoleTableURL = %q, want %q", got, want)
	}
	logs := CloudLoggingURL("proj")
	if got, want := logs(Event{BackfillID: "a/b"}),
		"https://console.cloud.google.com/logs/query;query=labels.backfill_id%3D%22a%2Fb%22%20OR%20jsonPayload.backfill_id%3D%22a%2Fb%22?project=proj"; got != want {
		t.Errorf("CloudLoggingURL = %q, want %q", got, want)
	}
	if got := logs(Event{}); got != "" {
		t.Errorf("CloudLoggingURL without a backfill id = %q, want empty", got)
	}
	if got := oneLine("a\n  b\tc", 100); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine("héllo wörld", 5); got != "héll…" {
		t.Errorf("oneLine cut = %q", got)
	}
}
